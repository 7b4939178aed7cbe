"""Parameter sweeps: a variant equals the same config run alone (trades, exits, PnL, rows once
materialised), the shared exit path equals walking each variant, the spec is refused before any
work, launches are idempotent, reruns give the same result file."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from backtests import selectors, services
from backtests.engine import sweep as sweep_engine
from backtests.engine.replay import DayReplayer
from backtests.models import BacktestRun, SweepVariant
from backtests.services import sweep_assembly, sweep_files, sweeps
from backtests.services.chunks import _load_day
from backtests.services.sweep_materialise import variant_materialise
from backtests.tests.conftest import COMPACT_DAYS
from execution.models import PositionMark, Trade, TradeLeg
from strategy.models import StrategyConfig, TradeDecision

START, END = COMPACT_DAYS[0], COMPACT_DAYS[-1]
DIMS: dict[str, list[Any]] = {
    "target_dte": [0, 3], "side": ["put", "call"], "short_delta_target": ["0.10", "0.20"],
    "take_profit_fraction": ["0.3", "0.9"], "stop_loss_multiple": ["1", "5"], "exit_at_time": ["none", "11:30"],
}
WINDOWS = ["10:00", "11:00"]


def _base() -> StrategyConfig:
    return StrategyConfig.objects.get(name="3DTE put 10d")


def _sweep(name: str = "sweep", **kw: Any) -> BacktestRun:
    run, _ = sweeps.sweep_create(config=_base(), dims=kw.pop("dims", DIMS), windows=kw.pop("windows", WINDOWS),
                                 start=START, end=END, name=name, **kw)
    return services.run_execute_inline(run)


def _alone(run: BacktestRun, index: int) -> BacktestRun:
    """The variant's config saved as a config of its own and backtested alone."""
    strategy = sweeps.variant_strategy(run.params, index)
    frozen = dict(strategy["params"], name=f"alone {index}")
    config = StrategyConfig.objects.create(**frozen)
    params = services.params_build(start=START, end=END, configs=[config], windows=strategy["windows"])
    return services.run_execute_inline(services.run_create(params, name=f"alone {index}")[0])


TRADE_FIELDS = ("side", "root", "expiration", "quantity", "short_strike", "long_strike", "width_points", "opened_at",
                "entry_credit", "max_profit_usd", "max_loss_usd", "take_profit_debit", "stop_loss_debit", "status",
                "closed_at", "exit_reason", "exit_debit", "settlement_price", "settlement_source", "fees_usd",
                "realized_pnl_usd")


def _trades(run: BacktestRun) -> list[tuple[Any, ...]]:
    return [tuple(getattr(t, f) for f in TRADE_FIELDS) + (t.decision.trading_day, t.decision.entry_window)
            for t in Trade.objects.filter(backtest_run=run).select_related("decision").order_by("opened_at", "pk")]


def _rows(run: BacktestRun) -> tuple[list[Any], ...]:
    skip = {"id", "backtest_run", "strategy_config", "created_at", "updated_at", "decision", "trade"}
    dec = [tuple((k, {**v, "name": ""} if k == "config_params" else v) for k, v in sorted(d.items())
                 if k not in skip and not k.endswith("_id"))
           for d in TradeDecision.objects.filter(backtest_run=run).order_by("decided_at", "pk").values()]
    trades = _trades(run)
    legs = list(TradeLeg.objects.filter(trade__backtest_run=run).order_by("trade__opened_at", "pk")
                .values_list("symbol", "side", "strike", "option_type", "quantity", "entry_price", "exit_price"))
    marks = list(PositionMark.objects.filter(trade__backtest_run=run).order_by("trade__opened_at", "ts")
                 .values_list("ts", "debit_mid", "debit_fill", "signal", "unrealized_pnl_usd"))
    return dec, trades, legs, marks


def _file_trades(run: BacktestRun, index: int) -> list[tuple[Any, ...]]:
    out = []
    for r in selectors.sweep_variant_trades(run, index):
        out.append((r["side"], r["root"], r["expiration"], r["quantity"], Decimal(str(r["short_strike"])),
                    Decimal(str(r["long_strike"])), r["entry_credit"], r["status"], r["exit_at"], r["exit_reason"],
                    r["exit_debit"], r["settlement_price"], r["fees_usd"], r["realized_pnl_usd"], r["trading_day"],
                    r["entry_window"], r["decided_at"], r["max_profit_usd"], r["max_loss_usd"]))
    return out


