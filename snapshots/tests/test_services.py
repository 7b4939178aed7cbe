"""Capture service: calendar gating, expiration choice, idempotency, failures recorded, both providers."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from snapshots.models import CaptureFailure, ChainSnapshot, OptionInstrument
from snapshots.providers.base import ProviderAuthError
from snapshots.providers.simulated import SimulatedMarket
from snapshots.providers.tradier import TradierClient
from snapshots.services import slot_floor, snapshot_capture
from snapshots.tests.fake_tradier import FakeTradier

NY = ZoneInfo("America/New_York")
pytestmark = pytest.mark.django_db


def targets():  # type: ignore[no-untyped-def]
    """The DTE-target snapshots (a capture also stores the VIX terms' chains)."""
    return ChainSnapshot.objects.filter(purpose=ChainSnapshot.Purpose.TARGET)


def et(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=NY)


@pytest.fixture
def sim_settings(settings):  # type: ignore[no-untyped-def]
    settings.MARKET_DATA_PROVIDER = "simulated"
    settings.SNAPSHOT_UNDERLYING = "SPX"
    settings.SNAPSHOT_DTE_TARGETS = [3, 5, 7]
    settings.SNAPSHOT_DTE_TOLERANCE_DAYS = 1
    settings.SNAPSHOT_INTERVAL_MINUTES = 5
    settings.ALLOW_SNAPSHOT_OUTSIDE_RTH = False
    return settings


def test_slot_floor_is_utc_and_floored() -> None:
    slot = slot_floor(et(2026, 3, 9, 10, 7, 42), minutes=5)
    assert slot == dt.datetime(2026, 3, 9, 14, 5, tzinfo=dt.UTC)  # EDT: 10:05 ET = 14:05 UTC


def test_capture_in_session_stores_one_chain_per_target(sim_settings) -> None:  # type: ignore[no-untyped-def]
    now = et(2026, 11, 20, 10, 2)  # Friday; targets land Mon 23, Wed 25, Fri 27 (early close)
    result = snapshot_capture(now=now)
    assert not result.skipped and not result.failures
    got = {(r["target_dte"], r["expiration"], r["actual_dte_days"]) for r in result.inserted}
    assert got == {(3, "2026-11-23", 3), (5, "2026-11-25", 5), (7, "2026-11-27", 7)}
    rows = list(targets().order_by("target_dte"))
    assert [r.ts for r in rows] == [dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.UTC)] * 3
    for row in rows:
        assert row.provider == "simulated" and row.root == "SPXW"
        assert row.option_count > 1000
        assert row.verify_checksum()
        assert len(row.payload_options()) == row.option_count
    assert OptionInstrument.objects.filter(expiration=dt.date(2026, 11, 23)).count() == rows[0].option_count


def test_rerun_same_slot_adds_nothing(sim_settings) -> None:  # type: ignore[no-untyped-def]
    first = snapshot_capture(now=et(2026, 11, 20, 10, 1))
    checksums = sorted(r["checksum"] for r in first.inserted)
    instruments = OptionInstrument.objects.count()
    second = snapshot_capture(now=et(2026, 11, 20, 10, 4))  # same 5-minute slot
    assert second.inserted == []
    assert sorted(r["checksum"] for r in second.existing) == checksums
    assert targets().count() == 3
    assert OptionInstrument.objects.count() == instruments


def test_next_slot_is_a_new_snapshot_with_moved_quotes(sim_settings) -> None:  # type: ignore[no-untyped-def]
    a = snapshot_capture(now=et(2026, 11, 20, 10, 0))
    b = snapshot_capture(now=et(2026, 11, 20, 10, 5))
    assert len(b.inserted) == 3 and targets().count() == 6
    assert {r["checksum"] for r in a.inserted}.isdisjoint({r["checksum"] for r in b.inserted})


