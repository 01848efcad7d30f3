"""The transform stage converges: whatever ran before, the marts equal one clean full build.

The transform pipeline runs in-process (Kedro's runner over the real catalog datasets, dbt
building a real DuckDB file) over a tiny simulated lake of six days. Each scenario ends with a
frame-for-frame comparison of every mart, read back from the curated Parquet zone, with a clean
full build of the same raw zone in another folder.
"""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from dbt_harness import land_lake
from kedro.io import AbstractDataset

from retailops.errors import CorruptPartitionError
from retailops.lake.partitions import commit_partition
from retailops.lake.storage import Lake
from retailops.simulation import RAW_COLUMNS

DAYS = [f"2024-07-0{d}" for d in range(1, 7)]
RUN_DATE = DAYS[-1]
SCALE = 0.02
MART_KEYS = {
    "dim_date": ["date_day"],
    "dim_products": ["product_id"],
    "dim_stores": ["store_id"],
    "fct_daily_sales": ["sale_date", "store_id", "product_id"],
    "fct_inventory_snapshots": ["snapshot_date", "store_id", "product_id"],
    "mart_supplier_performance": ["supplier_id"],
}
FACT_DATE = {"fct_daily_sales": "sale_date", "fct_inventory_snapshots": "snapshot_date"}


