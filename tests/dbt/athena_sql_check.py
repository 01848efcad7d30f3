"""An offline check of SQL meant for Athena (Trino engine): it must parse as Athena/Trino SQL
and use none of DuckDB's own syntax or functions.

sqlglot alone is lenient (it happily parses DuckDB's ``::`` or ``strptime`` as Athena), so the
parse is paired with an explicit list of DuckDB-only constructs. This proves syntax and
function names, not results: nothing here runs a query.
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot.errors import ErrorLevel

# Functions DuckDB has and Athena (Trino 3) does not, or has under another meaning.
DUCKDB_ONLY_FUNCTIONS = (
    "strptime", "try_strptime", "strftime", "read_csv", "read_csv_auto", "read_json",
    "read_json_auto", "read_parquet", "parquet_scan", "range", "generate_series", "epoch_ms",
    "struct_pack", "struct_extract", "list_value", "list_aggregate", "list_transform",
    "list_filter", "list_contains", "list_sort", "isodow", "dayname", "monthname", "datediff",
    "datetrunc", "regexp_full_match", "regexp_matches", "string_agg", "arg_max", "arg_min",
    "ifnull", "len", "strlen", "today", "make_date", "epoch", "columns", "unnest_struct",
)
# Anything called list_*( is a DuckDB list function.
DUCKDB_ONLY_PATTERNS = {
    "'::' cast": r"::",
    "QUALIFY": r"\bqualify\b",
    "SELECT * EXCLUDE": r"\bexclude\s*\(",
    "SELECT * REPLACE": r"\*\s*replace\s*\(",
    "ILIKE": r"\bilike\b",
    "integer division //": r"//",
    "UNION BY NAME": r"\bunion\s+(all\s+)?by\s+name\b",
    "USING SAMPLE": r"\busing\s+sample\b",
    "list_* function": r"\blist_\w+\s*\(",
    "CREATE OR REPLACE TABLE": r"\bcreate\s+or\s+replace\s+table\b",
    "COPY ... TO": r"\bcopy\s*\(",
}


def _strip_literals(sql: str) -> str:
    """Drop comments and string literals, so that text inside them is not flagged."""
    sql = re.sub(r"--[^\n]*", " ", sql)
    sql = re.sub(r"/\*.*?\*/", " ", sql, flags=re.S)
    return re.sub(r"'(?:[^']|'')*'", "''", sql)


def duckdb_only_constructs(sql: str) -> list[str]:
    """Names of the DuckDB-only constructs the statement uses (empty when clean)."""
    code = _strip_literals(sql).lower()
    found = [name for name, pattern in DUCKDB_ONLY_PATTERNS.items() if re.search(pattern, code)]
    found += [f"{name}()" for name in DUCKDB_ONLY_FUNCTIONS
              if re.search(rf"(?<![\w.\"]){name}\s*\(", code)]
    return found


def athena_problems(sql: str) -> list[str]:
    """Everything wrong with a statement meant for Athena; empty when it passes."""
    problems = []
    for dialect in ("athena", "trino"):
        try:
            statements = sqlglot.parse(sql, read=dialect, error_level=ErrorLevel.RAISE)
            if not [s for s in statements if s is not None]:
                problems.append(f"{dialect}: no statement")
        except sqlglot.errors.SqlglotError as error:
            problems.append(f"{dialect} parse error: {str(error).splitlines()[0]}")
    problems += [f"DuckDB-only: {name}" for name in duckdb_only_constructs(sql)]
    return problems
