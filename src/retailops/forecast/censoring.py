"""Stock-out censoring: which days' sales understate demand, and what demand they hide.

Observed sales are demand cut at the shelf's stock: when the shelf empties, the shoppers after
that leave without the product and no record of them exists. The marts show it two ways, and
this module uses only those (never the simulation's truth files):

1. **A count at zero.** The cycle count (``fct_inventory_snapshots``) found the shelf empty at
   the end of the day: that day's sales were cut (the last unit sold before closing, or none
   was there), and every zero-sale day next to it in the same run of zero days was empty too.
2. **Sales that stop.** Counts come once a cycle (a week or more), so most empty days are seen
   only as zeros. A run of ``k`` consecutive trading days without a sale on a series that sells
   ``m`` units a day is improbable under ordinary demand (about ``exp(-m k / 1.25)``: a sale
   line carries 1.25 units on average); when it is below ``run_probability`` the run is taken
   as a stock-out. The trading day just before such a run (the shelf ran out that day) is
   censored too.

A censored day is left out of the training targets and replaced, in the series that lags and
levels are computed from, by an estimate: the series' uncensored mean of the surrounding weeks,
shaped by the chain's weekday profile, never below what was sold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from retailops.forecast import frames as F

# Weeks the imputation's weekday profile is measured over (the last ones of the history).
PROFILE_DAYS = 56

# Mean units per sale line in the data (1 + Poisson(0.25)); rate of zero-sale days of a series
# selling m units a day is about exp(-m / UNITS_PER_LINE).
UNITS_PER_LINE = 1.25


@dataclass(frozen=True)
class CensoringRule:
    # Measured on an 8-week world (scale 0.03): observed sales 8.2% under true demand; with
    # these defaults the imputed series are 0.6% under (0.01 / 0.3 over-flags slow sellers'
    # ordinary zero runs: +2.0%).
    run_probability: float = 0.001  # a zero run less likely than this is a stock-out
    rate_window_days: int = 28      # the series' selling rate is measured over this window
    min_rate: float = 0.5           # below this rate a zero run is never called a stock-out


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For a (series x days) boolean matrix: run id, run length and run start of every cell
    (run id -1 outside runs). Runs do not cross series."""
    n_series, n_days = mask.shape
    flat = mask.ravel()
    starts = flat & ~np.concatenate(([False], flat[:-1]))
    starts.reshape(n_series, n_days)[:, 0] = mask[:, 0]
    run_id = np.cumsum(starts) - 1
    run_id = np.where(flat, run_id, -1)
    lengths = np.bincount(run_id[flat], minlength=int(starts.sum()))
    # (no run at all: a series, or a part of the series, with a sale every day)
    length = (np.where(flat, lengths[np.maximum(run_id, 0)], 0) if len(lengths)
              else np.zeros(flat.shape, dtype=np.int64))
    return run_id.reshape(mask.shape), length.reshape(mask.shape), starts.reshape(mask.shape)


def _trailing_rate(units: np.ndarray, usable: np.ndarray, window: int) -> np.ndarray:
    """Mean units a day over the ``window`` days up to each day (usable days only); centred
    estimates would use the future, which a run at the origin does not have.

    Each day's sum is taken over its own window (not as a difference of running sums), so a
    day's rate is the same number whatever history before its window was loaded: a day that
    only predicts from its lookback marks those days as the full history does."""
    from numpy.lib.stride_tricks import sliding_window_view

    values = np.where(usable, units, 0.0)
    pad = ((0, 0), (window - 1, 0))
    sums = sliding_window_view(np.pad(values, pad), window, axis=1).sum(axis=2)
    counts = sliding_window_view(np.pad(usable.astype(np.int32), pad), window, axis=1).sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / np.maximum(counts, 1)


