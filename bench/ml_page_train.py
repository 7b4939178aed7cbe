"""Train the meta-labeler on a backtest run from the models page and from the command: same model?

Run from the repository root, on a data folder ``bench/bench_backtest.py`` filled (its SQLite
database, file-system broker and ``var/``):

    .venv/bin/python bench/ml_page_train.py --data DIR --run N [--port 8765]

1. Starts the real web server (gunicorn) and a real Celery worker on the ``backtests,ml`` queues
   over that folder, makes a staff login holding ``mlmodels.add_trainingrequest``, logs in over HTTP
   and POSTs the models page's training form (backtest run N, the default group), as a trader
   would; follows the request's progress until the worker is done; opens the model page.
2. Then ``manage.py train_model --run N`` in another process, on a copy of the database without
   the page's model and with its own model folder (else it would return the page's version without
   training): the same dataset and parameters must give the same model file (SHA-256).

Prints the timings, both model hashes and the model's out-of-sample result; exits non-zero if the
page's training failed or the two hashes differ.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_backtest import _setup  # noqa: E402  (the bench data folder's environment)
from bench.load import wait_http  # noqa: E402
from bench.page_session import csrf, login, servers, staff_user, stop  # noqa: E402

TRAINER_PERMISSION = "add_trainingrequest"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--run", type=int, required=True, help="backtest run id")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    _setup(args.data)
    os.environ.setdefault("ML_MODEL_DIR", str(args.data / "var" / "models"))

    import httpx

    from mlmodels.models import ModelVersion, TrainingRequest

    user, password = staff_user("bench-trainer", "mlmodels", TRAINER_PERMISSION)
    env = {**os.environ}
    log = open(args.data / "var" / "ml_page_train.log", "a")  # the server's and the worker's output
    procs = servers(port=args.port, queues="backtests,ml", workers=1, name="bench-ml", env=env, log=log)
    try:
        base = f"http://127.0.0.1:{args.port}"
        with httpx.Client(base_url=base, timeout=60.0, follow_redirects=False) as web:
            wait_http(f"{base}/health")
            login(web, user.username, password)
            page = web.get("/models/")
            before = set(TrainingRequest.objects.values_list("pk", flat=True))
            models_before = set(ModelVersion.objects.values_list("pk", flat=True))
            started = time.monotonic()
            posted = web.post("/models/", data={
                "csrfmiddlewaretoken": csrf(page.text), "source": "backtest", "run": str(args.run),
                "group": "spx-verticals", "idempotency_key": uuid.uuid4().hex})
            if posted.status_code != 302:
                raise SystemExit(f"the training form was refused: HTTP {posted.status_code}")
            req = TrainingRequest.objects.exclude(pk__in=before).get()
            print(f"page: POST /models/ → training request {req.pk} queued", flush=True)
            last = ""
            while req.status in (TrainingRequest.Status.PENDING, TrainingRequest.Status.RUNNING):
                time.sleep(2.0)
                req.refresh_from_db()
                line = f"  {req.status} {req.stage} {req.progress:.0%}"
                if line != last:
                    print(line, flush=True)
                    last = line
            page_s = time.monotonic() - started
            if req.model is None:
                print(f"page: training failed: {req.error}")
                return 1
            if req.model_id in models_before:
                print(f"page: model {req.model_id} existed already: the platform returned it without training "
                      "(the same dataset and parameters); use a fresh data folder to see the page train")
            detail = web.get(f"/models/{req.model_id}/")
            print(f"page: trained in {page_s:.0f} s (queue + worker), model {req.model_id} "
                  f"sha256 {req.model.model_sha256}; GET /models/{req.model_id}/ → HTTP {detail.status_code}", flush=True)
    finally:
        stop(procs)
        log.close()

    # The command on a copy of the database without the page's model (else it would return that
    # version without training) and with its own model folder: a second, independent training.
    started = time.monotonic()
    copy = Path(tempfile.mkdtemp(prefix="ml-page-train-"))
    shutil.copyfile(args.data / "bench.sqlite3", copy / "db.sqlite3")
    copy_env = {**env, "DATABASE_URL": f"sqlite:///{copy / 'db.sqlite3'}", "ML_MODEL_DIR": str(copy / "models")}
    forget = ("import django; django.setup(); from mlmodels.models import ModelVersion, TrainingRequest; "
              "TrainingRequest.objects.all().delete(); ModelVersion.objects.all().delete()")
    subprocess.run([sys.executable, "-c", forget], cwd=ROOT, env=copy_env, check=True, capture_output=True)
    out = subprocess.run([sys.executable, "manage.py", "train_model", "--run", str(args.run)], cwd=ROOT,
                         env=copy_env, check=True, capture_output=True, text=True).stdout
    with sqlite3.connect(copy / "db.sqlite3") as db:
        command_sha = db.execute("SELECT model_sha256 FROM mlmodels_modelversion").fetchone()[0]
    print(f"command: manage.py train_model --run {args.run} on a copy without the page's model: "
          f"{time.monotonic() - started:.0f} s, sha256 {command_sha}")
    print(out.rstrip())
    same = command_sha == req.model.model_sha256
    print("same model file (SHA-256) from the page and the command" if same else "DIFFERENT model files")
    return 0 if same else 1

if __name__ == "__main__":
    raise SystemExit(main())
