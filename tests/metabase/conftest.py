"""Fixtures: a fresh stand-in Metabase per test, the shipped spec, the local connection."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from retailops.dashboards.metabase import DatabaseConnection, MetabaseClient

from .standin import StandInServer

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = PROJECT_ROOT / "conf/base/metabase/dashboards.yml"
API_KEY = "test-api-key"


@pytest.fixture
def standin():
    """A stand-in Metabase on a free local port, empty, with one API key and one user."""
    with StandInServer(api_key=API_KEY, users={"admin@example.com": "s3cret"}) as server:
        yield server


@pytest.fixture
def raw_spec() -> dict[str, Any]:
    """The shipped spec as YAML data (a deep copy tests may edit)."""
    return copy.deepcopy(yaml.safe_load(SPEC_PATH.read_text()))


@pytest.fixture
def connection() -> DatabaseConnection:
    return DatabaseConnection(name="RetailOps warehouse (DuckDB)", engine="duckdb",
                              details={"database_file": "/data/retailops.duckdb", "read_only": True},
                              marts_schema="marts")


@pytest.fixture
def client(standin) -> MetabaseClient:
    return MetabaseClient(standin.url, api_key=API_KEY, timeout_seconds=5)
