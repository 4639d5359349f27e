# The two commands of the README: `make dev` and `make test`. Everything else supports them.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.8
VENV := .venv
BIN := $(VENV)/bin
SEED_YEARS ?= 1
HOST ?= 127.0.0.1
PORT ?= 3000

export DATA_PLATFORM_HOME ?= $(CURDIR)/.data
export DAGSTER_HOME ?= $(DATA_PLATFORM_HOME)/dagster
export DO_NOT_TRACK := 1
# Dagster writes a range run's materializations in batches of this many on PostgreSQL storage
# (the production instance); SQLite writes them one at a time whatever it says.
export DAGSTER_EVENT_BATCH_SIZE ?= 500
# dg keeps its own telemetry switch in its user configuration file; in dagster-dg-cli 1.13 it
# reads the switch from there (and from $DAGSTER_HOME/dagster.yaml), not from [tool.dg.cli] in
# pyproject.toml. This one has it off.
export DG_CLI_CONFIG ?= $(CURDIR)/deploy/dg-cli.toml
# dg dev and its code servers find dbt and dagster in the project virtualenv, as if it were
# activated (dg warns when VIRTUAL_ENV is not the project's .venv).
export VIRTUAL_ENV := $(CURDIR)/$(VENV)
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: dev test install setup seed prepare bootstrap lint bench clean

## dev: set up everything and start Dagster (webserver + daemon) on http://$(HOST):$(PORT), with
## the shop simulator beside it (SIMULATE=0: without): new orders and web events in real time,
## which the web events sensor takes in every 30 s. The simulator's lines go to its log; it
## stops with dg dev (Ctrl-C stops both: the terminal signals the whole foreground group).
SIMULATE ?= 1
SIMULATE_RATE ?= 3
dev: install setup bootstrap
	@echo "Dagster UI: http://$(HOST):$(PORT)  (state folder: $(DATA_PLATFORM_HOME))"
	@mkdir -p "$(DATA_PLATFORM_HOME)/logs"; \
	if [ "$(SIMULATE)" = 1 ]; then \
	  $(BIN)/data-platform simulate --rate $(SIMULATE_RATE) >"$(DATA_PLATFORM_HOME)/logs/simulate.log" 2>&1 & \
	  simulator=$$!; trap 'kill $$simulator 2>/dev/null' EXIT; \
	  echo "simulate: $(SIMULATE_RATE) orders/min, log in $(DATA_PLATFORM_HOME)/logs/simulate.log"; \
	fi; \
	$(BIN)/dg dev -h $(HOST) -p $(PORT)

## test: the whole test suite (CI runs exactly this), on TEST_WORKERS processes (pytest-xdist,
## a module per worker at a time: the tests wait on runs, daemons and servers for about half of
## their time, so 3 fill 2 cores); TEST_WORKERS=0 runs it in this process
TEST_WORKERS ?= 3
test: install prepare
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

## install: the virtualenv, exactly as uv.lock pins it (TLS trusts the system's certificates,
## as pip does, for networks behind an inspecting proxy), with every module compiled to
## bytecode once: where PYTHONDONTWRITEBYTECODE is set (as on CI machines and in many
## containers) Python would otherwise compile about 3,400 modules again in every process,
## 5 s of each run, dbt invocation and test (bench/run_profile.py)
install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml uv.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	UV_PROJECT_ENVIRONMENT=$(VENV) UV_SYSTEM_CERTS=1 $(BIN)/uv sync --frozen --inexact --compile-bytecode
	touch $@

## setup: seed and prepare side by side: jafgen and dbt's parse each keep one core busy, and
## neither reads what the other writes (a fresh clone: 19 s against 31 s one after the other).
## Their lines interleave: an output sync would hold each one's progress until it ends.
setup: install
	@$(MAKE) --no-print-directory -j2 seed prepare

## seed: the demo sources (jafgen, SEED_YEARS years), unless the shop database has orders
seed: install
	$(BIN)/data-platform seed --years $(SEED_YEARS) --if-empty

## prepare: the dbt manifest and $$DAGSTER_HOME/dagster.yaml (from deploy/, DATA_PLATFORM_DAGSTER_CONFIG)
prepare: install
	$(BIN)/data-platform prepare

## bootstrap: the first full materialization, once, so the UI opens on built marts
bootstrap: install
	@if [ -f "$(DATA_PLATFORM_HOME)/.bootstrapped" ]; then echo "bootstrap: already done"; \
	elif $(BIN)/data-platform run; then touch "$(DATA_PLATFORM_HOME)/.bootstrapped"; \
	else echo "bootstrap: the first run failed; the UI shows why (Runs tab)"; fi

lint: install
	$(BIN)/ruff check data_platform tests bench
	$(BIN)/lint-imports

## bench: the full headless run on N years (BENCH_YEARS, default 1)
bench: install prepare
	$(BIN)/python bench/full_run.py --years $(or $(BENCH_YEARS),1)

clean:
	rm -rf $(DATA_PLATFORM_HOME) dbt_project/target dbt_project/logs
