"""The promotion plan the chain publishes every Monday (the contract's ``promotions`` table).

The simulation decides each week's chain-wide promotions from the seed
(``engine.promotions``); this module only publishes those very draws ahead of time: on a
Monday, the plan of that week and the four after it, one row per promoted product. Nothing
here draws new numbers, so the plan is by construction the discount the sales carry, and a
week is published five times with the same rows.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pyarrow as pa

from retailops.simulation.config import FIRST_DAY
from retailops.simulation.engine import promotions
from retailops.simulation.tables import RAW_COLUMNS
from retailops.simulation.world import World

PROMOTION_COLUMNS = RAW_COLUMNS["promotions"]
# The publication's week and the four after it: a forecaster always sees 28+ days ahead.
WEEKS_AHEAD = 5
# FIRST_DAY is a Monday, so the engine's weeks (day number // 7) run Monday..Sunday.
assert FIRST_DAY.weekday() == 0


def week_start(day: date) -> date:
    """The Monday of ``day``'s week."""
    return day - timedelta(days=day.weekday())


def publication_days(first: date, last: date) -> list[date]:
    """The Mondays whose publication a landing window ``first..last`` lands: each Monday in
    the window, plus the Monday before a window that starts mid-week (when that Monday is a
    simulated day), so the plan in force on the window's first day is in the lake."""
    monday = week_start(first)
    if monday < FIRST_DAY:
        monday += timedelta(days=7)
    days = []
    while monday <= last:
        days.append(monday)
        monday += timedelta(days=7)
    return days


def plan_table(world: World, published: date, last_supported: date) -> pa.Table:
    """The plan published on Monday ``published``: its week and the four after it, weeks
    starting after ``last_supported`` left out; rows by week, then product. Columns in the
    contract's order, discount as float64 like sales' ``discount_pct`` (same CSV text)."""
    if published.weekday() != 0 or published < FIRST_DAY:
        raise ValueError(f"a promotion plan is published on a simulated Monday, not {published}")
    published_text, product_ids, starts, ends, discounts = [], [], [], [], []
    for week in range(WEEKS_AHEAD):
        start = published + timedelta(days=7 * week)
        if start > last_supported:
            break
        discount = promotions(world, start)
        chosen = np.flatnonzero(discount > 0)
        product_ids.extend(world.product_id[chosen].tolist())
        discounts.append(discount[chosen])
        starts.extend([start.isoformat()] * chosen.size)
        ends.extend([(start + timedelta(days=6)).isoformat()] * chosen.size)
        published_text.extend([published.isoformat()] * chosen.size)
    values = np.concatenate(discounts) if discounts else np.zeros(0)
    return pa.table({
        "published_date": pa.array(published_text, pa.string()),
        "product_id": pa.array(product_ids, pa.string()),
        "start_date": pa.array(starts, pa.string()),
        "end_date": pa.array(ends, pa.string()),
        "discount_pct": pa.array(values, pa.float64()),
    })
