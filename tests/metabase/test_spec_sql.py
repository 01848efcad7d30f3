"""The questions' SQL runs on DuckDB against empty marts with the contract's columns.

Metabase replaces an unset field filter with ``1 = 1``; doing the same here checks that every
question parses and names only columns the marts have (not the numbers it returns).
"""

from __future__ import annotations

import re

import duckdb
import pytest
import yaml

from retailops.dashboards.metabase.spec import MARTS_TOKEN

from .conftest import SPEC_PATH
from .standin import MART_TABLES

QUESTIONS = yaml.safe_load(SPEC_PATH.read_text())["questions"]


def _column_type(column: str) -> str:
    if column.endswith("_date") or column in {"date_day"}:
        return "date"
    if column.startswith("is_"):
        return "boolean"
    if column.endswith(("_name", "_id", "_country", "_type")) or column in {
            "category", "subcategory", "brand", "city", "region", "cluster", "model",
            "model_version", "level", "level_key", "against"}:
        return "varchar"
    return "double"


@pytest.fixture(scope="module")
def marts():
    con = duckdb.connect()
    con.execute("create schema marts")
    for table, columns in MART_TABLES.items():
        cols = ", ".join(f"{c} {_column_type(c)}" for c in columns)
        con.execute(f"create table marts.{table} ({cols})")
    # The Favorita study's mart, served in a schema of its own (tests/favorita runs these
    # questions on the real published mart).
    from retailops.favorita.mart import MART_COLUMNS

    con.execute("create schema favorita")
    types = {"date": "date", "family": "varchar", "state": "varchar", "store_nbr": "integer"}
    cols = ", ".join(f"{c} {types.get(c, _column_type(c))}" for c in MART_COLUMNS)
    con.execute(f"create table favorita.daily_sales_store_family ({cols})")
    yield con
    con.close()


@pytest.mark.parametrize("key", sorted(QUESTIONS))
def test_each_question_runs_on_the_marts(marts, key):
    sql = QUESTIONS[key]["sql"].replace(MARTS_TOKEN, "marts")
    sql = re.sub(r"\{\{\s*\w+\s*\}\}", "1 = 1", sql)
    marts.execute(sql).fetchall()
