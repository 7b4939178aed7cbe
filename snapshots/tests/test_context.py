"""Market context stored with every capture: vendor quotes, our VIX-style indexes, GEX, forwards."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from snapshots import market_calendar
from snapshots.analytics import snapshot_analytics
from snapshots.context import vix_term_expirations
from snapshots.models import CaptureFailure, ChainSnapshot, ContextSnapshot
from snapshots.providers.simulated import SimulatedMarket
from snapshots.services import snapshot_capture

NY = ZoneInfo("America/New_York")
NOW = dt.datetime(2026, 11, 20, 10, 30, tzinfo=NY)
pytestmark = pytest.mark.django_db



def test_vix_terms_bracket_9_and_30_days() -> None:
    listed = market_calendar.trading_days(dt.date(2026, 11, 20), dt.date(2027, 1, 5))
    terms = vix_term_expirations(NOW.astimezone(dt.UTC), listed)
    assert terms[9] == (dt.date(2026, 11, 27), dt.date(2026, 11, 30))  # Fri 27 ≤ 9 days < Mon 30
    assert terms[30] == (dt.date(2026, 12, 18), dt.date(2026, 12, 21))
    assert vix_term_expirations(NOW.astimezone(dt.UTC), listed[:5])[30] is None


def test_capture_stores_context_once_per_slot(sim) -> None:  # type: ignore[no-untyped-def]
    first = snapshot_capture(now=NOW)
    assert first.context_id is not None and not first.failures
    ctx = ContextSnapshot.objects.get()
    used = {(c.expiration.isoformat(), c.purpose) for c in ctx.chain_snapshots.all()}
    # The 9-day near term (Fri 27) is also the 7-DTE target: fetched and stored once.
    assert used == {("2026-11-23", "target"), ("2026-11-25", "target"), ("2026-11-27", "target"),
                    ("2026-11-30", "vix"), ("2026-12-18", "vix"), ("2026-12-21", "vix")}
    assert ctx.spx_price is not None and ctx.vix_price is not None and ctx.vix9d_price is not None
    second = snapshot_capture(now=NOW + dt.timedelta(minutes=2))  # same slot
    assert second.context_id == first.context_id and ContextSnapshot.objects.count() == 1
    assert ChainSnapshot.objects.count() == 6


def test_own_vix_matches_the_markets_vix(sim) -> None:  # type: ignore[no-untyped-def]
    """The simulated market's VIX quote is the 30-day variance-swap vol of its own smile: our
    Cboe-method index computed from its chains must land on it (within strip truncation)."""
    snapshot_capture(now=NOW)
    ctx = ContextSnapshot.objects.get()
    assert ctx.vix30_own == pytest.approx(float(ctx.vix_price), abs=0.5)
    assert ctx.vix9d_own == pytest.approx(float(ctx.vix9d_price), abs=0.5)
    assert ctx.term_ratio_9d_30d == pytest.approx(ctx.vix9d_own / ctx.vix30_own)
    details = ctx.details["vix30d"]
    assert details["calculable"] and details["near"]["k0"] <= details["near"]["forward"]
    assert details["near"]["expiration"] == "2026-12-18"


def test_forwards_are_per_expiration_and_root_and_near_spot(sim) -> None:  # type: ignore[no-untyped-def]
    snapshot_capture(now=NOW)
    ctx = ContextSnapshot.objects.get()
    spot = float(ctx.spx_price)
    keys = {(f["expiration"], f["root"]) for f in ctx.forwards}
    assert ("2026-12-18", "SPX") in keys and ("2026-12-18", "SPXW") in keys  # monthly: both, never mixed
    for f in ctx.forwards:
        assert f["ok"] and abs(f["forward"] / spot - 1) < 0.01 and 0.99 < f["discount"] <= 1.0
    assert ctx.gex_usd_per_pct is not None


def test_our_iv_and_delta_for_a_snapshot(sim) -> None:  # type: ignore[no-untyped-def]
    snapshot_capture(now=NOW)
    snap = ChainSnapshot.objects.get(purpose="target", target_dte=5)
    a = snapshot_analytics(snap)
    assert a.fit.ok and a.root == "SPXW" and a.n_options == snap.option_count
    otm = np.isfinite(a.iv) & (np.abs(a.delta) < 0.5)
    assert otm.sum() > 200
    # Our deltas agree with the provider's (the simulated market prices with the same model).
    vendor = {o["symbol"]: o["greeks"]["delta"] for o in snap.payload_options()}
    ours = dict(zip(a.symbols[otm], a.delta[otm], strict=True))
    assert max(abs(ours[s] - vendor[s]) for s in ours) < 0.01
    assert np.all((a.iv[otm] > 0.03) & (a.iv[otm] < 2.0))


def test_missing_index_quotes_are_recorded_not_fatal(sim, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from snapshots.providers.base import QuoteSet

    monkeypatch.setattr(SimulatedMarket, "quotes", lambda self, symbols, greeks=False: QuoteSet({}, tuple(symbols)))
    result = snapshot_capture(now=NOW)
    assert len(result.inserted) == 3
    ctx = ContextSnapshot.objects.get()
    assert ctx.spx_price is None and ctx.vix30_own is not None
    failure = CaptureFailure.objects.get(stage="context")
    assert "unmatched symbols: SPX, VIX, VIX9D" in failure.message
