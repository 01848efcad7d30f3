"""What the Kaggle "favorita-grocery-sales-forecasting" release contains, and a download checked
against it.

The facts (row counts per file, date range per dated file) were checked against published
descriptions of the download: the column names and row counts of all seven files, the train
(2013-01-01..2017-08-15), test (2017-08-16..2017-08-31) and transactions (2013-01-01..2017-08-15)
ranges and the first holiday (2012-03-02). The last holiday (2017-12-26) and the oil range's end
(2017-08-31, "values during both the train and test timeframes") come from the competition's data
page as the study was first written; they could not be re-checked from a second source.
Column names and order are :mod:`retailops.favorita.tables`' (the files' own).

A download is judged per file:

- ``full``: the row count must equal the release's; ``sample`` (a cut of the real files, or the
  test fixtures): a row count above the release's is still wrong, a smaller one is expected.
- In both modes each dated file must cover its release range: a train.csv that stops at
  2014-03-31 is a truncated download, whatever its size.

A mismatch in a file the mart needs (train, stores, items) fails the run; in an optional file it
is a warning and the run goes on, because the study can still say something without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

RELEASE_NAME = "favorita-grocery-sales-forecasting"
EXPECT_MODES = ("full", "sample")


@dataclass(frozen=True)
class ReleaseFile:
    """One file of the release as Kaggle ships it."""

    rows: int
    start: date | None = None
    end: date | None = None


RELEASE: dict[str, ReleaseFile] = {
    "train": ReleaseFile(125_497_040, date(2013, 1, 1), date(2017, 8, 15)),
    "test": ReleaseFile(3_370_464, date(2017, 8, 16), date(2017, 8, 31)),
    "stores": ReleaseFile(54),
    "items": ReleaseFile(4_100),
    "oil": ReleaseFile(1_218, date(2013, 1, 1), date(2017, 8, 31)),
    "holidays_events": ReleaseFile(350, date(2012, 3, 2), date(2017, 12, 26)),
    "transactions": ReleaseFile(83_488, date(2013, 1, 1), date(2017, 8, 15)),
}


def check_mode(expect_release: str) -> str:
    """``full`` or ``sample``; anything else is a parameter error naming the choices."""
    from retailops.errors import InvalidParameterError

    mode = str(expect_release).strip().lower()
    if mode not in EXPECT_MODES:
        raise InvalidParameterError(
            f"favorita.expect_release is {expect_release!r}; use 'full' (the whole Kaggle download) "
            "or 'sample' (a cut of it: row counts are not compared, date coverage still is)"
        )
    return mode


def _day(value) -> date | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    return pd.Timestamp(value).date()


def judge_file(table: str, rows: int, min_date, max_date, mode: str) -> tuple[str, str]:
    """``(verdict, note)`` for one staged file: verdict ``passed`` or ``mismatch``.

    The note carries the numbers, expected and found, so the user can tell a truncated download
    from a sample from the wrong file.
    """
    release = RELEASE[table]
    problems: list[str] = []
    if mode == "full" and rows != release.rows:
        problems.append(f"{rows:,} rows, the release has {release.rows:,}")
    elif mode == "sample" and rows > release.rows:
        problems.append(f"{rows:,} rows, more than the release's {release.rows:,}")
    if release.start is not None:
        first, last = _day(min_date), _day(max_date)
        expected = f"{release.start.isoformat()}..{release.end.isoformat()}"
        if first is None:
            problems.append(f"no dates, the release covers {expected}")
        elif first != release.start or last != release.end:
            problems.append(f"dates {first.isoformat()}..{last.isoformat()}, the release covers {expected}")
    if problems:
        return "mismatch", "; ".join(problems)
    rows_note = f"{rows:,} rows as released" if mode == "full" else f"{rows:,} rows (sample)"
    dates_note = (
        f", dates {release.start.isoformat()}..{release.end.isoformat()} as released"
        if release.start is not None
        else ""
    )
    return "passed", rows_note + dates_note
