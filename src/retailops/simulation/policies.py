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

import weakref
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Protocol

import numpy as np

from retailops.simulation.calendar import is_closed
from retailops.simulation.config import BURN_IN_DAYS, FIRST_DAY
from retailops.simulation.demand import PROMOTION_DISCOUNTS, promotion_units_lift, promotions
from retailops.simulation.world import CYCLE_COVER, PERISHABLE_CYCLE_COVER, UNITS_PER_LINE_EXTRA

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


def _interval_days(world: "World") -> np.ndarray:
    """The protection interval of an order placed today, per product: lead time + review
    period (its last day, counted from today)."""
    lead = world.supplier_lead_time[world.product_supplier].astype(np.int64)
    return lead + world.config.review_period_days


def _planned_weeks(world: "World", day: date, horizon: np.ndarray):
    """The promoted weeks of the plan published by ``day`` (its Monday's week and the four
    after): each week's discount per product and how many of its days fall in the interval
    1..horizon (+ the slip days), per product."""
    monday_offset = -day.weekday()  # the plan's first day, relative to day
    for week in range(PLAN_WEEKS):
        first = monday_offset + 7 * week
        discount = promotions(world, day + timedelta(days=first))
        if not discount.any():
            continue
        yield discount, np.clip(np.minimum(first + 6, horizon + PROMOTION_SLIP_DAYS)
                                - max(first, 1) + 1, 0, None)


def planned_promotion_units(world: "World", day: date) -> np.ndarray:
    """Units per cell the published promotion plan adds to the protection interval of an order
    placed at the end of ``day`` (the next lead time + review period days): the average day's
    units times the plan's extra lift, summed over the promoted days of that interval, plus the
    safety stock that extra demand calls for. Only the
    plan published by ``day`` counts (the Monday of its week and four weeks after), so a long
    lead time sees the tail of its interval unpromoted, as a buyer would."""
    horizon = _interval_days(world)
    promoted_days = np.zeros(world.n_products)
    for discount, overlap in _planned_weeks(world, day, horizon):
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


# --- the rule a real replenishment system runs: levels from the sales it has observed ------

# Weeks of daily sales a cell's level is estimated from (whole weeks: each weekday alike). At
# scale 0.2 over the first 8 landed weeks, 2 / 4 / 8 / 13 weeks lose 0.43 / 0.40 / 0.38 / 0.30%
# of demand holding 1.25 / 1.13 / 1.08 / 1.07x the stock of issue 15's rule, promoted days
# losing 2.46 / 1.11 / 1.01 / 1.18x the usual share; 13 weeks would carry December's peak
# into January (docs/replenishment.md).
SALES_HISTORY_WEEKS = 8
# Fewer usable days than this (open, unpromoted, the shelf not emptied) and a cell's level is
# the mean of all its open unpromoted days (a lower bound where stock-outs censored them), and
# its variance the Poisson guess (the mean).
MIN_USABLE_DAYS = 7
# A (category, discount) lift is shrunk toward the chain's lift at that discount with the
# weight of this many units of baseline demand.
LIFT_PRIOR_UNITS = 50.0


