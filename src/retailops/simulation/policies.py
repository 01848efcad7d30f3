"""Ordering policies: who decides how much each store orders from each supplier at a review.

The engine owns *when* a (store, supplier) pair is reviewed (every ``review_period_days``, on
the pair's offset) and everything that happens to an order once placed (one purchase order per
pair, lead time, lateness, fill rate). A policy owns only the quantities: given the world, the
state at the end of the day's sales (on hand, on order, the pending lines) and the due reviews,
it returns units to order per store × product cell.

Demand never depends on the policy: sales are drawn from their own random stream before the
review, and a stock-out only caps what is sold, never what is demanded. So the same seed replays
the same demand under any policy, and only the orders (and what follows from them) differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Protocol

import numpy as np

from retailops.simulation.config import FIRST_DAY
from retailops.simulation.demand import promotion_units_lift, promotions
from retailops.simulation.world import UNITS_PER_LINE_EXTRA

if TYPE_CHECKING:  # the engine imports this module; only type names flow back
    from retailops.simulation.engine import SimulationState
    from retailops.simulation.world import World

# The plan a Monday publishes: its week and the four after it (the contract's promotion plan).
PLAN_WEEKS = 5
# Units a buyer orders per unit of the plan's expected extra demand.
PROMOTION_COVER = 1.2
# Promoted days this far past the protection interval are ordered now too: a late delivery
# (on-time rates run from 62% to 99.5%) during a promotion would otherwise empty the shelf.
PROMOTION_SLIP_DAYS = 3


@dataclass(frozen=True)
class DueReviews:
    """The (store, supplier) pairs reviewed on ``day`` (index arrays into the world)."""

    day: date
    store: np.ndarray
    supplier: np.ndarray

    def __len__(self) -> int:
        return int(self.store.size)

    def cell_mask(self, world: "World") -> np.ndarray:
        """True for every store × product cell whose (store, supplier) pair is due."""
        due = np.zeros((world.n_stores, len(world.supplier_id)), dtype=bool)
        due[self.store, self.supplier] = True
        cell_supplier = np.tile(world.product_supplier, world.n_stores)
        cell_store = np.repeat(np.arange(world.n_stores), world.n_products)
        return due[cell_store, cell_supplier]


def due_reviews(world: "World", day: date) -> DueReviews:
    """Pairs whose review falls on ``day``: each pair every R days, on its own offset."""
    today = (day - FIRST_DAY).days
    store, supplier = np.nonzero(world.review_offset == today % world.config.review_period_days)
    return DueReviews(day, store, supplier)


def round_up_to_case_packs(world: "World", cells: np.ndarray, shortfall: np.ndarray) -> np.ndarray:
    """Units to order for ``shortfall`` units: whole case packs, never fewer than needed."""
    pack = world.case_pack[cells]
    return (np.ceil(shortfall / pack) * pack).astype(np.int32)


class OrderingPolicy(Protocol):
    """Decides order quantities at a review; the engine places and delivers them."""

    name: str

    def order_quantities(self, world: "World", state: "SimulationState", day: date,
                         due: DueReviews) -> np.ndarray:
        """Units to order per cell (length ``world.n_cells``, integers >= 0); only cells of a
        due pair may be positive. Called after the day's sales, before the cycle count."""
        ...