def _trailing_whole_rate(units: np.ndarray, usable: np.ndarray, window: int) -> np.ndarray:
    """``_trailing_rate`` of whole numbers (unit counts), by differences of running sums: the
    same numbers bit for bit while every window's total stays below 2**24 (the sliding sums
    are exact in float32, the running sums in float64, so both are the exact total; the
    caller checks the bound), at a fraction of the cost of summing each window."""
    def window_sums(running: np.ndarray) -> np.ndarray:
        # The first days' windows start at the first day: their sums are the running sums.
        out = running.copy()
        out[:, window:] -= running[:, :-window]
        return out

    sums = window_sums(np.cumsum(np.where(usable, units, np.float32(0.0)), axis=1,
                                 dtype=np.float64)).astype(np.float32)
    counts = window_sums(np.cumsum(usable, axis=1, dtype=np.int64))
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / np.maximum(counts, 1)


def _is_whole(values: np.ndarray, window: int) -> bool:
    """Whole, non-negative numbers whose window totals stay exact in float32."""
    return (values.dtype == np.float32 and bool((values >= 0).all())
            and bool((values == np.floor(values)).all())
            and float(values.max(initial=0.0)) * window < 2 ** 24)


# Cells from which ``censored_matrix`` marks its series in parts on threads (a predict-only day
# at scale 1 is 72k series x 175 days = 12.6M cells).
PARALLEL_CELLS = 2_000_000


def censored_matrix(units: np.ndarray, on_hand: np.ndarray, closed: np.ndarray,
                    rule: CensoringRule = CensoringRule(), threads: int | None = None
                    ) -> np.ndarray:
    """(series x days) True where sales were cut by a stock-out, from units sold, end-of-day
    counts (NaN when not counted) and the chain's closed days (a 1-d array over days).

    Every series is marked from its own row alone, so a large matrix is marked in ``threads``
    parts of whole series at once (default: 2 when the host has two cores or more and the matrix
    holds ``PARALLEL_CELLS`` cells or more): numpy releases the GIL in its loops, and the marks
    are those of one pass bit for bit (``tests/forecast/test_censoring_threads.py``)."""
    import os

    n_series, n_days = units.shape
    whole = _is_whole(units, rule.rate_window_days)
    if threads is None:
        threads = min(2, os.cpu_count() or 1) if units.size >= PARALLEL_CELLS else 1
    threads = max(1, min(int(threads), n_series))
    if threads == 1:
        return _censored_rows(units, on_hand, closed, rule, whole)
    from concurrent.futures import ThreadPoolExecutor

    bounds = np.linspace(0, n_series, threads + 1).astype(int)
    out = np.empty(units.shape, dtype=bool)

    def part(k: int) -> None:
        rows = slice(bounds[k], bounds[k + 1])
        out[rows] = _censored_rows(units[rows], on_hand[rows], closed, rule, whole)

    with ThreadPoolExecutor(threads, thread_name_prefix="censoring") as pool:
        for done in [pool.submit(part, k) for k in range(threads)]:
            done.result()
    return out


def _censored_rows(units: np.ndarray, on_hand: np.ndarray, closed: np.ndarray,
                   rule: CensoringRule, whole: bool) -> np.ndarray:
    """``censored_matrix`` of these series in one pass; ``whole``: the units are whole numbers
    within ``_trailing_whole_rate``'s bound (decided on the whole matrix, so every part takes
    the same arithmetic)."""
    n_series, n_days = units.shape
    closed = np.broadcast_to(closed, units.shape)
    zero = (units <= 0) & ~closed
    counted_empty = np.nan_to_num(on_hand, nan=1.0) <= 0
    # The rate is measured before the run: the mean of the weeks before each day.
    usable = np.broadcast_to(~closed, units.shape)
    rate = (_trailing_whole_rate(units, usable, rule.rate_window_days)
            if whole else _trailing_rate(units, usable, rule.rate_window_days))
    run_id, length, starts = _runs(zero)
    n_runs = int(starts.sum())
    censored = counted_empty.copy()
    if n_runs:
        flat_id = run_id.ravel()
        in_run = flat_id >= 0
        # Rate before the run begins: the trailing rate on the run's first day's eve.
        before = np.roll(rate, 1, axis=1)
        # A rate over fewer loaded days than its window is not known (a start of the history
        # would otherwise judge a run by a day or two of sales, and differently from a longer
        # history holding the same days).
        before[:, :rule.rate_window_days] = np.nan
        run_rate = np.full(n_runs, np.nan)
        run_rate[flat_id[starts.ravel()]] = before.ravel()[starts.ravel()]
        run_len = np.bincount(flat_id[in_run], minlength=n_runs)
        improbable = (np.nan_to_num(run_rate) >= rule.min_rate) & (
            np.exp(-np.nan_to_num(run_rate) * run_len / UNITS_PER_LINE) < rule.run_probability)
        # A run touching a count at zero is a stock-out whatever its length.
        touched = np.zeros(n_runs, dtype=bool)
        hit = in_run & counted_empty.ravel()
        touched[flat_id[hit]] = True
        stock_out_run = improbable | touched
        flat = censored.ravel()
        flat[in_run] |= stock_out_run[flat_id[in_run]]
        # The day before a stock-out run: the shelf emptied during that day.
        first_cells = np.flatnonzero(starts.ravel() & stock_out_run[np.maximum(flat_id, 0)])
        eve = first_cells - 1
        eve = eve[(first_cells % n_days) > 0]
        flat[eve] |= ~zero.ravel()[eve]
        censored = flat.reshape(units.shape)
    return censored & ~closed


