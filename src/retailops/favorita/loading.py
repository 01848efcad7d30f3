"""Streaming the download into typed Parquet through DuckDB.

Each CSV is read once, with its real column types, and copied to ``<out_dir>/staged/<table>.parquet``
in file order. Nothing here materialises a table in Python: DuckDB streams the CSV in chunks,
so a 125M-row ``train.csv`` costs a bounded amount of memory. Everything downstream (profiling,
quality checks, cleaning, the mart) reads the Parquet, which is typed, compressed and columnar.

Before a file is parsed by position its header is read by name, so a file with two columns
swapped is refused instead of staged. Malformed rows do not stop the read: DuckDB keeps them in
a reject table (line number, column, its reason) and the caller decides, against the user's
threshold, whether the file is still usable. A file is found under its plain name or compressed
(``.csv.gz``, ``.csv.zst``, read in place); a ``.csv.7z`` is named with the command that
extracts it, since DuckDB cannot read 7-Zip.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Iterator

import duckdb
import pandas as pd

from retailops.favorita.duck import csv_scan, header_scan, parquet_scan, sql_string, whole_reason
from retailops.favorita.errors import FavoritaWriteError
from retailops.favorita.tables import TableSpec

# Suffixes DuckDB decompresses while it reads, in the order a folder is searched.
READABLE_SUFFIXES = ("", ".gz", ".zst")
SEVEN_ZIP_SUFFIX = ".7z"

REJECT_COLUMNS = ["table", "filename", "line", "column_name", "error_type", "csv_line", "error_message"]

# At most this many reject records beyond the user's threshold are kept: enough to show what is
# wrong, and a wholly wrong 5 GB file cannot fill memory with rejects.
REJECTS_KEPT_BEYOND_LIMIT = 10_000


@dataclass(frozen=True)
class StagedTable:
    """What loading one file produced: Parquet path, rows, date range and malformed rows."""

    path: Path | None
    rows: int
    min_date: date | None
    max_date: date | None
    rejects: pd.DataFrame

    @property
    def rejected_rows(self) -> int:
        """Malformed lines (DuckDB may record several problems on one line)."""
        return int(self.rejects["line"].nunique()) if len(self.rejects) else 0


class UnreadableFileError(Exception):
    """A file exists but DuckDB cannot parse it with the table's schema (internal signal)."""


class WrongColumnsError(Exception):
    """The file's header names other columns, or the same in another order (internal signal)."""


@dataclass(frozen=True)
class FoundFile:
    """Where a table's file is in the download, and whether DuckDB can read it."""

    path: Path
    readable: bool


def locate(data_dir: Path, spec: TableSpec) -> FoundFile | None:
    """The table's file under its plain or compressed name, or ``None`` if there is none."""
    for suffix in READABLE_SUFFIXES:
        candidate = data_dir / f"{spec.filename}{suffix}"
        if candidate.is_file():
            return FoundFile(candidate, True)
    archive = data_dir / f"{spec.filename}{SEVEN_ZIP_SUFFIX}"
    if archive.is_file():
        return FoundFile(archive, False)
    return None


def extract_hint(archive: Path) -> str:
    """One line telling the user how to turn ``train.csv.7z`` into something DuckDB reads."""
    return (
        f"{archive.name} is a 7-Zip archive, which DuckDB cannot read: extract it first "
        f"(cd {str(archive.parent)!r} && 7z x {archive.name}), or recompress it as "
        f"{archive.name[: -len(SEVEN_ZIP_SUFFIX)]}.gz or .zst to read it in place"
    )


