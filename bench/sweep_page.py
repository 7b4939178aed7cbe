"""Launch a sweep from the sweep page as a researcher would, follow its progress, read its results.

Run from the repository root, on a data folder ``bench/bench_backtest.py`` filled (its SQLite
database, file-system broker and ``var/``; every trading day of the year imported):

    .venv/bin/python bench/sweep_page.py --data DIR [--grid base] [--year 2025] [--workers 2] [--port 8766]

1. Starts the real web server (gunicorn) and ``--workers`` Celery workers on the ``backtests``
   queue over that folder, makes a staff login holding ``backtests.add_backtestrun``, logs in over
   HTTP and POSTs the sweep form (``/backtests/sweeps/new/``) with the grid of ``bench_sweep.py``
   (``base``: 1,296 variants) over the whole year, chunks of ⌈days / (2 × workers)⌉ days.
2. Polls the sweep page's HTMX partial every 2 s, as the page does, printing its progress, until
   it answers 286 (done: htmx stops polling).
3. Opens the sweep page and one variant's page and prints what they show: the heatmap, the
   walk-forward out-of-sample total, the deflated Sharpe ratio and the PBO, with each page's
   response time.

Prints the timings; exits non-zero if the form is refused, the run fails or a section is missing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import math
import os
import re
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_backtest import _setup  # noqa: E402  (the bench data folder's environment)
from bench.bench_sweep import GRIDS  # noqa: E402
from bench.load import wait_http  # noqa: E402
from bench.page_session import csrf, login, servers, staff_user, stop  # noqa: E402

SECTIONS = ("sweep-heatmap", "variant-table", "walk-forward", "deflated-sharpe", "pbo")


def _text(page: str, element_id: str) -> str:
    """The text of the element with ``element_id`` (tags stripped), or "—"."""
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</(?:span|strong|p)>', page, re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", found.group(1))).strip() if found else "—"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--grid", choices=sorted(GRIDS), default="base")
    parser.add_argument("--year", type=int, default=2025)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()
    _setup(args.data)

    import httpx

    from backtests import services
    from backtests.models import BacktestRun
    from strategy.models import StrategyConfig

    days = services.trading_days(dt.date(args.year, 1, 1), dt.date(args.year, 12, 31))
    first, last = days[0], days[-1]
    user, password = staff_user("bench-researcher", "backtests", "add_backtestrun")
    env = {**os.environ}
    log = open(args.data / "var" / "sweep_page.log", "a")  # the server's and the workers' output
    procs = servers(port=args.port, queues="backtests", workers=args.workers, name="bench-sweep", env=env, log=log)
    try:
        base = f"http://127.0.0.1:{args.port}"
        with httpx.Client(base_url=base, timeout=120.0, follow_redirects=False) as web:
            wait_http(f"{base}/health")
            login(web, user.username, password)
            form = web.get("/backtests/sweeps/new/")
            body = {name: ",".join(map(str, values)) for name, values in GRIDS[args.grid].items()}
            body.update({"csrfmiddlewaretoken": csrf(form.text), "name": f"page sweep {args.grid}",
                         "config": str(StrategyConfig.objects.get(name="3DTE put 10d").pk),
                         "start": first.isoformat(), "end": last.isoformat(), "exit_check_minutes": "1",
                         "chunk_days": str(math.ceil(len(days) / (2 * args.workers))),
                         "idempotency_key": uuid.uuid4().hex})
            started = time.monotonic()
            posted = web.post("/backtests/sweeps/new/", data=body)
            if posted.status_code != 302:
                errors = re.findall(r'class="errorlist[^"]*"[^>]*>(.*?)</ul>', posted.text, re.S)
                raise SystemExit(f"the sweep form was refused: HTTP {posted.status_code} {errors}")
            url = posted.headers["Location"]
            run = BacktestRun.objects.get(pk=int(re.search(r"/backtests/(\d+)/sweep/", url).group(1)))
            print(f"page: POST /backtests/sweeps/new/ → {url}: run {run.pk}, {run.params['sweep']['variants']:,} "
                  f"variants × {len(days)} days, {run.chunks_total} chunks", flush=True)
            shown = ""
            while True:
                time.sleep(2.0)
                partial = web.get(url, headers={"HX-Request": "true"})
                progress = re.search(r"(\d+)/(\d+) days \(([\d.]+)%\)", partial.text)
                line = f"  {progress.group(0)}" if progress else ""
                if line and line != shown:
                    print(f"{line} at {time.monotonic() - started:.0f} s", flush=True)
                    shown = line
                if partial.status_code == 286:
                    break
                run.refresh_from_db()
                if run.status in (BacktestRun.Status.FAILED, BacktestRun.Status.CANCELLED):
                    print(f"page: the sweep ended {run.status}: {run.error}")
                    return 1
            wall = time.monotonic() - started
            run.refresh_from_db()
            print(f"page: done in {wall:.1f} s from the POST to the page's last poll (run {run.status}, "
                  f"{run.metrics['variant_trades']:,} variant-trades, trades file {run.metrics['trades_file_sha256'][:16]}…)",
                  flush=True)
            t = time.monotonic()
            page = web.get(url)
            page_ms = (time.monotonic() - t) * 1000
            missing = [s for s in SECTIONS if f'id="{s}"' not in page.text]
            print(f"page: GET {url} → HTTP {page.status_code} in {page_ms:.0f} ms; sections "
                  f"{', '.join(s for s in SECTIONS if s not in missing)}" + (f"; MISSING {missing}" if missing else ""))
            print(f"  heatmap cells linking a variant: {page.text.count('data-variant=')}")
            print(f"  walk-forward out of sample: {_text(page.text, 'wf-oos-total')}")
            print(f"  deflated Sharpe ratio: {_text(page.text, 'dsr-value')}")
            print(f"  PBO: {_text(page.text, 'pbo-value')}")
            index = re.search(r'data-variant="(\d+)"', page.text)
            if index:
                t = time.monotonic()
                variant = web.get(f"{url}{index.group(1)}/")
                print(f"page: GET {url}{index.group(1)}/ (a variant's curve and trades) → HTTP {variant.status_code} "
                      f"in {(time.monotonic() - t) * 1000:.0f} ms")
            return 0 if page.status_code == 200 and not missing else 1
    finally:
        stop(procs)
        log.close()


if __name__ == "__main__":
    raise SystemExit(main())
