"""Which files of the download are there, are they the Kaggle release, and are they usable.

Every file is checked on its own: a missing, compressed-as-7z, wrongly-headed or unparseable file
is recorded in the availability table and the others are still loaded. Each staged file is then
judged against the release (:mod:`retailops.favorita.release`): rows and date coverage, with the
numbers expected and found. Only :func:`require_tables` stops a run, and only for the files the
daily sales mart cannot be built without; the availability table and the reject table are
written first, so the reason is kept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from retailops.favorita.duck import DuckSettings, connect
from retailops.favorita.errors import FavoritaInputError, FavoritaWriteError
from retailops.favorita.loading import (
    REJECT_COLUMNS,
    UnreadableFileError,
    WrongColumnsError,
    check_header,
    describe_rejects,
    extract_hint,
    locate,
    stage_table,
)
from retailops.favorita.release import RELEASE, check_mode, judge_file
from retailops.favorita.tables import TABLES

logger = logging.getLogger(__name__)

AVAILABILITY_COLUMNS = [
    "table",
    "filename",
    "status",
    "required",
    "size_bytes",
    "rows",
    "rejected_rows",
    "min_date",
    "max_date",
    "expected_rows",
    "release_status",
    "release_note",
    "staged_path",
    "error",
]

REJECTS_FILE = "rejects.parquet"


@dataclass(frozen=True)
class StageOptions:
    """How strictly the download is judged (``favorita.expect_release``, ``favorita.max_rejected_rows``)."""

    # "full": the whole Kaggle download, row counts compared; "sample": a cut of it.
    expect_release: str = "full"
    # Malformed lines tolerated per file (kept in rejects.parquet); above it the file is refused.
    # None: no reject table at all (staging ~15% faster), the first malformed line refuses the file.
    max_rejected_rows: int | None = 100

    @classmethod
    def from_params(cls, params: dict) -> "StageOptions":
        """Build from the ``favorita`` parameters (missing keys keep defaults)."""
        limit = params.get("max_rejected_rows", cls.max_rejected_rows)
        return cls(
            expect_release=check_mode(params.get("expect_release", cls.expect_release)),
            max_rejected_rows=None if limit is None else int(limit),
        )


def check_and_stage(
    data_dir: str | Path,
    out_dir: str | Path,
    settings: DuckSettings,
    options: StageOptions = StageOptions(),
) -> pd.DataFrame:
    """Check every file of the download, stage the usable ones as Parquet, judge them.

    Returns one row per table with ``status`` = ``ok`` | ``missing`` | ``compressed_7z`` |
    ``wrong_columns`` | ``unreadable`` | ``rejected``, the file size, row count, malformed rows
    and date range (from the staged Parquet, so each CSV is read only once), and the release
    verdict: ``release_status`` = ``passed`` | ``failed`` (a file the mart needs) | ``warned``
    | ``not_checked`` (not staged), with ``release_note`` giving expected and found numbers.
    Malformed rows of every file are written to ``<out_dir>/rejects.parquet``.
    """
    mode = check_mode(options.expect_release)
    data_dir = Path(data_dir)
    staged_dir = Path(out_dir) / "staged"
    if not data_dir.is_dir():
        raise FavoritaInputError(f"favorita.data_dir {str(data_dir)!r} is not a folder")
    rows: list[dict] = []
    rejects: list[pd.DataFrame] = []
    with connect(settings) as con:
        for spec in TABLES.values():
            row = {column: None for column in AVAILABILITY_COLUMNS}
            row.update(
                table=spec.name,
                filename=spec.filename,
                status="missing",
                required=spec.required,
                expected_rows=RELEASE[spec.name].rows,
                release_status="not_checked",
            )
            found = locate(data_dir, spec)
            # A stale Parquet from an earlier run must not stand in for a file now gone or refused.
            (staged_dir / f"{spec.name}.parquet").unlink(missing_ok=True)
            if found is not None:
                row.update(filename=found.path.name, size_bytes=found.path.stat().st_size)
                if not found.readable:
                    row.update(status="compressed_7z", error=extract_hint(found.path))
                else:
                    _stage_one(con, found.path, spec, staged_dir, options, row, rejects)
            if row["status"] == "ok":
                verdict, note = judge_file(spec.name, row["rows"], row["min_date"], row["max_date"], mode)
                row["release_status"] = "passed" if verdict == "passed" else (
                    "failed" if spec.required else "warned"
                )
                row["release_note"] = note
                if row["release_status"] != "passed":
                    logger.warning("favorita: %s does not match the Kaggle release: %s", row["filename"], note)
            rows.append(row)
    _write_rejects(rejects, Path(out_dir) / REJECTS_FILE)
    frame = pd.DataFrame(rows, columns=AVAILABILITY_COLUMNS)
    for column in ("size_bytes", "rows", "rejected_rows", "expected_rows"):
        frame[column] = frame[column].astype("Int64")
    for column in ("min_date", "max_date"):
        frame[column] = pd.to_datetime(frame[column])
    return frame


def _stage_one(con, path: Path, spec, staged_dir: Path, options: StageOptions, row: dict, rejects: list) -> None:
    """Header by name, then the streaming copy; fills ``row`` with what happened."""
    try:
        check_header(con, path, spec)
        staged = stage_table(con, path, spec, staged_dir, options.max_rejected_rows)
    except WrongColumnsError as exc:
        row.update(status="wrong_columns", error=str(exc))
        return
    except UnreadableFileError as exc:
        row.update(status="unreadable", error=str(exc))
        return
    rejects.append(staged.rejects)
    row["rejected_rows"] = staged.rejected_rows
    if staged.path is None:
        row.update(status="rejected", error=describe_rejects(staged, options.max_rejected_rows))
        return
    if staged.rejected_rows:
        logger.warning(
            "favorita: %s: %d malformed row(s) set aside in %s", path.name, staged.rejected_rows, REJECTS_FILE
        )
    row.update(
        status="ok",
        rows=staged.rows,
        min_date=staged.min_date,
        max_date=staged.max_date,
        staged_path=str(staged.path),
    )


def _write_rejects(rejects: list[pd.DataFrame], target: Path) -> None:
    """Every file's malformed rows in one Parquet (empty when there are none)."""
    frames = [frame for frame in rejects if len(frame)]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=REJECT_COLUMNS)
    frame = frame.astype({"line": "int64"}) if len(frame) else frame.astype({"line": "int64"}, errors="ignore")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(target, index=False)
    except OSError as exc:
        raise FavoritaWriteError(f"cannot write {str(target)!r}: {exc}") from exc


def staged_paths(availability: pd.DataFrame) -> dict[str, str]:
    """``{table: parquet path}`` for the tables that loaded."""
    usable = availability[availability["status"] == "ok"]
    return dict(zip(usable["table"], usable["staged_path"]))


def require_tables(availability: pd.DataFrame, data_dir: str | Path) -> dict[str, str]:
    """The staged paths, or one clear error if a file the mart needs is unusable or not the release."""
    problems = []
    for row in availability.itertuples():
        if not row.required:
            continue
        if row.status != "ok":
            problems.append(f"{row.filename} ({row.status}{': ' + row.error if row.error else ''})")
        elif getattr(row, "release_status", "passed") == "failed":
            problems.append(f"{row.filename} (not the Kaggle release: {row.release_note})")
    if problems:
        # A cut of the download judged as the whole release: say how to tell the study so.
        hint = (
            " (a sample of the download? run with --params favorita.expect_release=sample)"
            if any(", the release has " in problem for problem in problems)
            else ""
        )
        raise FavoritaInputError(
            f"cannot build the Favorita mart from {str(data_dir)!r}: " + "; ".join(problems) + hint
        )
    return staged_paths(availability)
