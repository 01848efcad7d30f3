"""Which files of the download are there, and are they usable.

Every file is checked on its own: a missing or unparseable file is recorded in the availability
table and the others are still loaded. Only :func:`require_tables` stops a run, and only for the
files the daily sales mart cannot be built without.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from retailops.favorita.duck import DuckSettings, connect
from retailops.favorita.errors import FavoritaInputError
from retailops.favorita.loading import UnreadableFileError, stage_table
from retailops.favorita.tables import TABLES

AVAILABILITY_COLUMNS = [
    "table",
    "filename",
    "status",
    "required",
    "size_bytes",
    "rows",
    "min_date",
    "max_date",
    "staged_path",
    "error",
]


def check_and_stage(data_dir: str | Path, out_dir: str | Path, settings: DuckSettings) -> pd.DataFrame:
    """Check every file of the download and stage the readable ones as Parquet.

    Returns one row per table with ``status`` = ``ok`` | ``missing`` | ``unreadable``, the file
    size, row count and date range (from the staged Parquet, so each CSV is read only once).
    """
    data_dir = Path(data_dir)
    staged_dir = Path(out_dir) / "staged"
    if not data_dir.is_dir():
        raise FavoritaInputError(f"favorita.data_dir {str(data_dir)!r} is not a folder")
    rows: list[dict] = []
    with connect(settings) as con:
        for spec in TABLES.values():
            csv_path = data_dir / spec.filename
            row = {
                "table": spec.name,
                "filename": spec.filename,
                "status": "missing",
                "required": spec.required,
                "size_bytes": None,
                "rows": None,
                "min_date": None,
                "max_date": None,
                "staged_path": None,
                "error": None,
            }
            if csv_path.is_file():
                row["size_bytes"] = csv_path.stat().st_size
                try:
                    staged = stage_table(con, csv_path, spec, staged_dir)
                except UnreadableFileError as exc:
                    row.update(status="unreadable", error=str(exc))
                else:
                    row.update(
                        status="ok",
                        rows=staged.rows,
                        min_date=staged.min_date,
                        max_date=staged.max_date,
                        staged_path=str(staged.path),
                    )
            else:
                # A stale Parquet from an earlier run must not stand in for a file now gone.
                (staged_dir / f"{spec.name}.parquet").unlink(missing_ok=True)
            rows.append(row)
    frame = pd.DataFrame(rows, columns=AVAILABILITY_COLUMNS)
    frame["size_bytes"] = frame["size_bytes"].astype("Int64")
    frame["rows"] = frame["rows"].astype("Int64")
    for column in ("min_date", "max_date"):
        frame[column] = pd.to_datetime(frame[column])
    return frame


def staged_paths(availability: pd.DataFrame) -> dict[str, str]:
    """``{table: parquet path}`` for the tables that loaded."""
    usable = availability[availability["status"] == "ok"]
    return dict(zip(usable["table"], usable["staged_path"]))


def require_tables(availability: pd.DataFrame, data_dir: str | Path) -> dict[str, str]:
    """The staged paths, or one clear error if a file the mart needs is missing or unreadable."""
    problems = [
        f"{row.filename} ({row.status}{': ' + row.error if row.error else ''})"
        for row in availability.itertuples()
        if row.required and row.status != "ok"
    ]
    if problems:
        raise FavoritaInputError(
            f"cannot build the Favorita mart from {str(data_dir)!r}: " + "; ".join(problems)
        )
    return staged_paths(availability)
