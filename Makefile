# One entry point for people and CI. Each target sets up what it needs first, and only once
# (stamp files record what is installed; editing pyproject.toml, a requirements file or a lock
# file redoes it). Every install is pinned by a lock file (requirements.lock for .venv,
# deploy/requirements-*.lock for the tool venvs), so a fresh machine gets the versions the suite
# passed with; `make lock` re-resolves them (see README, "Reproducible installs").
# A failed install stops make: pip's exit status is never hidden.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3.11
VENV := .venv
PIP_QUIET := -q --disable-pip-version-check
# pyenv's pip config names extra index folders that do not exist here; its warnings are noise.
PIP_NOISE := grep -v "^WARNING: Location" >&2 || true
export KEDRO_DISABLE_TELEMETRY := 1
# The set-up targets are independent of one another (three venvs and Debian's chromium) and
# mostly wait on downloads and unpacking: make builds them side by side (pip runs quiet, so
# little interleaves; output is not synchronised, so `make run` and `make test` stream as they
# go). `make -j1 ...` builds one at a time.
MAKEFLAGS += --jobs=4
export DO_NOT_TRACK := 1

.PHONY: run test setup setup-test bench viz lock

# The local platform: the project, its runtime dependencies and the `local` extra (DuckDB
# warehouse, report, Metabase, kedro-viz). The AWS image installs the runtime set only.
$(VENV)/.runtime: pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (RetailOps needs Python 3.11+)"; exit 1; }
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_QUIET) -c requirements.lock -e '.[local]' 2> >($(PIP_NOISE))
	@$(VENV)/bin/python -c "import retailops, kedro, dbt.cli.main, duckdb, plotly" && touch $@

# Test tools in the same venv.
$(VENV)/.test: $(VENV)/.runtime pyproject.toml requirements.lock
	$(VENV)/bin/pip install $(PIP_QUIET) -c requirements.lock -e '.[local,test]' 2> >($(PIP_NOISE))
	@$(VENV)/bin/python -c "import pytest, xdist, moto, nbclient, hypothesis" && touch $@

# Tools whose pins clash with the runtime live in venvs of their own (see deploy/requirements-*.txt).
.venv-lint/.installed: deploy/requirements-lint.txt deploy/requirements-lint.lock
	@test -x .venv-lint/bin/python || $(PYTHON) -m venv .venv-lint
	.venv-lint/bin/pip install $(PIP_QUIET) -c deploy/requirements-lint.lock -r $< 2> >($(PIP_NOISE))
	@.venv-lint/bin/checkov --version >/dev/null && touch $@

.venv-moto/.installed: deploy/requirements-moto.txt deploy/requirements-moto.lock
	@test -x .venv-moto/bin/python || $(PYTHON) -m venv .venv-moto
	.venv-moto/bin/pip install $(PIP_QUIET) -c deploy/requirements-moto.lock -r $< 2> >($(PIP_NOISE))
	@.venv-moto/bin/python -c "import moto.server" && touch $@

# Headless Chromium (Debian's package) for the browser tests.
.chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi; }
	@chromium --version

setup: $(VENV)/.runtime
setup-test: $(VENV)/.test .venv-lint/.installed .venv-moto/.installed .chromium

run: setup
	$(VENV)/bin/kedro run

test: setup-test
	$(VENV)/bin/python -m pytest -n 2 --dist loadgroup

viz: setup
	$(VENV)/bin/kedro viz run

bench: setup-test
	$(VENV)/bin/python benchmarks/bench_ingest.py

# Re-resolve every lock file from the unpinned requirements, each in a throwaway venv, then
# review `git diff *.lock` and run `make test` before committing.
lock:
	bash deploy/lock.sh