class _SalesMemory:
    """What a store system keeps for the rule: each cell's units sold on each of the last
    weeks' days (a ring of days), which of them tell its usual rate (open, not promoted, the
    shelf not emptied by the end of the day), and per category × published discount the units
    promoted days sold against the cells' usual rate at the time. To read a day's sales from
    the state the engine hands it, the end of the last day observed: on hand and the lines
    still to be received (goods receipts are counted when they arrive)."""

    def __init__(self, world: "World", weeks: int):
        self.window = 7 * weeks
        self.last_day: date | None = None
        self.sales = np.zeros((self.window, world.n_cells), dtype=np.float32)
        self.usual = np.zeros((self.window, world.n_cells), dtype=bool)      # open, unpromoted
        self.in_stock = np.zeros((self.window, world.n_cells), dtype=bool)   # shelf not emptied
        n_categories = int(world.product_category_index.max()) + 1
        self.promoted_units = np.zeros((n_categories, PROMOTION_DISCOUNTS.size))
        self.usual_units = np.zeros((n_categories, PROMOTION_DISCOUNTS.size))
        self.on_hand: np.ndarray | None = None
        self.pending_cell = np.zeros(0, dtype=np.int64)
        self.pending_received_day = np.zeros(0, dtype=np.int64)
        self.pending_quantity = np.zeros(0, dtype=np.int64)

    def slot(self, day: date) -> int:
        return (day - FIRST_DAY).days % self.window

    def forget(self, day: date) -> None:
        """A day whose sales the rule could not read (no review that day): not usable."""
        slot = self.slot(day)
        self.sales[slot] = 0
        self.usual[slot] = False
        self.in_stock[slot] = False
        self.last_day = day

    def record(self, world: "World", day: date, sold: np.ndarray, on_hand: np.ndarray) -> None:
        """One observed day: units sold per cell and the on hand at its end."""
        discount = promotions(world, day)   # the published plan for the day
        cell_discount = np.tile(discount, world.n_stores)
        promoted = cell_discount > 0
        opened = not is_closed(day)
        in_stock = on_hand > 0
        if opened and promoted.any():
            # Promoted days against the cell's usual rate before them, where that is known.
            rate, _, reliable = self.levels()
            seen = promoted & in_stock & reliable & (rate > 0)
            product = np.arange(world.n_cells) % world.n_products
            category = world.product_category_index[product[seen]]
            depth = np.abs(cell_discount[seen][:, None] - PROMOTION_DISCOUNTS).argmin(axis=1)
            np.add.at(self.promoted_units, (category, depth), sold[seen])
            np.add.at(self.usual_units, (category, depth), rate[seen])
        slot = self.slot(day)
        self.sales[slot] = sold
        self.usual[slot] = opened & ~promoted
        self.in_stock[slot] = in_stock
        self.last_day = day

    def remember_state(self, world: "World", state: "SimulationState") -> None:
        """The end of the last observed day, to read the next day's sales from the state."""
        pending = state.pending
        self.on_hand = state.on_hand.astype(np.int64)
        self.pending_cell = (pending["store"].astype(np.int64) * world.n_products
                             + pending["product"])
        self.pending_received_day = pending["received_day"].astype(np.int64)
        self.pending_quantity = pending["quantity_received"].astype(np.int64)

    def received(self, world: "World", after: date, through: date) -> np.ndarray:
        """Units received per cell on the days after ``after`` through ``through``, from the
        lines pending at the end of ``after``."""
        first, last = (after - FIRST_DAY).days + 1, (through - FIRST_DAY).days
        arrived = (self.pending_received_day >= first) & (self.pending_received_day <= last)
        return np.bincount(self.pending_cell[arrived], weights=self.pending_quantity[arrived],
                           minlength=world.n_cells)

    def levels(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per cell: the usual daily rate, its daily variance, and whether MIN_USABLE_DAYS
        uncensored days back them (otherwise the rate is the mean of every open unpromoted day,
        stock-out days included, and the variance the rate)."""
        usable = self.usual & self.in_stock
        n_usable = usable.sum(axis=0)
        n_usual = self.usual.sum(axis=0)
        sales = self.sales.astype(np.float64)
        usable_sum = (sales * usable).sum(axis=0)
        usual_mean = (sales * self.usual).sum(axis=0) / np.maximum(n_usual, 1)
        usable_mean = usable_sum / np.maximum(n_usable, 1)
        reliable = n_usable >= MIN_USABLE_DAYS
        # Where stock-outs censored some days, neither mean is the demand: the larger is the
        # nearer lower bound.
        rate = np.where(reliable, usable_mean, np.maximum(usable_mean, usual_mean))
        squares = ((sales - usable_mean) ** 2 * usable).sum(axis=0)
        variance = np.where(reliable, squares / np.maximum(n_usable - 1, 1), rate)
        return rate, np.maximum(variance, rate), reliable

    def lift(self) -> np.ndarray:
        """Units multiplier per category × published discount, from the promotions seen: the
        chain's at each discount (1 where none was seen yet), each category shrunk toward it."""
        chain_promoted = self.promoted_units.sum(axis=0)
        chain_usual = self.usual_units.sum(axis=0)
        chain = np.where(chain_usual > 0, chain_promoted / np.maximum(chain_usual, 1e-12), 1.0)
        return ((self.promoted_units + LIFT_PRIOR_UNITS * chain)
                / (self.usual_units + LIFT_PRIOR_UNITS))


class PeriodicReviewFromSales:
    """The built-in (R, s, S) rule as a real chain's replenishment system runs it (opt-in,
    ``simulation.builtin_policy: periodic_review_from_sales``): the same reorder point (lead
    time + review period and ``simulation.safety_factor`` standard deviations) and order-up-to
    level (1.2 review periods, 0.4 for perishables, plus a case pack), and the same ordering
    ahead for the published promotion plan, but every level is estimated from what the chain
    observed, never from the simulation's parameters:

    - a cell's usual daily rate and its variance from its units sold over the last
      ``SALES_HISTORY_WEEKS`` weeks, on the days it was open, unpromoted and its shelf not
      emptied by the end of the day (a day ending at zero on hand may have turned shoppers
      away, so it only bounds the demand from below);
    - a promotion's lift per category and published discount from the promotions the chain has
      run: units sold on promoted days (shelf not emptied) against the cells' usual rate then.

    It reads the day's sales from the state the engine hands it (on hand now against on hand at
    the end of the day before plus the goods received since), so it keeps what it observed in
    memory, one memory per world. Run from the opening state (the burn-in's first day) it
    starts with nothing: until a cell has history it holds one case pack. Asked for a day its
    memory does not reach (a new process resuming a saved state) it replays the chain from the
    opening state under itself, which gives the same orders as one unbroken run. The closed-loop
    study primes it instead with the warm-up days it observed (``observe``)."""

    name = "periodic_review_from_sales"

    def __init__(self, weeks: int = SALES_HISTORY_WEEKS):
        self.weeks = weeks
        self._memory: _SalesMemory | None = None
        self._world: "weakref.ref[World] | None" = None
        self._replaying = False

    def memory(self, world: "World") -> _SalesMemory:
        if self._memory is None or self._world is None or self._world() is not world:
            self._memory = _SalesMemory(world, self.weeks)
            self._world = weakref.ref(world)
        return self._memory

    def observe(self, world: "World", sold: np.ndarray, state: "SimulationState") -> None:
        """Record a day the chain traded under another rule (the study's warm-up): the units
        sold per cell and the state at the end of that day (``state.next_day`` the day after)."""
        memory = self.memory(world)
        memory.record(world, state.next_day - timedelta(days=1), np.asarray(sold, np.float64),
                      state.on_hand)
        memory.remember_state(world, state)

    def start_from(self, world: "World", state: "SimulationState") -> None:
        """Begin observing at ``state`` with no history (a chain whose system has no sales
        yet): until a cell has some, the rule holds one case pack of it."""
        memory = self.memory(world)
        memory.forget(state.next_day - timedelta(days=1))
        memory.remember_state(world, state)

    def _read_the_day(self, world: "World", state: "SimulationState", day: date) -> _SalesMemory:
        memory = self.memory(world)
        opening = FIRST_DAY - timedelta(days=BURN_IN_DAYS)
        last = memory.last_day
        skipped = [] if last is None or day <= last else [
            last + timedelta(days=i) for i in range(1, (day - last).days)]
        if last is None or day <= last or any(len(due_reviews(world, d)) for d in skipped):
            if day == opening or self._replaying:
                # A cold start: nothing observed yet.
                self._memory = None
                memory = self.memory(world)
                memory.forget(day)
                memory.remember_state(world, state)
                return memory
            memory = self._replay(world, day)
            last, skipped = memory.last_day, []
        for gap in skipped:    # no review those days, so the rule did not look: unknown
            memory.forget(gap)
        if skipped:
            memory.forget(day)
        else:
            sold = memory.on_hand + memory.received(world, last, day) - state.on_hand
            memory.record(world, day, sold.astype(np.float64), state.on_hand)
        memory.remember_state(world, state)
        return memory

    def _replay(self, world: "World", day: date) -> _SalesMemory:
        """Memory through the day before ``day``, by trading the chain from its opening state
        under this rule (only as the world's own rule: the burn-in runs the built-in one)."""
        if builtin_policy(world) is not self:
            raise ValueError(
                f"{self.name} has not observed the days before {day}: prime it with observe() "
                "or run it from the chain's opening state")
        from retailops.simulation.engine import initial_state, simulate_day

        self._memory = None
        self._replaying = True
        try:
            state = initial_state(world)   # the burn-in, ordering by this rule
        finally:
            self._replaying = False
        while state.next_day < day:
            _, state = simulate_day(world, state)
        return self.memory(world)

    def order_quantities(self, world: "World", state: "SimulationState", day: date,
                         due: DueReviews) -> np.ndarray:
        memory = self._read_the_day(world, state, day)
        rate, variance, _ = memory.levels()
        review = world.config.review_period_days
        horizon = np.tile(_interval_days(world), world.n_stores)
        z = world.config.safety_factor
        reorder_point = np.ceil(rate * horizon + z * np.sqrt(variance * horizon) + 1)
        cycle_cover = np.tile(np.where(world.product_perishable, PERISHABLE_CYCLE_COVER,
                                       CYCLE_COVER), world.n_stores)
        order_up_to = reorder_point + np.ceil(rate * review * cycle_cover) + world.case_pack
        promoted = np.ceil(self._planned_promotion_units(world, day, memory, rate, variance,
                                                         horizon))
        position = state.on_hand + state.on_order
        cells = np.flatnonzero(due.cell_mask(world) & (position <= reorder_point + promoted))
        quantities = np.zeros(world.n_cells, dtype=np.int32)
        quantities[cells] = round_up_to_case_packs(
            world, cells, order_up_to[cells] + promoted[cells] - position[cells])
        return quantities

    @staticmethod
    def _planned_promotion_units(world: "World", day: date, memory: _SalesMemory,
                                 rate: np.ndarray, variance: np.ndarray,
                                 horizon: np.ndarray) -> np.ndarray:
        """As ``planned_promotion_units``, with each cell's observed rate and the lift
        measured per category and discount in place of the simulation's."""
        lift = memory.lift()
        category = world.product_category_index
        promoted_days = np.zeros(world.n_products)
        for discount, overlap in _planned_weeks(world, day, _interval_days(world)):
            depth = np.abs(discount[:, None] - PROMOTION_DISCOUNTS).argmin(axis=1)
            extra_lift = np.where(discount > 0, np.clip(lift[category, depth] - 1.0, 0, None),
                                  0.0)
            promoted_days += overlap * extra_lift
        extra = rate * np.tile(promoted_days, world.n_stores)
        usual = variance * horizon
        dispersion = np.where(rate > 0, variance / np.maximum(rate, 1e-12), 1.0)
        return PROMOTION_COVER * extra + world.config.safety_factor * (
            np.sqrt(usual + extra * dispersion) - np.sqrt(usual))


# One rule per world when it is the world's own: it keeps what that chain observed.
_FROM_SALES: dict[int, tuple["weakref.ref[World]", PeriodicReviewFromSales]] = {}


def _from_sales_rule(world: "World") -> PeriodicReviewFromSales:
    key = id(world)
    entry = _FROM_SALES.get(key)
    if entry is None or entry[0]() is not world:
        rule = PeriodicReviewFromSales()
        _FROM_SALES[key] = (weakref.ref(world, lambda _, key=key: _FROM_SALES.pop(key, None)),
                            rule)
        return rule
    return entry[1]


def builtin_policy(world: "World") -> OrderingPolicy:
    """The chain's own ordering policy, as its configuration names it
    (``simulation.builtin_policy``): the one the engine uses when no other is given, in the
    burn-in and on every landed day."""
    if world.config.builtin_policy == PeriodicReviewFromSales.name:
        return _from_sales_rule(world)
    return {policy.name: policy for policy in (PERIODIC_REVIEW, PERIODIC_REVIEW_BEFORE_ISSUE_15)
            }[world.config.builtin_policy]
