"""``dbn_generate --regime``: the named presets reach the generated files."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db
DAY = "2025-03-05"


def _digest(out: Path, *regime: str) -> str:
    call_command("dbn_generate", "--start", DAY, "--tiny", "--out", str(out), *regime, stdout=io.StringIO())
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(out.rglob("*.dbn*")))).hexdigest()


def test_regime_presets_change_the_market_and_off_is_the_default(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    settings.SIMULATED_REGIME = "off"
    plain = _digest(tmp_path / "plain")
    assert _digest(tmp_path / "off-again") == plain
    on, strong = _digest(tmp_path / "on", "--regime"), _digest(tmp_path / "strong", "--regime", "strong")
    assert len({plain, on, strong}) == 3
    settings.SIMULATED_REGIME = "strong"
    assert _digest(tmp_path / "from-setting") == strong
    with pytest.raises(CommandError):
        call_command("dbn_generate", "--start", DAY, "--tiny", "--out", str(tmp_path / "x"), "--regime", "wild")
