from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from snapshots.models import CaptureFailure, ChainSnapshot
from snapshots.tests.factories import CaptureFailureFactory, ChainSnapshotFactory, StaffUserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def trader(client: Client) -> Client:
    user = get_user_model().objects.create_user("trader", password="pw-for-tests-only")
    client.force_login(user)
    return client


@pytest.fixture
def capturer() -> Client:
    """Staff with the force-capture permission: the one who may press "Run snapshot now"."""
    client = Client()
    client.force_login(StaffUserFactory(perms=["snapshots.force_capture"]))
    return client


def test_pages_require_login(client: Client) -> None:
    response = client.get("/snapshots/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client.post("/snapshots/run/").status_code == 302


def test_list_page_shows_snapshots_and_failures(trader: Client) -> None:
    snap = ChainSnapshotFactory()
    CaptureFailureFactory(message="HTTP 502 upstream")
    html = trader.get("/snapshots/").content.decode()
    assert "<html" in html and 'id="snapshot-table"' in html
    assert snap.checksum[:12] in html and f"/snapshots/{snap.pk}/" in html
    assert "HTTP 502 upstream" in html
    assert "id=\"snapshot-run\"" not in html  # a plain login may look, not capture


def test_htmx_request_gets_only_the_table_partial(trader: Client) -> None:
    snap = ChainSnapshotFactory()
    html = trader.get("/snapshots/", headers={"HX-Request": "true"}).content.decode()
    assert html.lstrip().startswith('<div id="snapshot-table"')
    assert "<html" not in html and "Run snapshot now" not in html
    assert snap.checksum[:12] in html


def test_run_now_is_refused_without_the_permission_and_captures_nothing(trader: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.MARKET_DATA_PROVIDER = "simulated"
    view_only = Client()
    view_only.force_login(StaffUserFactory(perms=["snapshots.view_chainsnapshot"]))
    for client in (trader, view_only):
        assert "id=\"snapshot-run\"" not in client.get("/snapshots/").content.decode()
        response = client.post("/snapshots/run/", headers={"HX-Request": "true"})  # forged: no button to press
        assert response.status_code == 403 and "snapshots.force_capture" in response.content.decode()
    assert not ChainSnapshot.objects.exists() and not CaptureFailure.objects.exists()


def test_run_now_returns_the_result_partial(capturer: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.MARKET_DATA_PROVIDER = "simulated"
    assert "id=\"snapshot-run\"" in capturer.get("/snapshots/").content.decode()
    html = capturer.post("/snapshots/run/", headers={"HX-Request": "true"}).content.decode()
    assert html.lstrip().startswith('<div id="run-result"')
    assert "3 new" in html and "-DTE" in html


def test_detail_page_shows_chain_around_money_and_verified_checksum(trader: Client) -> None:
    snap = ChainSnapshotFactory()
    html = trader.get(f"/snapshots/{snap.pk}/").content.decode()
    assert snap.checksum in html and "verified" in html
    assert 'class="atm"' in html and "<b>6000</b>" in html


def test_detail_page_shows_forward_smile_and_context(trader: Client, settings) -> None:  # type: ignore[no-untyped-def]
    import datetime as dt
    from zoneinfo import ZoneInfo

    from snapshots.models import ChainSnapshot
    from snapshots.services import snapshot_capture

    settings.MARKET_DATA_PROVIDER = "simulated"
    settings.ALLOW_SNAPSHOT_OUTSIDE_RTH = False
    snapshot_capture(now=dt.datetime(2026, 11, 20, 10, 30, tzinfo=ZoneInfo("America/New_York")))
    snap = ChainSnapshot.objects.get(purpose="target", target_dte=5)
    html = trader.get(f"/snapshots/{snap.pk}/").content.decode()
    assert 'id="iv-smile"' in html and "<polyline" in html
    assert "Implied forward" in html and "F = 66" in html  # the simulated SPX sits near 6,6xx that day
    assert 'id="context"' in html and "our 30-day index" in html


def test_detail_page_flags_a_tampered_payload(trader: Client) -> None:
    snap = ChainSnapshotFactory(checksum="0" * 64)
    assert "MISMATCH" in trader.get(f"/snapshots/{snap.pk}/").content.decode()


def test_missing_snapshot_is_404(trader: Client) -> None:
    assert trader.get("/snapshots/999999/").status_code == 404


def _rows(html: str) -> list[int]:
    import re
    return [int(pk) for pk in re.findall(r'<tr id="snapshot-(\d+)"', html)]


def test_list_shows_target_chains_by_default_and_filters_by_purpose(trader: Client) -> None:
    from snapshots.models import ChainSnapshot
    target = ChainSnapshotFactory()
    vix = ChainSnapshotFactory(purpose=ChainSnapshot.Purpose.VIX, target_dte=30)
    html = trader.get("/snapshots/").content.decode()
    assert _rows(html) == [target.pk] and "DTE target" in html  # the purpose column
    vix_html = trader.get("/snapshots/?purpose=vix").content.decode()
    assert _rows(vix_html) == [vix.pk] and "VIX-style index term" in vix_html
    assert sorted(_rows(trader.get("/snapshots/?purpose=all").content.decode())) == sorted([target.pk, vix.pk])
    assert _rows(trader.get("/snapshots/?purpose=all&dte=30").content.decode()) == [vix.pk]
    bad = trader.get("/snapshots/?purpose=spot&dte=x")
    assert bad.status_code == 200 and _rows(bad.content.decode()) == []
    assert b"purpose must be one of target, vix, position, all" in bad.content
    assert b"dte must be a whole number of days" in bad.content


def test_list_paginates_and_page_links_keep_the_filters(trader: Client) -> None:
    from snapshots.models import ChainSnapshot
    made = [ChainSnapshotFactory(purpose=ChainSnapshot.Purpose.VIX, target_dte=30) for _ in range(52)]
    ChainSnapshotFactory()
    first = trader.get("/snapshots/?purpose=vix").content.decode()
    assert len(_rows(first)) == 50 and "page 1 of 2" in first
    assert 'href="/snapshots/?purpose=vix&amp;page=2"' in first
    second = trader.get("/snapshots/?purpose=vix&page=2", headers={"HX-Request": "true"}).content.decode()
    assert second.lstrip().startswith('<div id="snapshot-table" hx-get="/snapshots/?purpose=vix&amp;page=2"')
    assert _rows(second) == [made[1].pk, made[0].pk]


def test_chain_table_reaches_the_five_delta_strikes_on_both_sides(sim, trader: Client) -> None:  # type: ignore[no-untyped-def]
    import datetime as dt
    import re
    from zoneinfo import ZoneInfo

    from snapshots import selectors
    from snapshots.models import ChainSnapshot
    from snapshots.services import snapshot_capture

    sim.SNAPSHOT_CONTEXT_ENABLED = False
    sim.SNAPSHOT_DTE_TARGETS = [7]
    snapshot_capture(now=dt.datetime(2026, 11, 18, 10, 0, tzinfo=ZoneInfo("America/New_York")))
    snap = ChainSnapshot.objects.get(target_dte=7)
    html = trader.get(f"/snapshots/{snap.pk}/").content.decode()
    shown = [float(k) for k in re.findall(r'<tr id="strike-([\d.]+)"', html)]
    full = selectors.chain_view(snap, strikes_each_side=10_000)["rows"]  # every strike
    wanted = [r["strike"] for r in full
              if (r.get("put") or {}).get("delta") is not None and abs(r["put"]["delta"]) >= 0.05
              and r["strike"] <= snap_atm(full)
              or (r.get("call") or {}).get("delta") is not None and r["call"]["delta"] >= 0.05 and r["strike"] >= snap_atm(full)]
    assert set(wanted) <= set(shown)
    assert max(shown) - min(shown) > 150  # wider than the old ±75 points
    # The 0.10 and 0.20 delta puts and calls are on the page.
    for side, target in (("put", -0.10), ("put", -0.20), ("call", 0.10), ("call", 0.20)):
        nearest = min((r for r in full if (r.get(side) or {}).get("delta") is not None),
                      key=lambda r: abs(r[side]["delta"] - target))
        assert nearest["strike"] in shown, (side, target)
    assert "0.05" in html and "Δ" in html  # the page says how far the table reaches


def snap_atm(rows: list[dict]) -> float:  # type: ignore[type-arg]
    """The strike where the call delta crosses 0.5 (the middle of the table)."""
    return min((r for r in rows if (r.get("call") or {}).get("delta") is not None),
               key=lambda r: abs(r["call"]["delta"] - 0.5))["strike"]
