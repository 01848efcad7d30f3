"""One trading day of the chain: deliveries arrive, shoppers buy what is on the shelf, the
cycle count records end-of-day stock, and the periodic review raises purchase orders.

The engine is a pure function of (world, state at the end of yesterday, day): the randomness
of a day is drawn from a generator seeded by (seed, day), so simulating days one at a time or
as one range gives identical results, and a saved state resumes exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from retailops.simulation.calendar import (
    CLOSING_HOUR,
    HOURLY_TRAFFIC,
    OPENING_HOUR,
    WEEKDAY_PATTERN,
    holiday_effect,
    is_closed,
    seasonal_effect,
)
from retailops.simulation.config import BURN_IN_DAYS, FIRST_DAY
from retailops.simulation.demand import (  # noqa: F401 - promotions is re-exported
    PROMOTION_DISCOUNTS,
    PROMOTION_SHARE,
    extra_units_per_line,
    promotion_lift,
    promotions,
    seed_word,
)
from retailops.simulation.policies import (
    OrderingPolicy,
    builtin_policy,
    due_reviews,
)
from retailops.simulation.world import World

ANNUAL_GROWTH = 0.03
# One traffic weight per trading hour.
assert CLOSING_HOUR - OPENING_HOUR == len(HOURLY_TRAFFIC)
_PENDING_FIELDS = ("shipment_id", "line_number", "supplier", "store", "product", "order_day",
                   "expected_day", "received_day", "quantity_ordered", "quantity_received")


def day_number(day: date) -> int:
    """Days since the first landed day (day 0); burn-in days are negative."""
    return (day - FIRST_DAY).days


def _rng(world: World, day: date, stream: int) -> np.random.Generator:
    return np.random.default_rng([world.config.seed, 2, seed_word(day_number(day)), stream])


@dataclass
class SimulationState:
    """Everything that carries over from one day to the next."""

    next_day: date
    on_hand: np.ndarray
    on_order: np.ndarray
    # Purchase-order lines not yet received, one array per field of _PENDING_FIELDS.
    pending: dict[str, np.ndarray] = field(default_factory=dict)

    def copy(self) -> "SimulationState":
        return SimulationState(self.next_day, self.on_hand.copy(), self.on_order.copy(),
                               {k: v.copy() for k, v in self.pending.items()})

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Flat arrays for persistence (see ``from_arrays``)."""
        arrays = {"next_day": np.array([self.next_day.isoformat()]),
                  "on_hand": self.on_hand, "on_order": self.on_order}
        arrays.update({f"pending_{k}": v for k, v in self.pending.items()})
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "SimulationState":
        return cls(
            next_day=date.fromisoformat(str(arrays["next_day"][0])),
            on_hand=np.asarray(arrays["on_hand"], dtype=np.int32),
            on_order=np.asarray(arrays["on_order"], dtype=np.int32),
            pending={k: np.asarray(arrays[f"pending_{k}"]) for k in _PENDING_FIELDS},
        )


def opening_state(world: World) -> SimulationState:
    """The chain at the start of the burn-in: shelves stocked somewhere between reorder point
    and order-up-to level, nothing on order (a cold start, never landed)."""
    rng = np.random.default_rng([world.config.seed, 3])
    span = world.order_up_to - world.reorder_point
    on_hand = world.reorder_point + (rng.random(world.n_cells) * span).astype(np.int32)
    empty = {k: np.zeros(0, dtype=np.int64 if k == "shipment_id" else np.int32)
             for k in _PENDING_FIELDS}
    return SimulationState(FIRST_DAY - timedelta(days=BURN_IN_DAYS), on_hand.astype(np.int32),
                           np.zeros(world.n_cells, dtype=np.int32), empty)


def initial_state(world: World) -> SimulationState:
    """The chain at the start of the first landed day: the opening state traded through the
    burn-in with the chain's built-in policy (deterministic, nothing formatted or landed), so day one
    already receives deliveries ordered before it and stock levels are in steady state."""
    state = opening_state(world)
    while state.next_day < FIRST_DAY:
        state = _burn_in_day(world, state)
    return state


