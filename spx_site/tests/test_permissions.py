"""Acting needs a permission, not just a staff login (``snapshots.permissions``, README "Who may do what").

Admin actions: a staff user who may only *view* the rows does not see the action, and the same
action posted by hand is refused with nothing changed (rows, broker calls); a staff user holding
the action's permission runs it. The pages and the API writes doing the same operations ask for the
same permissions from a staff session; operator tokens keep their powers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from backtests import services as backtest_services
from backtests.models import BacktestRun
from backtests.tests.factories import BacktestRunFactory
from execution import services as execution_services
from execution.brokers.base import BrokerError
from execution.models import Order, Trade
from execution.tests.factories import OrderFactory, PositionMarkFactory, TradeFactory
from mlmodels.models import ModelVersion, TrainingRequest
from mlmodels.tests.factories import ModelVersionFactory
from snapshots.api_tokens import token_create
from snapshots.models import ApiToken, ChainSnapshot
from snapshots.tests.factories import ChainSnapshotFactory, StaffUserFactory

pytestmark = pytest.mark.django_db


class RecordingBroker:
    """Stands in for the broker: records every call and fails it, so a test sees whether one was made."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args))
            raise BrokerError(f"recorded {name}")
        return call


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> RecordingBroker:
    recorder = RecordingBroker()
    monkeypatch.setattr(execution_services, "broker_get", lambda **_: recorder)
    return recorder


@dataclass(frozen=True)
class Case:
    """One admin action: where it lives, the permission it needs, a row to act on, what it changes."""

    changelist: str
    view_perm: str
    action: str
    perm: str
    make: Callable[[], Any]
    state: Callable[[Any, RecordingBroker], Any]  # what the action would change


def _trade_with_mark() -> Trade:
    trade = TradeFactory()
    PositionMarkFactory(trade=trade)
    return trade


def _new_close_order() -> Order:
    """A closing order committed but never sent: reconciliation would submit it (or refuse it locally)."""
    return OrderFactory(trade=TradeFactory(status=Trade.Status.CLOSING), purpose="close", state="new",
                        order_type="debit", broker_order_id="", limit_price="0.60")


def _working_close_order() -> Order:
    return OrderFactory(trade=TradeFactory(status=Trade.Status.CLOSING), purpose="close", state="open",
                        order_type="debit", limit_price="0.60")


def _order_state(order: Order, broker: RecordingBroker) -> tuple[str, int, int]:
    order.refresh_from_db()
    return order.state, Order.objects.count(), len(broker.calls)


CASES = [
    Case("admin:execution_trade_changelist", "execution.view_trade", "close_now", "execution.close_trade",
         _trade_with_mark,
         lambda t, b: (Trade.objects.get(pk=t.pk).status, t.orders.filter(purpose="close").count(), len(b.calls))),
    Case("admin:execution_trade_changelist", "execution.view_trade", "reconcile", "execution.reconcile_orders",
         lambda: _new_close_order().trade, lambda t, b: (t.orders.get(purpose="close").state, len(b.calls))),
    Case("admin:execution_order_changelist", "execution.view_order", "cancel_order", "execution.cancel_order",
         _working_close_order, _order_state),
    Case("admin:execution_order_changelist", "execution.view_order", "reconcile", "execution.reconcile_orders",
         _new_close_order, _order_state),
    Case("admin:snapshots_chainsnapshot_changelist", "snapshots.view_chainsnapshot", "force_snapshot",
         "snapshots.force_capture", ChainSnapshotFactory, lambda s, b: ChainSnapshot.objects.count()),
    Case("admin:backtests_backtestrun_changelist", "backtests.view_backtestrun", "cancel_runs", "backtests.cancel_run",
         lambda: BacktestRunFactory(running=True), lambda r, b: BacktestRun.objects.get(pk=r.pk).status),
    Case("admin:backtests_backtestrun_changelist", "backtests.view_backtestrun", "relaunch_unfinished_chunks",
         "backtests.relaunch_run", lambda: BacktestRunFactory(status=BacktestRun.Status.FAILED, error="boom"),
         lambda r, b: BacktestRun.objects.get(pk=r.pk).status),
    Case("admin:mlmodels_modelversion_changelist", "mlmodels.view_modelversion", "retire_models",
         "mlmodels.retire_model", ModelVersionFactory, lambda m, b: ModelVersion.objects.get(pk=m.pk).status),
]


