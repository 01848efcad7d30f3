"""The base models' typing of raw text (macros/cross_adapter.sql: raw_integer, raw_double) on
DuckDB: the cheaper expressions (issue 13, docs/scale.md finding 12) give what the models
always gave: surrounding spaces trimmed, empty text NULL, malformed text NULL, integers only
from an optional sign and digits. The expected values are written here by hand."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import pytest

from dbt_harness import DbtProject, failures, new_project

NBSP = "\u00a0"
# raw text -> (integer, double) as the models type it
CASES = {
    "7": (7, 7.0), " 7 ": (7, 7.0), "+7": (7, 7.0), " -7  ": (-7, -7.0), "007": (7, 7.0),
    "": (None, None), "   ": (None, None), None: (None, None),
    "7.5": (None, 7.5), "1e1": (None, 10.0), " 1.5 ": (None, 1.5), ".5": (None, 0.5),
    "\t7": (None, 7.0), "7\n": (None, 7.0), "1 5": (None, None), "abc": (None, None),
    "+": (None, None), "0x10": (None, None), "99999999999": (None, 99999999999.0),
    # trim() removes a no-break space (a Unicode space separator); the casts alone do not skip it
    f"{NBSP}7": (7, 7.0), f"3{NBSP}": (3, 3.0), f"{NBSP}1.5{NBSP}": (None, 1.5),
    f"{NBSP}x": (None, None),
}
# where the bigint differs from the integer (out of the integer's range)
BIGINT = {"99999999999": 99999999999}


def _compile(tmp_path_factory: pytest.TempPathFactory, sql: str) -> str:
    """``sql`` (reading a table ``cases`` with one text column ``x``) compiled by dbt for DuckDB."""
    tmp = tmp_path_factory.mktemp("raw_typing")
    project: DbtProject = new_project(tmp, tmp / "lake")
    result = project.invoke("compile", "--inline", sql)
    assert result.success, failures(result)
    return result.result.results[0].node.compiled_code


def _typed(sql: str, cases: dict) -> dict:
    """Each case's text -> the rest of its row, ``sql`` run on a table of the cases."""
    con = duckdb.connect()
    con.execute("create table cases (x varchar)")
    con.executemany("insert into cases values (?)", [[text] for text in cases])
    return {row[0]: row[1:] for row in con.execute(sql).fetchall()}


@pytest.fixture(scope="module")
def compiled_sql(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _compile(tmp_path_factory,
                    "select x, {{ raw_integer('x') }} as i, {{ raw_integer('x', 'bigint') }} as b, "
                    "{{ raw_double('x') }} as d from cases")


def test_the_duckdb_typing_is_the_cheaper_expression(compiled_sql: str) -> None:
    # The point of the macros: the untrimmed cast first, the trimmed one only as the fallback.
    assert "when regexp_full_match(x, ' *[+-]?[0-9]+ *') then try_cast(x as integer)" in compiled_sql
    assert "case when strlen(x) = length(x) then try_cast(x as double)" in compiled_sql
    assert "case when cast(try_cast(x as integer) as varchar) = x then try_cast(x as integer)" in compiled_sql


@pytest.mark.parametrize("text", list(CASES), ids=[repr(t) for t in CASES])
def test_raw_text_is_typed_as_written_by_hand(compiled_sql: str, text: str | None) -> None:
    integer, double = CASES[text]
    i, b, d = _typed(compiled_sql, CASES)[text]
    assert i == integer and b == BIGINT.get(text, integer)
    assert (d is None and double is None) or math.isclose(d, double)


# raw text -> (text, timestamp) as base_sales keeps ids and parses sold_at (trim, empty is null)
TEXT_CASES = {
    "ST001": ("ST001", None), " ST001 ": ("ST001", None), "ST 001": ("ST 001", None),
    "": (None, None), "  ": (None, None), None: (None, None),
    "\tP7": ("\tP7", None), f"{NBSP}P7{NBSP}": ("P7", None), "é": ("é", None),
    "2024-07-01T13:45:12": ("2024-07-01T13:45:12", "2024-07-01 13:45:12"),
    " 2024-07-01T13:45:12 ": ("2024-07-01T13:45:12", "2024-07-01 13:45:12"),
    f"{NBSP}2024-07-01T13:45:12": ("2024-07-01T13:45:12", "2024-07-01 13:45:12"),
    "2024-07-01 13:45:12": ("2024-07-01 13:45:12", None), "2024-02-30T10:00:00": ("2024-02-30T10:00:00", None),
    "2024-07-01": ("2024-07-01", None), "2024-07-01T13:45:12Z": ("2024-07-01T13:45:12Z", None),
}


@pytest.fixture(scope="module")
def compiled_text_sql(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _compile(tmp_path_factory, "select x, {{ raw_text('x') }} as t, "
                    "cast({{ raw_timestamp('x') }} as varchar) as ts from cases")


def test_the_duckdb_text_typing_keeps_plain_text_untrimmed(compiled_text_sql: str) -> None:
    assert "case when strlen(x) = length(x) and not starts_with(x, ' ')" in compiled_text_sql


@pytest.mark.parametrize("text", list(TEXT_CASES), ids=[repr(t) for t in TEXT_CASES])
def test_raw_ids_and_timestamps_are_typed_as_written_by_hand(compiled_text_sql: str,
                                                              text: str | None) -> None:
    assert _typed(compiled_text_sql, TEXT_CASES)[text] == TEXT_CASES[text]
