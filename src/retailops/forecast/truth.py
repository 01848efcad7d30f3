"""The simulation's ground truth per store × product × day, read back from the lake for scoring.

Every landed day has ``metadata/truth/dt=YYYY-MM-DD/demand.parquet`` (written by ingest beside
the raw facts): the expected demand (``expected_units``, the mean the simulation drew from), the
demand itself (``demanded_units``, including what walked away), the units sold and the units
lost to stock-outs. No real chain has these numbers; the backtest scores forecasts against them,
and the expected demand used as a forecast is the oracle (the noise floor no model can beat on
squared error). Forecasters never read this module: only scoring does.
"""

from __future__ import annotations

import io
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pandas.api.types import union_categoricals

from retailops.errors import InvalidParameterError
from retailops.lake import layout
from retailops.lake.storage import Lake

TRUTH_COLUMNS = ("expected_units", "demanded_units", "sold_units", "lost_units", "on_promotion")


def read_truth(lake: Lake, start: date, end: date,
               columns: tuple[str, ...] = ("expected_units", "demanded_units")) -> pd.DataFrame:
    """The truth of every day from ``start`` to ``end`` (inclusive), one row per store × product ×
    day: ``store_id, product_id`` (categorical, text categories), ``date`` (datetime64[ns]) and
    the requested columns. Categorical: five weeks at default scale are 2.5M rows, and text
    ids made per row would cost ~300 MB.

    Raises ``InvalidParameterError`` naming the first missing file when a day has no truth (the
    range must lie within landed days). On S3 the files are fetched concurrently.
    """
    if end < start:
        raise InvalidParameterError(f"truth range {start}..{end} is reversed")
    unknown = sorted(set(columns) - set(TRUTH_COLUMNS))
    if unknown:
        raise InvalidParameterError(f"unknown truth column(s) {unknown}; known: {TRUTH_COLUMNS}")
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    paths = [layout.truth_file(day) for day in days]
    found = lake.read_many(paths)
    missing = [p for p in paths if found[p] is None]
    if missing:
        raise InvalidParameterError(
            f"no ground truth for {len(missing)} day(s) of {start}..{end}: "
            f"{lake.url(missing[0])} is missing (land those days first)")
    frames = []
    for day, path in zip(days, paths):
        table = pq.read_table(io.BytesIO(found[path]), columns=["store_id", "product_id", *columns])
        frame = pd.DataFrame({
            "store_id": _text(table.column("store_id")),
            "product_id": _text(table.column("product_id")),
            "date": np.full(table.num_rows, np.datetime64(day, "ns")),
        })
        for name in columns:
            frame[name] = table.column(name).to_numpy()
        frames.append(frame)
    # One set of categories for every day (days' dictionaries may differ): text ids, sorted.
    ids = {key: union_categoricals([f[key].array for f in frames], sort_categories=True)
           for key in ("store_id", "product_id")}
    out = pd.concat([f.drop(columns=list(ids)) for f in frames], ignore_index=True)
    out.insert(0, "store_id", ids["store_id"])
    out.insert(1, "product_id", ids["product_id"])
    return out


def _text(column: pa.ChunkedArray) -> pd.Categorical:
    """A file's id column as a categorical of text ids (dictionary-encoded in the file)."""
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not pa.types.is_dictionary(column.type):
        column = column.dictionary_encode()
    categories = column.dictionary.cast(pa.string()).to_numpy(zero_copy_only=False).astype(str)
    return pd.Categorical.from_codes(column.indices.to_numpy(zero_copy_only=False),
                                     categories.astype(object))


def oracle_forecast(truth: pd.DataFrame, origin: date, horizon: int) -> pd.DataFrame:
    """The expected demand used as a forecast for ``origin+1 .. origin+horizon``, in the
    bottom-level forecast shape (``store_id, product_id, target_date, units, units_p10,
    units_p90``). The interval is the 10th and 90th percentile of the simulation's demand
    distribution (Poisson shopper count × 1 + Poisson(0.25) units each) at that expected value.
    """
    first = pd.Timestamp(origin) + pd.Timedelta(days=1)
    last = pd.Timestamp(origin) + pd.Timedelta(days=horizon)
    window = truth[(truth["date"] >= first) & (truth["date"] <= last)]
    expected = window["expected_units"].to_numpy(dtype=float)
    p10, p90 = compound_poisson_quantiles(expected, (0.1, 0.9))
    return pd.DataFrame({
        "store_id": window["store_id"].to_numpy(), "product_id": window["product_id"].to_numpy(),
        "target_date": window["date"].to_numpy(), "units": expected,
        "units_p10": p10, "units_p90": p90,
    })


# The simulation's basket: each shopper buys 1 + Poisson(UNITS_PER_LINE_EXTRA) units.
_EXTRA_UNITS = 0.25


def compound_poisson_quantiles(expected_units: np.ndarray, levels: tuple[float, ...],
                               grid_points: int = 160) -> tuple[np.ndarray, ...]:
    """Quantiles of demand with the given expected units, exact on a grid of means (Panjer's
    recursion for a compound Poisson) and read off the nearest grid mean at or above each value
    (so an interval is never narrower than the exact one for small means)."""
    expected_units = np.asarray(expected_units, dtype=float)
    if expected_units.size == 0:
        return tuple(np.zeros(0) for _ in levels)
    top = max(float(expected_units.max()), 1e-6)
    grid = np.concatenate(([0.0], np.geomspace(1e-3, top, grid_points)))
    shoppers = grid / (1 + _EXTRA_UNITS)
    n_max = int(top + 10 * np.sqrt(top * 2) + 30)
    # severity: P(units of one shopper = k), k = 1 + Poisson(0.25)
    k = np.arange(n_max + 1)
    from scipy.stats import poisson
    severity = np.where(k >= 1, poisson.pmf(k - 1, _EXTRA_UNITS), 0.0)
    pmf = np.zeros((grid.size, n_max + 1))
    pmf[:, 0] = np.exp(-shoppers)
    for n in range(1, n_max + 1):
        j = np.arange(1, n + 1)
        pmf[:, n] = shoppers / n * (pmf[:, n - j] * (j * severity[j])).sum(axis=1)
    cdf = np.cumsum(pmf, axis=1)
    at = np.searchsorted(grid, expected_units, side="left").clip(0, grid.size - 1)
    out = []
    for level in levels:
        quantile_on_grid = (cdf < level).sum(axis=1).astype(float)
        out.append(quantile_on_grid[at])
    return tuple(out)
