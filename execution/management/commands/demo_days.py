import datetime as dt

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from execution.models import Trade
from execution.replay import day_replay
from snapshots import market_calendar


class Command(BaseCommand):
    help = (
        "Replay trading days through the live path (snapshots → entry windows → order → fill → marks → "
        "TP/SL or settlement → PnL) on the simulated broker, reading the simulated market or, with "
        "MARKET_DATA_PROVIDER=opra-replay, the imported OPRA files (then a backtest of the same days "
        "must agree: manage.py backtest_parity)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--start", help="first day (YYYY-MM-DD); default: 5 trading days before today")
        parser.add_argument("--days", type=int, default=5, help="trading days to replay (default 5)")
        parser.add_argument("--every", type=int, default=30, help="minutes between slots (default 30)")
        parser.add_argument("--if-empty", action="store_true", help="do nothing when trades already exist")

    def handle(self, *args, start: str | None, days: int, every: int, if_empty: bool, **options):
        if settings.MARKET_DATA_PROVIDER not in ("simulated", "opra-replay") or settings.EXECUTION_BROKER != "simulated":
            raise CommandError("demo_days replays on the simulated broker, reading the simulated market or the "
                               "OPRA replay (MARKET_DATA_PROVIDER=simulated or opra-replay)")
        if if_empty and Trade.objects.filter(backtest_run__isnull=True).exists():  # a backtest's trades do not count
            self.stdout.write("live trades exist already: demo replay skipped")
            return
        if not 1 <= days <= 60 or every not in (5, 10, 15, 30, 60):
            raise CommandError("--days must be 1..60 and --every one of 5, 10, 15, 30, 60")
        if start:
            try:
                day = dt.date.fromisoformat(start)
            except ValueError as exc:
                raise CommandError(f"--start: {exc}") from exc
        else:
            day = dt.date.today()
            for _ in range(days):
                day = market_calendar.previous_trading_day(day)
        if not market_calendar.is_trading_day(day):
            day = market_calendar.next_trading_day(day)
        for _ in range(days):
            # With the market context (index levels, the VIX-style terms) the decisions carry every
            # feature, as the live beat jobs record them and a backtest of these days computes them.
            report = day_replay(day, every_minutes=every, context=True)
            self.stdout.write(f"{report.day}: {report.slots} slots, {report.decisions} decisions, "
                              f"{report.trades_opened} trades opened, {report.trades_closed} closed")
            day = market_calendar.next_trading_day(day)
