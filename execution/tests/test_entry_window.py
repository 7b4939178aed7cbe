"""The entry-window decision service: one decision per key, reasons, ranking, risk, calendar."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from snapshots.models import ChainSnapshot
from snapshots.services import snapshot_capture
from strategy.models import StrategyConfig, TradeDecision
from execution.services import entry_window_trade as entry_window_run
from strategy.services import window_of
from strategy.tests.factories import StrategyConfigFactory

NY = ZoneInfo("America/New_York")
pytestmark = pytest.mark.django_db
FRI_10 = dt.datetime(2026, 11, 20, 10, 0, tzinfo=NY)



@pytest.fixture
def only(db):  # type: ignore[no-untyped-def]
    """Disable the seeded grid and enable just the configs a test makes."""
    StrategyConfig.objects.update(enabled=False)

    def make(**kwargs):  # type: ignore[no-untyped-def]
        return StrategyConfigFactory(enabled=True, **kwargs)

    return make


def test_seeded_grid_is_the_twelve_configs() -> None:
    grid = {(c.target_dte, c.short_delta_target, c.side) for c in StrategyConfig.objects.all()}
    assert grid == {(d, Decimal(x), s) for d in (3, 5, 7) for x in ("0.100", "0.200") for s in ("put_credit", "call_credit")}
    assert all(c.width_points == 25 and c.max_open_trades == 1 and c.max_new_trades_per_day == 1 for c in StrategyConfig.objects.all())


def test_window_decides_every_config_once_with_one_trade(sim) -> None:  # type: ignore[no-untyped-def]
    result = entry_window_run(at=FRI_10)
    decisions = TradeDecision.objects.filter(trading_day=dt.date(2026, 11, 20))
    assert decisions.count() == 12 == len(result.created)
    trades = decisions.filter(action="TRADE")
    assert trades.count() == 1  # max 1 new trade a day across the grid
    trade = trades.get()
    assert trade.source == "simulated" and trade.reason_code == "ok"
    assert trade.snapshot.ts == FRI_10.astimezone(dt.UTC)  # the window's own slot, captured first
    assert trade.snapshot_checksum == trade.snapshot.checksum and trade.snapshot.verify_checksum()
    assert [leg["side"] for leg in trade.legs] == ["sell", "buy"]
    assert trade.credit_fill <= trade.credit_mid and trade.credit_fill % Decimal("0.05") == 0
    assert trade.max_loss_usd + trade.max_profit_usd == trade.width_points * 100
    assert trade.features["dte_target"] == trade.strategy_config.target_dte and trade.feature_schema == 1
    # The slot's market context reaches the features (the simulated market lists 30-day terms).
    assert trade.features["vix30"] is not None and trade.features["vix9d"] is not None
    assert trade.features["credit_fill"] == float(trade.credit_fill)
    others = decisions.exclude(pk=trade.pk)
    assert set(others.values_list("reason_code", flat=True)) <= {"risk_limit", "credit_below_min",
                                                                "combo_spread_too_wide", "no_long_leg"}
    assert others.filter(reason_code="risk_limit").exists()
    # The first rule the day's trade trips is max_open_trades (checked before the daily count).
    assert all(d.reason_message.startswith("max_open_trades") for d in others.filter(reason_code="risk_limit"))


def test_rerun_and_duplicate_tick_add_and_change_nothing(sim) -> None:  # type: ignore[no-untyped-def]
    entry_window_run(at=FRI_10)
    before = list(TradeDecision.objects.order_by("pk").values("pk", "action", "reason_code", "credit_fill"))
    again = entry_window_run(at=FRI_10)
    assert again.created == [] and len(again.existing) == 12
    assert list(TradeDecision.objects.order_by("pk").values("pk", "action", "reason_code", "credit_fill")) == before


def test_next_window_is_blocked_by_the_days_trade(sim) -> None:  # type: ignore[no-untyped-def]
    entry_window_run(at=FRI_10)
    entry_window_run(at=FRI_10 + dt.timedelta(hours=1))
    eleven = TradeDecision.objects.filter(entry_window=dt.time(11, 0))
    assert eleven.count() == 12 and not eleven.filter(action="TRADE").exists()


def test_ranking_priority_then_credit_over_width(sim, only) -> None:  # type: ignore[no-untyped-def]
    low = only(name="put 20d low priority", short_delta_target=Decimal("0.20"), priority=50)
    high = only(name="put 10d first", short_delta_target=Decimal("0.10"), priority=10)
    entry_window_run(at=FRI_10)
    assert TradeDecision.objects.get(strategy_config=high).action == "TRADE"
    assert TradeDecision.objects.get(strategy_config=low).reason_code == "risk_limit"
    # Same priority: the richer credit/width wins (20-delta collects more of the width than 10-delta).
    TradeDecision.objects.all().delete()
    StrategyConfig.objects.filter(pk__in=[low.pk, high.pk]).update(priority=10)
    entry_window_run(at=FRI_10)
    assert TradeDecision.objects.get(strategy_config=low).action == "TRADE"


def test_no_snapshot_and_stale_snapshot_skip_with_reason(sim, only) -> None:  # type: ignore[no-untyped-def]
    config = only(name="put 5d")
    entry_window_run(at=FRI_10, capture=False)
    d = TradeDecision.objects.get()
    assert (d.action, d.reason_code, d.snapshot) == ("SKIP", "no_snapshot", None)
    snapshot_capture(now=FRI_10 - dt.timedelta(minutes=30))
    entry_window_run(at=FRI_10 + dt.timedelta(hours=1), capture=False)
    stale = TradeDecision.objects.get(entry_window=dt.time(11, 0))
    assert stale.reason_code == "stale_snapshot" and "90 min old" in stale.reason_message
    assert stale.snapshot.target_dte == config.target_dte


def test_quality_filter_skip_keeps_the_candidate_numbers(sim, only) -> None:  # type: ignore[no-untyped-def]
    only(name="demanding", min_credit=Decimal("20.00"))
    entry_window_run(at=FRI_10)
    d = TradeDecision.objects.get()
    assert d.reason_code == "credit_below_min" and d.credit_fill is not None and len(d.legs) == 2


@pytest.mark.parametrize(
    "day", [dt.date(2026, 11, 26), dt.date(2026, 12, 25), dt.date(2026, 11, 21)]  # Thanksgiving, Christmas, Saturday
)
def test_holidays_and_weekends_decide_nothing(sim, day) -> None:  # type: ignore[no-untyped-def]
    result = entry_window_run(at=dt.datetime.combine(day, dt.time(10, 0), tzinfo=NY))
    assert result.skipped_reason == "not a trading day"
    assert TradeDecision.objects.count() == 0 and ChainSnapshot.objects.count() == 0


def test_early_close_day_still_decides(sim) -> None:  # type: ignore[no-untyped-def]
    result = entry_window_run(at=dt.datetime(2026, 11, 27, 12, 0, tzinfo=NY))  # day after Thanksgiving, 13:15 close
    assert len(result.created) == 12
    assert result.created[0].features["early_close_day"] == 1.0


def test_window_must_be_an_entry_window() -> None:
    assert window_of(FRI_10) == (dt.date(2026, 11, 20), dt.time(10, 0))
    for bad in (FRI_10 + dt.timedelta(minutes=5), FRI_10.replace(hour=13), FRI_10 + dt.timedelta(seconds=1)):
        with pytest.raises(ValueError, match="not an entry window"):
            window_of(bad)


def test_frozen_config_params_do_not_follow_later_edits(sim, only) -> None:  # type: ignore[no-untyped-def]
    config = only(name="editable", width_points=Decimal("25"))
    entry_window_run(at=FRI_10)
    config.width_points = Decimal("50")
    config.save()
    assert TradeDecision.objects.get().config_params["width_points"] == "25.00"


def test_two_targets_sharing_an_expiration_both_decide_on_it(sim, only) -> None:  # type: ignore[no-untyped-def]
    """Thanksgiving week: from Monday 11-23 both 3 and 5 DTE resolve to Friday 11-27 (ties go to the
    later date; the 26th is the holiday). The chain is stored once and serves both targets."""
    monday = dt.datetime(2026, 11, 23, 10, 0, tzinfo=NY)
    three = only(name="3", target_dte=3, side="put_credit", short_delta_target=Decimal("0.10"))
    five = only(name="5", target_dte=5, side="put_credit", short_delta_target=Decimal("0.10"), priority=1)
    entry_window_run(at=monday)
    row = ChainSnapshot.objects.get(ts=monday, expiration=dt.date(2026, 11, 27))
    assert (row.target_dte, row.dte_targets, row.actual_dte_days) == (3, [3, 5], 4)
    d3, d5 = (TradeDecision.objects.get(strategy_config=c) for c in (three, five))
    assert d3.snapshot_id == d5.snapshot_id == row.pk and d5.reason_code != "no_snapshot"
    assert d3.legs == d5.legs  # the same rules on the same chain pick the same spread
    assert d5.action == "TRADE" and d3.reason_code == "risk_limit"  # one budget live: priority 1 goes first


def test_the_long_leg_cap_is_a_config_field(sim, only) -> None:  # type: ignore[no-untyped-def]
    # 7 points wide on a 5-point grid: the strike at the width is never listed, the next one is 10 out.
    wide = only(name="cap 1.5", target_dte=3, side="put_credit", short_delta_target=Decimal("0.10"),
                width_points=Decimal("7"), min_credit=Decimal("0.05"))
    tight = only(name="cap 1.2", target_dte=3, side="put_credit", short_delta_target=Decimal("0.10"),
                 width_points=Decimal("7"), min_credit=Decimal("0.05"), max_width_mult=Decimal("1.20"))
    entry_window_run(at=FRI_10)
    wide_d, tight_d = (TradeDecision.objects.get(strategy_config=c) for c in (wide, tight))
    assert wide_d.width_points == 10 and wide_d.config_params["max_width_mult"] == "1.50"
    assert tight_d.reason_code == "no_long_leg" and "7 to 8.4 points further out" in tight_d.reason_message


def test_the_mid_credit_is_stored_exactly(sim) -> None:  # type: ignore[no-untyped-def]
    for hour in (10, 11, 12):
        entry_window_run(at=FRI_10.replace(hour=hour))
    half_cents = 0
    for d in TradeDecision.objects.exclude(credit_mid=None):
        short, long_ = d.legs
        exact = sum((Decimal(str(x["bid"])) + Decimal(str(x["ask"]))) / 2 * (1 if x is short else -1) for x in (short, long_))
        assert d.credit_mid == exact  # not rounded to the cent: 2.375 stays 2.375
        half_cents += exact != exact.quantize(Decimal("0.01"))
    assert half_cents  # the grid has mids off the cent, which a cent field would have rounded
