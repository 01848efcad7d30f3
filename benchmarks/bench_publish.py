"""What publishing the readers' serving file costs for a year of marts.

Builds a synthetic warehouse shaped like a year at scale 1 (fct_daily_sales ~20K rows a day,
fct_inventory_snapshots ~4K, one Parquet file per day each, as dbt exports them; dimensions;
a defect ledger of ~100K rows), then times ``publish_serving`` a few times: the first publish
links every file; each later one links only the months whose files changed (none here) and the
whole-table files, plus the ledger copy. Prints JSON figures, with the files each publish linked.

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
    con.execute("create table staging.ledger as select i as record_key, 'negative_on_hand' as "
                "defect_type from range(100000) t(i)")
    con.execute("create view staging.stg_defects as select * from staging.ledger")
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
        timings, linked = [], []
        for _ in range(args.runs):
            started = time.perf_counter()
            publication = publish_serving(warehouse, serving, lake)
            timings.append(round(time.perf_counter() - started, 3))
            linked.append(publication.files_linked)
        # The months of facts are symbolic links into the snapshot: follow them.
        files = sum(name.endswith(".parquet") for _, _, names in
                    os.walk(serving_dir(serving) / "current", followlinks=True) for name in names)
        print(json.dumps({"days": args.days, "rows": publication.rows, "parquet_files": files,
                          "build_seconds": round(built, 1), "publish_seconds": timings,
                          "files_linked": linked,
                          "serving_file_bytes": serving.stat().st_size,
                          "curated_bytes": sum(p.stat().st_size
                                               for p in (lake / "curated").rglob("*.parquet"))},
                         indent=2))


if __name__ == "__main__":
    main()
