"""Live/backtest parity: the same simulated days, run live-style through the snapshot → decision →
order → mark → settlement services every 5 minutes, and backtested from the same OPRA data, make
the same decisions and the same exits, field by field."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from backtests import parity, services
from backtests.models import BacktestRun
from backtests.tests.conftest import COMPACT_DAYS, HOLIDAY_DAYS
from backtests.tests.parity_helpers import live_then_backtest, replay_market_in
from execution.models import Trade
from execution.replay import day_replay
from strategy import gating
from strategy.models import DecisionOutcome, StrategyConfig, TradeDecision
from strategy.quant.decision import GateScore
from strategy.quant.features import FEATURE_SCHEMA_VERSION

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def replay_market(tmp_path: Path, settings, compact_files: list[Path], seeded_grid: list) -> Path:  # type: ignore[no-untyped-def]
    return replay_market_in(tmp_path / "market-data", settings, compact_files)


@pytest.fixture
def holiday_market(tmp_path: Path, settings, holiday_files: list[Path], seeded_grid: list) -> Path:  # type: ignore[no-untyped-def]
    return replay_market_in(tmp_path / "market-data", settings, holiday_files)


@pytest.fixture
def seven_dte_gated_out() -> Iterator[None]:
    """A stand-in meta-labeler that turns away every 7-DTE candidate (live and backtest read the same gate)."""

    def gate(group: str, features: Mapping[str, float]) -> GateScore:
        out = features.get("dte_target") == 7.0
        return GateScore(allowed=not out, reason="test gate: no 7 DTE", model_version="test-1", score=0.0 if out else 1.0)

    previous = gating.registered()
    gating.register(lambda version: gate)
    yield
    gating.register(previous)


def test_live_style_days_and_their_backtest_agree_field_by_field(replay_market: Path, seven_dte_gated_out: None) -> None:
    assert StrategyConfig.objects.filter(enabled=True).count() == 12, list(StrategyConfig.objects.values_list("name", "enabled"))
    for day in COMPACT_DAYS:
        day_replay(day, every_minutes=5, context=True)
    live = TradeDecision.objects.filter(backtest_run__isnull=True)
    assert live.count() == 12 * 3 * len(COMPACT_DAYS)  # 12 configs × 3 windows × 3 days
    live_trades = Trade.objects.filter(backtest_run__isnull=True)
    assert live_trades.exclude(opened_at=None).count() >= 2  # the days trade, so exits are compared too
    assert live_trades.filter(status=Trade.Status.CLOSED).exists()

    params = services.params_build(start=COMPACT_DAYS[0], end=COMPACT_DAYS[-1],
                                   configs=StrategyConfig.objects.filter(enabled=True),
                                   risk_scope="shared", exit_check_minutes=5, ml_model="test-1")
    run, _ = services.run_create(params, name="parity")
    run = services.run_execute_inline(run)
    assert run.status == "done"

    report = parity.compare(run)
    assert report.decisions_compared == live.count()
    assert report.trades_compared == live_trades.count()
    assert report.differences == []
    # The feature vectors compared above are full ones: the market context and the calendar too.
    traded = live.filter(action="TRADE").first()
    assert traded is not None and traded.feature_schema == FEATURE_SCHEMA_VERSION
    # (The compact universe lists no expiration 30 days out, so vix30 is missing on both sides, for the same reason.)
    for name in ("vix9d", "rv_30m", "move_since_open_pct", "gex_usd_per_pct", "days_to_monthly"):
        assert live.exclude(action="SKIP", features__forward=None).filter(**{f"features__{name}__isnull": False}).exists(), name
    assert traded.feature_missing.get("vix30") == "term chains missing"
    # Candidates the risk rules or the gate turned away have outcomes on both sides, and they agree
    # (compared above): the live ones from the shadow walk over the stored snapshots.
    skipped = live.filter(reason_code__in=["risk_limit", "ml_gate"], outcome__status="resolved")
    assert skipped.filter(reason_code="ml_gate").exists() and skipped.filter(reason_code="risk_limit").exists()
    assert report.outcomes_compared >= skipped.count()
    assert {o.method for o in DecisionOutcome.objects.filter(decision__in=skipped)} == {"shadow"}

    # The command says the same for any of those days (reusing the run).
    out = StringIO()
    call_command("backtest_parity", "--day", COMPACT_DAYS[0].isoformat(), "--end", COMPACT_DAYS[-1].isoformat(),
                 "--run", str(run.pk), stdout=out)
    assert "identical" in out.getvalue()

    # A difference is named by its key and field.
    decision = TradeDecision.objects.filter(backtest_run=run, action="TRADE").first()
    decision.credit_fill += 1
    decision.save()
    report = parity.compare(run)
    assert [(d.key, d.field, d.backtest - d.live) for d in report.differences] == [
        (f"{decision.trading_day} {decision.entry_window:%H:%M} {decision.strategy_config.name}", "credit_fill", 1)]


def test_a_holiday_week_with_a_shared_expiration_and_a_settled_trade_agrees(holiday_market: Path, settings) -> None:  # type: ignore[no-untyped-def]
    """Thanksgiving week: the 3- and 5-DTE targets both resolve to Friday 11-27 and both evaluate it,
    live and in the backtest; a trade held to expiry settles at Friday's 13:00 early close from the
    expiring chain. (No take profit and a far stop hold it; the 3-DTE configs rank first, so
    Monday's trade expires inside the replayed days.)"""
    StrategyConfig.objects.update(take_profit_fraction=1, stop_loss_multiple=19)  # no take profit, a far stop
    StrategyConfig.objects.filter(target_dte=3).update(priority=1)
    run, report = live_then_backtest(HOLIDAY_DAYS, context=True)
    live = TradeDecision.objects.filter(backtest_run__isnull=True)
    monday = live.filter(trading_day=HOLIDAY_DAYS[0], entry_window="10:00")
    assert {d.expiration for d in monday if d.config_params["target_dte"] in (3, 5)} == {dt.date(2026, 11, 27)}
    assert not monday.filter(reason_code="no_snapshot").exists()
    settled = Trade.objects.filter(backtest_run=run, exit_reason="settlement")
    assert settled.exists(), list(Trade.objects.filter(backtest_run=run).values_list("expiration", "exit_reason"))
    for t in settled:
        assert t.settlement_source.startswith(f"OPRA SPXW {t.expiration} parity at expiry, 13:00 ET")
    assert report.decisions_compared == live.count() == 12 * 3 * len(HOLIDAY_DAYS)
    assert report.trades_compared == Trade.objects.filter(backtest_run__isnull=True).count()
    assert report.differences == []
    # The demo's last step: the command without dates takes the live days, backtests them set up
    # like live, and a second call reuses that run (keyed by its parameters) instead of a new one.
    for attempt in (1, 2):
        out = StringIO()
        call_command("backtest_parity", stdout=out)
        assert out.getvalue().rstrip().endswith("/parity/") and "\nidentical\n" in out.getvalue(), out.getvalue()
        assert BacktestRun.objects.filter(name=f"parity {HOLIDAY_DAYS[0]}..{HOLIDAY_DAYS[-1]}").count() == 1, attempt


def test_per_config_exit_rules_and_time_exits_agree_live_and_in_the_backtest(holiday_market: Path) -> None:
    """Thanksgiving week with exit rules of the configs' own: no take profit and a far stop hold the
    trades; Monday's 3-DTE put spread closes 47 minutes before Friday's 13:00 early-close settlement
    (12:13, so at the 12:15 mark) and the 5-DTE one at 12:32 ET on the expiration day (the 12:35
    mark); the 7-DTE configs take profit at 25 % and stop at 2 × the credit lost. (0.45-delta shorts:
    the 10- and 20-delta legs have no two-sided quote left on the expiration day, and without a mark
    a time exit waits — here until the settlement.) Live marks, the shadow walk of the candidates
    turned away and the backtest close them at the same stamps."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from strategy.quant.types import ExitRules

    StrategyConfig.objects.update(take_profit_fraction=1, stop_loss_multiple=19, max_open_trades=2)
    StrategyConfig.objects.filter(name="3DTE put 20d").update(priority=1, short_delta_target="0.45",
                                                              exit_minutes_before_settlement=47)
    StrategyConfig.objects.filter(name="5DTE put 20d").update(priority=2, short_delta_target="0.45",
                                                              exit_at_time=dt.time(12, 32), max_new_trades_per_day=2)
    StrategyConfig.objects.filter(target_dte=7).update(take_profit_fraction="0.25", stop_loss_multiple=2)
    run, report = live_then_backtest(HOLIDAY_DAYS, context=True)
    assert report.decisions_compared == 12 * 3 * len(HOLIDAY_DAYS)
    assert report.differences == []
    timed = Trade.objects.filter(backtest_run=run, exit_reason="time_exit")
    assert timed.count() == 2, list(Trade.objects.filter(backtest_run=run).values_list("expiration", "exit_reason"))
    ny = ZoneInfo("America/New_York")
    for t in timed.select_related("strategy_config"):
        expected = dt.time(12, 15) if t.strategy_config.target_dte == 3 else dt.time(12, 35)
        assert t.expiration == dt.date(2026, 11, 27) and t.closed_at.astimezone(ny).time() == expected
        assert t.closed_at.astimezone(ny).date() == t.expiration
        live = Trade.objects.get(backtest_run__isnull=True, decision__trading_day=t.decision.trading_day,
                                 decision__entry_window=t.decision.entry_window, strategy_config=t.strategy_config)
        assert live.exit_reason == "time_exit" and live.closed_at == t.closed_at
    # Every decision froze its config's rules, on both sides.
    d = TradeDecision.objects.filter(backtest_run__isnull=True, strategy_config__name="5DTE put 20d").first()
    assert d is not None and d.config_params["exit_at_time"] == "12:32"
    from strategy.services import exit_rules_of
    assert exit_rules_of(d.config_params) == ExitRules(1.0, 19.0, dt.time(12, 32), None)
    # A later edit of the config changes no decision made before it.
    StrategyConfig.objects.update(exit_at_time=None, exit_minutes_before_settlement=None, take_profit_fraction="0.5")
    assert parity.compare(run).differences == []


def test_entry_filters_and_a_time_exit_agree_live_and_in_the_backtest(holiday_market: Path) -> None:
    """Thanksgiving week with entry filters on top of per-config exits: Monday's 3-DTE put spread
    (allowed Mondays and Fridays only) closes at its time exit, 47 minutes before Friday's 13:00
    settlement (the 12:15 mark), and the filter refuses it on Tuesday and Wednesday; the 5-DTE put
    skips event days (an FOMC statement put on Wednesday); the 7-DTE calls have a VIX maximum, and
    the compact universe lists nothing 30 days out, so vix30 is missing and they never enter; the
    7-DTE 10-delta put needs 5 % of the width as credit (1.25 on 25 points: some days it has it). Live and the backtest make the same decisions (SKIP
    ``entry_filter`` with the same reasons), the same trades, exits and PnL, field by field."""
    from decimal import Decimal
    from zoneinfo import ZoneInfo

    from snapshots.models import MarketEvent
    from strategy.quant.types import EntryFilters
    from strategy.services import entry_filters_of

    wednesday = HOLIDAY_DAYS[2]
    MarketEvent.objects.create(day=wednesday, kind=MarketEvent.Kind.FOMC, description="test: an event day")
    StrategyConfig.objects.update(take_profit_fraction=1, stop_loss_multiple=19, max_open_trades=2)
    StrategyConfig.objects.filter(name="3DTE put 20d").update(priority=1, short_delta_target="0.45",
                                                              exit_minutes_before_settlement=47, entry_weekdays="1,5")
    StrategyConfig.objects.filter(name="5DTE put 20d").update(priority=2, skip_event_days=True, max_new_trades_per_day=2,
                                                              max_combo_spread=None, max_combo_spread_frac=None)
    StrategyConfig.objects.filter(target_dte=7, side="call_credit").update(vix_max=40)
    StrategyConfig.objects.filter(name="7DTE put 10d").update(min_credit_to_width="0.05")
    run, report = live_then_backtest(HOLIDAY_DAYS, context=True)
    assert report.decisions_compared == 12 * 3 * len(HOLIDAY_DAYS)
    assert report.trades_compared == Trade.objects.filter(backtest_run__isnull=True).count() > 0
    assert report.differences == []

    live = TradeDecision.objects.filter(backtest_run__isnull=True).select_related("strategy_config")
    backtest = TradeDecision.objects.filter(backtest_run=run)
    filtered = live.filter(reason_code="entry_filter")
    assert filtered.count() == backtest.filter(reason_code="entry_filter").count()
    by_config: dict[str, set[str]] = {}
    for d in filtered:
        by_config.setdefault(d.strategy_config.name, set()).add(d.reason_message.split(":")[0])
        assert d.legs and d.credit_fill is not None  # the refused spread is stored, as for a selection SKIP
        assert not DecisionOutcome.objects.filter(decision=d).exists()  # not a candidate: no shadow outcome
    assert by_config["3DTE put 20d"] == {"entry_weekdays"}
    assert by_config["5DTE put 20d"] == {"skip_event_days"}
    assert by_config["7DTE call 10d"] == by_config["7DTE call 20d"] == {"vix_max"}
    assert by_config["7DTE put 10d"] == {"min_credit_to_width"}
    low = live.filter(strategy_config__name="7DTE put 10d")
    assert all(d.credit_fill < Decimal("1.25") for d in low.filter(reason_code="entry_filter"))
    assert all(d.credit_fill >= Decimal("1.25") for d in low.filter(reason_code="risk_limit"))
    assert low.filter(reason_code="risk_limit").exists()  # passed the filter, then the shared budget was full
    assert {d.trading_day for d in filtered.filter(strategy_config__name="3DTE put 20d")} <= {HOLIDAY_DAYS[1], wednesday}
    assert {d.trading_day for d in filtered.filter(strategy_config__name="5DTE put 20d")} == {wednesday}
    assert not live.filter(strategy_config__name__startswith="7DTE call", action="TRADE").exists()
    message = filtered.filter(strategy_config__name="7DTE call 10d").first().reason_message
    assert message == "vix_max: vix30 missing (term chains missing), and vix_max is set"
    # The filters were frozen on both sides' decisions.
    for d in [*live.filter(strategy_config__name="3DTE put 20d")[:1], *backtest.filter(strategy_config__name="3DTE put 20d")[:1]]:
        assert entry_filters_of(d.config_params) == EntryFilters(weekdays=(1, 5))
    # Monday's filtered 3-DTE trade closes at its time exit at the same stamp and PnL live and in the backtest.
    ny = ZoneInfo("America/New_York")
    timed = Trade.objects.filter(backtest_run=run, exit_reason="time_exit", strategy_config__name="3DTE put 20d")
    assert timed.count() == 1, list(Trade.objects.filter(backtest_run=run).values_list("expiration", "exit_reason"))
    t = timed.get()
    assert t.decision.trading_day == HOLIDAY_DAYS[0] and t.closed_at.astimezone(ny) == dt.datetime(
        2026, 11, 27, 12, 15, tzinfo=ny)
    twin = Trade.objects.get(backtest_run__isnull=True, decision__trading_day=t.decision.trading_day,
                             decision__entry_window=t.decision.entry_window, strategy_config=t.strategy_config)
    assert (twin.exit_reason, twin.closed_at, twin.exit_debit, twin.realized_pnl_usd) == (
        t.exit_reason, t.closed_at, t.exit_debit, t.realized_pnl_usd)


def test_a_zero_dte_config_agrees_live_and_in_the_backtest(replay_market: Path, settings) -> None:  # type: ignore[no-untyped-def]
    """0 DTE: with 0 in ``SNAPSHOT_DTE_TARGETS`` the live capture stores the day's own expiration
    and the entry windows read it; one config holds to the 16:00 settlement (no take profit, a far
    stop), the other (20-delta) closes at a 15:00 time exit. The backtest of the day reads the same expiration
    from the minute data and ends every trade the same day, at the same stamps and PnL."""
    from zoneinfo import ZoneInfo

    from strategy.tests.factories import StrategyConfigFactory

    settings.SNAPSHOT_DTE_TARGETS = [0, 3, 5, 7]
    day = COMPACT_DAYS[0]
    StrategyConfig.objects.exclude(name="3DTE put 10d").update(enabled=False)
    StrategyConfigFactory(name="0DTE put held", target_dte=0, short_delta_target="0.10", min_credit="0.05",
                          take_profit_fraction=1, stop_loss_multiple=19, max_open_trades=9, max_new_trades_per_day=9,
                          priority=1)
    StrategyConfigFactory(name="0DTE put timed", target_dte=0, short_delta_target="0.20",
                          min_credit="0.05", take_profit_fraction=1, stop_loss_multiple=19, exit_at_time=dt.time(15),
                          max_open_trades=9, max_new_trades_per_day=9, priority=2)
    run, report = live_then_backtest((day,), context=True)
    assert report.decisions_compared == 3 * 3
    assert report.differences == []

    ny = ZoneInfo("America/New_York")
    live = TradeDecision.objects.filter(backtest_run__isnull=True, strategy_config__target_dte=0)
    assert live.count() == 2 * 3
    for d in live.select_related("snapshot"):
        assert d.expiration == day and d.snapshot is not None and 0 in d.snapshot.dte_targets
        assert d.features["dte_calendar"] == 0
    trades = Trade.objects.filter(strategy_config__target_dte=0)
    assert trades.filter(backtest_run__isnull=True).count() == trades.filter(backtest_run=run).count() >= 2
    reasons = set()
    for t in trades:
        closed = t.closed_at.astimezone(ny)
        assert t.status == Trade.Status.CLOSED and t.expiration == day and closed.date() == day
        reasons.add((t.strategy_config.name, t.exit_reason, closed.time()))
    assert ("0DTE put held", "settlement", dt.time(16, 0)) in reasons, reasons
    assert any(name == "0DTE put timed" and reason == "time_exit" and at == dt.time(15, 0)
               for name, reason, at in reasons), reasons