@pytest.fixture(autouse=True)
def private_dbt_target(tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> None:
    """dbt's target/ and logs/ away from the shared project folder."""
    folder = tmp_path_factory.getbasetemp() / "rebuilds_dbt_target"
    monkeypatch.setenv("DBT_TARGET_PATH", str(folder))
    monkeypatch.setenv("DBT_LOG_PATH", str(folder / "logs"))


@pytest.fixture(scope="module")
def six_days(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A raw zone of 2024-07-01..06 (what ingest of days 1-5 plus the daily run of day 6 land)."""
    return land_lake(tmp_path_factory.mktemp("six_days") / "lake", date(2024, 7, 6), scale=SCALE)


def copy_raw_zone(lake: Path, target: Path) -> Path:
    """The raw zone and the metadata dbt reads, without any curated output."""
    for part in ("raw", "metadata/manifests", "metadata/defects"):
        shutil.copytree(lake / part, target / part)
    return target


class Kept(AbstractDataset):
    """A dataset that keeps what the run saved (Kedro releases memory datasets it no longer
    needs), so the test can read the build summary afterwards."""

    def __init__(self) -> None:
        self.data = None

    def save(self, data) -> None:  # noqa: ANN001
        self.data = data

    def load(self):  # noqa: ANN201
        return self.data

    def _describe(self) -> dict:
        return {}


def project_entries(lake: Path, warehouse: Path) -> dict:
    """The project's own catalog entries for the transform's inputs, pointed at this lake."""
    import yaml

    from tests.conftest import PROJECT_ROOT

    entries = {}
    for name in ("catalog.yml", "catalog_warehouse.yml"):
        text = (PROJECT_ROOT / "conf" / "base" / name).read_text()
        text = text.replace("${globals:lake_root}", str(lake))
        text = text.replace("${globals:warehouse_path}", str(warehouse))
        entries.update(yaml.safe_load(text))
    return {k: entries[k] for k in ("lake", "raw_days", "raw_dimensions", "warehouse")}


def transform(lake: Path, warehouse: Path, run_date: str | None) -> dict:
    """The transform pipeline, run by Kedro's runner over the project's own datasets."""
    from kedro.io import DataCatalog, MemoryDataset
    from kedro.runner import SequentialRunner

    from retailops.pipelines.transform import create_pipeline

    dbt_params = {"target": "duckdb", "full_refresh": False, "daily_selector": "daily"}
    catalog = DataCatalog.from_config(project_entries(lake, warehouse))
    for name, value in {"params:run_date": run_date, "params:dbt": dbt_params,
                        "params:calendar_years_ahead": 1}.items():
        catalog[name] = MemoryDataset(value)
    catalog["dbt_build_summary"] = Kept()
    SequentialRunner().run(create_pipeline(), catalog)
    return catalog.load("dbt_build_summary")


def curated_marts(lake: Path) -> dict[str, pd.DataFrame]:
    """Every mart as published in the curated zone, sorted by its key."""
    frames = {}
    for model, keys in MART_KEYS.items():
        folder = lake / "curated" / model
        if model in FACT_DATE:
            sql = (f"select * replace (cast({FACT_DATE[model]} as date) as {FACT_DATE[model]}) "
                   f"from read_parquet('{folder}/*/*.parquet', hive_partitioning=true)")
        else:
            sql = f"select * from read_parquet('{folder}/*.parquet')"
        frame = duckdb.sql(sql).df()
        frames[model] = frame[sorted(frame.columns)].sort_values(keys).reset_index(drop=True)
    return frames


def warehouse_tables(warehouse: Path) -> dict[str, pd.DataFrame]:
    """The fact marts and base tables as the warehouse holds them, sorted."""
    keys = {**{f"marts.{m}": k for m, k in MART_KEYS.items()},
            "staging.base_sales": ["sale_id"],
            "staging.base_inventory": ["snapshot_date", "store_id", "product_id"],
            "staging.base_shipments": ["shipment_id", "line_number", "dt"],
            # A table on DuckDB, rebuilt for the run's days only: sorted by every column.
            "staging.stg_defects": None}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        frames = {name: con.execute(f"select * from {name}").df() for name in keys}
    return {name: frame.sort_values(keys[name] or list(frame.columns)).reset_index(drop=True)
            for name, frame in frames.items()}


def assert_same_frames(actual: dict[str, pd.DataFrame], expected: dict[str, pd.DataFrame]) -> None:
    assert set(actual) == set(expected)
    for name in expected:
        pd.testing.assert_frame_equal(actual[name], expected[name], check_exact=False,
                                      rtol=1e-9, obj=name)


def full_build(lake: Path, tmp: Path) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """A clean full build (no run date, empty warehouse) of a copy of the lake's raw zone."""
    clean = copy_raw_zone(lake, tmp / "clean_lake")
    warehouse = tmp / "clean_warehouse" / "retailops.duckdb"
    summary = transform(clean, warehouse, None)
    assert summary["success"], summary["failed_tests"] + summary["failed_models"]
    return curated_marts(clean), warehouse_tables(warehouse)


@pytest.fixture(scope="module")
def reference(six_days: Path, tmp_path_factory: pytest.TempPathFactory):
    return full_build(six_days, tmp_path_factory.mktemp("reference"))


@pytest.fixture(scope="module")
def daily_lake(six_days: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """History landed by ingest alone (no warehouse yet), then the first daily run."""
    tmp = tmp_path_factory.mktemp("daily")
    lake = copy_raw_zone(six_days, tmp / "lake")
    warehouse = tmp / "warehouse" / "retailops.duckdb"
    summary = transform(lake, warehouse, RUN_DATE)
    assert summary["success"], summary["failed_tests"] + summary["failed_models"]
    return lake, warehouse


def sale_days(lake: Path) -> list[str]:
    folder = lake / "curated" / "fct_daily_sales"
    return sorted(p.name.split("=", 1)[1] for p in folder.iterdir() if p.is_dir())


def reland(lake: Path, table: str, day: str, keep) -> None:
    """Re-land a partition with different bytes, under the commit protocol (new manifest)."""
    path = lake / "raw" / table / f"dt={day}" / f"{table}.csv"
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    kept = [row for index, row in enumerate(rows) if keep(index, row)]
    assert 0 < len(kept) < len(rows)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), quoting=csv.QUOTE_NONNUMERIC,
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(kept)
    commit_partition(Lake(str(lake)), table, date.fromisoformat(day), out.getvalue().encode(),
                     len(kept), RAW_COLUMNS[table], "test-reland", overwrite=True)


# --- The first daily run on a lake without a warehouse --------------------------------------

def test_first_daily_run_on_a_lake_without_warehouse_builds_every_landed_day(
        daily_lake, reference) -> None:
    lake, warehouse = daily_lake
    assert sale_days(lake) == DAYS
    assert_same_frames(curated_marts(lake), reference[0])
    assert_same_frames(warehouse_tables(warehouse), reference[1])


def test_rerunning_the_day_changes_nothing(daily_lake, reference) -> None:
    lake, warehouse = daily_lake
    summary = transform(lake, warehouse, RUN_DATE)
    assert summary["success"] and summary["selector"] == "daily"
    assert_same_frames(curated_marts(lake), reference[0])
    assert_same_frames(warehouse_tables(warehouse), reference[1])


# --- Re-landed and removed partitions reach the marts ---------------------------------------

def test_relanded_and_removed_past_days_reach_the_base_tables_and_the_marts(
        daily_lake, tmp_path_factory) -> None:
    lake, warehouse = daily_lake
    # A past day re-landed with other bytes: fewer sale lines and inventory counts. Rows the
    # defect ledger names stay, so the data tests still hold.
    reland(lake, "sales", "2024-07-03", lambda i, row: i % 7 != 3 or row["discount_pct"] == "")
    reland(lake, "inventory", "2024-07-03",
           lambda i, row: i % 5 != 1 or row["quantity_on_hand"].startswith("-"))
    # Another past day removed from the lake (its manifests gone: no longer complete).
    for table in ("sales", "inventory", "shipments"):
        shutil.rmtree(lake / "metadata" / "manifests" / table / "dt=2024-07-02")
    before = curated_marts(lake)["fct_daily_sales"]
    summary = transform(lake, warehouse, RUN_DATE)
    assert summary["success"] and summary["selector"] == "daily"
    assert summary["rebuild_days"] == ["2024-07-02", "2024-07-03", RUN_DATE]
    assert sale_days(lake) == [d for d in DAYS if d != "2024-07-02"]
    after = curated_marts(lake)
    assert not after["fct_daily_sales"].equals(before)
    expected = full_build(lake, tmp_path_factory.mktemp("after_changes"))
    assert_same_frames(after, expected[0])
    assert_same_frames(warehouse_tables(warehouse), expected[1])
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from staging.base_sales "
                           "where dt = '2024-07-02'").fetchall() == [(0,)]
    CHANGED_REFERENCE["after_changes"] = expected


CHANGED_REFERENCE: dict[str, tuple] = {}


def test_deleting_the_warehouse_rebuilds_every_day(daily_lake) -> None:
    lake, warehouse = daily_lake
    expected = CHANGED_REFERENCE.get("after_changes")
    if expected is None:
        pytest.skip("needs the scenario above (same module, same lake)")
    warehouse.unlink()
    summary = transform(lake, warehouse, RUN_DATE)
    assert summary["success"] and summary["selector"] is None  # a plain full build
    assert summary["rebuild_days"] is None
    assert_same_frames(curated_marts(lake), expected[0])
    assert_same_frames(warehouse_tables(warehouse), expected[1])


# --- What a daily run verifies ---------------------------------------------------------------

@pytest.fixture
def built_copy(daily_lake, tmp_path) -> tuple[Path, Path]:
    """A private copy of the daily lake and its warehouse (the checks below damage files)."""
    lake, warehouse = daily_lake
    shutil.copytree(lake, tmp_path / "lake")
    (tmp_path / "warehouse").mkdir()
    shutil.copy(warehouse, tmp_path / "warehouse" / "retailops.duckdb")
    return tmp_path / "lake", tmp_path / "warehouse" / "retailops.duckdb"


def test_a_changed_partition_whose_bytes_do_not_match_fails_naming_it(built_copy) -> None:
    lake, warehouse = built_copy
    reland(lake, "sales", "2024-07-04", lambda i, row: i != 5)
    path = lake / "raw" / "sales" / "dt=2024-07-04" / "sales.csv"
    data = bytearray(path.read_bytes())
    data[-3] = ord("9") if data[-3] != ord("9") else ord("8")  # same size, other bytes
    path.write_bytes(bytes(data))
    with pytest.raises(Exception) as failure:
        transform(lake, warehouse, RUN_DATE)
    assert f"partition {path} does not match its manifest (sha256)" in str(failure.value)


def test_a_truncated_history_partition_fails_the_daily_run_naming_it(built_copy) -> None:
    lake, warehouse = built_copy
    path = lake / "raw" / "inventory" / "dt=2024-07-01" / "inventory.csv"
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(Exception) as failure:
        transform(lake, warehouse, RUN_DATE)
    assert str(path) in str(failure.value)
    assert isinstance(failure.value, CorruptPartitionError) or "CorruptPartitionError" in repr(
        failure.value)


def test_a_daily_run_hashes_only_the_day_and_changed_partitions(built_copy) -> None:
    from kedro.io import DataCatalog

    from retailops.pipelines.transform.nodes import plan_rebuild, verify_raw_partitions
    from retailops.warehouse.engines import DuckDBWarehouse

    lake, warehouse = built_copy
    reland(lake, "sales", "2024-07-05", lambda i, row: i != 2)
    handle = Lake(str(lake))
    raw_days = DataCatalog.from_config(project_entries(lake, warehouse)).load("raw_days")
    plan = plan_rebuild(handle, raw_days, {}, DuckDBWarehouse(str(warehouse)), RUN_DATE,
                        {"full_refresh": False})
    assert plan["full"] is False
    assert plan["days"] == ["2024-07-05", RUN_DATE] and plan["changed"] == ["2024-07-05"]
    checked = verify_raw_partitions(handle, raw_days, plan)
    hashed = {t: sum(d.isoformat() in plan["days"] for d in days) for t, days in raw_days.items()}
    assert checked["sha256"] == hashed and checked["sha256"]["sales"] == 2
    assert checked["size"] == {t: len(days) - hashed[t] for t, days in raw_days.items()}


def test_a_relanded_plan_is_rebuilt_and_a_damaged_one_stops_the_transform(built_copy) -> None:
    """The promotion plan's Monday partitions go through the same plan and verification as
    the facts: a new publication puts its Monday in the rebuild (and is hashed), a file that
    no longer matches its manifest is named before dbt reads it; the other days need none."""
    from kedro.io import DataCatalog

    from retailops.pipelines.transform.nodes import plan_rebuild, verify_raw_partitions
    from retailops.warehouse.engines import DuckDBWarehouse

    lake, warehouse = built_copy
    plan_file = lake / "raw/promotions/dt=2024-07-01/promotions.csv"
    lines = plan_file.read_text().splitlines(keepends=True)
    (lake / "metadata/manifests/promotions/dt=2024-07-01/manifest.json").unlink()
    commit_partition(Lake(str(lake)), "promotions", date(2024, 7, 1),
                     "".join(lines[:-1]).encode(), len(lines) - 2, RAW_COLUMNS["promotions"],
                     "test-reland")
    handle = Lake(str(lake))
    raw_days = DataCatalog.from_config(project_entries(lake, warehouse)).load("raw_days")
    assert [d.isoformat() for d in raw_days["promotions"]] == ["2024-07-01"]
    # Every complete sales day is listed (an earlier test of this module removes one).
    assert len(raw_days["sales"]) == len(list((lake / "metadata/manifests/sales").iterdir()))
    plan = plan_rebuild(handle, raw_days, {}, DuckDBWarehouse(str(warehouse)), RUN_DATE,
                        {"full_refresh": False})
    assert plan["full"] is False and plan["changed"] == ["2024-07-01"]
    assert plan["days"] == ["2024-07-01", RUN_DATE]
    assert verify_raw_partitions(handle, raw_days, plan)["sha256"]["promotions"] == 1

    plan_file.write_bytes(plan_file.read_bytes() + b'"2024-07-01","P09999","x","y",0.5\n')
    with pytest.raises(CorruptPartitionError, match="promotions/dt=2024-07-01/promotions.csv"):
        verify_raw_partitions(handle, raw_days, plan)


def test_the_recorded_state_is_each_built_manifests_sha256(daily_lake) -> None:
    lake, warehouse = daily_lake
    with duckdb.connect(str(warehouse), read_only=True) as con:
        recorded = dict(((t, d), s) for t, d, s in con.execute(
            "select table_name, dt, sha256 from main.retailops_built_partitions "
            "where dt <> ''").fetchall())
    expected = {}
    # The promotion plan's Monday partitions are tracked like the facts' days.
    for table in ("sales", "inventory", "shipments", "promotions"):
        for folder in (lake / "metadata" / "manifests" / table).iterdir():
            day = folder.name.split("=", 1)[1]
            data = (lake / "raw" / table / folder.name / f"{table}.csv").read_bytes()
            expected[(table, day)] = hashlib.sha256(data).hexdigest()
    assert recorded == expected


# --- The plan, as a pure function ------------------------------------------------------------

BUILT = {("products", ""): "p1", ("sales", "2024-07-01"): "a", ("sales", "2024-07-02"): "b",
         ("inventory", "2024-07-01"): "c", ("inventory", "2024-07-02"): "d"}


def test_the_plan_rebuilds_new_changed_and_removed_days_and_the_run_date() -> None:
    from retailops.warehouse.build_state import plan

    current = {**BUILT, ("sales", "2024-07-02"): "b2", ("sales", "2024-07-04"): "e",
               ("inventory", "2024-07-05"): "f"}
    del current[("inventory", "2024-07-01")]
    rebuild = plan(current, BUILT, "2024-07-05", warehouse_ready=True)
    assert not rebuild.full
    assert rebuild.new == ("2024-07-04", "2024-07-05")
    assert rebuild.changed == ("2024-07-02",) and rebuild.removed == ("2024-07-01",)
    assert rebuild.days == ("2024-07-01", "2024-07-02", "2024-07-04", "2024-07-05")
    unchanged = plan(dict(BUILT), BUILT, "2024-07-02", warehouse_ready=True)
    assert unchanged.days == ("2024-07-02",) and not unchanged.full


def test_a_lake_moved_since_the_last_build_re_creates_the_dimension_views(tmp_path) -> None:
    """Recording a build on DuckDB records the local lake's folder beside the partitions
    (build_state.LOCATION_TABLE, a table of its own: the partition record stays what older code
    reads). A lake elsewhere is a move, and a move's plan is a days' build that re-creates the
    dimension views (``relocated``); a warehouse without the record, or an S3 lake, is not."""
    from retailops.warehouse.build_state import (
        LOCATION_TABLE, lake_moved, load_built, plan, record_built)
    from retailops.warehouse.engines import DuckDBWarehouse

    warehouse = DuckDBWarehouse(str(tmp_path / "warehouse.duckdb"))
    here, there = Lake(str(tmp_path / "lake")), Lake(str(tmp_path / "moved" / "lake"))
    record_built(warehouse, here, BUILT)
    assert load_built(warehouse, here) == BUILT
    assert not lake_moved(warehouse, here) and lake_moved(warehouse, there)
    assert not lake_moved(warehouse, Lake("s3://bucket/lake"))
    with duckdb.connect(warehouse.path) as con:
        assert con.execute(f"select lake_root from {LOCATION_TABLE}").fetchall() == [
            (here.root,)]
        con.execute(f"drop table {LOCATION_TABLE}")  # a warehouse recorded before the table
    assert not lake_moved(warehouse, there)

    stayed = plan(dict(BUILT), BUILT, "2024-07-02", warehouse_ready=True)
    moved = plan(dict(BUILT), BUILT, "2024-07-02", warehouse_ready=True, moved=True)
    assert not stayed.relocated and not stayed.full
    assert moved.relocated and not moved.full and moved.days == stayed.days == ("2024-07-02",)
    assert "moved" in moved.reason and moved.as_dict()["relocated"] is True
    # A move with nothing usable built is a full build anyway (it creates the views).
    assert plan(dict(BUILT), {}, "2024-07-02", warehouse_ready=True, moved=True).full


@pytest.mark.parametrize("current, built, run_date, ready, refresh, reason", [
    (BUILT, {}, "2024-07-02", True, False, "nothing built yet"),
    (BUILT, BUILT, "2024-07-02", False, False, "nothing built yet"),
    ({**BUILT, ("products", ""): "p2"}, BUILT, "2024-07-02", True, False, "a dimension file changed"),
    (BUILT, BUILT, None, True, False, "no run date"),
    (BUILT, BUILT, "2024-07-02", True, True, "full refresh"),
    ({k: v + "x" if k[1] else v for k, v in BUILT.items()}, BUILT, "2024-07-02", True, False,
     "every day changed"),
])
def test_the_plan_is_a_full_build_when_nothing_usable_was_built(current, built, run_date, ready,
                                                                 refresh, reason) -> None:
    from retailops.warehouse.build_state import plan

    rebuild = plan(current, built, run_date, warehouse_ready=ready, full_refresh=refresh)
    assert rebuild.full and rebuild.days == () and reason in rebuild.reason


def test_rebuild_days_travel_to_dbt_as_a_comma_list() -> None:
    from retailops.warehouse.dbt import rebuild_days_value

    assert rebuild_days_value(None) == "all"
    assert rebuild_days_value([]) == "none"
    assert rebuild_days_value(["2024-07-03", "2024-07-01", "2024-07-03"]) == "2024-07-01,2024-07-03"


def test_dim_date_runs_through_the_end_of_next_year_from_today() -> None:
    from retailops.warehouse.dbt_project import dbt_vars

    values = dbt_vars("/lake", today=date(2026, 11, 30))
    assert values["calendar_start"] == "2024-07-01" and values["calendar_end"] == "2027-12-31"
    later = dbt_vars("/lake", today=date(2031, 1, 1), calendar_years_ahead=2)
    assert later["calendar_end"] == "2033-12-31"


def test_a_bad_calendar_setting_is_refused_in_one_line() -> None:
    from retailops.errors import RetailOpsError
    from retailops.warehouse.dbt_project import dbt_vars

    with pytest.raises(RetailOpsError, match="calendar_years_ahead"):
        dbt_vars("/lake", calendar_years_ahead=0)


def test_athena_keeps_the_built_state_as_json_under_metadata(tmp_path) -> None:
    from retailops.warehouse.build_state import STATE_FILE, load_built, record_built
    from retailops.warehouse.engines import AthenaWarehouse

    lake, athena = Lake(str(tmp_path / "lake")), AthenaWarehouse()
    assert load_built(athena, lake) == {}
    record_built(athena, lake, BUILT)
    assert (tmp_path / "lake" / STATE_FILE).is_file()
    assert load_built(athena, lake) == BUILT
    (tmp_path / "lake" / STATE_FILE).write_text('{"partitions": [["sales", "2024')  # torn
    assert load_built(athena, lake) == {}  # not trusted: the next build is a full one