def _as_file(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    f = {name: i for i, name in enumerate(TRADE_FIELDS)}
    out = []
    for t in rows:
        out.append((t[f["side"]], t[f["root"]], t[f["expiration"]], t[f["quantity"]], t[f["short_strike"]],
                    t[f["long_strike"]], t[f["entry_credit"]], t[f["status"]], t[f["closed_at"]],
                    t[f["exit_reason"]], t[f["exit_debit"]], t[f["settlement_price"]],
                    t[f["fees_usd"]] if t[f["status"]] == "closed" else None, t[f["realized_pnl_usd"]],
                    t[-2], t[-1].strftime("%H:%M"), t[f["opened_at"]], t[f["max_profit_usd"]], t[f["max_loss_usd"]]))
    return out



def _pick(run: BacktestRun) -> list[int]:
    """Variants covering every kind of fate: a time exit, open at the end, take profit, stop, both sides."""
    variants = list(SweepVariant.objects.filter(run=run).order_by("index"))
    chosen = {0, len(variants) - 1}
    for test in (lambda v: v.metrics["summary"]["exits"].get("time_exit", 0) > 0,
                 lambda v: v.metrics["open_trades"] > 0,
                 lambda v: v.dims["side"] == "call_credit" and v.dims["short_delta_target"] == "0.200",
                 lambda v: v.metrics["summary"]["exits"]["stop_loss"] > 1):
        chosen.add(next(v.index for v in variants if test(v)))
    return sorted(chosen)


@pytest.mark.django_db(transaction=True)
def test_a_variant_equals_the_same_config_run_alone_field_by_field(compact_market: Path) -> None:
    run = _sweep()
    assert run.status == BacktestRun.Status.DONE, run.error
    assert run.metrics["variants"] == 2 ** 6 * len(WINDOWS) == SweepVariant.objects.filter(run=run).count()
    picked = _pick(run)
    assert len(picked) >= 5
    for index in picked:
        alone = _alone(run, index)
        variant = SweepVariant.objects.get(run=run, index=index)
        assert _file_trades(run, index) == _as_file(_trades(alone)), index
        # The variant's metrics are the alone run's (summary, decisions, open at the end).
        for key in ("summary", "decisions", "trade_decisions", "trades_total", "open_trades", "open_at_end_mtm_usd",
                    "open_at_end_unmarked"):
            assert variant.metrics[key] == alone.metrics[key], (index, key)
        # Daily PnL as the alone run's equity curve books it.
        res = selectors.sweep_results(run)
        pnl = [round(float(x), 2) for x in res.daily_pnl_usd[:, index]]
        assert pnl == [p["pnl_usd"] for p in alone.metrics["equity"]]
        # Materialised: the alone run's rows, decision by decision (config ids and names aside); twice = same.
        child = variant_materialise(run, index)
        assert child.status == BacktestRun.Status.DONE and child.params_sha256 != alone.params_sha256
        assert _rows(child) == _rows(alone), index
        again = variant_materialise(run, index)
        assert again.pk == child.pk and _rows(again) == _rows(alone)
        assert SweepVariant.objects.get(run=run, index=index).materialized_run_id == child.pk
        assert child.metrics["summary"] == alone.metrics["summary"]
    kinds = {r for i in picked for r in SweepVariant.objects.get(run=run, index=i).metrics["summary"]["exits"]
             if SweepVariant.objects.get(run=run, index=i).metrics["summary"]["exits"][r]}
    assert {"take_profit", "stop_loss", "time_exit"} <= kinds


@pytest.mark.django_db
def test_the_shared_exit_path_gives_every_variant_the_exits_of_its_own_walk(compact_market: Path) -> None:
    params = sweeps.sweep_params(config=_base(), dims=DIMS, windows=WINDOWS, start=START, end=END)
    strategies = sweeps.sweep_strategies(params)
    plan = sweep_engine.sweep_plan(strategies)
    assert len(plan.groups) == 2 * 2 * 2 * len(WINDOWS) and len(plan.exit_rules) == 8
    ep = services.engine_params(params)
    shared = sweep_engine.SweepReplayer(plan, ep, load_day=_load_day)
    alone = DayReplayer(strategies, ep, load_day=_load_day)
    for day in COMPACT_DAYS:
        assert shared.run_day(day, entries=True) and alone.run_day(day, entries=True)
    by_key: dict[str, list[Any]] = {}
    for c in alone.out.candidates:
        by_key.setdefault(c.strategy, []).append(c)
    # Through the chunk boundary too: what phase 2 and materialise read back.
    blob = sweep_engine.encode(shared.sweep, shared.out.days_read)
    decoded = sweep_engine.decode(blob, plan.groups)
    exits = 0
    for v in plan.variants:
        for source in ((shared.sweep.candidates, shared.sweep.paths), (decoded.candidates, decoded.paths)):
            mine = sweep_engine.variant_candidates(plan, v.index, *source)
            theirs = by_key[v.strategy.key]
            assert [(c.day, c.window, c.exit, c.marks, c.expiration, c.settles_at, c.evaluation.reason_code,
                     c.evaluation.candidate, c.evaluation.features.json_values()) for c in mine] == \
                   [(c.day, c.window, c.exit, c.marks, c.expiration, c.settles_at, c.evaluation.reason_code,
                     c.evaluation.candidate, c.evaluation.features.json_values()) for c in theirs], v.index
            exits += sum(c.exit is not None for c in mine)
    assert exits > 100
    # The exact rule ran only on the screen's survivors, far fewer than variants × stamps.
    assert 0 < shared.exact_checks < 20 * exits


@pytest.mark.django_db
def test_a_bad_spec_is_refused_before_any_work(compact_market: Path, settings, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_store(*a: Any, **k: Any) -> None:
        raise AssertionError("the store was read")

    monkeypatch.setattr("backtests.services.lifecycle.imported_days", no_store)
    base = _base()
    cases = {
        "short_delta_target": {"short_delta_target": ["0.10", "1.5"]},
        "width_points": {"width_points": ["abc"]},
        "take_profit_fraction": {"take_profit_fraction": ["0.5", "0.5"]},
        "window": {"window": ["10:02"]},
        "target_dte": {"target_dte": [8]},
        "side": {"side": ["straddle"]},
        "exit_at_time": {"exit_at_time": ["15:00"], "exit_minutes_before_settlement": [30]},
        "colour": {"colour": ["red"]},
        "stop_loss_multiple": {"stop_loss_multiple": []},
    }
    for field, dims in cases.items():
        with pytest.raises(services.BacktestError) as err:
            sweeps.sweep_create(config=base, dims=dims, start=START, end=END)
        assert field in err.value.fields, (field, err.value.fields)
    settings.SWEEP_MAX_VARIANTS = 10
    with pytest.raises(services.BacktestError, match="12 variants .*SWEEP_MAX_VARIANTS") as err:
        sweeps.sweep_create(config=base, dims={"short_delta_target": ["0.1", "0.2"], "width_points": [10, 20]},
                            start=START, end=END)
    assert "dims" in err.value.fields
    with pytest.raises(services.BacktestError) as err:
        sweeps.sweep_create(config=base, dims={}, start=START, end=dt.date(2099, 12, 31) + dt.timedelta(days=1))
    assert "end" in err.value.fields
    assert not BacktestRun.objects.exists()
    assert sweeps.values_parse("0.05:0.30:0.05,0.4") == ["0.05", "0.10", "0.15", "0.20", "0.25", "0.30", "0.4"]


@pytest.mark.django_db(transaction=True)
def test_launch_is_idempotent_and_a_rerun_gives_the_same_result_file(compact_market: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    dims = {"short_delta_target": ["0.10", "0.20"], "take_profit_fraction": ["0.5", "0.9"]}
    first, created = sweeps.sweep_create(config=_base(), dims=dims, start=START, end=END, idempotency_key="k1")
    again, created_again = sweeps.sweep_create(config=_base(), dims=dims, start=START, end=END, idempotency_key="k1")
    assert created and not created_again and again.pk == first.pk
    with pytest.raises(services.BacktestError, match="different configuration"):
        sweeps.sweep_create(config=_base(), dims={"short_delta_target": ["0.10"]}, start=START, end=END,
                            idempotency_key="k1")
    one = services.run_execute_inline(first)
    two = services.run_execute_inline(sweeps.sweep_create(config=_base(), dims=dims, start=START, end=END)[0])
    assert one.metrics["trades_file_sha256"] == two.metrics["trades_file_sha256"]
    assert one.metrics["daily_file_sha256"] == two.metrics["daily_file_sha256"]
    assert sweep_files.file_sha256(sweep_files.run_dir(one.pk) / sweep_files.TRADES_FILE) == one.metrics["trades_file_sha256"]
    assert [v.metrics for v in SweepVariant.objects.filter(run=one)] == [v.metrics for v in SweepVariant.objects.filter(run=two)]
    # Assembling again changes nothing (a retried last chunk).
    BacktestRun.objects.filter(pk=one.pk).update(status=BacktestRun.Status.RUNNING)
    services.run_assemble(one.pk)
    one.refresh_from_db()
    assert one.metrics["trades_file_sha256"] == two.metrics["trades_file_sha256"]
    assert SweepVariant.objects.filter(run=one).count() == 3 * 4  # 3 windows by default
    # Assembled a variant at a time (blocks of one variant-trade): the same files and metrics.
    assert one.metrics["variant_trades"] > 12
    metrics = [v.metrics for v in SweepVariant.objects.filter(run=one).order_by("index")]
    monkeypatch.setattr(sweep_assembly, "BLOCK_ROWS", 1)
    BacktestRun.objects.filter(pk=one.pk).update(status=BacktestRun.Status.RUNNING)
    services.run_assemble(one.pk)
    one.refresh_from_db()
    assert (one.metrics["trades_file_sha256"], one.metrics["daily_file_sha256"]) == (
        two.metrics["trades_file_sha256"], two.metrics["daily_file_sha256"])
    assert [v.metrics for v in SweepVariant.objects.filter(run=one).order_by("index")] == metrics
    # An assembly failing half way (after the first block) leaves the files and rows as they were
    # and no temporary file behind.
    calls = {"n": 0}
    trade_columns = sweep_assembly._trade_columns

    def fail_on_the_second_block(*args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return trade_columns(*args)

    monkeypatch.setattr(sweep_assembly, "_trade_columns", fail_on_the_second_block)
    BacktestRun.objects.filter(pk=one.pk).update(status=BacktestRun.Status.RUNNING)
    with pytest.raises(RuntimeError, match="disk full"):
        services.run_assemble(one.pk)
    folder = sweep_files.run_dir(one.pk)
    assert sorted(p.name for p in folder.iterdir()) == [sweep_files.DAILY_FILE, sweep_files.TRADES_FILE]
    assert sweep_files.file_sha256(folder / sweep_files.TRADES_FILE) == two.metrics["trades_file_sha256"]
    assert [v.metrics for v in SweepVariant.objects.filter(run=one).order_by("index")] == metrics


@pytest.mark.django_db(transaction=True)
def test_the_command_and_the_api(compact_market: Path, client) -> None:  # type: ignore[no-untyped-def]
    out = StringIO()
    call_command("sweep", "--config", "3DTE put 10d", "--start", str(START), "--end", str(END), "--delta", "0.10:0.20:0.10",
                 "--tp", "0.5,0.9", "--windows", "10:00", stdout=out, stderr=StringIO())
    text = out.getvalue()
    assert "4 variants" in text and "best" in text
    run = BacktestRun.objects.get()
    assert run.status == BacktestRun.Status.DONE and SweepVariant.objects.filter(run=run).count() == 4
    call_command("sweep", "--materialise", str(run.pk), "--variant", "1", stdout=out)
    child = SweepVariant.objects.get(run=run, index=1).materialized_run
    assert child is not None and Trade.objects.filter(backtest_run=child).exists()
    with pytest.raises(CommandError, match="SWEEP_MAX_VARIANTS"):
        call_command("sweep", "--config", "3DTE put 10d", "--start", str(START), "--delta", "0.01:0.99:0.001",
                     "--width", "5:100:5", stdout=out)

    from django.contrib.auth.models import User

    client.force_login(User.objects.create_superuser("op", "op@example.com", "pw"))
    body = {"config": "3DTE put 10d", "start": str(START), "end": str(END),
            "dims": {"short_delta_target": ["0.10", "0.20"]}, "windows": ["10:00"]}
    first = client.post("/api/backtests/sweeps", body, content_type="application/json", headers={"Idempotency-Key": "abc"})
    assert first.status_code == 201, first.content
    second = client.post("/api/backtests/sweeps", body, content_type="application/json", headers={"Idempotency-Key": "abc"})
    assert second.status_code == 200 and second.json()["id"] == first.json()["id"]
    other = client.post("/api/backtests/sweeps", {**body, "dims": {"width_points": [10]}}, content_type="application/json",
                        headers={"Idempotency-Key": "abc"})
    assert other.status_code == 409
    bad = client.post("/api/backtests/sweeps", {**body, "dims": {"short_delta_target": ["2"]}},
                      content_type="application/json")
    assert bad.status_code == 400 and "short_delta_target" in bad.json()["fields"]


@pytest.mark.parametrize("rows,row_group_rows", [(0, 100), (7, 100), (100, 100), (1234, 100), (5000, 999)])
def test_a_result_file_written_in_pieces_has_the_bytes_of_one_write(tmp_path: Path, rows: int,
                                                                    row_group_rows: int) -> None:
    """``TableWriter`` (the assembly hands it a block of variants at a time) cuts the row groups at
    the rows ``pq.write_table`` of the whole table cuts them: the same file, byte for byte."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(rows)
    schema = pa.schema([*sweep_files.DAILY_SCHEMA, ("symbol", pa.string()), ("credit", sweep_files.MONEY)])
    table = pa.table({"variant": np.sort(rng.integers(0, 40, rows)).astype(np.int32),
                      "day": pa.array(rng.integers(19_000, 19_400, rows).astype(np.int32)).cast(pa.date32()),
                      "pnl_usd": rng.normal(size=rows), "trades": rng.integers(1, 4, rows).astype(np.int32),
                      "wins": rng.integers(0, 2, rows).astype(np.int32),
                      "symbol": [f"SPXW  251219P0{int(k):04d}000" for k in rng.integers(4000, 7000, rows)],
                      "credit": pa.array([Decimal(int(k)) / 20 for k in rng.integers(1, 200, rows)],
                                         type=sweep_files.MONEY)}, schema=schema)
    whole = tmp_path / "whole.parquet"
    pq.write_table(table, whole, row_group_size=row_group_rows, **sweep_files._WRITER_OPTIONS)
    writer = sweep_files.TableWriter(tmp_path / "pieces.parquet", schema, row_group_rows=row_group_rows)
    cuts = [0, *sorted(rng.integers(0, rows + 1, 6).tolist()), rows]
    for a, b in zip(cuts, cuts[1:]):
        writer.write(table.slice(a, b - a))
    pieces = writer.close()
    assert pq.read_metadata(pieces).num_row_groups == pq.read_metadata(whole).num_row_groups == max(
        1, -(-rows // row_group_rows))
    assert sweep_files.file_sha256(pieces) == sweep_files.file_sha256(whole)
    assert not list(tmp_path.glob(".*.tmp"))


def test_the_exact_debit_screen_misses_no_trigger_of_the_exact_rule() -> None:
    """``exit_bounds`` (float, per rule) against ``rules.exit_due`` (decimal) on every debit tick:
    each debit the exact rule closes on lies outside the bounds — ties included (C = 1.30 takes
    profit at exactly 0.65; 1.3 × 0.7 is 0.9099999999999999 in float)."""
    from strategy.quant import rules
    from strategy.quant.types import ExitRules

    fractions = [round(0.05 * i, 2) for i in range(1, 21)] + [0.333, 0.125]
    multiples = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 0.333, 0.125]
    checked = triggers = 0
    for credit in [round(0.05 * i, 2) for i in range(1, 61)]:
        for f in fractions:
            for m in multiples:
                take, stop = sweep_engine.exit_bounds(credit, np.array([f]), np.array([m]))
                er = ExitRules(take_profit_fraction=f, stop_loss_multiple=m)
                near = {t for x in (credit * (1 - f), credit * (1 + m)) for t in range(int(x / 0.05) - 3, int(x / 0.05) + 4)}
                for tick in sorted(t for t in near if t >= 1):
                    debit = round(0.05 * tick, 2)
                    fired = rules.exit_due(entry_credit=credit, debit_to_close=debit, exit_rules=er) is not None
                    checked += 1
                    triggers += fired
                    if fired:
                        assert not take[0] < debit < stop[0], (credit, f, m, debit)
                    elif not take[0] < debit < stop[0]:  # screened in but holding: only a near-tie
                        assert min(abs(debit - take[0]), abs(debit - stop[0])) < 1e-5, (credit, f, m, debit)
    assert checked > 50_000 and triggers > 10_000


def test_the_vectorised_close_debits_equal_the_rule_s_close_debit() -> None:
    """``close_debits`` (integer numpy) against ``rules.close_debit`` (decimal), quote by quote: on
    0.05/0.10-tick quotes (every one exact), on quotes off the tick (mid-ticks, float noise) and
    beyond 50 points, where it defers (``exact`` False) rather than answer differently."""
    from strategy.quant import rules

    rng = np.random.default_rng(16)
    n = 20_000

    def ticks(hi: float, step: float = 0.05) -> np.ndarray:
        return np.round(rng.integers(0, int(hi / step), n) * step, 2)

    sb = ticks(40)
    sa = np.round(sb + ticks(3) + rng.choice([0.05, 0.10], n), 2)
    lb = ticks(25)
    la = np.round(lb + ticks(2, 0.10) + rng.choice([0.0, 0.05], n), 2)
    off = slice(0, n // 4)  # off the tick: uniform prices, and sums carrying float noise
    sb[off] = rng.uniform(0, 30, n // 4)
    sa[off] = sb[off] + rng.uniform(0, 2, n // 4)
    la[n // 4:n // 2] = lb[n // 4:n // 2] + 0.1 + 0.2
    far = slice(n - 200, n)  # beyond the integer path's 50 points
    sb[far], sa[far] = sb[far] + 80, sa[far] + 80
    for width, fraction in ((10.0, 0.30), (25.0, 0.30), (50.0, 0.25), (5.0, 0.333), (100.0, 0.30)):
        mids, fills, exact = sweep_engine.close_debits(sb, sa, lb, la, width_points=width, fraction=fraction)
        assert exact[n // 4:n - 200].all() and not exact[far][sa[far] - la[far] > 52].any()
        for i in range(n):
            if not rules.mark_quotes_usable(sb[i], sa[i], lb[i], la[i]):
                continue
            mid, fill = rules.close_debit(float(sb[i]), float(sa[i]), float(lb[i]), float(la[i]),
                                          width_points=width, fraction=fraction)
            assert mids[i] == mid, (i, sb[i], sa[i], lb[i], la[i])
            if exact[i]:
                assert fills[i] == fill, (i, sb[i], sa[i], lb[i], la[i], width, fraction)


@pytest.mark.django_db
def test_variants_sharing_a_selection_get_the_specs_strategy_spec_builds_them_alone() -> None:
    """``strategies_of`` builds one spec per set of non-exit parameters and derives the others'
    exits (``exit_rules_of``): each strategy equals the one built alone, both kinds of time exit."""
    from backtests.services.params import strategies_of

    for dims in ({**DIMS, "width_points": [10, 25]},
                 {"target_dte": [3], "take_profit_fraction": ["0.25", "0.5"], "stop_loss_multiple": ["1.5"],
                  "exit_minutes_before_settlement": ["none", "30", "90"]}):
        params = sweeps.sweep_params(config=_base(), dims=dims, windows=WINDOWS, start=START, end=END)
        shared = sweeps.sweep_strategies(params)
        raw = [sweeps.variant_strategy(params, i) for i in range(int(params["sweep"]["variants"]))]
        alone = [strategies_of({**params, "strategies": [s]})[0] for s in raw]
        assert shared == alone
        assert len({s.spec.exits for s in shared}) > 1 and len({s.spec.key for s in shared}) == len(shared)
