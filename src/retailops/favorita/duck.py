"""One way to open DuckDB for the study and to name a file inside SQL.

Every query over the download goes through a connection from :func:`connect`, so the memory
ceiling and the spill folder are set in one place: DuckDB streams CSV and Parquet and spills
hash tables to disk past ``memory_limit``, which is what keeps a 5 GB ``train.csv`` out of RAM.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import duckdb

from retailops.favorita.tables import TableSpec


@dataclass(frozen=True)
class DuckSettings:
    """Resource limits for the study's DuckDB connections."""

    memory_limit: str = "1GB"
    threads: int = 2
    temp_directory: str = "data/favorita/.duckdb_tmp"
    # False: a query's result may come out in any order unless it says ORDER BY, so DuckDB need
    # not hold finished chunks back to keep them in sequence (less memory on 125M-row COPYs).
    # Staging keeps the file's order on its own (loading.stage_table).
    preserve_insertion_order: bool = False

    @classmethod
    def from_params(cls, params: dict) -> "DuckSettings":
        """Build from the ``favorita.duckdb`` parameters block (missing keys keep defaults)."""
        block = params.get("duckdb", {}) or {}
        return cls(
            memory_limit=str(block.get("memory_limit", cls.memory_limit)),
            threads=int(block.get("threads", cls.threads)),
            temp_directory=str(
                block.get("temp_directory", Path(params.get("out_dir", "data/favorita")) / ".duckdb_tmp")
            ),
            preserve_insertion_order=bool(block.get("preserve_insertion_order", cls.preserve_insertion_order)),
        )


@contextmanager
def connect(settings: DuckSettings) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection with the study's limits; closed on exit."""
    Path(settings.temp_directory).mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(
        config={
            "memory_limit": settings.memory_limit,
            "threads": settings.threads,
            "temp_directory": settings.temp_directory,
            "preserve_insertion_order": settings.preserve_insertion_order,
        }
    )
    try:
        yield con
    finally:
        con.close()


def sql_string(value: str | Path) -> str:
    """``value`` as a single-quoted SQL literal (file paths may contain quotes)."""
    return "'" + str(value).replace("'", "''") + "'"


def csv_scan(path: Path, spec: TableSpec, rejects: str | None = None) -> str:
    """A ``read_csv`` call with the table's real column types, so DuckDB never guesses.

    DuckDB picks the decompression from the name (``.gz``, ``.zst``), so compressed files are
    read in place. With ``rejects`` (a name), malformed rows do not stop the read: DuckDB
    stores them, with their line numbers and its reason, in the temporary table ``rejects``
    (and the scan's settings in ``<rejects>_scan``).
    """
    columns = ", ".join(f"{sql_string(name)}: {sql_string(kind)}" for name, kind in spec.columns.items())
    reject_options = (
        f", store_rejects = true, rejects_table = {sql_string(rejects)}, "
        f"rejects_scan = {sql_string(rejects + '_scan')}"
        if rejects
        else ""
    )
    return (
        f"read_csv({sql_string(path)}, header = true, delim = ',', quote = '\"', "
        f"columns = {{{columns}}}, nullstr = ''{reject_options})"
    )


def header_scan(path: Path) -> str:
    """The file's lines as one untouched text column (no sniffing, any compression DuckDB reads).

    Used to read the header row by name before anything is parsed by position.
    """
    return (
        f"read_csv({sql_string(path)}, header = false, columns = {{'line': 'VARCHAR'}}, "
        "delim = chr(1), quote = '', escape = '', auto_detect = false)"
    )


def parquet_scan(path: str | Path, with_row_number: bool = False) -> str:
    """A ``read_parquet`` call; ``file_row_number`` is the physical order used for correlation."""
    extra = ", file_row_number = true" if with_row_number else ""
    return f"read_parquet({sql_string(path)}{extra})"


def whole_reason(exc: BaseException) -> str:
    """DuckDB's whole error message on one line: every line of its reason, joined with " | ".

    Only the echo of the SQL text (``LINE 1: ...`` and the caret under it) is left out: it
    shows the study's query, not what is wrong with the file.
    """
    lines = []
    for line in str(exc).splitlines():
        text = line.strip()
        if not text or text.startswith("LINE ") or set(text) <= {"^"}:
            continue
        lines.append(text)
    return " | ".join(lines) if lines else type(exc).__name__
