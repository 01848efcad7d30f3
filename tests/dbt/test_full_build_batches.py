"""A full build of fct_daily_sales in batches equals the one-statement build, row for row.

On DuckDB a full build aggregates the sale lines a month at a time
(macros/materializations.sql, insert_full_build_batches; docs/scale.md, finding 8). The lake
here holds five days of one month, so the test batches by day (five batches: first, middle
and last ranges all used) as well as by month, and compares both with the model built in one
statement (RETAILOPS_FULL_BUILD_BATCH=none) and with the same aggregate written here by hand
over stg_sales and stg_products.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dbt_harness import DbtProject, failures, new_project

COLUMNS = ("sale_date, store_id, product_id, quantity, gross_revenue, discount_amount, "
           "net_revenue, cost, profit, transactions, discount_missing_lines")

# Independent of the model's SQL: the grain and the measures as the model's docs define them.
BY_HAND = """
    select s.sale_date, s.store_id, s.product_id,
           sum(s.quantity) as quantity,
           sum(s.quantity * s.unit_price) as gross_revenue,
           sum(s.quantity * s.unit_price * s.discount_pct) as discount_amount,
           sum(s.quantity * s.unit_price * (1 - s.discount_pct)) as net_revenue,
           sum(s.quantity * p.unit_cost) as cost,
           sum(s.quantity * s.unit_price * (1 - s.discount_pct)) - sum(s.quantity * p.unit_cost) as profit,
           count(*) as transactions,
           count(*) filter (where s.discount_was_missing) as discount_missing_lines
    from staging.stg_sales s left join staging.stg_products p using (product_id)
    group by all
"""


def snapshot(project: DbtProject, relation: str) -> list[tuple]:
    """Every row, sorted; money rounded to a cent's thousandth (sums in another order)."""
    frame = project.query(f"select {COLUMNS} from {relation} order by all")
    return [tuple(round(v, 5) if isinstance(v, float) else v for v in row)
            for row in frame.itertuples(index=False)]


@pytest.fixture(scope="module")
def project(module_lake: Path, tmp_path_factory: pytest.TempPathFactory) -> DbtProject:
    project = new_project(tmp_path_factory.mktemp("batches"), module_lake)
    result = project.invoke("run", "--select", "+fct_daily_sales")
    assert result.success, failures(result)
    return project


def rebuild(project: DbtProject, unit: str) -> list[tuple]:
    result = project.invoke("run", "--select", "fct_daily_sales", "--full-refresh",
                            env={"RETAILOPS_FULL_BUILD_BATCH": unit})
    assert result.success, failures(result)
    return snapshot(project, "marts.fct_daily_sales")


def batch_lines(project: DbtProject) -> list[str]:
    log = (project.target_path / "logs" / "dbt.log").read_text(errors="replace")
    return [line for line in log.splitlines() if "fct_daily_sales: full build batch" in line]


def test_batched_full_build_equals_one_statement(project: DbtProject) -> None:
    by_hand = snapshot(project, f"({BY_HAND})")
    assert len(by_hand) > 1000  # five days of a small chain

    whole = rebuild(project, "none")
    assert whole == by_hand

    (project.target_path / "logs" / "dbt.log").unlink()
    by_day = rebuild(project, "day")
    days = batch_lines(project)
    assert len(days) == 5 and days[-1].rstrip().endswith("batch 5/5 (2024-07-05)"), days
    assert by_day == whole

    (project.target_path / "logs" / "dbt.log").unlink()
    by_month = rebuild(project, "month")
    assert [line.rstrip()[-24:] for line in batch_lines(project)] == [
        "full build batch 1/1 (2024-07)"[-24:]]
    assert by_month == whole

    # The Parquet export follows the batches: every day's rows, once.
    exported = project.query(
        f"select count(*) as n from read_parquet('{project.lake_root}/curated/fct_daily_sales/*/*.parquet')")
    assert int(exported["n"][0]) == len(whole)


def test_unknown_batch_unit_is_refused(project: DbtProject) -> None:
    result = project.invoke("run", "--select", "fct_daily_sales", "--full-refresh",
                            env={"RETAILOPS_FULL_BUILD_BATCH": "week"})
    assert not result.success
    assert "RETAILOPS_FULL_BUILD_BATCH must be month, day or none, got 'week'" in str(
        [getattr(r, "message", "") for r in (result.result.results if result.result else [])]
        + [str(result.exception)])