@contextmanager
def in_file_order(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Results in the file's order while inside, whatever ``preserve_insertion_order`` says.

    Without it a parallel scan of a big file may hand back any line as the "first", and a COPY
    may write rows out of file order.
    """
    before = con.execute("SELECT current_setting('preserve_insertion_order')").fetchall()[0][0]
    con.execute("SET preserve_insertion_order = true")
    try:
        yield
    finally:
        con.execute(f"SET preserve_insertion_order = {'true' if before else 'false'}")


def check_header(con: duckdb.DuckDBPyConnection, csv_path: Path, spec: TableSpec) -> None:
    """Raise :class:`WrongColumnsError` unless the header names the release's columns, in order."""
    try:
        with in_file_order(con):
            first = con.execute(f"SELECT line FROM {header_scan(csv_path)} LIMIT 1").fetchall()
    except duckdb.Error as exc:
        raise UnreadableFileError(whole_reason(exc)) from exc
    if not first or first[0][0] is None:
        raise UnreadableFileError("the file is empty (no header row)")
    found = [name.strip().strip('"').lstrip("\ufeff") for name in first[0][0].split(",")]
    expected = list(spec.columns)
    if found != expected:
        raise WrongColumnsError(
            f"header has columns {', '.join(found)}; the Kaggle release has {', '.join(expected)}"
        )


def stage_table(
    con: duckdb.DuckDBPyConnection,
    csv_path: Path,
    spec: TableSpec,
    out_dir: Path,
    max_rejected_rows: int | None = None,
) -> StagedTable:
    """Copy one CSV to typed Parquet in file order; malformed rows go to the returned rejects.

    Above ``max_rejected_rows`` malformed lines the Parquet is not kept (``path`` is ``None``):
    the file is not trusted. ``None`` means no malformed row is set aside: the first one stops
    the read with DuckDB's reason.
    """
    target = out_dir / f"{spec.name}.parquet"
    # Written to a side file first so a failed parse never leaves a half file under the real name.
    partial = target.with_suffix(".parquet.partial")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        # Opened here first so a folder that cannot be written is named as such, not blamed on
        # the CSV being read.
        partial.open("wb").close()
    except OSError as exc:
        raise FavoritaWriteError(f"cannot write {str(partial)!r} while staging {csv_path.name}: {exc}") from exc
    rejects_table = f"rejects_{spec.name}" if max_rejected_rows is not None else None
    scan = csv_scan(csv_path, spec, rejects_table)
    if rejects_table:
        scan = scan[:-1] + f", rejects_limit = {int(max_rejected_rows) + REJECTS_KEPT_BEYOND_LIMIT})"
    try:
        # The staged Parquet keeps the file's row order (profiling measures it).
        with in_file_order(con):
            con.execute(
                f"COPY (SELECT * FROM {scan}) TO {sql_string(partial)} (FORMAT parquet, COMPRESSION zstd)"
            ).fetchall()
    except duckdb.Error as exc:
        partial.unlink(missing_ok=True)
        reason = whole_reason(exc)
        if str(partial) in str(exc):
            raise FavoritaWriteError(f"cannot write {str(partial)!r} while staging {csv_path.name}: {reason}") from exc
        raise UnreadableFileError(reason) from exc
    rejects = _rejects(con, rejects_table, spec, csv_path)
    staged = StagedTable(target, 0, None, None, rejects)
    if max_rejected_rows is not None and staged.rejected_rows > max_rejected_rows:
        partial.unlink(missing_ok=True)
        return StagedTable(None, 0, None, None, rejects)
    partial.replace(target)
    date_sql = (
        f"min({spec.date_column}), max({spec.date_column})" if spec.date_column else "NULL, NULL"
    )
    rows, min_date, max_date = con.execute(
        f"SELECT count(*), {date_sql} FROM {parquet_scan(target)}"
    ).fetchall()[0]
    return StagedTable(target, int(rows), min_date, max_date, rejects)


def _rejects(
    con: duckdb.DuckDBPyConnection, rejects_table: str | None, spec: TableSpec, csv_path: Path
) -> pd.DataFrame:
    """DuckDB's reject records of one read, in line order (empty without a reject table)."""
    if rejects_table is None:
        return pd.DataFrame(columns=REJECT_COLUMNS)
    frame = con.execute(
        f"""
        SELECT {sql_string(spec.name)} AS "table", {sql_string(csv_path.name)} AS filename,
               line::BIGINT AS line, column_name, error_type::VARCHAR AS error_type, csv_line,
               error_message
        FROM {rejects_table} ORDER BY line, column_idx
        """
    ).df()
    con.execute(f"DROP TABLE IF EXISTS {rejects_table}")
    con.execute(f"DROP TABLE IF EXISTS {rejects_table}_scan")
    return frame[REJECT_COLUMNS]


def describe_rejects(staged: StagedTable, limit: int) -> str:
    """One line: how many malformed lines, the limit, and the first with DuckDB's reason."""
    count = staged.rejected_rows
    first = staged.rejects.iloc[0]
    column = f", column {first['column_name']}" if first["column_name"] else ""
    noun = "row" if count == 1 else "rows"
    return (
        f"{count:,} malformed {noun}, more than favorita.max_rejected_rows = {limit:,} (all in rejects.parquet); "
        f"first at line {int(first['line'])}{column}: {first['error_type']}: {first['error_message']}"
    )


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