@pytest.mark.parametrize(
    ("now", "reason"),
    [
        (et(2026, 11, 20, 9, 25), "outside"),  # before the open
        (et(2026, 11, 20, 16, 20), "outside"),  # after 16:15
        (et(2026, 11, 27, 13, 20), "outside"),  # early close: session ended 13:15
        (et(2026, 11, 26, 11, 0), "not a trading day"),  # Thanksgiving
        (et(2026, 11, 21, 11, 0), "not a trading day"),  # Saturday
    ],
)
def test_scheduled_run_outside_session_skips_with_reason(sim_settings, now, reason) -> None:  # type: ignore[no-untyped-def]
    result = snapshot_capture(now=now)
    assert result.skipped and reason in result.reason
    assert targets().count() == 0 and CaptureFailure.objects.count() == 0


def test_allow_outside_rth_and_force_both_capture_at_night(sim_settings) -> None:  # type: ignore[no-untyped-def]
    night = et(2026, 11, 19, 22, 0)
    assert snapshot_capture(now=night).skipped
    assert len(snapshot_capture(now=night, force=True).inserted) == 3
    sim_settings.ALLOW_SNAPSHOT_OUTSIDE_RTH = True
    assert snapshot_capture(now=night + dt.timedelta(minutes=5)).inserted


def test_forced_run_falls_back_to_closest_and_records_actual_dte(sim_settings) -> None:  # type: ignore[no-untyped-def]
    sim_settings.SNAPSHOT_DTE_TARGETS = [1]
    sim_settings.SNAPSHOT_DTE_TOLERANCE_DAYS = 0
    saturday = et(2026, 11, 21, 12, 0)  # Sunday (+1) has no expiration; Monday is 2 days away
    assert snapshot_capture(now=saturday).skipped
    forced = snapshot_capture(now=saturday, force=True)
    assert [(r["expiration"], r["actual_dte_days"]) for r in forced.inserted] == [("2026-11-23", 2)]
    assert targets().get().actual_dte_days == 2


def test_no_expiration_within_tolerance_is_recorded(sim_settings) -> None:  # type: ignore[no-untyped-def]
    sim_settings.SNAPSHOT_DTE_TARGETS = [3, 1]
    sim_settings.SNAPSHOT_DTE_TOLERANCE_DAYS = 0
    result = snapshot_capture(now=et(2026, 11, 20, 10, 0))  # Fri: +1 is Saturday, nothing listed
    assert [r["target_dte"] for r in result.inserted] == [3]
    failure = CaptureFailure.objects.get()
    assert (failure.stage, failure.target_dte, failure.error_type) == ("select", 1, "NoExpiration")


def _pltr_settings(settings, targets):  # type: ignore[no-untyped-def]
    settings.SNAPSHOT_UNDERLYING = "PLTR"
    settings.SNAPSHOT_DTE_TARGETS = targets
    settings.SNAPSHOT_DTE_TOLERANCE_DAYS = 1
    settings.SNAPSHOT_INTERVAL_MINUTES = 5
    settings.ALLOW_SNAPSHOT_OUTSIDE_RTH = False


def _client(fake: FakeTradier) -> TradierClient:
    return TradierClient(fake.base_url, fake.token, timeout_s=0.5, backoff_base_s=0.001)


def test_tradier_capture_stores_the_recorded_chain(settings, fake_tradier, tradier_fixtures: Path) -> None:  # type: ignore[no-untyped-def]
    _pltr_settings(settings, [3])
    result = snapshot_capture(now=et(2026, 6, 15, 10, 0), provider=_client(fake_tradier))
    assert [(r["expiration"], r["actual_dte_days"]) for r in result.inserted] == [("2026-06-18", 3)]
    row = targets().get()
    recorded = json.loads((tradier_fixtures / "chain_pltr_2026-06-18_greeks_sandbox.json").read_text())
    assert row.payload == recorded  # the body as received, value for value
    assert row.provider == "tradier" and row.root == "PLTR" and row.option_count == 22
    assert row.verify_checksum()
    chain_requests = [r for r in fake_tradier.requests if r.path.endswith("/chains")]
    assert chain_requests[0].params["greeks"] == "true"
    assert chain_requests[0].params["expiration"] == "2026-06-18"


