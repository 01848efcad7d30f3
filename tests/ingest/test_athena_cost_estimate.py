"""benchmarks/bench_athena_cost.py prunes as Athena does: a literal filter on a partition
column (under whatever name a view gives it) keeps only those partitions' files, an
``IN (subquery)`` filter or no filter reads the table whole (extrapolated to the history), and
every query is billed at least 10 MB."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bench_athena_cost as cost  # noqa: E402

RAW = '"awsdatacatalog"."retailops_raw"."sales"'
MANIFESTS = '"awsdatacatalog"."retailops_raw"."manifests"'  # no files in this lake
VIEW = '"awsdatacatalog"."retailops_staging"."stg_sales"'


def _lake(root: Path) -> Path:
    for day, size in (("2024-07-01", 1000), ("2024-07-02", 3000)):
        folder = root / "raw" / "sales" / f"dt={day}"
        folder.mkdir(parents=True)
        (folder / "sales.csv").write_bytes(b"x" * size)
        folder = root / "curated" / "fct_daily_sales" / f"sale_date={day}"
        folder.mkdir(parents=True)
        (folder / "data_0.parquet").write_bytes(b"x" * (size // 10))
    return root


def _estimator(root: Path, history_days: int = 10) -> cost.Estimator:
    view = {"resource_type": "model", "schema": "retailops_staging", "alias": "stg_sales",
            "config": {"materialized": "view"},
            "compiled_code": f"select *, dt as partition_dt from {RAW} "
                             f"where dt in (select partition_dt from {MANIFESTS})"}
    fact = {"resource_type": "model", "schema": "retailops_marts", "alias": "fct_daily_sales",
            "config": {"materialized": "incremental", "partitioned_by": ["sale_date"]}}
    return cost.Estimator(_lake(root), {"nodes": {"v": view, "f": fact}}, history_days)


def _bytes(estimator: cost.Estimator, sql: str) -> int:
    return sum(size for key, filters in cost.reads(sql)
               for size in estimator.scan(key, filters).values())


def test_a_literal_filter_through_a_view_reads_only_that_partition(tmp_path: Path) -> None:
    estimator = _estimator(tmp_path)
    assert _bytes(estimator, f"select * from {VIEW} where partition_dt in ('2024-07-02')") == 3000
    assert _bytes(estimator, f"select * from {RAW} where dt = '2024-07-01'") == 1000
    # A Parquet fact partitioned by sale_date, filtered by a date literal.
    fact = '"awsdatacatalog"."retailops_marts"."fct_daily_sales"'
    assert _bytes(estimator, f"select * from {fact} where sale_date in (date '2024-07-02')") == 300


def test_no_filter_or_a_subquery_filter_reads_the_whole_history(tmp_path: Path) -> None:
    estimator = _estimator(tmp_path, history_days=10)
    # Mean landed partition (2,000 bytes) x 10 days of history.
    assert _bytes(estimator, f"select * from {VIEW}") == 20_000
    # Read twice (the outer scan, not pruned by its subquery, and the subquery's own scan).
    assert _bytes(estimator, f"select * from {RAW} where dt in (select dt from {RAW})") == 40_000


def test_each_query_is_billed_at_least_ten_megabytes(tmp_path: Path) -> None:
    manifest = {"nodes": {"t": {"resource_type": "test", "unique_id": "t", "name": "t",
                                "compiled_code": f"select * from {RAW} where dt = '2024-07-01'"}},
                "daily": ["t"]}
    result = cost.estimate(_lake(tmp_path), manifest, "2024-07-01", 10)
    assert result["bytes"] == 1000 and result["billed"] == 10 * 10**6
    assert abs(result["dollars_per_day"] - 10 * 10**6 / 1e12 * 5) < 1e-12
