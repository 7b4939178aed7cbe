"""The backtest engine: day data lookups, the exit walk, the risk books, and runs end to end
(identical reruns, a crashed chunk retried, cancel, Celery, idempotency keys)."""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import re
from io import StringIO
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from hypothesis import given, settings as hsettings
from hypothesis import strategies as st

from backtests import services
from backtests.data import store
from backtests.engine import replay as replay_mod
from backtests.engine.books import books_walk
from backtests.engine.daydata import DayData, LegSeries, ns
from backtests.engine.replay import DayReplayer, EngineParams, Strategy, exit_screen
from backtests.engine.types import Candidate, Exit
from strategy.quant.decision import Evaluation, StrategySpec
from strategy.quant.types import Leg, SpreadCandidate
from backtests.models import BacktestChunk, BacktestRun
from backtests.tests.conftest import COMPACT_DAYS
from execution.models import PositionMark, Trade, TradeLeg
from strategy.models import StrategyConfig, TradeDecision
from strategy.quant import rules
from strategy.quant.types import RiskLimits, SpreadRules

NY = ZoneInfo("America/New_York")


def at_et(day: dt.date, hh: int, mm: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hh, mm), tzinfo=NY)


# ------------------------------------------------------------------------------------ day data

def test_quotes_in_force_equal_the_stores_carry_forward(compact_market: Path) -> None:
    day = COMPACT_DAYS[0]
    data = DayData(day)
    expiration = sorted(e for r, e in data.listed() if r == "SPXW")[2]
    rows = data.chain_rows("SPXW", expiration)
    data.load({expiration})
    assert data.records < store.quotes(day, columns=["ts_recv"]).num_rows  # only that expiration is read
    data.focus(rows)
    for hh, mm in ((9, 31), (10, 0), (12, 0), (15, 59)):
        moment = at_et(day, hh, mm)
        bid, ask = data.in_force(rows, ns(moment))
        table = store.quotes_at(day, moment, roots=["SPXW"], expirations=[expiration])
        expected = {s: (b if b is not None else 0.0, a) for s, b, a in zip(
            table.column("symbol").to_pylist(), table.column("bid_px").to_pylist(), table.column("ask_px").to_pylist())}
        got = {}
        for r, b, a in zip(rows, bid, ask):
            if not math.isnan(b):
                got[str(data.symbol[r])] = (b, None if math.isnan(a) else a)
        assert got == expected
        assert len(expected) > 100


def test_series_are_the_records_of_one_instrument(compact_market: Path) -> None:
    day = COMPACT_DAYS[0]
    data = DayData(day)
    symbol = str(data.symbol[data.chain_rows("SPXW", sorted(e for _, e in data.listed())[1])[40]])
    rows = data.rows_of_symbols([symbol])
    data.load(data.expirations_of(rows))
    data.focus(rows)
    s = data.series([symbol, "SPXW990101C00001000"])
    table = store.quotes(day, symbols=[symbol])
    assert s[symbol].ts.size == table.num_rows > 10
    assert s[symbol].ask.tolist() == table.column("ask_px").to_pylist()
    assert s["SPXW990101C00001000"].ts.size == 0
    with pytest.raises(ValueError, match="focus"):
        data.in_force(data.chain_rows("SPXW", sorted(e for _, e in data.listed())[0]), ns(at_et(day, 10, 0)))


# ------------------------------------------------------------------------------------ exits

def _spread(credit: float, width: float = 25.0) -> SpreadCandidate:
    """A put credit spread on legs "S" (short) and "L" (long) with the given fill-model credit."""
    short = Leg("S", 6000.0, False, 1.0, 1.1, 1.05, 0.2, -0.1, "sell")
    long_ = Leg("L", 6000.0 - width, False, 0.5, 0.6, 0.55, 0.2, -0.05, "buy")
    return SpreadCandidate(side="put_credit", short_leg=short, long_leg=long_, quantity=1, requested_width_points=width,
                           width_points=width, credit_mid=credit, combo_spread=0.2, credit_fill=credit,
                           max_profit_per_contract_usd=credit * 100, max_loss_per_contract_usd=(width - credit) * 100,
                           breakeven=6000.0 - credit)


