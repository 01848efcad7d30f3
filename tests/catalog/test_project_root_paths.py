"""Every catalog path resolves against the project root, whatever the working directory.

A notebook kernel runs in ``notebooks/``; ``kedro run`` runs at the root. With the repository's
own relative conf (``lake_root: data/lake``) both must reach the same lake, warehouse and reports.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.catalog.conftest import session_in

# Dataset-factory entries (``fct_{name}``, ...) resolve per model: one model of each pattern.
PATTERN_SAMPLES = ("base_sales", "stg_sales", "dim_products", "fct_daily_sales",
                   "mart_supplier_performance")


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def _described_paths(session) -> dict[str, list[str]]:
    """Every local path each dataset describes (its repr): URLs and plain words left out."""
    catalog = session.load_context().catalog
    names = [n for n in catalog.keys() if not n.startswith("params:") and n != "parameters"]
    paths = {}
    for name in [*names, *PATTERN_SAMPLES]:
        dataset = catalog.get(name)
        described = _strings(dataset._describe())
        paths[name] = [s for s in described if "/" in s and "://" not in s]
    return paths


@pytest.fixture
def project(tmp_path):
    from tests.catalog.project import relative_project

    return relative_project(tmp_path / "project")


def test_every_catalog_path_is_under_the_project_root_from_notebooks(project: Path):
    with session_in(project, project / "notebooks") as session:
        paths = _described_paths(session)
    assert paths["lake"] and paths["raw_days"] and paths["raw_sales"] and paths["run_report"]
    outside = {name: [p for p in found if not p.startswith(f"{project}/")]
               for name, found in paths.items()}
    assert {name: found for name, found in outside.items() if found} == {}
    assert f"{project}/data/lake" in paths["lake"]
    assert f"{project}/data/lake/raw/sales" in paths["raw_sales"]


def test_notebooks_and_the_project_root_see_the_same_catalog(project: Path):
    with session_in(project, project) as session:
        from_root = _described_paths(session)
    with session_in(project, project / "notebooks") as session:
        from_notebooks = _described_paths(session)
    assert from_notebooks == from_root


def test_a_notebook_finds_the_run_report_the_root_run_wrote(project: Path):
    """The issue's reproduction: the report sits at <project>/data/lake/metadata/runs/..."""
    report = project / "data/lake/metadata/runs/validation/latest.json"
    report.parent.mkdir(parents=True)
    report.write_text(json.dumps({"ok": True, "window": {"first": "2024-07-01",
                                                         "last": "2024-07-03"}}))
    with session_in(project, project / "notebooks") as session:
        loaded = session.load_context().catalog.load("run_report")
    assert loaded["window"]["last"] == "2024-07-03"
    assert not (project / "notebooks" / "data").exists()


def test_location_globals_are_anchored_wherever_they_are_used(project: Path):
    """Globals reach datasets under keys Kedro does not anchor itself (a serving dataset's
    ``warehouse_path``) and parameters (Metabase's ``database_file``)."""
    with session_in(project, project / "notebooks") as session:
        context = session.load_context()
        globals_ = context.config_loader["globals"]
        params = context.params
    assert globals_["lake_root"] == f"{project}/data/lake"
    assert globals_["warehouse_path"] == f"{project}/data/warehouse/retailops.duckdb"
    assert globals_["reports_dir"] == f"{project}/data/reports"
    duckdb_files = [s for s in _strings(params) if s.endswith(".duckdb")]
    assert duckdb_files and all(s.startswith(f"{project}/data/") for s in duckdb_files)


def test_urls_and_absolute_locations_are_left_as_they_are(tmp_path: Path):
    from retailops.project_paths import anchor_locations

    values = {"lake_root": "s3://bucket", "warehouse_path": "/srv/w.duckdb",
              "reports_dir": "data/reports", "seed": "data/not-a-location",
              "nested": {"out_dir": "out"}}
    assert anchor_locations(values, tmp_path) == {
        "lake_root": "s3://bucket", "warehouse_path": "/srv/w.duckdb",
        "reports_dir": f"{tmp_path}/data/reports", "seed": "data/not-a-location",
        "nested": {"out_dir": f"{tmp_path}/out"}}
