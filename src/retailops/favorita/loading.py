"""Streaming the download into typed Parquet through DuckDB.

Each CSV is read once, with its real column types, and copied to ``<out_dir>/staged/<table>.parquet``
in file order. Nothing here materialises a table in Python: DuckDB streams the CSV in chunks,
so a 125M-row ``train.csv`` costs a bounded amount of memory. Everything downstream (profiling,
quality checks, cleaning, the mart) reads the Parquet, which is typed, compressed and columnar.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from retailops.favorita.duck import csv_scan, first_line, parquet_scan, sql_string
from retailops.favorita.tables import TableSpec


@dataclass(frozen=True)
class StagedTable:
    """What loading one file produced: Parquet path, rows and date range."""

    path: Path
    rows: int
    min_date: date | None
    max_date: date | None


class UnreadableFileError(Exception):
    """A file exists but DuckDB cannot parse it with the table's schema (internal signal)."""


def stage_table(
    con: duckdb.DuckDBPyConnection, csv_path: Path, spec: TableSpec, out_dir: Path
) -> StagedTable:
    """Copy one CSV to typed Parquet in file order and return its row count and date range."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{spec.name}.parquet"
    # Written to a side file first so a failed parse never leaves a half file under the real name.
    partial = target.with_suffix(".parquet.partial")
    try:
        con.execute(
            f"COPY (SELECT * FROM {csv_scan(csv_path, spec)}) TO {sql_string(partial)} "
            "(FORMAT parquet, COMPRESSION zstd)"
        ).fetchall()
    except duckdb.Error as exc:
        partial.unlink(missing_ok=True)
        raise UnreadableFileError(first_line(exc)) from exc
    partial.replace(target)
    date_sql = (
        f"min({spec.date_column}), max({spec.date_column})" if spec.date_column else "NULL, NULL"
    )
    rows, min_date, max_date = con.execute(
        f"SELECT count(*), {date_sql} FROM {parquet_scan(target)}"
    ).fetchall()[0]
    return StagedTable(target, int(rows), min_date, max_date)


# DuckDB types -> pandas dtypes for an absent table's empty frame.
_EMPTY_DTYPES = {
    "BIGINT": "int64",
    "INTEGER": "int32",
    "SMALLINT": "int16",
    "DOUBLE": "float64",
    "DATE": "datetime64[us]",
    "BOOLEAN": "boolean",
    "VARCHAR": "object",
}


def read_small_table(staged: dict[str, str], spec: TableSpec) -> pd.DataFrame:
    """A staged dimension table as a DataFrame, or an empty one with its columns if it is absent.

    Only for the small files (stores, items, oil, holidays, transactions: thousands of rows):
    ``train`` and ``test`` stay in DuckDB.
    """
    if spec.name not in staged:
        return pd.DataFrame(
            {name: pd.Series(dtype=_EMPTY_DTYPES[kind]) for name, kind in spec.columns.items()}
        )
    frame = pd.read_parquet(staged[spec.name])
    for name, kind in spec.columns.items():
        if kind == "DATE":
            frame[name] = pd.to_datetime(frame[name])
    return frame