def _candidate(credit: float, width: float = 25.0) -> replay_mod._Open:
    spec = _strategy("a", "a").spec
    at = dt.datetime(2026, 3, 16, 14, tzinfo=dt.UTC)
    return replay_mod._Open(Candidate("a", at.date(), dt.time(10), Evaluation(spec, at, _spread(credit, width), "", ""),
                                      expiration=dt.date(2026, 3, 19), root="SPXW",
                                      settles_at=at_et(dt.date(2026, 3, 19), 16, 0).astimezone(dt.UTC)))


def _walker() -> DayReplayer:
    return DayReplayer([], EngineParams(), load_day=lambda d: None)


def _series(ts: list[int], bid: list[float], ask: list[float]) -> LegSeries:
    return LegSeries(np.array(ts, dtype=np.int64), np.array(bid, dtype=float), np.array(ask, dtype=float))


def test_the_first_stamp_reaching_take_profit_closes_at_its_modelled_debit() -> None:
    # Credit 2.00: take profit when the modelled debit <= 1.00, stop when >= 4.00.
    stamps = np.array([100, 200, 300, 400], dtype=np.int64)
    short = _series([50, 150, 250, 350], [2.9, 2.4, 1.0, 0.5], [3.1, 2.6, 1.1, 0.6])
    long_ = _series([50], [0.45], [0.55])
    c = _candidate(2.0)
    _walker()._walk(c, stamps, {"S": short, "L": long_})
    # At 300: mid 1.05 − 0.50 = 0.55, spread 0.2, debit 0.55 + 0.06 → 0.65 (ceil to 0.05) <= 1.00.
    debit_mid, debit_fill = rules.close_debit(1.0, 1.1, 0.45, 0.55, width_points=25.0)
    assert c.exit is not None and c.exit.reason == "take_profit" and c.exit.debit == debit_fill == 0.65
    assert c.exit.at == dt.datetime.fromtimestamp(0, dt.UTC)  # stamp 300 ns → second 0
    assert [m.signal for m in c.marks] == ["take_profit"]


def test_a_stop_and_unusable_quotes() -> None:
    stamps = np.array([100, 200, 300], dtype=np.int64)
    short = _series([50, 150, 250], [2.0, 5.0, 5.0], [2.2, float("nan"), 5.4])  # 200: no ask → no mark
    long_ = _series([50], [0.2], [0.3])
    c = _candidate(2.0)
    _walker()._walk(c, stamps, {"S": short, "L": long_})
    assert c.exit is not None and c.exit.reason == "stop_loss"
    assert c.exit.debit == rules.close_debit(5.0, 5.4, 0.2, 0.3, width_points=25.0)[1]


def test_a_held_position_gets_one_summary_mark_at_the_last_usable_stamp() -> None:
    stamps = np.array([100, 200, 300], dtype=np.int64)
    short = _series([50, 250], [2.0, 2.1], [2.2, float("nan")])
    long_ = _series([50], [0.2], [0.3])
    c = _candidate(2.0)
    _walker()._walk(c, stamps, {"S": short, "L": long_})
    assert c.exit is None
    assert len(c.marks) == 1 and c.marks[0].signal == ""
    assert c.marks[0].debit_fill == rules.close_debit(2.0, 2.2, 0.2, 0.3, width_points=25.0)[1]


cents = st.integers(min_value=0, max_value=2_000).map(lambda c: c / 100)


@hsettings(max_examples=300, deadline=None)
@given(sb=cents, sw=cents, lb=cents, lw=cents, credit=st.integers(min_value=5, max_value=800).map(lambda c: c / 100))
def test_the_float_screen_never_misses_an_exact_trigger(sb: float, sw: float, lb: float, lw: float, credit: float) -> None:
    sa, la = round(sb + sw, 2), round(lb + lw, 2)
    arr = [np.array([x]) for x in (sb, sa, lb, la)]
    usable, maybe = exit_screen(*arr, width_points=25.0, entry_credit=credit, take_profit_fraction=0.5,
                                stop_loss_multiple=1.0)
    assert bool(usable[0]) == rules.mark_quotes_usable(sb, sa, lb, la)
    if usable[0]:
        debit = rules.close_debit(sb, sa, lb, la, width_points=25.0)[1]
        if rules.exit_due(entry_credit=credit, debit_to_close=debit) is not None:
            assert maybe[0]


# ------------------------------------------------------------------------------------ risk books

