"""Every page in a real browser: headless Chromium (Debian's ``chromium``, driven by the ``playwright``
package through ``executable_path``; never a browser download) against the live test server.

* every page loads with status < 400 and no console error or uncaught page error;
* HTMX works: "Run snapshot now" swaps in its result, a filter change swaps the table and pushes the
  URL, a backtest launched from the form reaches done with its progress bar at 100 %, the compare page
  draws both curves;
* a screenshot of each page is saved under ``var/screenshots/`` (CI keeps them as artifacts).

Skipped with the reason when Chromium is missing (``.ci/run`` apt-installs it; ``playwright`` is a pinned requirement).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from playwright import sync_api as playwright_api  # pinned in requirements.txt: missing means a broken install

from backtests.models import BacktestRun
from backtests.tests.conftest import COMPACT_DAYS
from backtests.tests.factories import BacktestRunFactory
from execution.tests.factories import TradeFactory
from snapshots.models import ChainSnapshot

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium)"),
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
PASSWORD = "browser-pass-123"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Playwright's sync API runs an event loop in this thread; the ORM calls of the test itself are
    # plain synchronous code, so Django's async-safety guard must not trip over that loop.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield b
        b.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


class Session:
    """One logged-in page that records console errors and page errors as they happen."""

    def __init__(self, browser: Any, base: str) -> None:
        self.base = base
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="America/New_York")
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on("response", lambda r: self.errors.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None)

    def login(self, username: str) -> None:
        self.page.goto(self.base + "/accounts/login/")
        self.page.fill("input[name=username]", username)
        self.page.fill("input[name=password]", PASSWORD)
        self.page.click("button[type=submit], input[type=submit]")
        self.page.wait_for_load_state("networkidle")

    def visit(self, path: str, shot: str) -> Any:
        response = self.page.goto(self.base + path)
        self.page.wait_for_load_state("networkidle")
        assert response is not None and response.status < 400, (path, response and response.status)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{shot}.png"), full_page=True)
        assert not self.errors, (path, self.errors)
        return response


@pytest.fixture
def session(browser: Any, live_server: Any, sim: Any, compact_market: Path) -> Iterator[Session]:
    sim.ALLOW_SNAPSHOT_OUTSIDE_RTH = True
    get_user_model().objects.create_user("operator", password=PASSWORD, is_staff=True, is_superuser=True)
    s = Session(browser, live_server.url)
    s.login("operator")
    yield s
    s.context.close()


def test_every_page_loads_in_chromium_without_console_errors(session: Session) -> None:
    done = BacktestRunFactory(done=True)
    trade = TradeFactory(closed=True)
    session.page.goto(session.base + "/snapshots/")
    session.page.click("text=Run snapshot now")  # a real capture from the simulated market, over HTMX
    session.page.wait_for_function("document.querySelector('#run-result') && document.querySelector('#run-result').innerText.length > 0")
    snapshot = ChainSnapshot.objects.order_by("-ts").first()
    assert snapshot is not None
    pages = {
        "dashboard": "/", "snapshots": "/snapshots/", "snapshot": f"/snapshots/{snapshot.pk}/",
        "decisions": "/decisions/", "trades": "/trades/", "trade": f"/trades/{trade.pk}/",
        "backtests": "/backtests/", "backtest": f"/backtests/{done.pk}/",
        "compare": f"/backtests/compare/?a={done.pk}&b={done.pk}", "models": "/models/", "api-docs": "/api/docs",
        "configs": "/configs/", "config": f"/configs/{trade.decision.strategy_config_id}/",
        "config-edit": f"/configs/{trade.decision.strategy_config_id}/edit/", "config-new": "/configs/new/",
    }
    for shot, path in pages.items():
        session.visit(path, shot)
    # The API docs render offline: Swagger UI's own markup, not a blank page.
    session.page.goto(session.base + "/api/docs")
    session.page.wait_for_selector(".swagger-ui .opblock", timeout=15000)


def test_htmx_filters_swap_the_table_and_keep_the_url(session: Session) -> None:
    session.visit("/snapshots/", "snapshots-before-capture")
    session.page.click("text=Run snapshot now")
    session.page.wait_for_function("document.querySelector('#run-result') && /captured|snapshot|skipped/i.test(document.querySelector('#run-result').innerText)")
    assert ChainSnapshot.objects.exists() and not session.errors, session.errors
    session.visit("/decisions/", "decisions")
    options = session.page.locator("select[name=action] option").all_inner_texts()
    assert "TRADE" in " ".join(options) or options
    with session.page.expect_response(lambda r: "/decisions/" in r.url and r.request.headers.get("hx-request") == "true"):
        session.page.select_option("select[name=action]", "SKIP")
    session.page.wait_for_url(re.compile(r"action=SKIP"), timeout=10_000)  # hx-push-url: the filter is in the address
    assert not session.errors, session.errors


def test_a_backtest_launched_from_the_form_reaches_done_and_compares(session: Session) -> None:
    session.visit("/backtests/", "backtests-form")
    form = session.page.locator("#launch-form")
    form.locator("input[name=name]").fill("browser run")
    form.locator("input[name=start]").fill(COMPACT_DAYS[0].isoformat())
    form.locator("input[name=end]").fill(COMPACT_DAYS[-1].isoformat())
    form.locator("input[name=chunk_days]").fill("1")
    form.locator("button[type=submit]").click()
    session.page.wait_for_url(re.compile(r"/backtests/\d+/$"), timeout=120_000)
    # Celery runs eagerly in tests, so the run may already be done; otherwise the page polls until it is.
    session.page.wait_for_selector("#run-status:text('done')", timeout=120_000)
    assert session.page.get_attribute("[role=progressbar]", "aria-valuenow") == "100"
    run = BacktestRun.objects.get(name="browser run")
    assert run.status == BacktestRun.Status.DONE and run.days_total == len(COMPACT_DAYS)
    session.visit(f"/backtests/{run.pk}/", "backtest-done")
    assert session.page.locator("#equity-curve polyline").count() == 1
    hover = session.page.locator("#equity-curve circle.dot title").last.text_content() or ""
    assert re.search(r"\d{4}-\d\d-\d\d: -?\$[\d,]+\.\d\d", hover), hover
    other = BacktestRunFactory(done=True)
    session.visit(f"/backtests/compare/?a={run.pk}&b={other.pk}", "compare")
    assert session.page.locator("#compare-chart polyline.series").count() == 2


def test_pages_stay_readable_with_javascript_off(browser: Any, live_server: Any, seeded_grid: list) -> None:
    get_user_model().objects.create_user("reader", password=PASSWORD)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(live_server.url + "/accounts/login/")
    page.fill("input[name=username]", "reader")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit], input[type=submit]")
    run = BacktestRunFactory(done=True)
    page.goto(live_server.url + f"/backtests/{run.pk}/")
    assert page.locator("#equity-curve").count() == 1 and "Summary" in page.content()
    page.goto(live_server.url + f"/decisions/?day={dt.date.today().isoformat()}")
    assert page.locator("form button[type=submit], noscript").count() >= 1
    context.close()
