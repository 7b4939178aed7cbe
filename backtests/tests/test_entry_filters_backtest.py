"""Entry filters and 0-DTE in the backtest (issue 16 §1): the run's strategies carry each config's
frozen filters, a run stored before the filters existed reruns identically with none, a filtered
config SKIPs ``entry_filter`` on the days it refuses and decides exactly as before on the others,
and a 0-DTE config enters at 10:00 and is closed or settled at 16:00 the same day."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from backtests import services
from backtests.services.params import NO_ENTRY_FILTERS
from backtests.tests.conftest import COMPACT_DAYS
from backtests.tests.test_engine import _rows
from execution.models import Trade
from strategy.models import DecisionOutcome, StrategyConfig, TradeDecision
from strategy.quant.types import EntryFilters
from strategy.tests.factories import StrategyConfigFactory

pytestmark = pytest.mark.django_db
NY = ZoneInfo("America/New_York")


def _params(configs, **kw):  # type: ignore[no-untyped-def]
    return services.params_build(start=COMPACT_DAYS[0], end=COMPACT_DAYS[-1], configs=configs, chunk_days=2, **kw)


def _without_filters(params: dict) -> dict:
    """The params as a run stored before the entry filters existed has them (no filter keys)."""
    old = copy.deepcopy(params)
    for s in old["strategies"]:
        s["params"] = {k: v for k, v in s["params"].items() if k not in NO_ENTRY_FILTERS}
    return old


def test_no_entry_filters_are_the_models_defaults_and_old_params_read_as_them() -> None:
    c = StrategyConfigFactory()
    assert {k: c.frozen()[k] for k in NO_ENTRY_FILTERS} == NO_ENTRY_FILTERS
    old = _without_filters(_params([c]))
    assert "vix_max" not in old["strategies"][0]["params"]
    for s in services.strategies_of(old):
        assert s.spec.filters == EntryFilters() and {k: s.params[k] for k in NO_ENTRY_FILTERS} == NO_ENTRY_FILTERS
    c.vix_max, c.entry_weekdays = Decimal("30"), "1,2"
    c.save()
    [s, *_] = services.strategies_of(_params([c]))
    assert s.spec.filters == EntryFilters(vix_max=30.0, weekdays=(1, 2))


def test_a_run_stored_before_the_filters_reruns_identically(compact_market: Path) -> None:
    params = _params(StrategyConfig.objects.filter(target_dte=3))
    new = services.run_execute_inline(services.run_create(params, name="new")[0])
    old = services.run_execute_inline(services.run_create(_without_filters(params), name="old")[0])
    assert new.status == old.status == "done" and new.params_sha256 != old.params_sha256
    assert _rows(new) == _rows(old)
    assert not TradeDecision.objects.filter(reason_code="entry_filter").exists()


def test_filtered_configs_skip_the_days_they_refuse_and_decide_as_before_on_the_others(compact_market: Path) -> None:
    """Mon 16 – Wed 18 March 2026 (the 18th an FOMC statement day of the seeded event table): one
    config trades Mondays only, another skips event days, a third needs 9d/30d <= 2 — and the
    compact universe lists nothing 30 days out, so its vix30 (and the ratio) is missing: it refuses
    every entry, saying so."""
    def configs():  # type: ignore[no-untyped-def]
        return StrategyConfig.objects.filter(target_dte=3)  # a fresh query: a used one keeps its rows

    base = services.run_execute_inline(services.run_create(_params(configs()), name="base")[0])
    configs().filter(name="3DTE put 10d").update(entry_weekdays="1")
    configs().filter(name="3DTE put 20d").update(skip_event_days=True)
    configs().filter(name="3DTE call 10d").update(term_ratio_max=2)
    filtered = services.run_execute_inline(services.run_create(_params(configs()), name="filtered")[0])
    assert filtered.status == "done"

    def view(run):  # type: ignore[no-untyped-def]
        return {(d.trading_day, d.entry_window, d.strategy_config.name): d
                for d in TradeDecision.objects.filter(backtest_run=run).select_related("strategy_config")}

    before, after = view(base), view(filtered)
    assert before.keys() == after.keys()
    refused = {
        "3DTE put 10d": lambda day: day.isoweekday() != 1,
        "3DTE put 20d": lambda day: day == dt.date(2026, 3, 18),
        "3DTE call 10d": lambda day: True,
    }
    passed_before = 0
    for key, d in after.items():
        day, _, name = key
        b = before[key]
        if name in refused and refused[name](day) and b.credit_fill is not None and b.reason_code in ("ok", "risk_limit"):
            # A spread that passed selection is now refused by the filter, its legs and credit kept.
            passed_before += 1
            assert (d.action, d.reason_code) == ("SKIP", "entry_filter"), key
            assert (d.legs, d.credit_fill, d.features) == (b.legs, b.credit_fill, b.features)
            assert not DecisionOutcome.objects.filter(decision=d).exists()  # not a candidate: no outcome
        else:
            assert (d.action, d.reason_code, d.legs, d.credit_fill) == (b.action, b.reason_code, b.legs, b.credit_fill), key
    assert passed_before >= 5
    messages = set(TradeDecision.objects.filter(backtest_run=filtered, reason_code="entry_filter")
                   .values_list("strategy_config__name", "reason_message"))
    assert ("3DTE put 20d", "skip_event_days: the entry day is an FOMC statement day (fomc_day 1)") in messages
    assert ("3DTE call 10d", "term_ratio_max: vix_ratio_9d_30d missing (vix9d or vix30 missing), and term_ratio_max "
                             "is set") in messages
    assert any(n == "3DTE put 10d" and m.startswith("entry_weekdays: Tuesday (2) is not an allowed weekday: Mon (1)")
               for n, m in messages)
    d = TradeDecision.objects.filter(backtest_run=filtered, strategy_config__name="3DTE put 10d").first()
    assert d is not None and d.config_params["entry_weekdays"] == "1"


def test_a_zero_dte_day_enters_at_10_and_ends_the_same_day(compact_market: Path) -> None:
    """0 DTE: the expiration of the entry day, read at 10:00 from the same minute data; one config
    holds to the 16:00 settlement (no take profit, a far stop), the other takes its exits."""
    held = StrategyConfigFactory(name="0DTE put held", target_dte=0, short_delta_target=Decimal("0.10"),
                                 min_credit=Decimal("0.05"), take_profit_fraction=Decimal("1"),
                                 stop_loss_multiple=Decimal("19"))
    traded = StrategyConfigFactory(name="0DTE put 20d", target_dte=0, short_delta_target=Decimal("0.20"),
                                   min_credit=Decimal("0.05"), take_profit_fraction=Decimal("0.25"))
    run = services.run_execute_inline(services.run_create(_params([held, traded], windows=["10:00"]), name="0dte")[0])
    assert run.status == "done"
    decisions = TradeDecision.objects.filter(backtest_run=run)
    assert decisions.count() == 2 * len(COMPACT_DAYS)
    for d in decisions:
        assert d.expiration == d.trading_day and d.features["dte_calendar"] == 0, (d.reason_code, d.reason_message)
        assert d.features["minutes_to_settlement"] == 360.0  # 10:00 → 16:00 ET
    trades = Trade.objects.filter(backtest_run=run).select_related("strategy_config", "decision")
    assert trades.count() == 2 * len(COMPACT_DAYS), list(decisions.values_list("reason_code", "reason_message"))
    settled = 0
    for t in trades:
        assert t.status == Trade.Status.CLOSED and t.expiration == t.decision.trading_day
        closed = t.closed_at.astimezone(NY)
        assert closed.date() == t.expiration and dt.time(10, 0) <= closed.time() <= dt.time(16, 0)
        if t.exit_reason == "settlement":
            settled += 1
            assert closed.time() == dt.time(16, 0) and t.settlement_price is not None
            assert t.settlement_source.startswith(f"OPRA SPXW {t.expiration} parity at expiry, 16:00 ET")
        if t.strategy_config == held:
            assert t.exit_reason in ("settlement", "stop_loss")
    assert settled >= 1
    assert run.metrics["open_trades"] == 0