def _strategy(key: str, book: str, priority: int = 100, limits: RiskLimits | None = None) -> Strategy:
    spec = StrategySpec(key=key, priority=priority, book=book, target_dte=3,
                        rules=SpreadRules(side="put_credit", short_delta_target=0.1), limits=limits or RiskLimits())
    return Strategy(spec=spec, config_id=1, name=key, params={}, windows=(dt.time(10), dt.time(11), dt.time(12)))


def _cand(s: Strategy, day: dt.date, hh: int, *, exit_at: dt.datetime | None, reason: str = "take_profit",
          credit: float = 1.0, passed: bool = True) -> Candidate:
    at = at_et(day, hh, 0).astimezone(dt.UTC)
    spread = _spread(credit) if passed else None
    evaluation = Evaluation(s.spec, at, spread, "" if passed else "no_quotes", "")
    return Candidate(s.key, day, dt.time(hh), evaluation,
                     exit=Exit(exit_at.astimezone(dt.UTC), reason, 0.5, "") if exit_at else None)


def test_one_open_trade_blocks_until_it_exits_and_an_exit_on_the_window_minute_still_counts() -> None:
    d1, d2 = dt.date(2026, 3, 16), dt.date(2026, 3, 17)
    s = [_strategy("a", "a")]
    a = s[0]
    cands = [
        _cand(a, d1, 10, exit_at=at_et(d2, 11, 0)),  # open until d2 11:00
        _cand(a, d1, 11, exit_at=None),
        _cand(a, d2, 10, exit_at=None),
        _cand(a, d2, 11, exit_at=None),              # the first trade exits at 11:00 itself: still open
        _cand(a, d2, 12, exit_at=None),
    ]
    actions = [(v.action, v.reason_message.split(":")[0]) for _, v in books_walk(cands, s)]
    assert actions == [("TRADE", "selected (no gate)"), ("SKIP", "max_open_trades"), ("SKIP", "max_open_trades"),
                       ("SKIP", "max_open_trades"), ("TRADE", "selected (no gate)")]


def test_a_stop_blocks_the_rest_of_that_day_and_separate_books_do_not_interact() -> None:
    d = dt.date(2026, 3, 16)
    s = [_strategy("a", "a", limits=RiskLimits(max_open_trades=5, max_new_trades_per_day=5)), _strategy("b", "b")]
    a, b = s
    cands = [
        _cand(a, d, 10, exit_at=at_et(d, 10, 30), reason="stop_loss"),
        _cand(b, d, 10, exit_at=None),
        _cand(a, d, 11, exit_at=None),
        _cand(b, d, 11, exit_at=None),
        _cand(a, d, 12, exit_at=None, passed=False),
    ]
    verdicts = {(c.strategy, c.window.hour): v for c, v in books_walk(cands, s)}
    assert verdicts[("a", 10)].action == "TRADE" and verdicts[("b", 10)].action == "TRADE"
    assert verdicts[("a", 11)].reason_message.startswith("stopped_out_today")
    assert verdicts[("b", 11)].reason_message.startswith("max_open_trades")
    assert verdicts[("a", 12)].reason_code == "no_quotes"


def test_a_shared_book_ranks_like_live_more_credit_per_point_first() -> None:
    d = dt.date(2026, 3, 16)
    s = [_strategy("a", "shared"), _strategy("b", "shared")]
    cands = [_cand(s[0], d, 10, exit_at=None, credit=1.0), _cand(s[1], d, 10, exit_at=None, credit=1.5)]
    verdicts = {c.strategy: v for c, v in books_walk(cands, s)}
    assert verdicts["b"].action == "TRADE"
    assert verdicts["a"].reason_message.startswith("max_open_trades")


# ------------------------------------------------------------------------------------ runs

def _params(configs=None, **kw) -> dict:
    configs = configs if configs is not None else StrategyConfig.objects.filter(target_dte=3)
    return services.params_build(start=COMPACT_DAYS[0], end=COMPACT_DAYS[-1], configs=configs, chunk_days=2, **kw)


