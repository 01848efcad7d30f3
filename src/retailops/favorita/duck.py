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
        }
    )
    try:
        yield con
    finally:
        con.close()


def sql_string(value: str | Path) -> str:
    """``value`` as a single-quoted SQL literal (file paths may contain quotes)."""
    return "'" + str(value).replace("'", "''") + "'"


def csv_scan(path: Path, spec: TableSpec) -> str:
    """A ``read_csv`` call with the table's real column types, so DuckDB never guesses."""
    columns = ", ".join(f"{sql_string(name)}: {sql_string(kind)}" for name, kind in spec.columns.items())
    return (
        f"read_csv({sql_string(path)}, header = true, delim = ',', quote = '\"', "
        f"columns = {{{columns}}}, nullstr = '')"
    )


def parquet_scan(path: str | Path, with_row_number: bool = False) -> str:
    """A ``read_parquet`` call; ``file_row_number`` is the physical order used for correlation."""
    extra = ", file_row_number = true" if with_row_number else ""
    return f"read_parquet({sql_string(path)}{extra})"


def first_line(exc: BaseException) -> str:
    """The first informative line of a DuckDB error plus the CSV line it names, if any."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    detail = next((line for line in lines[1:] if line.startswith("Error when converting")), "")
    return f"{lines[0]} {detail}".strip()
