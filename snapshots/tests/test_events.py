"""Market events: FOMC days seeded from the reference list, CSV imports for the rest."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from snapshots.events import EventFileError, event_days, events_import
from snapshots.models import MarketEvent

pytestmark = pytest.mark.django_db


def test_fomc_statement_days_are_seeded() -> None:
    days = event_days(MarketEvent.Kind.FOMC, dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    assert days == tuple(dt.date(2025, m, d) for m, d in ((1, 29), (3, 19), (5, 7), (6, 18), (7, 30), (9, 17), (10, 29),
                                                          (12, 10)))
    assert MarketEvent.objects.get(day=dt.date(2024, 11, 7)).time_et == dt.time(14, 0)  # Thursday: election week


def test_a_csv_adds_and_updates_events(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("day,kind,time,description\n2026-12-10,cpi,08:30,November CPI\n2020-03-15,fomc,,unscheduled cut\n")
    out = StringIO()
    call_command("events_import", str(path), "--source", "BLS", stdout=out)
    assert "2 added, 0 updated" in out.getvalue()
    path.write_text("day,kind,time\n2026-12-10,CPI,08:30\n")
    call_command("events_import", str(path), stdout=out)
    assert "0 added, 1 updated" in out.getvalue()
    assert event_days("fomc", dt.date(2020, 3, 1), dt.date(2020, 3, 31)) == (dt.date(2020, 3, 15),)


@pytest.mark.parametrize(("text", "message"), [
    ("date,kind\n2026-01-01,cpi\n", "needs at least the columns day and kind"),
    ("day,kind\n2026-13-01,cpi\n", "line 2: day '2026-13-01'"),
    ("day,kind\n2026-01-01,earnings\n", "line 2: kind 'earnings'"),
    ("day,kind,time\n2026-01-01,cpi,8h30\n", "line 2: time '8h30'"),
    ("day,kind\n2026-01-01,cpi\n2026-01-01,cpi\n", "line 3: cpi on 2026-01-01 appears twice"),
    ("day,kind\n", "no rows"),
])
def test_a_bad_file_is_refused_whole(text: str, message: str) -> None:
    before = MarketEvent.objects.count()
    with pytest.raises(EventFileError, match=message):
        events_import(text, source="x")
    assert MarketEvent.objects.count() == before


def test_the_command_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="cannot read"):
        call_command("events_import", str(tmp_path / "none.csv"))