def _rows(run: BacktestRun) -> tuple[list, list, list, list]:
    d = list(TradeDecision.objects.filter(backtest_run=run).order_by("trading_day", "entry_window", "strategy_config")
             .values_list("trading_day", "entry_window", "strategy_config", "action", "reason_code", "legs",
                          "credit_fill", "expiration", "features"))
    t = list(Trade.objects.filter(backtest_run=run).order_by("opened_at", "strategy_config", "decision__entry_window")
             .values_list("opened_at", "strategy_config", "status", "entry_credit", "exit_reason", "closed_at",
                          "exit_debit", "realized_pnl_usd", "settlement_price"))
    legs = list(TradeLeg.objects.filter(trade__backtest_run=run).order_by("trade__opened_at", "trade__strategy_config",
                                                                        "symbol").values_list("symbol", "side", "strike"))
    marks = list(PositionMark.objects.filter(trade__backtest_run=run).order_by("trade__opened_at", "trade__strategy_config", "ts")
                 .values_list("ts", "debit_mid", "debit_fill", "unrealized_pnl_usd", "signal"))
    return d, t, legs, marks


def test_a_run_writes_decisions_trades_and_metrics_and_reruns_identically(compact_market: Path) -> None:
    params = _params()
    first = services.run_execute_inline(services.run_create(params, name="one")[0])
    second = services.run_execute_inline(services.run_create(params, name="two")[0])
    assert first.status == second.status == BacktestRun.Status.DONE
    rows = _rows(first)
    assert rows == _rows(second)
    decisions, trades, legs, marks = rows
    assert len(decisions) == 4 * 3 * len(COMPACT_DAYS)  # 4 three-DTE configs × 3 windows × 3 days
    assert trades and len(legs) == 2 * len(trades) and marks
    assert first.data_sha256 == second.data_sha256 and len(first.data_days) >= len(COMPACT_DAYS)
    assert first.params_sha256 == second.params_sha256 and first.code_version
    m = first.metrics
    closed = Trade.objects.filter(backtest_run=first, status=Trade.Status.CLOSED)
    assert m["summary"]["trades"] == closed.count()
    assert sum(m["summary"]["exits"].values()) == closed.count()
    assert m["summary"]["total_pnl_usd"] == pytest.approx(float(sum(t.realized_pnl_usd for t in closed)))
    assert len(m["equity"]) == len(COMPACT_DAYS)
    assert {b["window"] for b in m["buckets"]} <= {"10:00", "11:00", "12:00"}
    # Trades whose expiration lies past the imported days are open at the end of the data: their own
    # state, valued at their last mark, counted apart; closed + open at the end = every trade row.
    at_end = Trade.objects.filter(backtest_run=first, status=Trade.Status.OPEN_AT_END)
    assert at_end.exists() and not Trade.objects.filter(backtest_run=first, status=Trade.Status.OPEN).exists()
    assert m["open_trades"] == at_end.count() and m["trades_total"] == len(trades) == closed.count() + at_end.count()
    last = [t.marks.order_by("-ts").first() for t in at_end]
    assert all(mk is not None for mk in last) and m["open_at_end_unmarked"] == 0
    assert m["open_at_end_mtm_usd"] == pytest.approx(float(sum(mk.unrealized_pnl_usd for mk in last)))
    assert all(t.closed_at is None and t.realized_pnl_usd is None for t in at_end)
    assert all(d.source == "backtest" for d in TradeDecision.objects.filter(backtest_run=first))
    # Marks and legs (written with one executemany each) read back as the ORM writes them.
    for mark in PositionMark.objects.filter(trade__backtest_run=first).select_related("trade")[:50]:
        t = mark.trade
        assert mark.ts.tzinfo is not None and t.opened_at <= mark.ts <= (t.closed_at or mark.ts)
        assert mark.unrealized_pnl_usd == (t.entry_credit - mark.debit_fill) * 100 * t.quantity
    assert {leg.side for leg in TradeLeg.objects.filter(trade__backtest_run=first)[:20]} == {"sell", "buy"}
    # Live rows are untouched: risk state and the decision unique key are per run.
    assert not TradeDecision.objects.filter(backtest_run__isnull=True).exists()