def planned_promotion_units(world: "World", day: date) -> np.ndarray:
    """Units per cell the published promotion plan adds to the protection interval of an order
    placed at the end of ``day`` (the next lead time + review period days): the average day's
    units times the plan's extra lift, summed over the promoted days of that interval, plus the
    safety stock that extra demand calls for. Only the
    plan published by ``day`` counts (the Monday of its week and four weeks after), so a long
    lead time sees the tail of its interval unpromoted, as a buyer would."""
    lead = world.supplier_lead_time[world.product_supplier].astype(np.int64)
    horizon = lead + world.config.review_period_days   # last day of the interval, per product
    monday_offset = -day.weekday()                      # the plan's first day, relative to day
    promoted_days = np.zeros(world.n_products)
    for week in range(PLAN_WEEKS):
        first = monday_offset + 7 * week
        discount = promotions(world, day + timedelta(days=first))
        if not discount.any():
            continue
        overlap = np.clip(np.minimum(first + 6, horizon + PROMOTION_SLIP_DAYS) - max(first, 1)
                          + 1, 0, None)
        promoted_days += overlap * (promotion_units_lift(world, discount) - 1.0)
    mean_units = world.base_lines_per_day * (1 + UNITS_PER_LINE_EXTRA)
    extra = mean_units * np.tile(promoted_days, world.n_stores)
    # The safety stock grows with the interval's demand, as it does off promotion, and more:
    # promoted demand is lumpier (bigger baskets, a weekend peak inside the week).
    usual = mean_units * np.tile(horizon, world.n_stores)
    return PROMOTION_COVER * extra + world.config.safety_factor * (np.sqrt(usual + extra)
                                                                   - np.sqrt(usual))


class PeriodicReview:
    """The chain's built-in (R, s, S) policy: at its review, every product whose inventory
    position (on hand + on order) fell to its reorder point s is ordered up to its level S,
    in whole case packs. Both levels are fixed per cell when the world is built (s covers lead
    time + review period) and raised, at a review, by the units the published promotion plan
    adds to that interval, so the chain stocks up ahead of the promotions it announced."""

    name = "periodic_review"

    def order_quantities(self, world: "World", state: "SimulationState", day: date,
                         due: DueReviews) -> np.ndarray:
        position = state.on_hand + state.on_order
        reviewed = due.cell_mask(world)
        promoted = np.ceil(planned_promotion_units(world, day)).astype(np.int64)
        reorder_point = world.reorder_point + promoted
        cells = np.flatnonzero(reviewed & (position <= reorder_point))
        quantities = np.zeros(world.n_cells, dtype=np.int32)
        quantities[cells] = round_up_to_case_packs(
            world, cells, world.order_up_to[cells] + promoted[cells] - position[cells])
        return quantities


PERIODIC_REVIEW = PeriodicReview()


class PeriodicReviewBeforeIssue15:
    """The built-in policy as generator 1.0.0 had it, for the closed-loop study's comparison of
    the old and new built-in policies: a reorder point covering lead time + 1 day (the review
    period only in its safety stock), order-up-to 1.2 review periods above it, and no regard
    for the promotion plan. Run on today's world (popularity, case packs, burn-in of 2.0.0)."""

    name = "periodic_review_before_issue_15"

    def order_quantities(self, world: "World", state: "SimulationState", day: date,
                         due: DueReviews) -> np.ndarray:
        mean_units = world.base_lines_per_day * (1 + UNITS_PER_LINE_EXTRA)
        lead = np.tile(world.supplier_lead_time[world.product_supplier], world.n_stores)
        review = world.config.review_period_days
        reorder_point = np.ceil(mean_units * (lead + 1)
                                + world.config.safety_factor
                                * np.sqrt(mean_units * (lead + review)) + 1)
        order_up_to = reorder_point + np.ceil(mean_units * review * 1.2) + world.case_pack
        position = state.on_hand + state.on_order
        cells = np.flatnonzero(due.cell_mask(world) & (position <= reorder_point))
        quantities = np.zeros(world.n_cells, dtype=np.int32)
        quantities[cells] = round_up_to_case_packs(world, cells,
                                                   order_up_to[cells] - position[cells])
        return quantities


PERIODIC_REVIEW_BEFORE_ISSUE_15 = PeriodicReviewBeforeIssue15()


def builtin_policy(world: "World") -> OrderingPolicy:
    """The chain's own ordering policy, as its configuration names it
    (``simulation.builtin_policy``): the one the engine uses when no other is given, in the
    burn-in and on every landed day."""
    return {policy.name: policy for policy in (PERIODIC_REVIEW, PERIODIC_REVIEW_BEFORE_ISSUE_15)
            }[world.config.builtin_policy]
