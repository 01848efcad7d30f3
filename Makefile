# One entry point for people and CI. Each target sets up what it needs first.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
export KEDRO_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := 1

.PHONY: run test setup setup-test bench clean-data

$(VENV)/.runtime: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found"; exit 1; }
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -e . 2>&1 | grep -v "^WARNING: Location" || true
	@$(VENV)/bin/python -c "import retailops, kedro, dbt" && touch $@

$(VENV)/.test: $(VENV)/.runtime pyproject.toml
	$(VENV)/bin/pip install -q --disable-pip-version-check -e '.[test]' 2>&1 | grep -v "^WARNING: Location" || true
	@$(VENV)/bin/python -c "import pytest, moto" && touch $@

setup: $(VENV)/.runtime
setup-test: $(VENV)/.test

run: setup
	$(VENV)/bin/kedro run

test: setup-test
	$(VENV)/bin/python -m pytest

bench: setup-test
	$(VENV)/bin/python benchmarks/run_all.py
