"""dbt_athena built for real on DuckDB over simulated days; marts checked against the raw CSVs.

The lake holds 2024-07-01..05, but the 5th has no manifests when the project is first built
(data landed, commit point missing): it must be invisible. The daily path then publishes the
5th's manifests and rebuilds only that day, twice.
"""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dbt_harness import DbtProject, failures, hide_manifests, new_project, restore_manifests

COMPLETE_DAYS = ["2024-07-01", "2024-07-02", "2024-07-03", "2024-07-04"]
LATE_DAY = "2024-07-05"


def raw_fact(lake: Path, table: str, days: list[str]) -> pd.DataFrame:
    frames = [pd.read_csv(lake / "raw" / table / f"dt={d}" / f"{table}.csv", dtype=str,
                          keep_default_na=False) for d in days]
    return pd.concat(frames, ignore_index=True)


def ledger(lake: Path, days: list[str]) -> pd.DataFrame:
    files = [lake / "metadata" / "defects" / f"dt={d}" / "defects.csv" for d in days]
    files.append(lake / "metadata" / "defects" / "dimensions" / "defects.csv")
    return pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False) for f in files],
                     ignore_index=True)


def number(frame: pd.DataFrame, column: str) -> pd.Series:
    return pd.to_numeric(frame[column].replace("", np.nan))


@pytest.fixture(scope="module")
def built(module_lake: Path, tmp_path_factory: pytest.TempPathFactory) -> DbtProject:
    stash = tmp_path_factory.mktemp("stash")
    hide_manifests(module_lake, LATE_DAY, stash)
    project = new_project(tmp_path_factory.mktemp("dbt_build"), module_lake)
    project.stash = stash  # type: ignore[attr-defined]
    result = project.invoke("build")
    project.build_result = result  # type: ignore[attr-defined]
    assert result.success, f"dbt build failed: {failures(result)}"
    project.landed = landed_rows(project)  # type: ignore[attr-defined]
    return project


@pytest.fixture(scope="module")
def daily(built: DbtProject) -> dict[str, object]:
    """Publish the late day's manifests, then run the daily path for it twice."""
    before = {m: built.query(f"select * from marts.{m}") for m in ("fct_daily_sales", "fct_inventory_snapshots")}
    restore_manifests(built.lake_root, LATE_DAY, built.stash)  # type: ignore[attr-defined]
    # The daily path (selector `daily`): the day's raw partitions are landed, then its facts.
    first = built.invoke("build", "--selector", "daily", run_date=LATE_DAY)
    assert first.success, failures(first)
    after_first = {m: built.query(f"select * from marts.{m}") for m in before}
    landed_first = landed_rows(built)
    files_first = sorted(glob.glob(str(built.lake_root / "curated" / "fct_daily_sales" / "*" / "*")))
    # The same day again, through the environment route (no project re-parse).
    second = built.invoke("run", "--selector", "daily", env={"RETAILOPS_RUN_DATE": LATE_DAY})
    assert second.success, failures(second)
    after_second = {m: built.query(f"select * from marts.{m}") for m in before}
    return {"before": before, "after_first": after_first, "after_second": after_second,
            "files_first": files_first, "landed_before": built.landed,  # type: ignore[attr-defined]
            "landed_first": landed_first, "landed_second": landed_rows(built)}


def landed_rows(project: DbtProject) -> dict[tuple[str, str], int]:
    """Rows of each raw partition landed in the base_* tables, by (table, dt)."""
    counts = {}
    for table in ("sales", "inventory", "shipments"):
        frame = project.query(f"select dt, count(*) as n from staging.base_{table} group by dt")
        counts.update({(table, row.dt): int(row.n) for row in frame.itertuples()})
    return counts


def sort_frame(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys).reset_index(drop=True)


def test_build_runs_every_model_and_data_test(built: DbtProject) -> None:
    results = built.build_result.result.results  # type: ignore[attr-defined]
    tests = [r for r in results if r.node.resource_type == "test"]
    models = {r.node.name for r in results if r.node.resource_type == "model"}
    # One row_rules test per model, the landing check and the raw sources' two (dbt_athena's
    # default selector leaves the forecast marts' tests to the forecast stage).
    assert len(tests) == 15
    assert all(str(r.status) == "pass" for r in tests)
    assert {"stg_products", "stg_stores", "stg_suppliers", "stg_sales", "stg_inventory",
            "stg_shipments", "stg_defects", "dim_date", "dim_products", "dim_stores",
            "fct_daily_sales", "fct_inventory_snapshots", "mart_supplier_performance"} <= models


