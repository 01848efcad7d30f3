# One entry point for people and CI. Each target sets up what it needs first, and only once
# (stamp files record what is installed; editing pyproject.toml or a requirements file redoes it).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PIP_QUIET := -q --disable-pip-version-check
export KEDRO_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := 1

.PHONY: run test setup setup-test bench viz

# The runtime: the project and its dependencies.
$(VENV)/.runtime: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (RetailOps needs Python 3.11+)"; exit 1; }
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_QUIET) -e . 2>&1 | grep -v "^WARNING: Location" || true
	@$(VENV)/bin/python -c "import retailops, kedro, dbt.cli.main" && touch $@

# Test tools in the same venv.
$(VENV)/.test: $(VENV)/.runtime pyproject.toml
	$(VENV)/bin/pip install $(PIP_QUIET) -e '.[test]' 2>&1 | grep -v "^WARNING: Location" || true
	@$(VENV)/bin/python -c "import pytest, moto, nbclient" && touch $@

# Tools whose pins clash with the runtime live in venvs of their own (see deploy/requirements-*.txt).
.venv-lint/.installed: deploy/requirements-lint.txt
	@test -x .venv-lint/bin/python || $(PYTHON) -m venv .venv-lint
	.venv-lint/bin/pip install $(PIP_QUIET) -r $< 2>&1 | grep -v "^WARNING: Location" || true
	@.venv-lint/bin/checkov --version >/dev/null && touch $@

.venv-moto/.installed: deploy/requirements-moto.txt
	@test -x .venv-moto/bin/python || $(PYTHON) -m venv .venv-moto
	.venv-moto/bin/pip install $(PIP_QUIET) -r $< 2>&1 | grep -v "^WARNING: Location" || true
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
	$(VENV)/bin/python -m pytest

viz: setup
	$(VENV)/bin/kedro viz run

bench: setup-test
	$(VENV)/bin/python benchmarks/bench_ingest.py