def test_one_failing_expiration_does_not_lose_the_others(settings, fake_tradier) -> None:  # type: ignore[no-untyped-def]
    _pltr_settings(settings, [3, 186])  # 2026-06-18 and 2026-12-18
    fake_tradier.set_route("/v1/markets/options/chains", "upstream down", status=502, params={"expiration": "2026-12-18"})
    result = snapshot_capture(now=et(2026, 6, 15, 10, 0), provider=_client(fake_tradier))
    assert [r["expiration"] for r in result.inserted] == ["2026-06-18"]
    failure = CaptureFailure.objects.get(stage="chain")
    assert (failure.stage, failure.expiration, failure.target_dte) == ("chain", dt.date(2026, 12, 18), 186)
    assert failure.error_type == "ProviderUnavailable"
    assert fake_tradier.token not in failure.message


def test_expirations_failure_is_recorded_and_raised(settings, fake_tradier, tradier_fixtures: Path) -> None:  # type: ignore[no-untyped-def]
    _pltr_settings(settings, [3])
    fault = (tradier_fixtures / "error_fault_access_token_expired_observed.json").read_bytes()
    fake_tradier.set_route("/v1/markets/options/expirations", fault, status=401)
    with pytest.raises(ProviderAuthError):
        snapshot_capture(now=et(2026, 6, 15, 10, 0), provider=_client(fake_tradier))
    failure = CaptureFailure.objects.get()
    assert failure.stage == "expirations" and failure.error_type == "ProviderAuthError"
    assert targets().count() == 0


def test_empty_chain_is_a_failure_not_an_empty_snapshot(settings, fake_tradier) -> None:  # type: ignore[no-untyped-def]
    _pltr_settings(settings, [3])
    fake_tradier.set_route("/v1/markets/options/chains", {"options": None})
    result = snapshot_capture(now=et(2026, 6, 15, 10, 0), provider=_client(fake_tradier))
    assert result.inserted == [] and targets().count() == 0
    assert CaptureFailure.objects.get().error_type == "EmptyChain"


def test_simulated_provider_is_deterministic_through_the_service(sim_settings) -> None:  # type: ignore[no-untyped-def]
    now = et(2026, 11, 20, 11, 0)
    first = snapshot_capture(now=now, provider=SimulatedMarket(seed=7, now=lambda: now))
    ChainSnapshot.objects.all().delete()
    second = snapshot_capture(now=now, provider=SimulatedMarket(seed=7, now=lambda: now))
    assert [r["checksum"] for r in first.inserted] == [r["checksum"] for r in second.inserted]


def test_replay_outside_session_walks_through_the_last_session(sim_settings) -> None:  # type: ignore[no-untyped-def]
    from snapshots import market_calendar
    from snapshots.services import provider_get, simulated_market_time

    sim_settings.SIMULATED_REPLAY_OUTSIDE_RTH = True
    in_session = et(2026, 11, 20, 10, 0)
    assert simulated_market_time(in_session) == in_session
    night = et(2026, 11, 21, 3, 0)  # Saturday: replays Friday's session
    first, second = simulated_market_time(night), simulated_market_time(night + dt.timedelta(minutes=5))
    open_utc, close_utc = market_calendar.session_bounds(dt.date(2026, 11, 20))
    assert open_utc <= first < close_utc and open_utc <= second < close_utc
    assert second - first == dt.timedelta(minutes=5) or second < first  # walks on, or loops to the open
    assert provider_get(now=night).name == "simulated-replay"
    assert provider_get(now=in_session).name == "simulated"
    forced = snapshot_capture(now=night, force=True)
    assert {r.provider for r in ChainSnapshot.objects.all()} == {"simulated-replay"} and forced.inserted
    sim_settings.SIMULATED_REPLAY_OUTSIDE_RTH = False
    assert simulated_market_time(night) == night
    assert provider_get(now=night).name == "simulated"
