"""``GET /api/configs/<id>/history``: a config's recorded changes, newest first, for any credentials."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from snapshots.tests.factories import read_token_client
from strategy.configs import config_save, config_set_enabled
from strategy.models import StrategyConfig
from strategy.tests.config_helpers import user_for
from strategy.tests.factories import StrategyConfigFactory

pytestmark = pytest.mark.django_db


def test_the_api_reads_a_configs_history_newest_first() -> None:
    config = StrategyConfigFactory(name="api")
    config_save(StrategyConfig.objects.get(pk=config.pk))  # nothing changed: no row
    config.priority = 3
    config_save(config, user=user_for("editor", []))
    config_set_enabled(config, enabled=False)
    api = read_token_client()
    body = api.get(f"/api/configs/{config.pk}/history").json()
    assert body["config"] == {"id": config.pk, "name": "api"}
    assert [(i["action"], i["changed_by"], i["diff"]) for i in body["items"]] == [
        ("disabled", "", {"enabled": [True, False]}), ("edited", "staff-editor", {"priority": [100, 3]})]
    assert set(body["items"][0]) == {"id", "config_id", "changed_at", "changed_by", "action", "via", "copied_from_id",
                                     "diff", "before", "after"}
    assert len(api.get(f"/api/configs/{config.pk}/history?limit=1").json()["items"]) == 1


def test_the_history_api_needs_credentials_and_answers_bad_ids_in_the_error_shape() -> None:
    config = StrategyConfigFactory(name="guarded")
    anonymous = APIClient().get(f"/api/configs/{config.pk}/history")
    assert anonymous.status_code == 401 and set(anonymous.json()) == {"error", "fields"}
    api = read_token_client()
    for pk in ("999999", "99999999999999999999"):
        missing = api.get(f"/api/configs/{pk}/history")
        assert missing.status_code == 404 and missing.json() == {"error": "not found", "fields": {}}, pk
    bad = api.get(f"/api/configs/{config.pk}/history?limit=0")
    assert bad.status_code == 400 and list(bad.json()["fields"]) == ["limit"]
