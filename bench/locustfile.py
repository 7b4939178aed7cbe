"""The load test's users (``bench/load.py`` runs it; see bench/README.md "Load").

Two kinds of user, 3 : 1: an operator in a browser (logged in through the login form — by load.py
before the test, its session handed over in ``LOAD_SESSIONS``, else in ``on_start`` — then
reads the dashboard, trades, decisions and backtests pages, the HTMX partials the pages poll
every 30 s, and a few detail pages) and a script on the API (a read token: the lists, PnL, one
trade). ``LOAD_INFO`` names the seed's JSON (logins, tokens, ids to request). Every request has a
stable name, so the CSV has one row per endpoint; ``load.py`` marks which have the p95 target.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
from typing import Any
from urllib.parse import urlsplit

from locust import HttpUser, between, task

INFO: dict[str, Any] = json.loads(open(os.environ["LOAD_INFO"]).read())
RUN = INFO["run"]
_accounts = itertools.cycle(INFO["users"])
_session_ids = json.loads(open(os.environ["LOAD_SESSIONS"]).read()) if os.environ.get("LOAD_SESSIONS") else []
_sessions = itertools.cycle(_session_ids) if _session_ids else None
HTMX = {"HX-Request": "true"}


def _check(response: Any, *, text: str | None = None) -> None:
    """A 200 with the expected content, else a failure (locust counts it in the error rate)."""
    if response.status_code != 200:
        response.failure(f"HTTP {response.status_code}")
    elif text is not None and text not in response.text:
        response.failure(f"no {text!r} in the body")
    else:
        response.success()


class Operator(HttpUser):
    """A logged-in operator on the pages."""

    weight = 3
    wait_time = between(1, 2)

    def on_start(self) -> None:
        if _sessions:  # logged in through the form by load.py before the test
            self.client.cookies.set("sessionid", next(_sessions), domain=urlsplit(self.host).hostname, path="/")
            return
        account = next(_accounts)
        page = self.client.get("/accounts/login/", name="login (form)")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        with self.client.post("/accounts/login/", name="login (post)", allow_redirects=False, catch_response=True,
                              data={"username": account["username"], "password": account["password"],
                                    "csrfmiddlewaretoken": token.group(1) if token else ""}) as r:
            if r.status_code != 302:
                r.failure(f"login refused: HTTP {r.status_code}")

    def _get(self, url: str, name: str, *, htmx: bool = False, text: str | None = None) -> None:
        with self.client.get(url, name=name, headers=HTMX if htmx else None, catch_response=True) as r:
            _check(r, text=text)

    @task(4)
    def dashboard(self) -> None:
        self._get("/", "dashboard", text='id="dashboard-panel"')

    @task(4)
    def dashboard_poll(self) -> None:
        self._get("/", "dashboard (htmx panel)", htmx=True, text='id="dashboard-panel"')

    @task(3)
    def trades(self) -> None:
        self._get("/trades/", "/trades/", text='id="trade-panel"')

    @task(2)
    def trades_poll(self) -> None:
        self._get("/trades/", "/trades/ (htmx panel)", htmx=True, text='id="trade-panel"')

    @task(2)
    def run_trades(self) -> None:
        page = random.choice(["", "&page=2", "&page=40"])
        self._get(f"/trades/?run={RUN}{page}", "/trades/?run=N[&page=]", text='id="trade-panel"')

    @task(3)
    def decisions(self) -> None:
        self._get("/decisions/", "/decisions/", text='id="decision-table"')

    @task(1)
    def decisions_filter(self) -> None:
        self._get("/decisions/?action=TRADE", "/decisions/?action=TRADE (htmx)", htmx=True, text='id="decision-table"')

    @task(2)
    def run_decisions(self) -> None:
        page = random.choice(["", "&page=2", "&page=80"])
        self._get(f"/decisions/?run={RUN}{page}", "/decisions/?run=N[&page=]", text='id="decision-table"')

    @task(1)
    def backtests(self) -> None:
        self._get("/backtests/", "/backtests/", text='id="run-table"')

    @task(1)
    def snapshots(self) -> None:
        self._get("/snapshots/", "/snapshots/")

    @task(1)
    def run_detail(self) -> None:
        self._get(f"/backtests/{RUN}/", "/backtests/N/ (detail)")

    @task(1)
    def trade_detail(self) -> None:
        pk = random.choice(INFO["trades"] + INFO["backtest_trades"])
        self._get(f"/trades/{pk}/", "/trades/N/ (detail)")

    @task(1)
    def decision_detail(self) -> None:
        self._get(f"/decisions/{random.choice(INFO['decisions'])}/", "/decisions/N/ (detail)")


class ApiScript(HttpUser):
    """A script with a read token on the API."""

    weight = 1
    wait_time = between(1, 2)

    def on_start(self) -> None:
        self.headers = {"Authorization": f"Token {next(_accounts)['token']}"}

    def _get(self, url: str, name: str) -> None:
        with self.client.get(url, name=name, headers=self.headers, catch_response=True) as r:
            _check(r)

    @task(3)
    def trades(self) -> None:
        self._get("/api/trades", "/api/trades")

    @task(1)
    def backtest_trades(self) -> None:
        self._get("/api/trades?source=backtest", "/api/trades?source=backtest")

    @task(3)
    def decisions(self) -> None:
        self._get("/api/decisions", "/api/decisions")

    @task(1)
    def backtest_decisions(self) -> None:
        self._get("/api/decisions?source=backtest", "/api/decisions?source=backtest")

    @task(2)
    def backtests(self) -> None:
        self._get("/api/backtests", "/api/backtests")

    @task(1)
    def run_trades(self) -> None:
        self._get(f"/api/backtests/{RUN}/trades", "/api/backtests/N/trades")

    @task(2)
    def pnl(self) -> None:
        self._get("/api/pnl?source=simulated", "/api/pnl")

    @task(1)
    def trade(self) -> None:
        self._get(f"/api/trades/{random.choice(INFO['trades'])}", "/api/trades/N (detail)")