@pytest.fixture(autouse=True)
def _quiet_side_effects(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.MARKET_DATA_PROVIDER = "simulated"  # a forced capture reads the simulated market
    settings.SNAPSHOT_CONTEXT_ENABLED = False
    monkeypatch.setattr(backtest_services, "run_launch", lambda run: None)  # no chunk replays here


def _post_action(client: Client, case: Case, obj: Any) -> str:
    response = client.post(reverse(case.changelist), {"action": case.action, "_selected_action": [obj.pk]}, follow=True)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.changelist.split(':')[1].rsplit('_', 1)[0]}-{c.action}")
def test_a_view_only_staff_user_neither_sees_nor_runs_the_action(case: Case, broker: RecordingBroker) -> None:
    obj = case.make()
    client = Client()
    client.force_login(StaffUserFactory(perms=[case.view_perm]))
    page = client.get(reverse(case.changelist))
    assert page.status_code == 200  # may look …
    assert f'value="{case.action}"' not in page.content.decode()  # … but is not offered the action
    before = case.state(obj, broker)
    _post_action(client, case, obj)  # forged: the action's name posted by hand (Django ignores it)
    assert case.state(obj, broker) == before and broker.calls == []


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.changelist.split(':')[1].rsplit('_', 1)[0]}-{c.action}")
def test_a_staff_user_with_the_permission_runs_the_action(case: Case, broker: RecordingBroker) -> None:
    obj = case.make()
    client = Client()
    client.force_login(StaffUserFactory(perms=[case.view_perm, case.perm]))
    assert f'value="{case.action}"' in client.get(reverse(case.changelist)).content.decode()
    before = case.state(obj, broker)
    _post_action(client, case, obj)
    assert case.state(obj, broker) != before


def test_checksums_and_activation_need_their_permissions(broker: RecordingBroker) -> None:
    """The two actions that change no row: what they report shows whether they ran."""
    snap = ChainSnapshotFactory()
    mv = ModelVersionFactory()
    viewer, allowed = Client(), Client()
    viewer.force_login(StaffUserFactory(perms=["snapshots.view_chainsnapshot", "mlmodels.view_modelversion"]))
    allowed.force_login(StaffUserFactory(perms=["snapshots.view_chainsnapshot", "snapshots.verify_checksums",
                                                "mlmodels.view_modelversion", "mlmodels.activate_model"]))
    checks = Case("admin:snapshots_chainsnapshot_changelist", "", "verify_checksums", "", lambda: snap, lambda *_: 0)
    activate = Case("admin:mlmodels_modelversion_changelist", "", "activate_models", "", lambda: mv, lambda *_: 0)
    refused = _post_action(viewer, checks, snap)
    assert "ok, mismatched" not in refused
    assert "1 ok, mismatched: none" in _post_action(allowed, checks, snap)
    assert f"model {mv.pk}" not in _post_action(viewer, activate, mv)
    ran = _post_action(allowed, activate, mv)  # ran: refused by the service, the model file is missing
    assert f"model {mv.pk}" in ran
    mv.refresh_from_db()
    assert mv.status == ModelVersion.Status.CANDIDATE


# --------------------------------------------------------------------------- pages


def test_backtest_pages_need_the_launch_and_cancel_permissions() -> None:
    run = BacktestRunFactory(running=True)
    staff = Client()
    staff.force_login(StaffUserFactory(perms=["backtests.view_backtestrun"]))
    assert 'id="launch-form"' not in staff.get("/backtests/").content.decode()
    assert staff.post("/backtests/", {"start": "2026-03-16", "end": "2026-03-20"}).status_code == 403
    assert 'id="run-cancel"' not in staff.get(f"/backtests/{run.pk}/").content.decode()
    refused = staff.post(f"/backtests/{run.pk}/cancel/")
    assert refused.status_code == 403 and "backtests.cancel_run" in refused.content.decode()  # the 403 page says why
    assert BacktestRun.objects.count() == 1 and BacktestRun.objects.get().status == BacktestRun.Status.RUNNING
    canceller = Client()
    canceller.force_login(StaffUserFactory(perms=["backtests.cancel_run"]))
    assert 'id="run-cancel"' in canceller.get(f"/backtests/{run.pk}/").content.decode()
    assert canceller.post(f"/backtests/{run.pk}/cancel/").status_code == 302
    assert BacktestRun.objects.get().status == BacktestRun.Status.CANCELLED


