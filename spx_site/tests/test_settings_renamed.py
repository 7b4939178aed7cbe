"""A setting whose meaning changed under its old name is refused at start, with the new name."""

from __future__ import annotations

from pathlib import Path

from spx_site.tests.test_api_auth import _settings_import


def test_the_old_stop_loss_setting_is_refused_not_read_with_another_meaning(tmp_path: Path) -> None:
    """STOP_LOSS_MULTIPLE meant the closing debit ÷ credit (2.0 = −100 %); read as the loss ÷ credit it
    would silently double the stop, so a .env that still has it stops the start with the new name."""
    refused = _settings_import(tmp_path, STOP_LOSS_MULTIPLE="2.0")
    assert refused.returncode != 0
    assert "STOP_LOSS_MULTIPLE" in refused.stderr and "set STOP_LOSS_CREDITS to the old value minus 1" in refused.stderr
    assert _settings_import(tmp_path, STOP_LOSS_CREDITS="1.5").returncode == 0
