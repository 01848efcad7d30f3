"""A bad raw value makes the named data test fail, and bad run variables stop dbt early."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from dbt_harness import DbtProject, failures, new_project

# The test holding stg_sales' per-row rules (quantity >= 1 among them), grain and references.
SALE_LINE_RULES = "stg_sales_rules"
SALES_AND_PARENTS = ("stg_manifests", "stg_suppliers", "stg_products", "stg_stores", "base_sales",
                     "stg_sales")


@pytest.fixture(scope="module")
def corrupted(module_lake: Path, tmp_path_factory: pytest.TempPathFactory) -> DbtProject:
    """The lake with one sale line's quantity landed as -3 (a corrupt value, manifest intact)."""
    path = module_lake / "raw" / "sales" / "dt=2024-07-02" / "sales.csv"
    sales = pd.read_csv(path, dtype=str, keep_default_na=False)
    sales.loc[7, "quantity"] = "-3"
    sales.to_csv(path, index=False)
    return new_project(tmp_path_factory.mktemp("dbt_corrupt"), module_lake)


def test_a_negative_sale_quantity_fails_the_named_test(corrupted: DbtProject) -> None:
    result = corrupted.invoke("build", "--indirect-selection", "cautious", "--select", *SALES_AND_PARENTS)
    assert not result.success
    assert failures(result) == [SALE_LINE_RULES]
    # The view itself builds; the test fails on that one line, naming the rule it breaks.
    results = {r.node.name: r for r in result.result.results}
    assert str(results["stg_sales"].status) == "success"
    assert results[SALE_LINE_RULES].failures == 1
    with duckdb.connect(str(corrupted.duckdb_path), read_only=True) as con:
        broken = con.execute(f"select quantity, failed_rules from "
                             f"({results[SALE_LINE_RULES].node.compiled_code})").fetchall()
    assert broken == [(-3, "quantity_at_least_1")]


def test_a_daily_build_tests_only_its_own_day(corrupted: DbtProject) -> None:
    clean_day = corrupted.invoke("build", "--indirect-selection", "cautious", "--select", *SALES_AND_PARENTS,
                                 env={"RETAILOPS_RUN_DATE": "2024-07-03"})
    assert clean_day.success, failures(clean_day)
    corrupt_day = corrupted.invoke("build", "--indirect-selection", "cautious", "--select", *SALES_AND_PARENTS,
                                   env={"RETAILOPS_RUN_DATE": "2024-07-02"})
    assert failures(corrupt_day) == [SALE_LINE_RULES]


def test_a_new_run_date_reparses_nothing(corrupted: DbtProject) -> None:
    """The run date and the rebuilt days are read when dbt runs, never when it parses (the
    tests' `where` markers, the base models' filters): a new day must not make dbt re-parse
    any file (the schema files alone cost seconds on two cores)."""
    def reparsed(day: str) -> list[str]:
        files: list[str] = []
        def collect(event) -> None:
            if event.info.name == "PartialParsingFile":
                files.append(event.data.file_id)
        result = corrupted.invoke("parse", env={"RETAILOPS_RUN_DATE": day,
                                                "RETAILOPS_REBUILD_DAYS": day}, callbacks=[collect])
        assert result.success, result.exception
        return files

    reparsed("2024-07-02")
    assert reparsed("2024-07-03") == []


def test_a_relative_lake_root_is_refused(corrupted: DbtProject) -> None:
    result = corrupted.invoke("run", "--select", "stg_manifests", raw_vars={"lake_root": "data/lake"})
    assert not result.success
    assert "must be an absolute folder or s3://bucket" in error_text(result)


def test_a_run_date_outside_the_supported_range_is_refused(corrupted: DbtProject) -> None:
    # Through the environment route, so the project is not re-parsed.
    result = corrupted.invoke("run", "--select", "stg_manifests", env={"RETAILOPS_RUN_DATE": "2031-01-01"})
    assert not result.success
    assert "outside the supported range" in error_text(result)


def error_text(result) -> str:
    messages = [str(result.exception)]
    messages += [str(r.message) for r in getattr(result.result, "results", None) or []]
    return " ".join(messages)


def test_every_daily_test_reads_only_the_rebuilt_days(corrupted: DbtProject) -> None:
    """History does not slow the day: every data test a daily build runs filters the facts it
    reads to the rebuilt days (the partition or date column `in` the days), except the
    supplier scorecard's, whose model holds one row per supplier whatever the history."""
    day = "2024-07-03"
    result = corrupted.invoke("compile", "--selector", "daily",
                              env={"RETAILOPS_RUN_DATE": day, "RETAILOPS_REBUILD_DAYS": day})
    assert result.success, result.exception
    tests = {r.node.name: r.node.compiled_code for r in result.result.results
             if r.node.resource_type == "test"}
    assert len(tests) == 10
    pruned = {name for name, sql in tests.items()
              if f"in ('{day}')" in sql or f"in (date '{day}')" in sql}
    assert set(tests) - pruned == {"mart_supplier_performance_rules"}
    # ... and only those days: no other day is named anywhere.
    for name in pruned:
        days = set(re.findall(r"'(\d{4}-\d{2}-\d{2})'", tests[name]))
        assert days <= {day, "2024-07-01"}, (name, days)  # 07-01: the promotions' first Monday
