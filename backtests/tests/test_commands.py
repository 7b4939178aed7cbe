"""The generate and import commands: thin wrappers, clear errors."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from backtests.data.dbn_generate import GeneratedDay
from backtests.models import ImportedDay
from backtests.tests.conftest import DAY

pytestmark = pytest.mark.django_db


def test_generate_then_import_tiny_days(market_dir: Path) -> None:
    out = io.StringIO()
    call_command("dbn_generate", "--start", "2026-03-18", "--end", "2026-03-20", "--tiny", "--import", stdout=out)
    text = out.getvalue()
    assert "wrote 9 files" in text and "imported 3 day(s)" in text and "records/s" in text
    generated = sorted(p.name for p in (market_dir / "generated/OPRA.PILLAR").iterdir())
    assert generated[:3] == ["2026-03-18.cbbo-1m.dbn.zst", "2026-03-18.definition.dbn.zst", "2026-03-18.statistics.dbn.zst"]
    assert len(generated) == 9
    assert ImportedDay.objects.filter(schema="cbbo-1m").count() == 3
    assert ImportedDay.objects.filter(schema="statistics").count() == 3  # --import takes the open interest too


def test_generate_plain_files_elsewhere(tmp_path: Path) -> None:
    call_command("dbn_generate", "--start", "2026-03-18", "--tiny", "--no-compress", "--out", str(tmp_path), stdout=io.StringIO())
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "2026-03-18.cbbo-1m.dbn", "2026-03-18.definition.dbn", "2026-03-18.statistics.dbn"
    ]
    with pytest.raises(CommandError, match="no SPX options trading days"):
        call_command("dbn_generate", "--start", "2026-03-21", "--end", "2026-03-22", "--tiny", "--out", str(tmp_path))


def test_import_command_reports_and_refuses(tiny_days: dict[dt.date, GeneratedDay], market_dir: Path, opra_samples: Path) -> None:
    out = io.StringIO()
    call_command("databento_import", str(tiny_days[DAY].definition_path), str(tiny_days[DAY].cbbo_path), stdout=out)
    assert f"staged {DAY} cbbo-1m" in out.getvalue() and "imported 1 day(s)" in out.getvalue()
    with pytest.raises(CommandError, match="import refused, nothing written: test_data.trades.dbn.zst: schema is 'trades'"):
        call_command("databento_import", str(opra_samples / "test_data.trades.dbn.zst"), stdout=io.StringIO())
    assert ImportedDay.objects.count() == 2
