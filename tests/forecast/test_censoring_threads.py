"""The stock-out marks of a large matrix are computed in parts of whole series on threads
(``censoring.censored_matrix``, a predict-only day's 12.6M cells at scale 1): they are the marks
of each series marked on its own, bit for bit, whatever the number of parts, for whole unit
counts (the running-sum rate) and for fractional ones (each window summed)."""

from __future__ import annotations

import numpy as np
import pytest

from retailops.forecast import censoring
from retailops.forecast.censoring import CensoringRule, censored_matrix


def matrices(seed: int, n_series: int = 301, n_days: int = 119, whole: bool = True):
    rng = np.random.default_rng(seed)
    rate = rng.gamma(0.8, 3.0, size=(n_series, 1))
    units = rng.poisson(rate, size=(n_series, n_days)).astype(np.float32)
    if not whole:
        units = units * np.float32(0.5) + np.float32(0.25) * (units > 0)
    on_hand = np.full(units.shape, np.nan, dtype=np.float32)
    for s in range(n_series):
        # Stock-outs: zero runs (some long, some touching a count at zero), including at the
        # first and last day of a series, where a run would leak into a neighbour if runs
        # crossed series.
        for start in rng.choice(n_days - 3, size=rng.integers(0, 4), replace=False):
            units[s, start:start + rng.integers(2, 20)] = 0
        if s % 5 == 0:
            units[s, :6] = 0
        if s % 7 == 0:
            units[s, -9:] = 0
        counted = np.arange(rng.integers(0, 7), n_days, 7)
        on_hand[s, counted] = np.where(units[s, counted] == 0, 0, 5)
    closed = np.zeros(n_days, dtype=bool)
    closed[[30, 95]] = True
    return units, on_hand, closed


def each_series_alone(units, on_hand, closed, rule):
    """The definition: every series marked from its own row (one call per series)."""
    return np.concatenate([censored_matrix(units[s:s + 1], on_hand[s:s + 1], closed, rule,
                                           threads=1) for s in range(len(units))])


@pytest.mark.parametrize("whole", [True, False])
@pytest.mark.parametrize("threads", [1, 2, 3, 7])
def test_marks_in_parts_are_each_series_own(whole, threads):
    rule = CensoringRule()
    units, on_hand, closed = matrices(3 if whole else 4, whole=whole)
    expected = each_series_alone(units, on_hand, closed, rule)
    assert expected.any() and not expected.all()
    got = censored_matrix(units, on_hand, closed, rule, threads=threads)
    assert got.dtype == bool and got.shape == units.shape
    assert np.array_equal(got, expected)


def test_a_large_matrix_is_split_by_default(monkeypatch):
    """Above PARALLEL_CELLS the default splits (on a host with two cores or more); the marks
    are unchanged, and the parts really ran on threads."""
    units, on_hand, closed = matrices(5)
    expected = each_series_alone(units, on_hand, closed, CensoringRule())
    calls = []
    original = censoring._censored_rows

    def spy(u, *args):
        import threading

        calls.append((len(u), threading.current_thread().name))
        return original(u, *args)

    monkeypatch.setattr(censoring, "_censored_rows", spy)
    monkeypatch.setattr(censoring, "PARALLEL_CELLS", units.size)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert np.array_equal(censored_matrix(units, on_hand, closed), expected)
    assert sorted(n for n, _ in calls) == [150, 151]
    assert all(name.startswith("censoring") for _, name in calls)
    calls.clear()
    monkeypatch.setattr(censoring, "PARALLEL_CELLS", units.size + 1)
    assert np.array_equal(censored_matrix(units, on_hand, closed), expected)
    assert [n for n, _ in calls] == [301]


def test_series_that_sell_every_day_have_no_marks():
    """A part may hold no zero-sale day at all (no run): no marks, no error (it raised an
    IndexError before)."""
    units = np.full((4, 60), 3.0, dtype=np.float32)
    on_hand = np.full(units.shape, np.nan, dtype=np.float32)
    closed = np.zeros(60, dtype=bool)
    for threads in (1, 2):
        assert not censored_matrix(units, on_hand, closed, threads=threads).any()
