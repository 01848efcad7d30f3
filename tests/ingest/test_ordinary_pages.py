"""The simulation's arrays on ordinary pages (``retailops.simulation.pages``): numpy's huge-page
advice is off while the ingest node simulates and lands its days, and comes back after.

What this proves: the switch is numpy's own (its state is read back from numpy), it is off at
every day the node yields (where the dataset lands the day) and restored when the node is done,
and an operator's ``NUMPY_MADVISE_HUGEPAGE=1`` keeps the advice. What it does not: the cost it
saves, which depends on the kernel's THP settings and the machine's free memory; that is
measured in docs/scale.md (finding 23), not here.
"""

from __future__ import annotations

from datetime import date

import pytest

from retailops.lake.landing import land_day
from retailops.lake.storage import Lake
from retailops.simulation.pages import _advice_setter, ordinary_pages
from tests.ingest.helpers import days_to_land

SETTER = _advice_setter()
pytestmark = pytest.mark.skipif(SETTER is None, reason="this numpy has no huge-page switch")


def advice() -> bool:
    """numpy's current choice, read without changing it."""
    previous = SETTER(False)
    SETTER(previous)
    return bool(previous)


@pytest.fixture(autouse=True)
def advice_on(monkeypatch):
    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    previous = SETTER(True)
    yield
    SETTER(previous)


def test_the_advice_is_off_within_and_back_after():
    assert advice() is True
    with ordinary_pages():
        assert advice() is False
    assert advice() is True


def test_the_advice_comes_back_when_the_block_fails():
    with pytest.raises(RuntimeError), ordinary_pages():
        raise RuntimeError("a day failed to land")
    assert advice() is True


def test_an_operators_explicit_choice_wins(monkeypatch):
    monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", "1")
    with ordinary_pages():
        assert advice() is True


def test_the_ingest_node_simulates_and_lands_each_day_on_ordinary_pages(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    days = days_to_land(lake, "2024-07-01", "2024-07-03", scale=0.02)
    seen = []
    for landing in days:
        seen.append((landing.batch.day, advice()))  # where the dataset lands the day
        land_day(lake, landing)
    assert seen == [(date(2024, 7, d), False) for d in (1, 2, 3)]
    assert advice() is True