def test_net_revenue_matches_raw_sale_lines(built: DbtProject) -> None:
    sales = raw_fact(built.lake_root, "sales", COMPLETE_DAYS)
    discount = number(sales, "discount_pct").fillna(0.0)
    sales["net"] = number(sales, "quantity") * number(sales, "unit_price") * (1 - discount)
    sales["gross"] = number(sales, "quantity") * number(sales, "unit_price")
    expected = sales.groupby("dt").agg(net=("net", "sum"), gross=("gross", "sum"),
                                       lines=("sale_id", "count"),
                                       units=("quantity", lambda q: pd.to_numeric(q).sum()))
    mart = built.query("""
        select cast(sale_date as varchar) as dt, sum(net_revenue) as net, sum(gross_revenue) as gross,
               sum(transactions) as lines, sum(quantity) as units
        from marts.fct_daily_sales group by 1""").set_index("dt").sort_index()
    assert list(mart.index) == COMPLETE_DAYS
    np.testing.assert_allclose(mart["net"], expected.loc[mart.index, "net"], rtol=1e-9)
    np.testing.assert_allclose(mart["gross"], expected.loc[mart.index, "gross"], rtol=1e-9)
    assert mart["lines"].astype(int).tolist() == expected.loc[mart.index, "lines"].tolist()
    assert mart["units"].astype(int).tolist() == expected.loc[mart.index, "units"].tolist()


def test_cost_and_profit_use_product_unit_cost(built: DbtProject) -> None:
    sales = raw_fact(built.lake_root, "sales", COMPLETE_DAYS)
    products = pd.read_csv(built.lake_root / "raw" / "products" / "products.csv", dtype=str)
    merged = sales.merge(products[["product_id", "unit_cost"]], on="product_id")
    expected_cost = (number(merged, "quantity") * number(merged, "unit_cost")).sum()
    totals = built.query("select sum(cost) as cost, sum(net_revenue) - sum(cost) as profit, "
                         "sum(profit) as summed_profit from marts.fct_daily_sales")
    assert totals.loc[0, "cost"] == pytest.approx(expected_cost, rel=1e-9)
    assert totals.loc[0, "profit"] == pytest.approx(totals.loc[0, "summed_profit"], rel=1e-9)


def test_partitions_without_manifest_are_ignored(built: DbtProject) -> None:
    assert (built.lake_root / "raw" / "sales" / f"dt={LATE_DAY}" / "sales.csv").exists()
    for model, column in (("fct_daily_sales", "sale_date"), ("fct_inventory_snapshots", "snapshot_date")):
        days = built.query(f"select distinct cast({column} as varchar) as d from marts.{model}")["d"]
        assert sorted(days) == COMPLETE_DAYS
    staged = built.query("select distinct partition_dt from staging.stg_shipments")["partition_dt"]
    assert LATE_DAY not in set(staged)


def test_null_discounts_count_as_zero_and_are_flagged(built: DbtProject) -> None:
    defects = ledger(built.lake_root, COMPLETE_DAYS)
    expected = set(defects.loc[defects.defect_type == "null_discount", "record_key"].astype(int))
    flagged = built.query("select sale_id, discount_pct from staging.stg_sales where discount_was_missing")
    assert expected and set(flagged["sale_id"]) == expected
    assert (flagged["discount_pct"] == 0).all()
    mart = built.query("select sum(discount_missing_lines) as n from marts.fct_daily_sales")
    assert int(mart.loc[0, "n"]) == len(expected)


def test_duplicate_shipment_lines_are_removed_once(built: DbtProject) -> None:
    raw = raw_fact(built.lake_root, "shipments", COMPLETE_DAYS)
    defects = ledger(built.lake_root, COMPLETE_DAYS)
    duplicated = defects[defects.defect_type == "duplicate_shipment_line"]
    staged = built.query("select shipment_id, line_number, copies_received from staging.stg_shipments")
    assert len(raw) == len(raw.drop_duplicates()) + len(duplicated)
    assert len(staged) == len(raw.drop_duplicates())
    keys = set(staged.loc[staged.copies_received > 1, "shipment_id"].astype(str) + "|"
               + staged.loc[staged.copies_received > 1, "line_number"].astype(str))
    assert keys == set(duplicated["record_key"])


def test_negative_counts_are_flagged_not_dropped(built: DbtProject) -> None:
    raw = raw_fact(built.lake_root, "inventory", COMPLETE_DAYS)
    defects = ledger(built.lake_root, COMPLETE_DAYS)
    negatives = defects[defects.defect_type == "negative_on_hand"]
    mart = built.query("""select cast(snapshot_date as varchar) || '|' || store_id || '|' || product_id as k,
                                 quantity_on_hand, recorded_quantity_on_hand, inventory_value
                          from marts.fct_inventory_snapshots where is_negative_on_hand""")
    total = built.query("select count(*) as n from marts.fct_inventory_snapshots").loc[0, "n"]
    assert total == len(raw)
    assert len(negatives) > 0 and set(mart["k"]) == set(negatives["record_key"])
    assert mart["quantity_on_hand"].isna().all() and mart["inventory_value"].isna().all()
    assert (mart["recorded_quantity_on_hand"] < 0).all()


