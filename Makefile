# llmopt: `make demo` runs the hourly optimization once on embedded defaults; `make test` runs every test.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --disable-pip-version-check -q -c constraints.txt

# No network: keep Prefect, MLflow and Great Expectations from phoning home.
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := true
export MLFLOW_DISABLE_TELEMETRY := true
export GX_ANALYTICS_ENABLED := false
export MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT := true
# The demo's Prefect runs live next to its other stores, so `make prefect-ui` shows them.
export PREFECT_HOME ?= $(CURDIR)/.llmopt/prefect

.PHONY: install install-test demo test test-fast bench bench-gateway bench-postgres bench-sources bench-week bench-decisions bench-loop mlflow-ui prefect-ui serve clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) -e ".[test]"
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

demo: install                      ## generate a synthetic hour if needed, run the flow once, print the results
	mkdir -p $(PREFECT_HOME)
	$(BIN)/llmopt demo

test: install-test                 ## the whole suite; fixtures start PostgreSQL, moto (S3), prefect and mlflow servers
	mkdir -p $(PREFECT_HOME)
	$(BIN)/pytest -q -rs

test-fast: install-test            ## unit tests that start no server and run no flow (~30 s)
	$(BIN)/pytest -q -m "not slow and not integration"

bench: install                     ## `llmopt run` on a 1M-row SQLite hour, an empty hour (local MLflow store, then an mlflow server), a 10M-row 24 h Parquet lake cold and warm (~6 min)
	$(BIN)/llmopt bench scale --rows 1000000 --hours 1 --format sqlite
	$(BIN)/llmopt bench scale --rows 0 --hours 1 --format sqlite
	$(BIN)/python -c "import pathlib, subprocess, sys, tempfile; from tests.services import start_mlflow_server; \
	  url, stop = start_mlflow_server(pathlib.Path(tempfile.mkdtemp(prefix='llmopt-bench-mlflow-'))); \
	  code = subprocess.call(['$(BIN)/llmopt', 'bench', 'scale', '--rows', '0', '--hours', '1', '--format', 'sqlite', \
	  '--set', 'mlflow_tracking_uri=' + url]); stop(); sys.exit(code)"
	$(BIN)/llmopt bench scale --rows 10000000 --hours 24 --format parquet

bench-gateway: install-test        ## the loop on the real LiteLLM proxy, longer: 600 calls per task per cycle, up to 12 cycles
	mkdir -p $(PREFECT_HOME)
	LLMOPT_LOOP_CALLS_PER_TASK=600 LLMOPT_LOOP_MAX_CYCLES=12 $(BIN)/pytest -q -s tests/gateways/test_proxy_loop.py

bench-postgres: install-test       ## the 1M-row hour on a throwaway PostgreSQL server (its binaries: see .ci/run)
	$(BIN)/python -c "import subprocess, sys; from tests.services import start_postgres; url, stop = start_postgres(); \
	  code = subprocess.call(['$(BIN)/llmopt', 'bench', 'scale', '--rows', '1000000', '--hours', '1', \
	  '--format', 'postgres', '--set', 'database_url=' + url]); stop(); sys.exit(code)"

bench-sources: install             ## read + map rows/s of the LiteLLM, Langfuse and OpenTelemetry sources on generated logs
	$(BIN)/llmopt bench sources --format litellm --rows 100000
	$(BIN)/llmopt bench sources --format langfuse --rows 1000000
	$(BIN)/llmopt bench sources --format otel --rows 1000000

bench-week: install                ## 100M rows over a week of Parquet, cold and warm (~25 min)
	$(BIN)/llmopt bench scale --rows 100000000 --hours 168 --format parquet

bench-decisions: install           ## decision quality: the flow's calls in simulated worlds, a day of history each, vs an oracle
	mkdir -p $(PREFECT_HOME)
	$(BIN)/llmopt bench decisions --seeds 3 --history-hours 24

bench-loop: install                ## closed loop from zero exploration: 7 simulated days of clear-win, 2 of a null world
	mkdir -p $(PREFECT_HOME)
	$(BIN)/llmopt bench loop --world clear-win --hours 168
	$(BIN)/llmopt bench loop --world none-good-enough --hours 48

mlflow-ui: install                 ## MLflow UI on the demo's local store
	$(BIN)/mlflow ui --backend-store-uri sqlite:///.llmopt/mlflow.db --port 5000

prefect-ui: install                ## Prefect UI/API on the demo's PREFECT_HOME
	$(BIN)/prefect server start --host 127.0.0.1 --port 4200

serve: install                     ## run the flow every hour in this process; needs a Prefect API (make prefect-ui)
	PREFECT_API_URL=$${PREFECT_API_URL:-http://127.0.0.1:4200/api} $(BIN)/llmopt serve

clean:
	rm -rf .llmopt
