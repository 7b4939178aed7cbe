"""Settlement values in backtests: estimated from the expiring chain itself, checked against the
simulated market's own settlement on generated days (PM, early-close PM and AM), and official values
loaded by the operator taking precedence live and in backtests."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from backtests.data import dbn_generate
from backtests.data.dbn_import import import_files
from backtests.engine.daydata import DayData
from backtests.engine.settlement import SeriesQuotes, settlement_estimate
from snapshots import market_calendar as mc
from snapshots.models import SettlementValue
from snapshots.providers.simulated import SimulatedMarket
from snapshots.services import settlement_value_get
from snapshots.settlement_values import SettlementFileError, official_settlements, settlements_import

# Just the near-the-money strikes of the next few expirations: all settlement needs.
NEAR = dbn_generate.UniverseParams(horizon_days=4, core_sigmas=1.0, core_min=0.01, core_max=0.02,
                                   tail_sigmas=1.0, tail_min=0.02, tail_max=0.03)
PM_DAYS = (dt.date(2025, 1, 6), dt.date(2025, 2, 12), dt.date(2025, 3, 5), dt.date(2025, 4, 9), dt.date(2025, 5, 28),
           dt.date(2025, 7, 7), dt.date(2025, 8, 14), dt.date(2025, 9, 30), dt.date(2025, 10, 22),
           dt.date(2025, 11, 26), dt.date(2026, 1, 13), dt.date(2026, 2, 27), dt.date(2026, 4, 30),
           dt.date(2026, 8, 3), dt.date(2026, 10, 8))
EARLY_CLOSE_DAYS = (dt.date(2025, 7, 3), dt.date(2025, 11, 28), dt.date(2025, 12, 24), dt.date(2026, 11, 27))
# Third Fridays, and Thursday 2026-06-18: Juneteenth moves June's monthly to the day before.
AM_DAYS = (dt.date(2025, 3, 21), dt.date(2025, 6, 20), dt.date(2025, 9, 19), dt.date(2025, 12, 19),
           dt.date(2026, 3, 20), dt.date(2026, 6, 18))
SEED = 7


@pytest.fixture(scope="module")
def settlement_store(tmp_path_factory: pytest.TempPathFactory, django_db_setup, django_db_blocker) -> Path:  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("settlement-dbn")
    days = sorted({*PM_DAYS, *EARLY_CLOSE_DAYS, *AM_DAYS})
    files = []
    for day in days:
        g = dbn_generate.generate_day(day, out, seed=SEED, params=NEAR, compress=False)
        files += [g.definition_path, g.cbbo_path]
    root = out / "market-data"
    from backtests.models import ImportedDay

    with django_db_blocker.unblock():  # the import writes its manifest rows; these tests read files only
        import_files(files, root_dir=root, workers=1)
        ImportedDay.objects.filter(date__in=days).delete()
    return root


def _estimate(root_dir: Path, day: dt.date, root: str, official=None) -> tuple[float, str] | None:  # type: ignore[no-untyped-def]
    data = DayData(day, root_dir=root_dir)
    data.load({e for _, e in data.listed()})
    data.focus(np.arange(data.symbol.size))
    return settlement_estimate(data.series_quotes, data.listed(), root=root, expiration=day, official=official)


def _true_value(day: dt.date, root: str) -> float:
    after = mc.settlement_instant(day, root) + dt.timedelta(hours=1)
    value = SimulatedMarket(seed=SEED, now=lambda: after).settlement_value(day, root)
    assert value is not None
    return value


@pytest.mark.parametrize(("days", "root", "source_start"), [
    (PM_DAYS, "SPXW", "OPRA SPXW {day} parity at expiry, 16:00 ET"),
    (EARLY_CLOSE_DAYS, "SPXW", "OPRA SPXW {day} parity at expiry, 13:00 ET"),
    (AM_DAYS, "SPX", "SPX {day} not quoted on its settlement day; SPXW {day}/"),
], ids=["pm", "early-close", "am"])
def test_estimates_are_within_a_dime_of_the_true_settlement(settlement_store: Path, days: tuple, root: str,
                                                           source_start: str) -> None:
    errors = []
    for day in days:
        estimate = _estimate(settlement_store, day, root)
        assert estimate is not None, day
        value, source = estimate
        # From the expiring chain itself; an AM monthly (no quotes on its day) says so and why.
        assert source.startswith(source_start.format(day=day)), source
        errors.append(abs(value - _true_value(day, root)))
    within = np.mean(np.array(errors) <= 0.10)
    assert within >= 0.95, sorted(zip(errors, days))


def test_no_quotes_anywhere_gives_no_value_rather_than_a_guess(settlement_store: Path) -> None:
    day = PM_DAYS[0]
    listed = DayData(day, root_dir=settlement_store).listed()

    def nothing(r: str, e: dt.date, at: dt.datetime) -> SeriesQuotes | None:
        return None

    assert settlement_estimate(nothing, listed, root="SPXW", expiration=day) is None


@pytest.mark.django_db
def test_official_values_load_from_csv_and_take_precedence(settlement_store: Path, tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    day = AM_DAYS[0]
    path = tmp_path / "set.csv"
    path.write_text(f"day,root,settlement,value\n{day},SPX,AM,5899.27\n{day},spxw,pm,5974.50\n")
    out = StringIO()
    call_command("settlement_import", str(path), "--source", "Cboe SET", stdout=out)
    assert "2 added, 0 replaced, 0 unchanged" in out.getvalue()
    call_command("settlement_import", str(path), "--source", "Cboe SET", stdout=out)
    assert "0 added, 0 replaced, 2 unchanged" in out.getvalue()
    assert SettlementValue.objects.get(expiration=day, root="SPXW").style == "PM"

    official = official_settlements(day, day)
    assert official == {("SPX", day): (5899.27, "Cboe SET"), ("SPXW", day): (5974.5, "Cboe SET")}
    assert _estimate(settlement_store, day, "SPX", official) == (5899.27, "official Cboe SET")
    # Live, whatever the provider: the simulated market would say its own value.
    settings.MARKET_DATA_PROVIDER = "simulated"
    assert settlement_value_get(day, "SPX") == (5899.27, "official Cboe SET")


@pytest.mark.django_db
@pytest.mark.parametrize(("text", "message"), [
    ("day,root,value\n2025-03-21,SPX,1\n", "missing column(s) settlement"),
    ("day,root,settlement,value\n2025-03-21,SPX,PM,5000\n", "line 2: SPX settles AM"),
    ("day,root,settlement,value\n2025-03-21,SPX,AM,5000\n2025-03-21,SPX,AM,5001\n", "line 3: SPX 2025-03-21 appears twice"),
    ("day,root,settlement,value\n21/03/2025,SPX,AM,5000\n", "line 2: day '21/03/2025' is not YYYY-MM-DD"),
    ("day,root,settlement,value\n2025-03-21,VIX,AM,5000\n", "line 2: root 'VIX'"),
    ("day,root,settlement,value\n2025-03-21,SPX,AM,50.001\n", "at most two decimals"),
    ("day,root,settlement,value\n", "no rows"),
])
def test_a_bad_file_is_refused_whole_with_its_line(text: str, message: str) -> None:
    with pytest.raises(SettlementFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        settlements_import(text, source="x")
    assert not SettlementValue.objects.exists()


@pytest.mark.django_db
def test_the_command_refuses_a_bad_file_and_a_missing_one(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("day,root,settlement,value\n2025-03-21,SPX,AM,5000\n2025-03-21,SPXW,AM,5000\n")
    with pytest.raises(CommandError, match="line 3: SPXW settles PM.*nothing was loaded"):
        call_command("settlement_import", str(bad), "--source", "x")
    with pytest.raises(CommandError, match="cannot read"):
        call_command("settlement_import", str(tmp_path / "none.csv"), "--source", "x")
    assert not SettlementValue.objects.exists()
