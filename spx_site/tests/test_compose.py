"""docker-compose.yml: every process that reads market data or model files sees the same store."""

from __future__ import annotations

from pathlib import Path

import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def test_web_workers_and_beat_share_one_data_volume() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    apps = {name: svc for name, svc in compose["services"].items() if svc.get("build")}
    assert {"web", "worker-live", "worker-batch", "beat"} <= set(apps)
    for name, svc in apps.items():
        env = svc["environment"]
        mounts = dict(v.split(":", 1)[::-1] for v in svc["volumes"])  # container path -> volume
        data_volume = mounts.get("/data")
        assert data_volume in compose["volumes"], f"{name} has no named volume at /data"
        for variable in ("MARKET_DATA_DIR", "ML_MODEL_DIR", "SPX_VAR_DIR"):
            assert env[variable].startswith("/data/"), f"{name}: {variable} is not on the shared volume"
    assert len({dict(v.split(":", 1)[::-1] for v in s["volumes"])["/data"] for s in apps.values()}) == 1