def test_a_crashed_chunk_is_retried_without_duplicating_rows(compact_market: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    params = _params()
    clean = services.run_execute_inline(services.run_create(params, name="clean")[0])
    run, _ = services.run_create(params, name="crashy")
    real = replay_mod.DayReplayer.run_day
    calls = {"n": 0}

    def crash_once(self, day, *, entries):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("worker lost its disk")
        return real(self, day, entries=entries)

    monkeypatch.setattr(replay_mod.DayReplayer, "run_day", crash_once)
    first_chunk = run.chunks.order_by("index").first()
    with pytest.raises(OSError):
        services.chunk_execute(first_chunk.pk)
    first_chunk.refresh_from_db()
    assert first_chunk.status == BacktestChunk.Status.FAILED and "disk" in first_chunk.error
    assert not TradeDecision.objects.filter(backtest_run=run).exists()
    run = services.run_execute_inline(run)  # the retry (a redelivered task does the same)
    assert run.status == BacktestRun.Status.DONE
    assert run.chunks.get(index=0).attempts == 2
    assert _rows(run) == _rows(clean)
    # Assembling again (a duplicate last-chunk message) changes nothing.
    services.run_assemble(run.pk)
    assert _rows(run) == _rows(clean)


def test_a_cancelled_run_stops_and_writes_nothing(compact_market: Path) -> None:
    run, _ = services.run_create(_params(), name="cancel me")
    services.run_cancel(run)
    assert services.chunk_execute(run.chunks.first().pk) is None
    run.refresh_from_db()
    assert run.status == BacktestRun.Status.CANCELLED
    assert not TradeDecision.objects.filter(backtest_run=run).exists()


def test_celery_chunks_run_on_the_workers_and_the_last_assembles(compact_market: Path, django_capture_on_commit_callbacks) -> None:
    run, _ = services.run_create(_params(), name="celery")
    assert run.chunks_total == 2
    with django_capture_on_commit_callbacks(execute=True):
        services.run_launch(run)
    run.refresh_from_db()
    assert run.status == BacktestRun.Status.DONE and run.days_done == run.days_total == len(COMPACT_DAYS)
    assert run.progress_pct == 100.0


def test_idempotency_key_and_refusals(compact_market: Path) -> None:
    params = _params()
    run, created = services.run_create(params, idempotency_key="k-1")
    again, created_again = services.run_create(params, idempotency_key="k-1")
    assert created and not created_again and again.pk == run.pk
    with pytest.raises(services.BacktestError, match="different configuration"):
        services.run_create(_params(exit_check_minutes=5), idempotency_key="k-1")
    with pytest.raises(services.BacktestError, match="no imported OPRA data: 2026-03-19"):
        services.run_create(services.params_build(start=COMPACT_DAYS[0], end=dt.date(2026, 3, 19),
                                                  configs=StrategyConfig.objects.all()))
    with pytest.raises(services.BacktestError, match="before start"):
        services.params_build(start=COMPACT_DAYS[1], end=COMPACT_DAYS[0], configs=StrategyConfig.objects.all())
    with pytest.raises(services.BacktestError, match="entry window"):
        _params(windows=["09:45"])


def test_the_command_runs_in_the_foreground_and_reports(compact_market: Path) -> None:
    out, err = StringIO(), StringIO()
    call_command("backtest", "--start", COMPACT_DAYS[0].isoformat(), "--end", COMPACT_DAYS[-1].isoformat(),
                 "--config", "3DTE put 10d", "--windows", "10:00", stdout=out, stderr=err)
    text = out.getvalue()
    run = BacktestRun.objects.latest("pk")
    assert "1 strategies" in text and f"the run's page: /backtests/{run.pk}/" in text
    assert re.search(r"  Win rate +(\d+\.\d%|—)\n", text) and re.search(r"  Total PnL \(USD\) +-?\$[\d,]+\.\d\d\n", text)
    assert f"{len(COMPACT_DAYS)}/{len(COMPACT_DAYS)} days" in err.getvalue()
    # without dates: the latest run of imported days, as the page's form defaults to
    out = StringIO()
    call_command("backtest", "--config", "3DTE put 10d", "--windows", "10:00", stdout=out, stderr=StringIO())
    latest = BacktestRun.objects.latest("pk")
    assert (latest.start_date, latest.end_date) == (COMPACT_DAYS[0], COMPACT_DAYS[-1])
    with pytest.raises(CommandError, match="unknown strategy config"):
        call_command("backtest", "--start", COMPACT_DAYS[0].isoformat(), "--config", "nope")


def test_a_chunk_that_keeps_failing_fails_the_run_with_the_reason(compact_market: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 django_capture_on_commit_callbacks) -> None:
    def broken(self, day, *, entries):  # type: ignore[no-untyped-def]
        raise ValueError("corrupt day")

    monkeypatch.setattr(replay_mod.DayReplayer, "run_day", broken)
    run, _ = services.run_create(_params(), name="doomed")
    with contextlib.suppress(ValueError), django_capture_on_commit_callbacks(execute=True):
        services.run_launch(run)  # eager Celery keeps the task's exception in its result
    run.refresh_from_db()
    assert run.status == BacktestRun.Status.FAILED and "corrupt day" in run.error
    assert not TradeDecision.objects.filter(backtest_run=run).exists()
    # Fixed (the day reads again): reopen and relaunch finishes it.
    monkeypatch.undo()
    run = services.run_reopen(run)
    with django_capture_on_commit_callbacks(execute=True):
        services.run_launch(run)
    run.refresh_from_db()
    assert run.status == BacktestRun.Status.DONE and run.error == ""
    assert TradeDecision.objects.filter(backtest_run=run).count() == 4 * 3 * len(COMPACT_DAYS)


def test_demo_backtest_generates_missing_days_and_runs_once(market_dir: Path, db, monkeypatch: pytest.MonkeyPatch) -> None:
    from functools import partial

    from backtests.data import dbn_generate
    from backtests.tests.conftest import COMPACT

    monkeypatch.setattr(dbn_generate, "generate_day", partial(dbn_generate.generate_day, params=COMPACT, compress=False))
    out = StringIO()
    call_command("demo_backtest", "--days", "1", stdout=out)
    assert "generated and imported 1 simulated OPRA day(s)" in out.getvalue()
    run = BacktestRun.objects.get()
    assert run.status == BacktestRun.Status.DONE and len(run.params["strategies"]) == 36
    assert TradeDecision.objects.filter(backtest_run=run).count() == 36
    out = StringIO()
    call_command("demo_backtest", "--if-empty", stdout=out)
    assert "nothing to do" in out.getvalue() and BacktestRun.objects.count() == 1


def test_every_candidate_gets_an_outcome_traded_or_not(compact_market: Path) -> None:
    from strategy.models import DecisionOutcome
    from strategy.quant.rules import outcome_label

    run = services.run_execute_inline(services.run_create(_params(risk_scope="shared"), name="outcomes")[0])
    candidates = TradeDecision.objects.filter(backtest_run=run).filter(action="TRADE") | TradeDecision.objects.filter(
        backtest_run=run, reason_code="risk_limit")
    assert candidates.filter(reason_code="risk_limit").exists()  # one budget: most candidates are turned away
    outcomes = DecisionOutcome.objects.filter(decision__backtest_run=run)
    assert outcomes.count() == candidates.count() and outcomes.filter(status="resolved").exists()
    for o in outcomes.filter(status="resolved").select_related("decision"):
        assert o.method == "backtest" and o.entry_credit == o.decision.credit_fill
        assert o.label == outcome_label(o.exit_reason, float(o.exit_debit), entry_credit=float(o.entry_credit))
        assert o.holding_minutes == (o.exit_at - o.decision.decided_at).total_seconds() / 60
    # A traded candidate's outcome is its trade's exit.
    for t in Trade.objects.filter(backtest_run=run, status=Trade.Status.CLOSED).select_related("decision__outcome"):
        o = t.decision.outcome
        assert (o.exit_reason, o.exit_at, o.exit_debit, o.pnl_usd) == (t.exit_reason, t.closed_at, t.exit_debit,
                                                                       t.realized_pnl_usd)


def test_a_shared_book_ranks_ties_by_config_name_as_live_does(compact_market: Path) -> None:
    """The rank's last tie-break is the strategy key; live keys a config by its name, so a shared-scope
    backtest must too (keyed by the primary key as text, "10" sorted before "8": the Thanksgiving-Friday
    demo took 7DTE where live took 5DTE at the same credit)."""
    from strategy.quant import rules
    from strategy.services import strategy_spec

    configs = list(StrategyConfig.objects.order_by("pk"))
    params = _params(configs, risk_scope="shared")
    assert sorted(s["key"] for s in params["strategies"]) == sorted(c.name for c in configs)
    assert sorted(s.key for s in services.strategies_of(params)) == sorted(strategy_spec(c).key for c in configs)
    live_order = sorted(strategy_spec(c).key for c in configs)
    tie = [(1, type("C", (), {"credit_fill": 1.0, "width_points": 25.0})(), s.key) for s in services.strategies_of(params)]
    assert [k for _, _, k in rules.rank_candidates(tie)] == live_order
