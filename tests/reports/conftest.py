"""Fixtures for the report tests: the session's small platform and its warehouse."""

from __future__ import annotations

import json

import duckdb
import pandas as pd
import pytest

from retailops.warehouse.engines import DuckDBWarehouse
from tests.platform_fixture import Platform, built_platform


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Platform:
    return built_platform(tmp_path_factory)


@pytest.fixture(scope="session")
def warehouse(platform: Platform) -> DuckDBWarehouse:
    return DuckDBWarehouse(path=str(platform.warehouse))


@pytest.fixture(scope="session")
def run_report(platform: Platform) -> dict:
    return json.loads((platform.lake / "metadata/runs/validation/latest.json").read_text())


@pytest.fixture(scope="session")
def marts(platform: Platform) -> dict[str, pd.DataFrame]:
    """Every mart and the defect ledger as whole pandas frames (the independent side)."""
    names = ["fct_daily_sales", "fct_inventory_snapshots", "dim_products", "dim_stores",
             "mart_supplier_performance"]
    with duckdb.connect(str(platform.warehouse), read_only=True) as con:
        frames = {name: con.execute(f"select * from marts.{name}").df() for name in names}
        frames["stg_defects"] = con.execute("select * from staging.stg_defects").df()
    for frame, column in (("fct_daily_sales", "sale_date"),
                          ("fct_inventory_snapshots", "snapshot_date")):
        frames[frame][column] = pd.to_datetime(frames[frame][column]).dt.date
    return frames
