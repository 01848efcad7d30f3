"""What publishing the readers' serving file costs for a year of marts.

Builds a synthetic warehouse shaped like a year at scale 1 (fct_daily_sales ~20K rows a day,
fct_inventory_snapshots ~4K, one Parquet file per day each, as dbt exports them; dimensions;
a defect ledger of ~100K rows, one CSV per day as ingest writes it), then times
``publish_serving`` a few times: the first publish links every file and exports every month of
the ledger; each later one links only the months whose files changed (none here) and the
whole-table files, and exports only the ledger months whose files changed (none here; the
undated rows every time), as ``publish.monthly_relations`` configures it. Prints JSON figures,
with the files each publish linked and the ledger months it exported.

    .venv/bin/python benchmarks/bench_publish.py [--days 365] [--sales-per-day 20000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import duckdb

from retailops.warehouse.serving import publish_serving, serving_dir

# As conf/base/parameters_publish.yml serves the defect ledger.
LEDGER = {"staging.stg_defects": {"by": "partition_dt", "lake_folder": "metadata/defects",
                                  "suffix": ".csv"}}


def build(root: Path, days: int, sales_per_day: int) -> tuple[Path, Path]:
    warehouse, lake = root / "warehouse" / "retailops.duckdb", root / "lake"
    warehouse.parent.mkdir(parents=True)
    (lake / "curated").mkdir(parents=True)
    con = duckdb.connect(str(warehouse))
    con.execute("create schema marts; create schema staging")
    con.execute(f"""create table marts.fct_daily_sales as
        select cast(date '2024-07-01' + cast(i // {sales_per_day} as integer) as date)
                   as sale_date,
               i % 80 as store_id, i % 1500 as product_id, (i % 7) + 1 as quantity,
               cast((i % 97) * 1.25 as double) as net_revenue,
               cast((i % 31) * 0.5 as double) as profit
        from range({days * sales_per_day}) t(i)""")
    con.execute(f"""create table marts.fct_inventory_snapshots as
        select cast(date '2024-07-01' + cast(i // 4000 as integer) as date) as snapshot_date,
               i % 80 as store_id, i % 1500 as product_id, i % 50 as quantity_on_hand,
               (i % 50) = 0 as is_stock_out
        from range({days * 4000}) t(i)""")
    con.execute("create table marts.dim_products as "
                "select i as product_id, 'p' || i as product_name from range(1500) t(i)")
    con.execute("create table marts.dim_stores as select i as store_id, 's' || i as store_name "
                "from range(80) t(i)")
    # The ledger as dbt builds it on DuckDB (a table), and the day files it is built from.
    per_day = max(1, 100000 // days)
    con.execute(f"""create table staging.stg_defects as
        select 'facts' as ledger, day as defect_date, 'inventory' as table_name,
               'negative_on_hand' as defect_type, cast(i as varchar) as record_key,
               strftime(day, '%Y-%m-%d') as partition_dt
        from (select i, cast(date '2024-07-01' + cast(i // {per_day} as integer) as date) as day
              from range({days * per_day}) t(i))
        union all
        select 'dimensions', null, 'suppliers', 'messy_supplier_text', 'SUP001', null""")
    (lake / "metadata").mkdir()
    con.execute(f"copy (select * exclude (partition_dt), partition_dt as dt from "
                f"staging.stg_defects where partition_dt is not null) to '{lake}/metadata/defects' "
                "(format csv, partition_by (dt), filename_pattern 'defects')")
    for fact, column in (("fct_daily_sales", "sale_date"),
                         ("fct_inventory_snapshots", "snapshot_date")):
        con.execute(f"copy marts.{fact} to '{lake}/curated/{fact}' (format parquet, "
                    f"partition_by ({column}), filename_pattern 'data_{{i}}')")
    for dim in ("dim_products", "dim_stores"):
        (lake / "curated" / dim).mkdir()
        con.execute(f"copy marts.{dim} to '{lake}/curated/{dim}/{dim}.parquet' (format parquet)")
    con.close()
    return warehouse, lake


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--sales-per-day", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        started = time.perf_counter()
        warehouse, lake = build(root, args.days, args.sales_per_day)
        built = time.perf_counter() - started
        serving = warehouse.with_name("serving.duckdb")
        timings, linked, exported = [], [], []
        for _ in range(args.runs):
            started = time.perf_counter()
            publication = publish_serving(warehouse, serving, lake, copied_relations=(),
                                          monthly_relations=LEDGER)
            timings.append(round(time.perf_counter() - started, 3))
            linked.append(publication.files_linked)
            exported.append(publication.months_exported)
        # The months of facts are symbolic links into the snapshot: follow them.
        files = sum(name.endswith(".parquet") for _, _, names in
                    os.walk(serving_dir(serving) / "current", followlinks=True) for name in names)
        print(json.dumps({"days": args.days, "rows": publication.rows, "parquet_files": files,
                          "build_seconds": round(built, 1), "publish_seconds": timings,
                          "files_linked": linked, "ledger_months_exported": exported,
                          "serving_file_bytes": serving.stat().st_size,
                          "curated_bytes": sum(p.stat().st_size
                                               for p in (lake / "curated").rglob("*.parquet"))},
                         indent=2))


if __name__ == "__main__":
    main()