def _burn_in_day(world: World, state: SimulationState) -> SimulationState:
    """One unseen day of the burn-in: deliveries, demand and the review as on any day, but
    demand is drawn per cell (shoppers, then their units) rather than line by line, and a cell
    sells what its shelf covers. Nothing of the day is kept but the state, so the costly part
    of a day (every sale line, in time order) is skipped: at scale 50 with a daily review the
    burn-in takes seconds instead of minutes."""
    day = state.next_day
    state = state.copy()
    _receive(world, state, day_number(day))
    discount = promotions(world, day)
    rng = _rng(world, day, 1)
    if is_closed(day):
        shoppers = np.zeros(world.n_cells, dtype=np.int64)
    else:
        lam = world.base_lines_per_day * np.tile(demand_multiplier(world, day, discount),
                                                 world.n_stores)
        shoppers = rng.poisson(lam)
    extra = np.tile(extra_units_per_line(discount), world.n_stores)
    units = shoppers + rng.poisson(extra * shoppers)
    state.on_hand -= np.minimum(units, np.maximum(state.on_hand, 0)).astype(np.int32)
    _replenish(world, state, day, _rng(world, day, 2))
    state.next_day = day + timedelta(days=1)
    return state


@dataclass
class DayActivity:
    """What happened on one day, as index arrays into the world (no strings yet)."""

    day: date
    # sale lines, time-ordered
    sale_seconds: np.ndarray
    sale_store: np.ndarray
    sale_product: np.ndarray
    sale_quantity: np.ndarray
    sale_unit_price: np.ndarray
    sale_discount: np.ndarray
    # end-of-day cycle count
    count_cell: np.ndarray
    count_on_hand: np.ndarray
    count_on_order: np.ndarray
    # delivered lines (received today)
    received: dict[str, np.ndarray]
    # ground truth per cell
    expected_units: np.ndarray
    demanded_units: np.ndarray
    sold_units: np.ndarray
    on_promotion: np.ndarray
    orders_placed: int


def demand_multiplier(world: World, day: date, discount: np.ndarray) -> np.ndarray:
    """Per-product multiplier of the average day's demand: weekday, season, holiday, promotion."""
    _, holiday = holiday_effect(day)
    growth = (1 + ANNUAL_GROWTH) ** (day_number(day) / 365.25)
    season = seasonal_effect(day, world.product_summer_peak)
    # Constant-elasticity response to the promotional price cut.
    lift = promotion_lift(world, discount)
    return WEEKDAY_PATTERN[day.weekday()] * holiday * growth * season * lift


def _receive(world: World, state: SimulationState, today: int) -> dict[str, np.ndarray]:
    pending = state.pending
    arriving = pending["received_day"] == today
    received = {k: v[arriving] for k, v in pending.items()}
    state.pending = {k: v[~arriving] for k, v in pending.items()}
    cells = received["store"].astype(np.int64) * world.n_products + received["product"]
    np.add.at(state.on_hand, cells, received["quantity_received"])
    np.subtract.at(state.on_order, cells, received["quantity_ordered"])
    order = np.lexsort((received["line_number"], received["shipment_id"]))
    return {k: v[order] for k, v in received.items()}


_SECONDS_PER_DAY = 86_400


