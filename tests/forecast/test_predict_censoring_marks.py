"""The stock-out marks a predict-only day computes cheaply are those of their definition, bit
for bit: the selling rate of whole unit counts by running-sum differences equals the sum over
each day's own window, and the imputed level computed on the censored cells alone equals the
level computed on every cell (written out here as the definition: each day's window summed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from retailops.forecast.censoring import (PROFILE_DAYS, CensoringRule, censored_matrix,
                                          impute_matrix, weekday_profile)


def window_rate(values: np.ndarray, usable: np.ndarray, window: int) -> np.ndarray:
    """The definition: each day's mean over the usable days of its own window."""
    pad = ((0, 0), (window - 1, 0))
    sums = sliding_window_view(np.pad(np.where(usable, values, 0.0), pad), window,
                               axis=1).sum(axis=2)
    counts = sliding_window_view(np.pad(usable.astype(np.int32), pad), window,
                                 axis=1).sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / np.maximum(counts, 1)


def series(seed: int = 11, n_series: int = 400, n_days: int = 140):
    rng = np.random.default_rng(seed)
    rate = rng.gamma(0.7, 3.0, size=(n_series, 1))
    units = rng.poisson(rate * (1 + 0.4 * (np.arange(n_days) % 7 >= 5))).astype(np.float32)
    units[:5] *= 40  # a few fast sellers
    on_hand = np.full(units.shape, np.nan, dtype=np.float32)
    for s in range(n_series):
        empty = np.zeros(n_days, dtype=bool)
        for start in rng.choice(n_days - 15, size=rng.integers(0, 5), replace=False):
            empty[start:start + rng.integers(2, 15)] = True
        units[s, empty] = 0
        counted = np.arange(rng.integers(0, 7), n_days, 7)
        on_hand[s, counted] = np.where(empty[counted], 0, 9)
    closed = np.zeros(n_days, dtype=bool)
    closed[n_days * 5 // 7] = True
    units[:, n_days * 5 // 7] = 0
    days = pd.date_range("2025-01-06", periods=n_days, freq="D")
    return units, on_hand, closed, days


def test_the_rate_of_whole_counts_by_running_sums_is_the_windows_sum():
    from retailops.forecast.censoring import _trailing_whole_rate

    units, _, closed, _ = series()
    usable = np.broadcast_to(~closed, units.shape)
    got = _trailing_whole_rate(units, usable, 28)
    expected = window_rate(units, usable, 28)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


def test_censored_days_are_imputed_as_their_definition_says():
    units, on_hand, closed, days = series()
    rule = CensoringRule()
    censored = censored_matrix(units, on_hand, closed, rule)
    assert 0.01 < censored.mean() < 0.2
    got = impute_matrix(units, censored, closed, days, rule.rate_window_days)

    # The definition on every cell: trailing usable level x weekday profile, the series
    # mean before its first usable day, never below what was sold.
    usable = ~censored & ~np.broadcast_to(closed, units.shape)
    profile = weekday_profile(units[:, -PROFILE_DAYS:], usable[:, -PROFILE_DAYS:],
                              days[-PROFILE_DAYS:])
    neutral = units / profile[days.weekday][None, :]
    level = window_rate(neutral, usable, rule.rate_window_days)
    series_mean = (np.where(usable, neutral, 0).sum(axis=1)
                   / np.maximum(usable.sum(axis=1), 1))[:, None]
    level = np.where(np.cumsum(usable, axis=1) > 0, level, series_mean)
    expected = np.where(censored, np.maximum(units, level * profile[days.weekday][None, :]),
                        units)
    np.testing.assert_array_equal(got, expected)
    assert (got[censored] > units[censored]).any()


def test_a_series_censored_from_its_first_day_takes_its_mean():
    units, on_hand, closed, days = series(n_series=3, n_days=60)
    censored = np.zeros(units.shape, dtype=bool)
    censored[0, :4] = True
    units[0, :4] = 0
    got = impute_matrix(units, censored, closed, days, 28)
    usable = ~censored[0] & ~closed
    profile = weekday_profile(units[:, -PROFILE_DAYS:], (~censored & ~closed)[:, -PROFILE_DAYS:],
                              days[-PROFILE_DAYS:])
    neutral = units[0] / profile[days.weekday]
    mean = np.where(usable, neutral, 0).sum() / usable.sum()
    np.testing.assert_array_equal(got[0, :4], mean * profile[days.weekday[:4]])
