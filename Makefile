# SPX Tools: `make run` starts the platform (embedded: SQLite, file broker, simulated market);
# `make test` runs the whole test suite. Both create the virtualenv and install on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: venv run test test-fast lint bench bench-backtest bench-sweep bench-load clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

venv: $(VENV)/.installed

run: venv
	PORT=$(PORT) $(PY) -m spx_site.run

# Tests run in parallel, one process per core (TEST_WORKERS=0: one process); the tests that start Celery
# workers or beat (marker e2e) share a broker, so they run one after another in one xdist group.
TEST_WORKERS ?= auto
test: venv
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# Who may import whom (.importlinter), types (mypy.ini: strict on the decision core and the engine), pyflakes.
lint: venv
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy snapshots strategy execution backtests mlmodels spx_site
	$(VENV)/bin/ruff check .

test-fast: venv
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup -m "not e2e" $(PYTEST_ARGS)

bench: venv
	$(PY) bench/run.py

# A year of simulated OPRA data (~30 GB under var/bench-backtest, made once, ~40 min), then the
# month and year × 36-config backtests with 1 and 2 Celery workers.
bench-backtest: venv
	$(PY) bench/bench_backtest.py --generate

# Parameter sweeps on the same year: 1,296 and 12,960 variants, 1 and 2 workers (bench/README.md "Sweeps").
bench-sweep: venv
	$(PY) bench/bench_sweep.py

# Load test: a year of seeded rows in a throwaway PostgreSQL, gunicorn, locust at 20 users (bench/README.md "Load").
bench-load: venv
	$(PY) bench/load.py

clean:
	rm -rf var
