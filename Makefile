# SPX Tools: `make run` starts the platform (embedded: SQLite, file broker, simulated market);
# `make test` runs the whole test suite. Both create the virtualenv and install on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: venv run test test-fast bench clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

venv: $(VENV)/.installed

run: venv
	PORT=$(PORT) $(PY) -m spx_site.run

test: venv
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-fast: venv
	$(PY) -m pytest -q -m "not e2e" $(PYTEST_ARGS)

bench: venv
	$(PY) bench/run.py

clean:
	rm -rf var
