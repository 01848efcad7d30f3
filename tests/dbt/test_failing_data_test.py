"""A bad raw value makes the named data test fail, and bad run variables stop dbt early."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from dbt_harness import DbtProject, failures, new_project

# The test holding stg_sales' per-row rules (quantity >= 1 among them).
SALE_LINE_RULES = "stg_sales_valid_keys_time_quantity_price_discount"
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
    # Only the rule the corrupt value breaks fails; the view itself builds.
    statuses = {r.node.name: str(r.status) for r in result.result.results}
    assert statuses["stg_sales"] == "success"
    assert statuses["unique_stg_sales_sale_id"] == "pass"


def test_a_daily_build_tests_only_its_own_day(corrupted: DbtProject) -> None:
    clean_day = corrupted.invoke("build", "--indirect-selection", "cautious", "--select", *SALES_AND_PARENTS,
                                 env={"RETAILOPS_RUN_DATE": "2024-07-03"})
    assert clean_day.success, failures(clean_day)
    corrupt_day = corrupted.invoke("build", "--indirect-selection", "cautious", "--select", *SALES_AND_PARENTS,
                                   env={"RETAILOPS_RUN_DATE": "2024-07-02"})
    assert failures(corrupt_day) == [SALE_LINE_RULES]


def test_a_new_run_date_reparses_only_the_models_that_read_it(corrupted: DbtProject) -> None:
    """The daily scoping of the tests is filled in at run time: a new day must not make dbt
    re-parse the schema files (100+ tests, seconds on two cores), only the few models whose
    configuration depends on the run date."""
    def reparsed(day: str) -> list[str]:
        files: list[str] = []
        def collect(event) -> None:
            if event.info.name == "PartialParsingFile":
                files.append(event.data.file_id)
        result = corrupted.invoke("parse", env={"RETAILOPS_RUN_DATE": day}, callbacks=[collect])
        assert result.success, result.exception
        return files

    reparsed("2024-07-02")
    files = reparsed("2024-07-03")
    assert files, "a run date change re-parsed nothing: the base models read it at parse time"
    assert not [f for f in files if f.endswith(".yml")], files
    assert {f.rsplit("/", 1)[-1] for f in files} <= {"base_sales.sql", "base_inventory.sql",
                                                     "base_shipments.sql"}, files


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