def test_inventory_value_and_stock_outs(built: DbtProject) -> None:
    raw = raw_fact(built.lake_root, "inventory", COMPLETE_DAYS)
    products = pd.read_csv(built.lake_root / "raw" / "products" / "products.csv", dtype=str)
    merged = raw.merge(products[["product_id", "unit_cost"]], on="product_id")
    on_hand = number(merged, "quantity_on_hand")
    clean = on_hand >= 0
    expected_value = (on_hand[clean] * number(merged, "unit_cost")[clean]).sum()
    mart = built.query("select sum(inventory_value) as v, sum(case when is_stock_out then 1 else 0 end) as outs "
                       "from marts.fct_inventory_snapshots")
    assert mart.loc[0, "v"] == pytest.approx(expected_value, rel=1e-9)
    assert int(mart.loc[0, "outs"]) == int((on_hand == 0).sum())


def test_supplier_text_is_parsed_to_the_ledgers_true_values(built: DbtProject) -> None:
    defects = ledger(built.lake_root, [])
    messy = defects[defects.defect_type == "messy_supplier_text"]
    staged = built.query("select supplier_id, lead_time_days, on_time_rate, is_messy_lead_time, "
                         "is_messy_on_time_rate from staging.stg_suppliers").set_index("supplier_id")
    assert len(messy) > 0
    for row in messy.itertuples():
        if row.column_name == "lead_time":
            assert staged.loc[row.record_key, "lead_time_days"] == int(row.true_value)
            assert staged.loc[row.record_key, "is_messy_lead_time"]
        else:
            assert staged.loc[row.record_key, "on_time_rate"] == pytest.approx(float(row.true_value), abs=0.005)
            assert staged.loc[row.record_key, "is_messy_on_time_rate"]
    messy_ids = set(messy.loc[messy.column_name == "lead_time", "record_key"])
    assert not staged.loc[~staged.index.isin(messy_ids), "is_messy_lead_time"].any()


def test_dim_products_carries_supplier_and_keeps_products_without_one(built: DbtProject) -> None:
    products = pd.read_csv(built.lake_root / "raw" / "products" / "products.csv", dtype=str,
                           keep_default_na=False)
    suppliers = built.query("select supplier_id, supplier_name, lead_time_days from staging.stg_suppliers")
    dim = built.query("select product_id, supplier_id, supplier_name, supplier_lead_time_days, "
                      "is_missing_supplier from marts.dim_products")
    assert len(dim) == len(products)
    missing = set(products.loc[products.supplier_id == "", "product_id"])
    assert missing and set(dim.loc[dim.is_missing_supplier, "product_id"]) == missing
    joined = dim.dropna(subset=["supplier_id"]).merge(suppliers, on="supplier_id")
    assert (joined["supplier_name_x"] == joined["supplier_name_y"]).all()
    assert (joined["supplier_lead_time_days"] == joined["lead_time_days"]).all()


def test_supplier_performance_matches_deduplicated_shipments(built: DbtProject) -> None:
    lines = raw_fact(built.lake_root, "shipments", COMPLETE_DAYS).drop_duplicates()
    for column in ("quantity_ordered", "quantity_received"):
        lines[column] = number(lines, column)
    deliveries = lines.groupby(["supplier_id", "shipment_id"]).agg(
        received=("received_date", "max"), expected=("expected_date", "max"))
    deliveries["late"] = deliveries["received"] > deliveries["expected"]
    per_supplier = deliveries.groupby("supplier_id").agg(shipments=("late", "size"), late=("late", "sum"))
    units = lines.groupby("supplier_id")[["quantity_ordered", "quantity_received"]].sum()
    mart = built.query("select * from marts.mart_supplier_performance").set_index("supplier_id")
    suppliers = pd.read_csv(built.lake_root / "raw" / "suppliers" / "suppliers.csv", dtype=str)
    assert set(mart.index) == set(suppliers["supplier_id"])
    active = mart.loc[per_supplier.index]
    assert active["shipments"].tolist() == per_supplier["shipments"].tolist()
    assert active["late_shipments"].tolist() == per_supplier["late"].astype(int).tolist()
    assert active["lines"].sum() == len(lines)
    np.testing.assert_allclose(active["fill_rate"],
                               units["quantity_received"] / units["quantity_ordered"], rtol=1e-12)
    assert mart.loc[~mart.index.isin(per_supplier.index), "shipments"].eq(0).all()