def _arrival_order(cell: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """The permutation ``np.lexsort((seconds, cell))`` gives: by cell, then by second, ties in
    their drawn order. ``cell`` comes from ``np.repeat`` over the cells in order, so the one
    int64 key (cell, second) is already sorted in runs, which a stable sort (timsort) merges
    ~20x faster than lexsort's two passes at scale 16 (0.8M lines). Both sorts are stable on
    the same order, so the permutation is the same, element for element."""
    return np.argsort(cell * _SECONDS_PER_DAY + seconds, kind="stable")


def _time_order(seconds: np.ndarray) -> np.ndarray:
    """The permutation ``np.lexsort((product, store, seconds))`` gives, for sale lines already
    in (store, product) order (``_arrival_order``, then filtered): a stable sort by the second
    alone keeps ties in (store, product, arrival) order, which is lexsort's tie order. Seconds
    since opening fit 16 bits, where numpy's stable sort is a radix sort (~10x lexsort)."""
    if seconds.size == 0:
        return np.zeros(0, dtype=np.intp)
    since_opening = seconds - seconds.min()
    if since_opening.max() <= np.iinfo(np.uint16).max:
        since_opening = since_opening.astype(np.uint16)
    return np.argsort(since_opening, kind="stable")


def _sell(world: World, state: SimulationState, day: date, rng: np.random.Generator,
          discount: np.ndarray) -> tuple:
    n_products = world.n_products
    multiplier = demand_multiplier(world, day, discount)
    lam = world.base_lines_per_day * np.tile(multiplier, world.n_stores)
    if is_closed(day):
        lam = np.zeros_like(lam)
    lines_per_cell = rng.poisson(lam)
    cell = np.repeat(np.arange(world.n_cells, dtype=np.int64), lines_per_cell)
    extra = extra_units_per_line(discount)
    quantity = (1 + rng.poisson(extra[cell % n_products])).astype(np.int32)
    hour = rng.choice(len(HOURLY_TRAFFIC), size=cell.size, p=HOURLY_TRAFFIC)
    seconds = ((OPENING_HOUR + hour) * 3600 + rng.integers(0, 3600, size=cell.size)).astype(np.int32)

    # Shoppers of one cell arrive in time order; once the shelf cannot cover a basket line,
    # that shopper and everyone after leave without it (a stock-out).
    order = _arrival_order(cell, seconds)
    cell, quantity, seconds = cell[order], quantity[order], seconds[order]
    cumulative = np.cumsum(quantity, dtype=np.int64)
    first = np.concatenate(([0], np.cumsum(lines_per_cell)[:-1]))
    before_cell = (cumulative - quantity)[first[cell]] if cell.size else cumulative
    kept = (cumulative - before_cell) <= state.on_hand[cell]

    demanded = np.bincount(cell, weights=quantity, minlength=world.n_cells).astype(np.int32)
    sold = np.bincount(cell[kept], weights=quantity[kept], minlength=world.n_cells).astype(np.int32)
    state.on_hand -= sold

    cell, quantity, seconds = cell[kept], quantity[kept], seconds[kept]
    store, product = cell // n_products, cell % n_products
    by_time = _time_order(seconds)
    store, product = store[by_time].astype(np.int32), product[by_time].astype(np.int32)
    expected = (lam * (1 + np.tile(extra, world.n_stores))).astype(np.float32)
    return (seconds[by_time], store, product, quantity[by_time],
            world.product_list_price[product], discount[product], expected, demanded, sold)


def _count(world: World, state: SimulationState, today: int) -> np.ndarray:
    return np.flatnonzero(world.cycle_bucket == today % world.cycle_days)


def shipment_id_base(world: World) -> int:
    """A shipment id is YYYYMMDD (order day) x this base + 1..n (the day's orders).

    10,000 whenever no day can place more than 9,999 orders (one per reviewed (store, supplier)
    pair), which holds at the default configuration; review_period_days=1 at large scale can
    review ~17,000 pairs a day, and then the base widens so that a day's ids never run into
    the next day's. Fixed per world, so ids stay comparable from day to day.
    """
    busiest_day = int(np.bincount(world.review_offset.ravel()).max())
    base = 10_000
    while busiest_day >= base:
        base *= 10
    return base


def _next_open_day(days: np.ndarray) -> np.ndarray:
    """Day numbers moved to the next day where they fall on a closed day (closed days never
    follow one another: Christmas Day is the only one)."""
    days = np.asarray(days, dtype=np.int64)
    closed = [n for n in np.unique(days) if is_closed(FIRST_DAY + timedelta(days=int(n)))]
    return np.where(np.isin(days, closed), days + 1, days)


def _replenish(world: World, state: SimulationState, day: date, rng: np.random.Generator,
               policy: OrderingPolicy | None = None) -> int:
    """The day's reviews: each (store, supplier) pair is reviewed every R days; the policy
    says how much of each product to order, and each pair's order becomes one delivery."""
    today = day_number(day)
    due = due_reviews(world, day)
    if not len(due):
        return 0
    policy = policy or builtin_policy(world)
    quantities = np.asarray(policy.order_quantities(world, state, day, due))
    if quantities.shape != (world.n_cells,):
        raise ValueError(f"ordering policy {policy.name!r} returned {quantities.shape} "
                         f"quantities on {day}; expected one per cell ({world.n_cells})")
    if (quantities < 0).any() or (quantities[~due.cell_mask(world)] != 0).any():
        raise ValueError(f"ordering policy {policy.name!r} ordered a negative quantity or for "
                         f"a (store, supplier) pair not under review on {day}")
    cells = np.flatnonzero(quantities > 0)
    if cells.size == 0:
        return 0
    ordered = quantities[cells].astype(np.int32)

    store, product = cells // world.n_products, cells % world.n_products
    supplier = world.product_supplier[product]
    # One purchase order (and so one delivery) per (store, supplier) pair.
    pair = store * len(world.supplier_id) + supplier
    pair_values, order_index = np.unique(pair, return_inverse=True)
    n_orders = pair_values.size
    shipment_id = (int(day.strftime("%Y%m%d")) * shipment_id_base(world)
                   + 1 + order_index).astype(np.int64)
    by_order = np.lexsort((product, order_index))
    line_number = np.empty(cells.size, dtype=np.int32)
    sorted_orders = order_index[by_order]
    starts = np.searchsorted(sorted_orders, np.arange(n_orders))
    line_number[by_order] = np.arange(cells.size) - starts[sorted_orders] + 1

    order_supplier = pair_values % len(world.supplier_id)
    lead = world.supplier_lead_time[order_supplier]
    late = rng.random(n_orders) > world.supplier_on_time_rate[order_supplier]
    # A late delivery slips by one day or more (geometric, capped at nine days).
    delay = np.where(late, rng.geometric(0.45, size=n_orders).clip(max=9), 0)
    # Nothing is delivered on a day the stores are closed (Christmas Day): the truck comes the
    # day after, and the supplier plans for that, so the due date moves with it.
    due_day = _next_open_day(today + lead)
    arrival = _next_open_day(today + lead + delay)
    in_full = rng.random(cells.size) < world.supplier_fill_rate[supplier]
    received_qty = np.where(in_full, ordered,
                            np.floor(ordered * rng.uniform(0.0, 0.9, size=cells.size)))

    state.on_order[cells] += ordered
    new = {
        "shipment_id": shipment_id, "line_number": line_number,
        "supplier": supplier.astype(np.int32), "store": store.astype(np.int32),
        "product": product.astype(np.int32),
        "order_day": np.full(cells.size, today, dtype=np.int32),
        "expected_day": due_day[order_index].astype(np.int32),
        "received_day": arrival[order_index].astype(np.int32),
        "quantity_ordered": ordered, "quantity_received": received_qty.astype(np.int32),
    }
    state.pending = {k: np.concatenate([state.pending[k], new[k].astype(state.pending[k].dtype)])
                     for k in _PENDING_FIELDS}
    return int(n_orders)


def simulate_day(world: World, state: SimulationState,
                 policy: OrderingPolicy | None = None) -> tuple[DayActivity, SimulationState]:
    """Simulate ``state.next_day``; returns what happened and the state at the end of it.

    ``policy`` decides the review's order quantities (by default the chain's built-in policy,
    ``simulation.builtin_policy``). Sales draw from their own random stream, so the demand is the same under any
    policy; the replenishment stream only drives lateness and fill of the orders placed."""
    day = state.next_day
    today = day_number(day)
    state = state.copy()
    received = _receive(world, state, today)
    discount = promotions(world, day)
    (seconds, store, product, quantity, price, sale_discount,
     expected, demanded, sold) = _sell(world, state, day, _rng(world, day, 1), discount)
    orders = _replenish(world, state, day, _rng(world, day, 2), policy)
    counted = _count(world, state, today)
    activity = DayActivity(
        day=day, sale_seconds=seconds, sale_store=store, sale_product=product,
        sale_quantity=quantity, sale_unit_price=price, sale_discount=sale_discount,
        count_cell=counted, count_on_hand=state.on_hand[counted].copy(),
        count_on_order=state.on_order[counted].copy(), received=received,
        expected_units=expected, demanded_units=demanded, sold_units=sold,
        on_promotion=np.tile(discount > 0, world.n_stores), orders_placed=orders,
    )
    state.next_day = day + timedelta(days=1)
    return activity, state
