"""The simulated open interest has SPX's order of magnitude, so the context's GEX reads like the
published SPX figures (a few $bn per 1 % move), and the snapshot page states the units."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from snapshots.models import ChainSnapshot, ContextSnapshot
from snapshots.providers import simulated_market as sm
from snapshots.services import snapshot_capture

pytestmark = pytest.mark.django_db
AT = dt.datetime(2026, 11, 18, 10, 0, tzinfo=ZoneInfo("America/New_York"))


def test_simulated_open_interest_has_spx_scale() -> None:
    moment = sm.market_moment(7, AT)
    series = sm.listed_series(moment)
    daily = [sm.option_book(7, moment, root, exp).open_interest.sum() for exp, root in series[:10] if root == "SPXW"]
    # A daily SPXW expiration: tens to a few hundred thousand contracts (it was 0.5-3 million).
    assert all(20_000 < n < 500_000 for n in daily), daily


def test_context_gex_is_a_few_billion_per_pct_and_the_page_says_the_units(sim, client: Client) -> None:  # type: ignore[no-untyped-def]
    sim.SNAPSHOT_CONTEXT_ENABLED = True
    snapshot_capture(now=AT)
    context = ContextSnapshot.objects.get()
    assert context.gex_usd_per_pct is not None
    assert 1e8 < abs(float(context.gex_usd_per_pct)) < 25e9  # published SPX GEX: ~$1-15 bn per 1 %
    client.force_login(get_user_model().objects.create_user("trader", password="pw-for-tests-only"))
    snap = ChainSnapshot.objects.filter(ts=context.ts, purpose=ChainSnapshot.Purpose.TARGET).first()
    html = client.get(f"/snapshots/{snap.pk}/").content.decode()
    shown = re.search(r'<span id="gex"[^>]*>([^<]*)</span>', html).group(1)
    assert re.fullmatch(r"-?\$\d{1,2}\.\d\d bn per 1 % move", shown), shown
    assert "dealers long calls, short puts" in html and "M$" not in html