def test_dim_date_covers_the_supported_range(built: DbtProject) -> None:
    dates = built.query("select min(date_day) as lo, max(date_day) as hi, count(*) as n, "
                        "count(distinct date_day) as d from marts.dim_date")
    # Through the end of next year, counted from today (nothing hard-codes an end date).
    from datetime import date

    end = date(date.today().year + 1, 12, 31)
    assert str(dates.loc[0, "lo"])[:10] == "2024-07-01" and str(dates.loc[0, "hi"])[:10] == end.isoformat()
    assert dates.loc[0, "n"] == dates.loc[0, "d"] == (end - date(2024, 7, 1)).days + 1


def test_marts_land_as_parquet_in_the_curated_zone(built: DbtProject) -> None:
    import duckdb

    curated = built.lake_root / "curated"
    for model in ("dim_date", "dim_products", "dim_stores", "mart_supplier_performance"):
        from_parquet = duckdb.sql(f"select count(*) from '{curated}/{model}/*.parquet'").fetchall()[0][0]
        assert from_parquet == len(built.query(f"select * from marts.{model}"))
    sales = duckdb.sql(f"""select cast(sale_date as varchar) as d, sum(net_revenue) as net
        from read_parquet('{curated}/fct_daily_sales/*/*.parquet', hive_partitioning=true) group by 1
        order by 1""").df()
    mart = built.query("select cast(sale_date as varchar) as d, sum(net_revenue) as net "
                       "from marts.fct_daily_sales group by 1 order by 1")
    assert sales["d"].tolist() == mart["d"].tolist()
    np.testing.assert_allclose(sales["net"], mart["net"], rtol=1e-12)


def test_daily_run_adds_only_its_day(built: DbtProject, daily: dict) -> None:
    keys = {"fct_daily_sales": ["sale_date", "store_id", "product_id"],
            "fct_inventory_snapshots": ["snapshot_date", "store_id", "product_id"]}
    raw_sales = raw_fact(built.lake_root, "sales", [LATE_DAY])
    for model, key in keys.items():
        before, after = daily["before"][model], daily["after_first"][model]
        day = pd.Timestamp(LATE_DAY)
        old_days = sort_frame(after[after[key[0]] != day], key)
        pd.testing.assert_frame_equal(old_days, sort_frame(before, key))
        assert (after[key[0]] == day).sum() > 0
    new_day = daily["after_first"]["fct_daily_sales"]
    new_day = new_day[new_day.sale_date == pd.Timestamp(LATE_DAY)]
    assert int(new_day["transactions"].sum()) == len(raw_sales)


def test_rebuilding_a_day_is_idempotent(built: DbtProject, daily: dict) -> None:
    keys = {"fct_daily_sales": ["sale_date", "store_id", "product_id"],
            "fct_inventory_snapshots": ["snapshot_date", "store_id", "product_id"]}
    for model, key in keys.items():
        pd.testing.assert_frame_equal(sort_frame(daily["after_first"][model], key),
                                      sort_frame(daily["after_second"][model], key))
    files = sorted(glob.glob(str(built.lake_root / "curated" / "fct_daily_sales" / "*" / "*")))
    assert files == daily["files_first"]
    assert len(files) == len(COMPLETE_DAYS) + 1  # one file per day, none stale


def test_staging_views_read_raw_partitions_landed_once_as_tables(built: DbtProject) -> None:
    kinds = built.query("select table_name, table_type from information_schema.tables "
                        "where table_schema = 'staging'").set_index("table_name")["table_type"]
    for name in ("stg_products", "stg_stores", "stg_suppliers", "stg_sales", "stg_inventory",
                 "stg_shipments"):
        assert kinds[name] == "VIEW", name
    # The manifest index is read by every base model and row-count test: a table per run; so
    # is the defect ledger, which a view would list whole on each of its ~10 daily queries.
    assert kinds["stg_manifests"] == "BASE TABLE"
    assert kinds["stg_defects"] == "BASE TABLE"
    for table in ("sales", "inventory", "shipments"):
        assert kinds[f"base_{table}"] == "BASE TABLE", table
        # Landed by the full build: every complete partition whole, the late day not at all.
        landed = {dt: n for (name, dt), n in built.landed.items() if name == table}  # type: ignore[attr-defined]
        assert set(landed) <= set(COMPLETE_DAYS)  # a day without rows (no deliveries) has none
        assert {day: landed.get(day, 0) for day in COMPLETE_DAYS} == {
            day: len(raw_fact(built.lake_root, table, [day])) for day in COMPLETE_DAYS}


def test_daily_run_lands_only_its_days_partitions(built: DbtProject, daily: dict) -> None:
    before, first, second = daily["landed_before"], daily["landed_first"], daily["landed_second"]
    assert not [key for key in before if key[1] == LATE_DAY]
    assert {k: v for k, v in first.items() if k[1] != LATE_DAY} == before
    for table in ("sales", "inventory", "shipments"):
        assert first.get((table, LATE_DAY), 0) == len(raw_fact(built.lake_root, table, [LATE_DAY]))
    assert first[("sales", LATE_DAY)] > 0
    assert second == first
