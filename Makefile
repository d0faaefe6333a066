# Two commands a newcomer needs: `make demo` and `make test`. Everything runs inside .venv.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
C360 := $(abspath $(VENV)/bin/c360)
WORKSPACE ?= demo-workspace
CUSTOMERS ?= 5000
SEED ?= 42
SERVE ?= 1
PORT ?= 8000
STAMP := $(VENV)/.installed

.PHONY: help venv demo test test-fast bench lint clean mlflow-ui

help:
	@echo "make demo   - fresh environment, demo data ($(CUSTOMERS) customers), the whole pipeline, every model trained and scored,"
	@echo "              then the HTTP API in the foreground on port $(PORT) (SERVE=0 skips serving)"
	@echo "make test   - the full test suite (unit, Ray, Azure stand-ins, end-to-end)"
	@echo "make bench  - benchmarks; figures printed as tables"
	@echo "make lint   - ruff"
	@echo "make mlflow-ui - the MLflow UI on the workspace's models (MLFLOW_STORE=postgresql+psycopg://... for PostgreSQL)"

$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (c360 needs Python 3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip==26.3
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(C360) init $(WORKSPACE) --force
	cd $(WORKSPACE) && $(C360) demo-data --customers $(CUSTOMERS) --seed $(SEED)
	cd $(WORKSPACE) && $(C360) run
	cd $(WORKSPACE) && $(C360) train all --config $(abspath training/configs)
	cd $(WORKSPACE) && $(C360) score
	@if [ "$(SERVE)" = "1" ]; then \
		cd $(WORKSPACE) && exec $(C360) serve --port $(PORT) --app-dir $(CURDIR) --create-key; \
	else echo "SERVE=0: not serving; start it with: cd $(WORKSPACE) && $(C360) serve --app-dir $(CURDIR)"; fi

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest -q -n 2 --dist loadgroup

test-fast: $(STAMP)
	$(VENV)/bin/pytest -q -m "not slow"

bench: $(STAMP)
	$(PY) -m c360.bench all

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The MLflow UI in its own venv: full mlflow does not resolve with the lock (requirements-mlflow-ui.txt says why).
UI_VENV := .venv-mlflow-ui
MLFLOW_STORE ?= sqlite:///$(abspath $(WORKSPACE))/data/mlflow.db
MLFLOW_PORT ?= 5000

$(UI_VENV)/.installed: requirements-mlflow-ui.txt
	test -x $(UI_VENV)/bin/python || $(PYTHON) -m venv $(UI_VENV)
	$(UI_VENV)/bin/python -m pip install --quiet -r requirements-mlflow-ui.txt
	$(UI_VENV)/bin/python -m pip install --quiet --no-deps mlflow==3.18.0
	@touch $@

# Without its GenAI job runners (eight huey processes, left running when the UI stops).
mlflow-ui: $(UI_VENV)/.installed
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(UI_VENV)/bin/mlflow ui --backend-store-uri '$(MLFLOW_STORE)' --host 127.0.0.1 --port $(MLFLOW_PORT) --workers 1

clean:
	rm -rf $(VENV) $(WORKSPACE) .pytest_cache
