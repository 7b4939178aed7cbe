"""Django for a bench script on a throwaway SQLite database and in-memory broker (nothing in var/)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def temp_django(prefix: str) -> Path:
    """Point the settings at a new temporary folder, set Django up, and return the folder."""
    sys.path.insert(0, str(ROOT))
    work = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ.update(DATABASE_URL=f"sqlite:///{work / 'db.sqlite3'}", SPX_VAR_DIR=str(work), CELERY_BROKER_URL="memory://")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spx_site.settings")
    import django

    django.setup()
    return work