def test_model_pages_need_the_train_activate_and_retire_permissions() -> None:
    mv = ModelVersionFactory()
    staff = Client()
    staff.force_login(StaffUserFactory())
    assert 'id="model-actions"' not in staff.get(f"/models/{mv.pk}/").content.decode()
    assert staff.post("/models/", {"source": "backtest", "group": "default"}).status_code == 403
    assert staff.post(f"/models/{mv.pk}/activate/", {"force": "on", "reason": "x"}).status_code == 403
    assert staff.post(f"/models/{mv.pk}/retire/").status_code == 403
    mv.refresh_from_db()
    assert mv.status == ModelVersion.Status.CANDIDATE and not TrainingRequest.objects.exists()
    retirer = Client()
    retirer.force_login(StaffUserFactory(perms=["mlmodels.retire_model"]))
    page = retirer.get(f"/models/{mv.pk}/").content.decode()
    assert f"/models/{mv.pk}/retire/" in page and f"/models/{mv.pk}/activate/" not in page
    assert retirer.post(f"/models/{mv.pk}/activate/", {"force": "on", "reason": "x"}).status_code == 403
    assert retirer.post(f"/models/{mv.pk}/retire/").status_code == 302
    mv.refresh_from_db()
    assert mv.status == ModelVersion.Status.RETIRED


def test_the_token_page_needs_the_token_permissions() -> None:
    user = get_user_model().objects.create_user("scripter", password="pw-for-tests-only")
    token, _ = token_create(user=user, scope=ApiToken.Scope.READ, name="existing")
    staff = Client()
    staff.force_login(StaffUserFactory())
    page = staff.get("/api-tokens/").content.decode()
    assert token.prefix in page and 'id="token-form"' not in page and "/revoke/" not in page
    assert staff.post("/api-tokens/", {"user": user.pk, "scope": "operator", "name": "mine"}).status_code == 403
    assert staff.post(f"/api-tokens/{token.pk}/revoke/").status_code == 403
    token.refresh_from_db()
    assert ApiToken.objects.count() == 1 and token.revoked_at is None


# --------------------------------------------------------------------------- API


def test_api_writes_from_a_staff_session_need_the_permissions_and_tokens_keep_working(settings: Any) -> None:
    settings.ADMIN_API_KEY = ""
    run = BacktestRunFactory(running=True)
    mv = ModelVersionFactory()
    writes = [("/api/backtests", {"start": "2026-03-16"}), (f"/api/backtests/{run.pk}/cancel", {}),
              ("/api/ml/models/train", {}), (f"/api/ml/models/{mv.pk}/activate", {"force": True, "reason": "x"}),
              (f"/api/ml/models/{mv.pk}/retire", {})]
    staff = Client()
    staff.force_login(StaffUserFactory())
    for path, body in writes:
        response = staff.post(path, body, content_type="application/json")
        assert response.status_code == 403 and "permission" in response.json()["error"], path
    run.refresh_from_db()
    mv.refresh_from_db()
    assert run.status == BacktestRun.Status.RUNNING and mv.status == ModelVersion.Status.CANDIDATE
    assert BacktestRun.objects.count() == 1 and not TrainingRequest.objects.exists()
    # An operator token is not a session: its user needs no model permission.
    _, key = token_create(user=get_user_model().objects.create_user("bot", password="pw-for-tests-only"),
                          scope=ApiToken.Scope.OPERATOR, name="tests")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.post(f"/api/backtests/{run.pk}/cancel", {}, format="json").status_code == 200
    assert api.post(f"/api/ml/models/{mv.pk}/retire", {}, format="json").status_code == 200
    run.refresh_from_db()
    mv.refresh_from_db()
    assert run.status == BacktestRun.Status.CANCELLED and mv.status == ModelVersion.Status.RETIRED


def test_superusers_hold_every_action_permission() -> None:
    root = get_user_model().objects.create_superuser("root", password="pw-for-tests-only")
    for case in CASES:
        assert root.has_perm(case.perm), case.perm
