"""Fixtures for the dbt project's tests: a simulated lake, and dbt run in-process.

dbt really builds on a real DuckDB file over CSVs landed by the real simulation; one build per
test module (module-scoped fixtures), because a dbt parse costs seconds on two cores.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from dbt_harness import land_lake


@pytest.fixture(scope="session")
def landed_lake_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five simulated days (2024-07-01..05) at a small scale, landed once per session."""
    return land_lake(tmp_path_factory.mktemp("lake_template") / "lake", date(2024, 7, 5))


@pytest.fixture(scope="module")
def module_lake(landed_lake_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the landed lake, which a module may change."""
    target = tmp_path_factory.mktemp("lake") / "lake"
    shutil.copytree(landed_lake_template, target)
    return target