def weekday_profile(units: np.ndarray, usable: np.ndarray, days: pd.DatetimeIndex) -> np.ndarray:
    """The chain's demand by weekday (Monday first), mean 1, from usable days."""
    totals = np.array([np.where(usable[:, days.weekday == w], units[:, days.weekday == w], 0).sum()
                       / max(usable[:, days.weekday == w].sum(), 1) for w in range(7)])
    if totals.mean() <= 0:
        return np.ones(7)
    return totals / totals.mean()


def weekday_totals(units: np.ndarray, usable: np.ndarray, days: pd.DatetimeIndex
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Per weekday (Monday first): the units of the usable cells summed in float64, and how
    many usable cells there are. Unit counts are whole numbers, so the sums are exact (below
    2**53) whatever the order they are added in: the totals of blocks of series add up to
    the totals of all of them, bit for bit (``profile_from_totals``)."""
    sums = np.zeros(7)
    counts = np.zeros(7, dtype=np.int64)
    for w in range(7):
        at = days.weekday == w
        sums[w] = np.where(usable[:, at], units[:, at], 0).sum(dtype=np.float64)
        counts[w] = usable[:, at].sum()
    return sums, counts


def profile_from_totals(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The weekday profile (mean 1) from ``weekday_totals`` (of every series, or summed over
    blocks of them): ``weekday_profile``'s arithmetic on exact sums. ``weekday_profile`` sums
    in the units' float32, which is exact, and so the same number, while a weekday's total
    stays below 2**24 (a year at scale 1: ~0.5M units a weekday over the 8 weeks)."""
    totals = np.array([sums[w] / max(counts[w], 1) for w in range(7)])
    if totals.mean() <= 0:
        return np.ones(7)
    return totals / totals.mean()


def recent_totals(units: np.ndarray, censored: np.ndarray, closed: np.ndarray,
                  days: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """``weekday_totals`` of the days the imputation's profile is measured over (the last
    ``PROFILE_DAYS``), on the cells neither censored nor closed."""
    closed = np.broadcast_to(closed, units.shape)
    usable = ~censored & ~closed
    recent = slice(-PROFILE_DAYS, None)
    return weekday_totals(units[:, recent], usable[:, recent], days[recent])


def impute_matrix(units: np.ndarray, censored: np.ndarray, closed: np.ndarray,
                  days: pd.DatetimeIndex, window: int = 28,
                  profile: np.ndarray | None = None) -> np.ndarray:
    """Units with censored days replaced by the series' trailing uncensored level x weekday
    profile (never below what was sold); closed days stay as they are. ``profile``: the
    chain's profile when these series are a block of the chain (``forecast.blocks``), else
    measured on these series."""
    closed = np.broadcast_to(closed, units.shape)
    usable = ~censored & ~closed
    # The profile of the last weeks only: measured over the whole history it would change
    # with how much history was loaded, and a day that only predicts loads less.
    if profile is None:
        profile = profile_from_totals(*recent_totals(units, censored, closed, days))
    # Level in weekday-neutral units, from the uncensored days of the trailing window: only
    # censored days take the estimate, so it is computed on those cells alone (a few percent
    # of a history), with the arithmetic of ``_trailing_rate`` on each.
    neutral = units / profile[days.weekday][None, :]
    rows, cols = np.nonzero(censored)
    level = _trailing_rate_at(neutral, usable, window, rows, cols)
    # At the start of a series the trailing window may hold no usable day: use the series mean.
    series_mean = (np.where(usable, neutral, 0).sum(axis=1)
                   / np.maximum(usable.sum(axis=1), 1))
    seen = usable.any(axis=1)
    first_usable = np.where(seen, usable.argmax(axis=1), units.shape[1])
    level = np.where(cols >= first_usable[rows], level, series_mean[rows])
    estimate = level * profile[days.weekday[cols]]
    out = units.astype(np.float64)
    out[rows, cols] = np.maximum(units[rows, cols], estimate)
    return out


def _trailing_rate_at(values: np.ndarray, usable: np.ndarray, window: int, rows: np.ndarray,
                      cols: np.ndarray) -> np.ndarray:
    """``_trailing_rate(values, usable, window)[rows, cols]``, computed on those cells only:
    each cell's window gathered as one contiguous row (zeros before the first day, as the
    padding there) and summed the same way."""
    offsets = np.arange(-(window - 1), 1)
    out = np.zeros(len(rows))
    # In chunks: a window per cell is 28 values (scale 16 holds millions of censored cells).
    for begin in range(0, len(rows), _CELLS_PER_CHUNK):
        r = rows[begin:begin + _CELLS_PER_CHUNK, None]
        at = cols[begin:begin + _CELLS_PER_CHUNK, None] + offsets[None, :]
        inside = at >= 0
        at = np.maximum(at, 0)
        taken = usable[r, at] & inside
        sums = np.where(taken, values[r, at], 0.0).sum(axis=1)
        counts = taken.astype(np.int32).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[begin:begin + len(sums)] = sums / np.maximum(counts, 1)
    return out


_CELLS_PER_CHUNK = 250_000


def dense_matrices(history: pd.DataFrame
                   ) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray, np.ndarray]:
    """Days, units and on-hand counts (series × day) and the closed days of a dense history
    sorted by store, product, date. float32: unit counts and stock counts are whole numbers,
    exact in float32 (half the memory of the matrices at a year's scale)."""
    # (the first series' dates when the history has the dense shape: no hash of every row)
    from retailops.forecast.features import history_days

    days = history_days(history)
    n_days = len(days)
    units = history[F.UNITS].to_numpy(dtype=np.float32).reshape(-1, n_days)
    on_hand = (history[F.ON_HAND].to_numpy(dtype=np.float32) if F.ON_HAND in history
               else np.full(len(history), np.nan, dtype=np.float32)).reshape(-1, n_days)
    closed = (history[F.CLOSED].to_numpy(dtype=bool).reshape(-1, n_days)[0]
              if F.CLOSED in history else np.zeros(n_days, dtype=bool))
    return days, units, on_hand, closed


def mark_censoring(history: pd.DataFrame, rule: CensoringRule = CensoringRule(),
                   copy: bool = True, profile: np.ndarray | None = None) -> pd.DataFrame:
    """The history with ``censored`` (bool) and ``units_filled`` (units, censored days imputed).
    ``copy=False`` adds the columns to ``history`` itself (a year at default scale is ~1 GB a
    copy; the backtest passes a slice it owns). ``profile``: the imputation's weekday profile
    when the history is a block of the chain's stores (``forecast.blocks``).

    The history must be dense and sorted by store, product, date (``data.load_history``)."""
    days, units, on_hand, closed = dense_matrices(history)
    censored = censored_matrix(units, on_hand, closed, rule)
    filled = impute_matrix(units, censored, closed, days, rule.rate_window_days, profile)
    out = history.copy() if copy else history
    out[F.CENSORED] = censored.ravel()
    out["units_filled"] = filled.ravel().astype(np.float32)
    return out
