"""Reading the promotion plan as it was known on a day (for forecasters and the closed loop).

The lake holds one publication per Monday (``raw/promotions/dt=<Monday>/promotions.csv``),
each covering its own week and the four after it, so a week is published up to five times.
``read_plan`` keeps, for every week, the latest publication dated on or before ``as_of``:
what a planner could have known that day, never a later publication. Only complete
partitions (with a manifest) are read, and their bytes are checked against the manifest.
"""

from __future__ import annotations

import hashlib
import io
from datetime import date, timedelta

import pandas as pd

from retailops.errors import CorruptPartitionError
from retailops.lake import layout
from retailops.lake.partitions import read_manifests
from retailops.lake.storage import Lake
from retailops.simulation import RAW_COLUMNS
from retailops.simulation.promotions import WEEKS_AHEAD

TABLE = "promotions"
PLAN_COLUMNS = ("product_id", "start_date", "end_date", "discount_pct")


def _empty_plan() -> pd.DataFrame:
    return pd.DataFrame({
        "product_id": pd.Series([], dtype=object),
        "start_date": pd.Series([], dtype="datetime64[ns]"),
        "end_date": pd.Series([], dtype="datetime64[ns]"),
        "discount_pct": pd.Series([], dtype=float),
    })


def read_publications(lake: Lake, days: list[date]) -> pd.DataFrame:
    """The rows of the given complete publications (all contract columns, text as landed,
    discount as float), each file checked against its manifest's sha256."""
    manifests = read_manifests(lake, TABLE, days)
    paths = {layout.fact_file(TABLE, d): d for d in sorted(manifests)}
    found = lake.read_many(list(paths))
    frames = []
    for relative, day in paths.items():
        data = found.get(relative)
        if data is None:
            raise CorruptPartitionError(
                f"partition {lake.url(relative)} is missing but has a manifest")
        if hashlib.sha256(data).hexdigest() != manifests[day].sha256:
            raise CorruptPartitionError(
                f"partition {lake.url(relative)} does not match its manifest (sha256)")
        frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
        if tuple(frame.columns) != RAW_COLUMNS[TABLE]:
            raise CorruptPartitionError(
                f"partition {lake.url(relative)} has drifted columns: expected "
                f"{','.join(RAW_COLUMNS[TABLE])}, found {','.join(frame.columns)}")
        frames.append(frame)
    if not frames:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in RAW_COLUMNS[TABLE]})
    rows = pd.concat(frames, ignore_index=True)
    rows["discount_pct"] = rows["discount_pct"].astype(float)
    return rows


def read_plan(lake: Lake, as_of: date) -> pd.DataFrame:
    """The promotion plan as known on ``as_of``: for each week, the rows of the latest
    complete publication dated on or before ``as_of`` that covers it (a publication covers
    its Monday's week and the four after it). Columns ``product_id`` (str), ``start_date``
    and ``end_date`` (datetime64[ns], Monday and Sunday), ``discount_pct`` (float); one row per
    promoted product and week, sorted by week then product. Products not listed are not
    promoted that week; weeks no publication covered yet are absent (assume no promotion)."""
    if isinstance(as_of, pd.Timestamp):
        as_of = as_of.date()
    published = sorted(d for d in read_manifests(lake, TABLE) if d <= as_of)
    if not published:
        return _empty_plan()
    # The latest publication covering each week. A week none of its rows mention is still
    # covered (no promotions that week), so coverage comes from the rule, not from the rows.
    latest: dict[date, date] = {}
    for monday in published:
        for k in range(WEEKS_AHEAD):
            latest[monday + timedelta(days=7 * k)] = monday
    needed = sorted(set(latest.values()))
    rows = read_publications(lake, needed)
    if rows.empty:
        return _empty_plan()
    week = rows["start_date"].map(date.fromisoformat)
    publication = rows["published_date"].map(date.fromisoformat)
    keep = [latest.get(w) == p for w, p in zip(week, publication)]
    plan = rows.loc[keep, list(PLAN_COLUMNS)].copy()
    plan["product_id"] = plan["product_id"].astype(str)
    plan["start_date"] = pd.to_datetime(plan["start_date"]).astype("datetime64[ns]")
    plan["end_date"] = pd.to_datetime(plan["end_date"]).astype("datetime64[ns]")
    plan["discount_pct"] = plan["discount_pct"].astype(float)
    return plan.sort_values(["start_date", "product_id"], ignore_index=True)
