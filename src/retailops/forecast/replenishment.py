"""The closed loop: a forecast-driven order-up-to policy, and the study that runs it against the
chain's built-in periodic review on the same simulated demand.

The policy (``ForecastOrderUpTo``) plugs into the simulation's review (see
``retailops.simulation.policies``): at a (store, supplier) review on day D it orders each product
up to the forecast demand over the days its order must cover (lead time + review period +
the supplier's expected lateness) plus a safety stock for a target service level, in whole case
packs. It forecasts from what the chain has *observed* — the sales of the simulated days, which
stock-outs censor — never from the simulation's truth, and it sees the promotion plan only as
published by then (each Monday: that week and the four after); past the plan it assumes no
promotion and says so.

The study (``run_study``) starts every policy from the same simulation state at the start day,
replays the same demand (the sales stream does not depend on orders) and scores what each policy
made of it. It is a what-if: nothing here writes to a lake.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from statistics import NormalDist
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from retailops.simulation.calendar import is_closed
from retailops.simulation.config import DEFAULT_SAFETY_FACTOR, FIRST_DAY, SimulationConfig
from retailops.simulation.engine import (
    DayActivity,
    SimulationState,
    initial_state,
    promotions,
    simulate_day,
)
from retailops.simulation.policies import (
    PERIODIC_REVIEW,
    PERIODIC_REVIEW_BEFORE_ISSUE_15,
    DueReviews,
    OrderingPolicy,
    PeriodicReviewFromSales,
    builtin_policy,
    round_up_to_case_packs,
)
from retailops.simulation.world import UNITS_PER_LINE_EXTRA, World, build_world

log = logging.getLogger(__name__)

# A late delivery slips by Geometric(0.45) days capped at 9 (simulation.engine._replenish). The
# policy plans with the supplier's published on-time rate and this known slip distribution,
# as a buyer would from the delivery history; it never sees which order will be late.
_SLIP = np.minimum(np.arange(1, 10), 9)
_SLIP_P = 0.45 * (1 - 0.45) ** (np.arange(1, 10) - 1)
_SLIP_P[-1] += 1 - _SLIP_P.sum()
MEAN_SLIP_DAYS = float((_SLIP * _SLIP_P).sum())
SLIP_SQUARE = float((_SLIP**2 * _SLIP_P).sum())
# Units per sale line are 1 + Poisson(x) (what the sales lines' quantities show): the variance
# of demand per unit demanded is E[q²]/E[q] = (x + (1 + x)²) / (1 + x), 1.45 for x = 0.25.
UNIT_VARIANCE_PER_UNIT = (UNITS_PER_LINE_EXTRA + (1 + UNITS_PER_LINE_EXTRA) ** 2) / (
    1 + UNITS_PER_LINE_EXTRA)
RECENT_RATE_DAYS = 28
# The missing share of a short delivery line is read at this many equally likely points, and a
# supplier's short-line rate is shrunk toward the chain's with the weight of this many lines.
SHORT_SHARE_POINTS = 4
SHORT_RATE_PRIOR_LINES = 200.0
# The publication's week and the four after it (contract: the promotion plan).
PLAN_WEEKS_AHEAD = 5
# p90 - p10 of a normal distribution, in standard deviations (the forecast's 80% interval).
_INTERVAL_80_WIDTH = 2 * NormalDist().inv_cdf(0.9)


# --- what the chain observes --------------------------------------------------------------


class ObservedSales:
    """Units sold per cell and day, as the chain's sales table records them (sale lines summed),
    for the days simulated so far. Stock-outs censor them: that is the point."""

    def __init__(self, world: World, first_day: date, days: int):
        self.world = world
        self.first_day = first_day
        self.units = np.zeros((days, world.n_cells), dtype=np.float32)
        # End-of-day cycle counts (NaN where the cell was not counted that day).
        self.on_hand = np.full((days, world.n_cells), np.nan, dtype=np.float32)
        # The discount the day's sale lines carried, per product (0 without a sale).
        self.discount = np.zeros((days, world.n_products), dtype=np.float32)
        self.recorded = 0
        # Goods receipts, as the deliveries table records them: lines received and lines
        # short per supplier, and the share missing on each short line.
        self.lines_received = np.zeros(len(world.supplier_id), dtype=np.int64)
        self.lines_short = np.zeros(len(world.supplier_id), dtype=np.int64)
        self._short_shares: list[np.ndarray] = []

    def record(self, activity: DayActivity) -> None:
        index = (activity.day - self.first_day).days
        if index != self.recorded:
            raise ValueError(f"observed sales must be recorded day by day; got {activity.day} "
                             f"after {self.recorded} days from {self.first_day}")
        if index >= self.units.shape[0]:
            size = (max(2 * index, 1), self.world.n_cells)
            units, on_hand = np.zeros(size, np.float32), np.full(size, np.nan, np.float32)
            discount = np.zeros((size[0], self.world.n_products), np.float32)
            units[: self.recorded], on_hand[: self.recorded] = (self.units[: self.recorded],
                                                                self.on_hand[: self.recorded])
            discount[: self.recorded] = self.discount[: self.recorded]
            self.units, self.on_hand, self.discount = units, on_hand, discount
        cell = activity.sale_store.astype(np.int64) * self.world.n_products + activity.sale_product
        self.units[index] = np.bincount(cell, weights=activity.sale_quantity,
                                        minlength=self.world.n_cells)
        self.on_hand[index, activity.count_cell] = activity.count_on_hand
        np.maximum.at(self.discount[index], activity.sale_product, activity.sale_discount)
        received = activity.received
        if received and received["supplier"].size:
            ordered = received["quantity_ordered"].astype(np.float64)
            got = received["quantity_received"].astype(np.float64)
            short = got < ordered
            np.add.at(self.lines_received, received["supplier"], 1)
            np.add.at(self.lines_short, received["supplier"][short], 1)
            if short.any():
                self._short_shares.append(1.0 - got[short] / ordered[short])
        self.recorded += 1

    def recent_rate(self, until: date, days: int) -> np.ndarray:
        """Mean units sold a day per cell over the ``days`` days through ``until``."""
        stop = (until - self.first_day).days + 1
        return self.units[max(0, stop - days):stop].mean(axis=0)

    @property
    def last_day(self) -> date:
        return self.first_day + timedelta(days=self.recorded - 1)

    def copy(self) -> "ObservedSales":
        twin = ObservedSales(self.world, self.first_day, 0)
        twin.units = self.units[: self.recorded].copy()
        twin.on_hand = self.on_hand[: self.recorded].copy()
        twin.discount = self.discount[: self.recorded].copy()
        twin.recorded = self.recorded
        twin.lines_received = self.lines_received.copy()
        twin.lines_short = self.lines_short.copy()
        twin._short_shares = list(self._short_shares)
        return twin

    def short_delivery_risk(self, points: int = SHORT_SHARE_POINTS,
                            prior_lines: float = SHORT_RATE_PRIOR_LINES
                            ) -> tuple[np.ndarray, np.ndarray]:
        """From the goods receipts so far: each supplier's rate of short lines (shrunk toward
        the chain's rate with the weight of ``prior_lines`` lines) and ``points`` equally likely
        shares of a short line that go missing (the midpoint quantiles of what was missing).
        No receipts yet: no risk."""
        lines, short = self.lines_received.astype(float), self.lines_short.astype(float)
        if lines.sum() == 0 or not self._short_shares:
            return np.zeros(lines.size), np.zeros(0)
        pooled = short.sum() / lines.sum()
        rate = (short + prior_lines * pooled) / (lines + prior_lines)
        shares = np.quantile(np.concatenate(self._short_shares),
                             (np.arange(points) + 0.5) / points)
        return rate, shares

    def frame(self, until: date, days: int | None = None) -> pd.DataFrame:
        """The forecasters' ``history`` frame through ``until`` (the last ``days`` days of it
        when given), shaped as ``forecast.data.load_history`` shapes the marts: one row per
        store × product × day sorted by store, product, date, categorical ids, with units,
        on_hand (NaN when not counted), unit_price, discount_pct (of the day's sales) and
        is_closed. What the chain saw: sales and counts, never the demand."""
        stop = (until - self.first_day).days + 1
        if not 0 < stop <= self.recorded:
            raise ValueError(f"no observed sales through {until} (observed {self.first_day}.."
                             f"{self.last_day})")
        start = 0 if days is None else max(0, stop - days)
        n_days, world = stop - start, self.world
        n_s, n_p = world.n_stores, world.n_products
        dates = pd.date_range(self.first_day + timedelta(days=start), periods=n_days, freq="D")
        units = self.units[start:stop].T
        sold = units > 0
        discount = np.where(sold, np.tile(self.discount[start:stop].T, (n_s, 1)), 0.0)
        closed = np.array([is_closed(d.date()) for d in dates])
        # Categorical ids: a year of a default chain is ~26M rows; strings would cost ~2 GB.
        return pd.DataFrame({
            "store_id": pd.Categorical.from_codes(np.repeat(np.arange(n_s), n_p * n_days),
                                                  world.store_id.tolist()),
            "product_id": pd.Categorical.from_codes(
                np.tile(np.repeat(np.arange(n_p), n_days), n_s), world.product_id.tolist()),
            "date": np.tile(dates.to_numpy(), n_s * n_p),
            "units": units.ravel(),
            "on_hand": self.on_hand[start:stop].T.ravel(),
            "unit_price": np.repeat(np.tile(world.product_list_price.astype(np.float32), n_s),
                                    n_days),
            "discount_pct": discount.ravel().astype(np.float32),
            "is_closed": np.tile(closed, n_s * n_p),
        })


def published_plan(world: World, as_of: date, since: date = FIRST_DAY) -> pd.DataFrame:
    """The promotion plan as known on ``as_of`` (``read_plan``-shaped: product_id, start_date,
    end_date, discount_pct): every week from ``since``'s through the last week of the newest
    Monday publication on or before ``as_of``. Weeks after that are unknown, not unpromoted."""
    horizon_end = plan_horizon_end(as_of)
    monday = since - timedelta(days=since.weekday())
    rows = []
    while monday <= horizon_end:
        # The chain publishes the very draws the sales follow (simulation.promotions).
        discount = promotions(world, monday)
        chosen = np.flatnonzero(discount > 0)
        rows.append(pd.DataFrame({
            "product_id": world.product_id[chosen].astype(str),
            "start_date": pd.Timestamp(monday), "end_date": pd.Timestamp(monday + timedelta(6)),
            "discount_pct": discount[chosen].astype(float)}))
        monday += timedelta(days=7)
    if not rows:
        return pd.DataFrame({"product_id": pd.Series(dtype=str),
                             "start_date": pd.Series(dtype="datetime64[ns]"),
                             "end_date": pd.Series(dtype="datetime64[ns]"),
                             "discount_pct": pd.Series(dtype=float)})
    return pd.concat(rows, ignore_index=True)


def plan_horizon_end(as_of: date) -> date:
    """The last day the plan known on ``as_of`` covers: the Sunday of the fourth week after
    the newest Monday publication (on or before ``as_of``)."""
    newest = max(as_of - timedelta(days=as_of.weekday()), FIRST_DAY)
    return newest + timedelta(days=7 * PLAN_WEEKS_AHEAD - 1)


# --- the forecast-driven policy -----------------------------------------------------------


PlanSource = Callable[[World, date], pd.DataFrame]
ContextFactory = Callable[[World], Any]


@dataclass
class ForecastLog:
    """What the policy did with its forecaster, for the study's output."""

    forecasts: int = 0
    forecast_seconds: float = 0.0
    # Target days forecast past the published plan (assumed unpromoted), summed over forecasts.
    days_beyond_plan: int = 0
    origins: list[date] = field(default_factory=list)
    plans_seen_until: list[date] = field(default_factory=list)


class ForecastOrderUpTo:
    """Order up to (forecast demand over lead time + review period + expected lateness) plus a
    safety stock for ``service_level``, whenever the position is below that level.

    The safety stock is z(service level) × the standard deviation of demand over the covered
    days: the forecast's own uncertainty (its 80% interval read as a normal spread, days
    independent) scaled by ``error_scale`` — how much larger the forecaster's realised errors
    over a cover were, before the start, than that spread says (``forecast_error_scale``) —
    plus the spread the supplier's lateness adds (slip variance × daily demand²).
    A forecast is made on the morning after ``forecast_every_days`` days (origin = the last
    day with observed sales) and reused in between; at cadence 1 every review day forecasts.
    """

    name = "forecast_order_up_to"

    def __init__(self, forecaster: Any, observed: ObservedSales, context: Any,
                 service_level: float, forecast_every_days: int = 7,
                 history_days: int | None = None,
                 plan_source: PlanSource = published_plan, error_scale: float = 1.0,
                 cover_errors: "CoverErrors | None" = None,
                 plan_lift: "PlanLift | None" = None, allocation: str = "uniform",
                 level_bounds: tuple[float, float] = (0.5, 0.995), supply_risk: bool = False,
                 cycle_periods: float | None = None,
                 perishable_cycle_periods: float | None = None, cycle_packs: float = 1.0):
        if not 0.5 <= service_level < 1:
            raise ValueError(f"service_level={service_level} must be in [0.5, 1)")
        if allocation not in ALLOCATIONS:
            raise ValueError(f"allocation={allocation!r} must be one of {', '.join(ALLOCATIONS)}")
        if (allocation == "cost" or supply_risk) and cover_errors is None:
            raise ValueError("allocation='cost' and supply_risk need the empirical safety stock "
                             "(cover_errors)")
        self.forecaster = forecaster
        self.observed = observed
        self.context = context
        self.service_level = service_level
        self.z = NormalDist().inv_cdf(service_level)
        self.forecast_every_days = forecast_every_days
        self.history_days = history_days
        self.plan_source = plan_source
        # Realised error over a cover / the interval's spread, measured before the start.
        self.error_scale = error_scale
        # Empirical safety stock: realised cover errors before the start, per velocity class
        # (None: the intervals' spread, as above).
        self.cover_errors = cover_errors
        # For a forecaster that does not read the plan: the planned discounts' lift, applied
        # where the published plan reaches (None: the forecaster reads the plan itself).
        self.plan_lift = plan_lift
        # "uniform": every cell at service_level. "cost": the safety stock value uniform
        # service_level would hold, re-spent per cell where a unit at cost saves the most lost
        # units (allocate_service_levels), each cell's level within level_bounds.
        self.allocation = allocation
        self.level_bounds = level_bounds
        self._levels: np.ndarray | None = None    # per cell, under allocation "cost"
        # Size the level on demand over the cover plus the supply's own risks, as the goods
        # receipts show them: a short delivery of this order or of the lines still open, and
        # the next delivery's slip (supply_aware_order_up_to); otherwise the slip alone, in
        # quadrature.
        self.supply_risk = supply_risk
        # None: order up to the level at every review (R, S). A number: the level is a reorder
        # point s, and a cell at or below it is ordered up to s + a cycle quantity: the
        # forecast over cycle_periods review periods (perishable_cycle_periods for perishables,
        # default the same) plus cycle_packs case packs (R, s, S), as the built-in rules do.
        if (cycle_periods is not None and cycle_periods < 0) or cycle_packs < 0:
            raise ValueError(f"cycle_periods={cycle_periods} and cycle_packs={cycle_packs} "
                             "must be >= 0")
        self.cycle_periods = cycle_periods
        self.perishable_cycle_periods = (cycle_periods if perishable_cycle_periods is None
                                         else perishable_cycle_periods)
        self.cycle_packs = cycle_packs
        self.log = ForecastLog()
        self._origin: date | None = None
        self._mean: np.ndarray | None = None      # (n_cells, horizon) from origin + 1
        self._variance: np.ndarray | None = None
        self._recent_rate = np.zeros(0)

    def horizon(self, world: World) -> int:
        """Days a forecast must reach: the longest cover plus the days it is reused."""
        review = world.config.review_period_days
        cover = int(world.supplier_lead_time.max()) + review + int(np.ceil(MEAN_SLIP_DAYS))
        return cover + self.forecast_every_days

    def _refresh(self, world: World, origin: date) -> None:
        if (self._origin is not None
                and (origin - self._origin).days < self.forecast_every_days):
            return
        started = time.perf_counter()
        horizon = self.horizon(world)
        plan = self.plan_source(world, origin)
        self._mean, self._variance = cover_forecast(
            self.forecaster, self.observed, world, self.context, origin, horizon, plan,
            self.history_days, self.plan_lift)
        self._recent_rate = self.observed.recent_rate(origin, RECENT_RATE_DAYS)
        self._origin = origin
        if self.allocation == "cost":
            self._levels = self._allocate(world)
        plan_end = plan_horizon_end(origin)
        beyond = max(0, (origin + timedelta(days=horizon) - plan_end).days)
        if beyond:
            log.debug("Forecast from %s: the published plan ends %s; the last %d of %d days "
                      "assume no promotion", origin, plan_end, beyond, horizon)
        self.log.forecasts += 1
        self.log.forecast_seconds += time.perf_counter() - started
        self.log.days_beyond_plan += beyond
        self.log.origins.append(origin)
        self.log.plans_seen_until.append(
            plan["end_date"].max().date() if len(plan) else origin)

    def order_up_to_levels(self, world: World, day: date, cells: np.ndarray,
                           state: SimulationState | None = None) -> np.ndarray:
        """The target position of ``cells`` at a review on ``day`` (orders arrive from
        day + lead time; the next review's order from day + review period + lead time).
        With ``supply_risk``, ``state`` (the open orders and the stock) is needed."""
        origin = day - timedelta(days=1)   # the review runs before today's sales are booked
        self._refresh(world, origin)
        assert self._origin is not None and self._mean is not None and self._variance is not None
        cover, slip_variance = cover_days(world, cells)
        # The covered days are day+1 .. day+cover; column k of the forecast is origin+1+k.
        first = (day - self._origin).days
        last = np.minimum(first + cover, self._mean.shape[1])
        mean_cum = np.concatenate([np.zeros((cells.size, 1)),
                                   np.cumsum(self._mean[cells], axis=1)], axis=1)
        var_cum = np.concatenate([np.zeros((cells.size, 1)),
                                  np.cumsum(self._variance[cells], axis=1)], axis=1)
        rows = np.arange(cells.size)
        demand = mean_cum[rows, last] - mean_cum[rows, first]
        variance = var_cum[rows, last] - var_cum[rows, first]
        daily = demand / np.maximum(last - first, 1)
        if self.cover_errors is not None:
            # The quantile of what covers like this one really sold against their forecast
            # (measured before the start), with the supplier's slip added in quadrature.
            level = (self.service_level if self._levels is None else self._levels[cells])
            safety = empirical_safety(self.cover_errors, demand, daily, slip_variance, level)
            plain = np.maximum(demand + safety, 0.0)
            if not self.supply_risk:
                return plain
            if state is None:
                raise ValueError("supply_risk needs the state (open orders) at the review")
            short_rate, shares = self.observed.short_delivery_risk()
            supplier = world.product_supplier[cells % world.n_products]
            return supply_aware_order_up_to(
                self.cover_errors, demand, daily, level,
                (state.on_hand[cells] + state.on_order[cells]).astype(float),
                state.on_order[cells].astype(float), short_rate[supplier], shares,
                world.supplier_on_time_rate[supplier],
                cover - world.supplier_lead_time[supplier] - world.config.review_period_days,
                plain)
        # A forecast of nothing is not a certainty of nothing: demand noise is at least that of
        # the cell's recent observed selling rate (units arrive in basket lines, 1.45 units²
        # of variance per unit sold), so a slow mover a forecaster rounds to 0 keeps a buffer.
        floor = UNIT_VARIANCE_PER_UNIT * self._recent_rate[cells] * (last - first)
        spread = np.sqrt(np.maximum(self.error_scale**2 * variance, floor)
                         + slip_variance * daily**2)
        return demand + self.z * spread

    def cycle_units(self, world: World, day: date, cells: np.ndarray) -> np.ndarray:
        """The (R, s, S) structure's cycle quantity above the reorder point per cell: the
        forecast over the review period after ``day`` times the cell's cycle periods, plus
        ``cycle_packs`` case packs."""
        assert self._origin is not None and self._mean is not None
        review = world.config.review_period_days
        first = (day - self._origin).days
        period = self._mean[cells, first:first + review].sum(axis=1)
        perishable = world.product_perishable[cells % world.n_products]
        periods = np.where(perishable, self.perishable_cycle_periods, self.cycle_periods)
        return period * periods + self.cycle_packs * world.case_pack[cells]

    def _allocate(self, world: World) -> np.ndarray:
        """Per-cell service levels for the forecast just made: each cell's cover as ordered
        the day after the origin, the budget that of ``service_level`` for every cell."""
        assert self._mean is not None and self.cover_errors is not None
        cells = np.arange(world.n_cells)
        cover, slip_variance = cover_days(world, cells)
        last = np.minimum(1 + cover, self._mean.shape[1])
        mean_cum = np.cumsum(self._mean, axis=1)
        demand = mean_cum[cells, last - 1] - self._mean[:, 0]
        daily = demand / np.maximum(last - 1, 1)
        errors = self.cover_errors
        return allocate_service_levels(
            np.tile(world.product_unit_cost.astype(float), world.n_stores),
            lambda levels: empirical_safety(errors, demand, daily, slip_variance, levels),
            self.service_level, self.level_bounds)

    def order_quantities(self, world: World, state: SimulationState, day: date,
                         due: DueReviews) -> np.ndarray:
        cells = np.flatnonzero(due.cell_mask(world))
        quantities = np.zeros(world.n_cells, dtype=np.int32)
        if cells.size == 0:
            return quantities
        target = self.order_up_to_levels(world, day, cells, state)
        position = (state.on_hand[cells] + state.on_order[cells]).astype(float)
        if self.cycle_periods is None:
            short = target - position
            ordering = short > 0
        else:   # target is the reorder point
            ordering = position <= target
            short = target + self.cycle_units(world, day, cells) - position
        quantities[cells[ordering]] = round_up_to_case_packs(
            world, cells[ordering], short[ordering])
        return quantities


ALLOCATIONS = ("uniform", "cost")
# z for a level, tabulated (np.interp): the per-cell levels of allocation "cost" need it for
# tens of thousands of cells at every step of the budget's bisection.
_Z_LEVELS = np.linspace(0.001, 0.999, 999)
_Z_VALUES = np.array([NormalDist().inv_cdf(float(p)) for p in _Z_LEVELS])


def empirical_safety(cover_errors: "CoverErrors", demand: np.ndarray, daily: np.ndarray,
                     slip_variance: np.ndarray, level: float | np.ndarray) -> np.ndarray:
    """Safety stock in units for covers forecast at ``demand`` (``daily`` a day): the cover
    errors' quantile at ``level`` (one, or one per cover) plus the supplier's slip in
    quadrature (z × slip standard deviation × daily demand)."""
    safety = cover_errors.safety(demand, level)
    z = (NormalDist().inv_cdf(float(level)) if np.ndim(level) == 0
         else np.interp(level, _Z_LEVELS, _Z_VALUES))
    slip = z * np.sqrt(slip_variance) * daily
    return safety + np.sqrt(safety**2 + slip**2) - np.abs(safety)


# A late delivery's slip (simulation.engine._replenish: Geometric(0.45) capped at 9), in four
# buckets for the supply-aware level: probabilities given late, and each bucket's mean days.
_SLIP_BUCKETS = [(1, 1), (2, 2), (3, 4), (5, 9)]
_SLIP_BUCKET_P = np.array([_SLIP_P[a - 1:b].sum() for a, b in _SLIP_BUCKETS])
_SLIP_BUCKET_DAYS = np.array([(_SLIP[a - 1:b] * _SLIP_P[a - 1:b]).sum() / _SLIP_P[a - 1:b].sum()
                              for a, b in _SLIP_BUCKETS])


def supply_aware_order_up_to(cover_errors: "CoverErrors", demand: np.ndarray,
                             daily: np.ndarray, level: float | np.ndarray,
                             position: np.ndarray, open_units: np.ndarray,
                             short_rate: np.ndarray, short_shares: np.ndarray,
                             on_time_rate: np.ndarray, slip_days_in_cover: np.ndarray,
                             plain: np.ndarray, iterations: int = 24) -> np.ndarray:
    """The order-up-to level S at which P(demand over the cover + what the supply takes away
    <= S) reaches ``level``, per cell.

    Demand over the cover is the cover errors' distribution (class of ``demand``, scaled by
    sqrt(demand)), the cover counting ``slip_days_in_cover`` days of expected slip. The supply
    takes away: the next delivery's slip beyond those days (on time with the supplier's on-time
    rate, else the known slip distribution; ``daily`` units a day), and a short line — of the
    order placed now (S − ``position`` units) or of the units still open (``open_units``) —
    with the supplier's short-line rate, missing one of ``short_shares`` (equally likely).
    Both short at once counts as not covered. A unit more of S saves P(demand + taken > S),
    so this is the fractile of the whole risk, not of the demand alone. Capped at ``plain``
    (the level without short deliveries) + the cover's demand + the open units."""
    level = np.broadcast_to(np.asarray(level, dtype=float), demand.shape)
    sigma = np.sqrt(np.maximum(demand, COVER_ERROR_FLOOR))
    cls = np.digitize(demand, cover_errors.edges)
    low, step, table = cover_errors.cdf_table()
    points = table.shape[1]
    flat, row = table.ravel(), cls * points

    def cdf(x: np.ndarray) -> np.ndarray:
        # The class's CDF at x, linear between grid points (0 below the lowest error).
        position = (x - low) / step
        below = position < 0
        position = np.clip(position, 0, points - 1)
        index = np.minimum(position.astype(np.int64), points - 2)
        weight = position - index
        value = flat[row + index] * (1 - weight) + flat[row + index + 1] * weight
        return np.where(below, 0.0, value)

    # Every outcome at once, (slip outcome, supply outcome, cell): its probability, its days
    # of slip beyond the cover, and what it takes as a share of this order or in units.
    late = 1.0 - on_time_rate
    slip_p = np.concatenate([(1.0 - late)[None], late[None] * _SLIP_BUCKET_P[:, None]])
    slip_days = np.concatenate([[0.0], _SLIP_BUCKET_DAYS])[:, None] - slip_days_in_cover[None]
    has_open = open_units > 0
    q = np.asarray(short_rate, dtype=float)
    shares = np.asarray(short_shares, dtype=float)
    k = max(shares.size, 1)
    keep_open = np.where(has_open, 1 - q, 1.0)
    supply_p = np.concatenate([(1 - q)[None] * keep_open,
                               np.repeat((q * keep_open / k)[None], shares.size, axis=0),
                               np.repeat((np.where(has_open, q * (1 - q), 0.0) / k)[None],
                                         shares.size, axis=0)])
    of_order = np.concatenate([[0.0], shares, np.zeros(shares.size)])[:, None]
    units = np.concatenate([np.zeros((1 + shares.size, demand.size)),
                            shares[:, None] * open_units[None]])
    weight = slip_p[:, None, :] * supply_p[None, :, :]
    fixed = demand + slip_days[:, None, :] * daily + units[None]

    def covered(target: np.ndarray) -> np.ndarray:
        order = np.maximum(target - position, 0.0)
        x = (target - fixed - of_order[None] * order) / sigma
        return (weight * cdf(x)).sum(axis=(0, 1))

    lo = np.zeros(demand.shape)
    hi = plain + demand + open_units + 1.0
    enough = covered(hi) >= level
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        ok = covered(mid) >= level
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid)
    return np.where(enough, hi, plain + demand + open_units + 1.0)


def allocate_service_levels(unit_cost: np.ndarray,
                            safety_at: Callable[[np.ndarray], np.ndarray], level: float,
                            bounds: tuple[float, float] = (0.5, 0.995),
                            iterations: int = 50) -> np.ndarray:
    """Per-cell service levels that spend the safety stock value of ``level`` for every cell
    (sum of unit cost × ``safety_at(levels)``) where it saves the most lost units.

    Raising a cell's order-up-to level by a unit adds about a unit to its average stock (its
    unit cost to the inventory value) and saves the lost units of the covers whose demand
    exceeds the level: P(demand > S) per review. The lost units are counted alike whatever
    they cost, so the value is best spent where P(demand > S) / unit cost is equal across
    cells: 1 - p_i = lambda × cost_i (clipped to ``bounds``), with the budget multiplier lambda
    found by bisection so the cells' safety stock value equals that of the uniform level.
    Expensive cells get lower levels than ``level``, cheap ones higher."""
    low, high = bounds
    cost = np.asarray(unit_cost, dtype=float)
    budget = float(cost @ safety_at(np.full(cost.size, level)))

    def levels_for(multiplier: float) -> np.ndarray:
        return np.clip(1.0 - multiplier * cost, low, high)

    def spent(multiplier: float) -> float:
        return float(cost @ safety_at(levels_for(multiplier)))

    lo, hi = 0.0, (1.0 - low) / max(float(cost.min()), 1e-9)   # all at high .. all at low
    if spent(lo) <= budget:
        return levels_for(lo)
    if spent(hi) >= budget:
        return levels_for(hi)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        if spent(mid) > budget:
            lo = mid
        else:
            hi = mid
    return levels_for(hi)


def cover_days(world: World, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Days an order placed at a review must cover for each cell (lead time + review period +
    the supplier's expected slip, rounded), and the variance of that slip in days²."""
    supplier = world.product_supplier[cells % world.n_products]
    late = 1 - world.supplier_on_time_rate[supplier]
    expected_slip = late * MEAN_SLIP_DAYS
    slip_variance = late * SLIP_SQUARE - expected_slip**2
    cover = (world.supplier_lead_time[supplier] + world.config.review_period_days
             + np.round(expected_slip)).astype(np.int64)
    return cover, slip_variance


def forecast_error_scale(forecaster: Any, observed: ObservedSales, world: World, context: Any,
                         origin: date, history_days: int | None) -> float:
    """How much the forecaster's realised errors over an order's cover exceed the spread its
    80% intervals imply: one forecast from ``origin`` minus the longest cover, compared with the
    sales observed over each cell's cover (pooled: sqrt(sum error² / sum variance)), at least 1.
    The sales are censored, so stock-outs count as errors too: the safety stock covers them."""
    cells = np.arange(world.n_cells)
    cover, _ = cover_days(world, cells)
    back = int(cover.max())
    start = origin - timedelta(days=back)
    if (start - observed.first_day).days < getattr(forecaster, "min_history_days", 28):
        return 1.0  # too little history before the calibration origin: the intervals as they are
    mean, variance = cover_forecast(forecaster, observed, world, context, start, back,
                                    published_plan(world, start), history_days)
    first = (start - observed.first_day).days + 1
    actual = np.cumsum(observed.units[first: first + back].T, axis=1)
    predicted = np.cumsum(mean, axis=1)
    spread = np.cumsum(variance, axis=1)
    rows, last = cells, cover - 1
    error = predicted[rows, last] - actual[rows, last]
    implied = spread[rows, last].sum()
    if implied <= 0:
        return 1.0
    return float(max(1.0, np.sqrt((error**2).sum() / implied)))


def cover_forecast(forecaster: Any, observed: ObservedSales, world: World, context: Any,
                   origin: date, horizon: int, plan: pd.DataFrame, history_days: int | None,
                   plan_lift: "PlanLift | None" = None) -> tuple[np.ndarray, np.ndarray]:
    """(n_cells × horizon) mean units and variance from ``origin + 1``: the forecaster's
    prediction from the sales observed through ``origin``, times the planned discounts' lift
    where ``plan_lift`` is given (a forecaster that does not read the plan). Past the published
    plan no promotion is assumed."""
    if isinstance(forecaster, OracleDemand):   # the bound: the simulation's own demand
        return forecaster.cover_matrices(world, origin, horizon)
    forecast = forecaster.predict(observed.frame(origin, history_days), origin, horizon, plan,
                                  context)
    mean, variance = forecast_matrices(world, forecast, origin, horizon)
    if plan_lift is not None:
        lift = plan_lift.lift(world, plan, origin, horizon)
        mean *= lift
        variance *= lift**2
    return mean, variance


# How many expected units of a category's promoted sales weigh as much as the chain-wide
# elasticity (PlanLift.measure's shrinkage): negligible at default scale (tens of thousands).
PLAN_LIFT_PRIOR_UNITS = 2000.0


@dataclass(frozen=True)
class PlanLift:
    """What a planned discount does to a product's sales, measured from the observed history:
    a constant price elasticity per category, lift = (1 - discount) ** elasticity, fitted on
    the promoted days' sales against the same cells' unpromoted daily rate. Used for a
    forecaster that does not read the plan (the intermittent models forecast a level)."""

    elasticity: np.ndarray   # per product (its category's)

    def lift(self, world: World, plan: pd.DataFrame, origin: date, horizon: int) -> np.ndarray:
        """(n_cells × horizon) multipliers for the days origin + 1 .. origin + horizon: 1 where
        nothing is planned or the plan is not yet published."""
        from retailops.forecast.frames import plan_discount

        days = pd.date_range(origin + timedelta(days=1), periods=horizon, freq="D")
        discount = plan_discount(plan, world.product_id.astype(str), days)   # days × products
        lift = (1.0 - np.clip(discount, 0, 0.95)) ** self.elasticity[None, :]
        return np.tile(lift.T, (world.n_stores, 1))

    @classmethod
    def measure(cls, observed: ObservedSales, world: World, until: date,
                days: int = 182) -> "PlanLift":
        """Fit the elasticities on the ``days`` observed days through ``until`` and the plan
        published for them (the promoted weeks are in the past: published long ago)."""
        from retailops.forecast.frames import plan_discount

        stop = (until - observed.first_day).days + 1
        start = max(0, stop - days)
        dates = pd.date_range(observed.first_day + timedelta(days=start), periods=stop - start,
                              freq="D")
        units = observed.units[start:stop].astype(np.float64)           # days × cells
        open_ = np.array([not is_closed(d.date()) for d in dates])
        discount = plan_discount(published_plan(world, until, dates[0].date()),
                                 world.product_id.astype(str), dates)    # days × products
        cell_discount = np.tile(discount, (1, world.n_stores))
        plain = (cell_discount == 0) & open_[:, None]
        base = (units * plain).sum(axis=0) / np.maximum(plain.sum(axis=0), 1)   # per cell
        category = np.tile(world.product_category_index, world.n_stores)
        n_categories = int(world.product_category_index.max()) + 1
        promoted = (cell_discount > 0) & open_[:, None]
        # Weighted least squares through the origin, log lift = e log(1 - d), per category
        # and discount depth: sums of w x y and w x² (w = the units expected unpromoted).
        sxy, sxx = np.zeros(n_categories), np.zeros(n_categories)
        for c in range(n_categories):
            for level in np.unique(cell_discount[promoted]):
                hit = promoted & (cell_discount == level) & (category == c)[None, :]
                expected = (base[None, :] * hit).sum()
                if expected <= 0:
                    continue
                x = np.log(1 - level)
                sxy[c] += expected * x * np.log(max((units * hit).sum(), 0.5) / expected)
                sxx[c] += expected * x**2
        if sxx.sum() <= 0:
            return cls(elasticity=np.zeros(world.n_products))
        # A small chain sees few promoted units per category: shrink each category toward the
        # chain-wide fit with the weight of PLAN_LIFT_PRIOR_UNITS expected units, and never
        # let a price cut lower the forecast.
        pooled = sxy.sum() / sxx.sum()
        prior = PLAN_LIFT_PRIOR_UNITS * sxx.sum() / max(float((base * promoted).sum()), 1.0)
        elasticity = np.minimum((sxy + prior * pooled) / (sxx + prior), 0.0)
        return cls(elasticity=elasticity[world.product_category_index])


@dataclass(frozen=True)
class CoverErrors:
    """The realised error of cover forecasts, measured before the study starts: for each
    cell and calibration origin, (units sold over the cover − forecast) / sqrt(forecast),
    pooled per velocity class (classes by the forecast's units over the cover). The safety
    stock at service level p is the class's p-quantile × sqrt(forecast): sized on what the
    forecasts really missed by, not on their intervals. Sales on censored days enter as the
    censoring rule imputes them, so stock-outs under the built-in policy do not hide demand."""

    edges: np.ndarray          # class boundaries on forecast units over the cover
    errors: tuple[np.ndarray, ...]   # sorted standardised errors per class
    samples: int

    def quantile(self, level: float) -> np.ndarray:
        return np.array([np.quantile(e, level) if e.size else 0.0 for e in self.errors])

    def safety(self, cover_mean: np.ndarray, level: float | np.ndarray) -> np.ndarray:
        """Units of safety stock over covers forecast at ``cover_mean``: the class's quantile
        at ``level`` (one level for all, or one per cover) × sqrt(forecast)."""
        cls = np.digitize(cover_mean, self.edges)
        if np.ndim(level) == 0:
            q = self.quantile(float(level))[cls]
        else:
            q = self.quantile_per_cell(cls, np.broadcast_to(level, cls.shape))
        return q * np.sqrt(np.maximum(cover_mean, COVER_ERROR_FLOOR))

    def cdf_table(self, points: int = 4096) -> tuple[float, float, np.ndarray]:
        """Each class's empirical CDF of the errors on one even grid (for many cells at
        once): (the grid's first point, its step, classes × points)."""
        every = [e for e in self.errors if e.size]
        low = float(min(e[0] for e in every)) if every else 0.0
        high = float(max(e[-1] for e in every)) if every else 1.0
        grid = np.linspace(low, high, points)
        table = np.array([np.searchsorted(e, grid, side="right") / max(e.size, 1)
                          for e in self.errors])
        return low, (high - low) / (points - 1) or 1.0, table

    def quantile_per_cell(self, cls: np.ndarray, levels: np.ndarray) -> np.ndarray:
        """Each cover's class quantile at its own level (np.quantile's linear rule)."""
        out = np.zeros(cls.shape)
        for c, errors in enumerate(self.errors):
            hit = cls == c
            if not hit.any() or errors.size == 0:
                continue
            position = levels[hit] * (errors.size - 1)
            low = np.floor(position).astype(np.int64)
            high = np.minimum(low + 1, errors.size - 1)
            out[hit] = errors[low] + (position - low) * (errors[high] - errors[low])
        return out

    def summary(self, level: float) -> str:
        q = self.quantile(level)
        return ", ".join(f"<{e:.3g}: {v:+.2f}" for e, v in zip(list(self.edges) + [np.inf], q))


# A cover forecast of (nearly) nothing still has a unit or two of demand risk: the error of
# such cells is read per sqrt(this many units).
COVER_ERROR_FLOOR = 1.0


def measure_cover_errors(forecaster: Any, observed: ObservedSales, world: World, context: Any,
                         origin: date, history_days: int | None, forecast_every_days: int,
                         plan_lift: PlanLift | None = None, origins: int = 6,
                         step_days: int = 7, classes: int = 12) -> CoverErrors | None:
    """``CoverErrors`` from ``origins`` forecasts a week apart, the newest one the longest cover
    (plus the forecast's reuse) before ``origin``: each cell's order is placed as the policy
    would place it, on a review day 0..forecast_every_days-1 after the forecast (spread over
    the cells), and its cover's forecast compared with the sales observed over that cover.
    None when the history before the first calibration origin is too short."""
    from retailops.forecast.censoring import CensoringRule
    from retailops.forecast.features import build_panel

    cells = np.arange(world.n_cells)
    cover, _ = cover_days(world, cells)
    lag = cells % max(forecast_every_days, 1)          # review day after the forecast
    horizon = int((lag + 1 + cover).max())
    rule = getattr(forecaster, "rule", None) or CensoringRule()
    # What the cells really sold, censored days imputed from the data (not the truth).
    panel = build_panel(observed.frame(origin), context, rule)
    cum = np.concatenate([np.zeros((world.n_cells, 1)), np.cumsum(panel.filled, axis=1,
                                                                  dtype=np.float64)], axis=1)
    need = getattr(forecaster, "min_history_days", 28)
    forecast_parts, error_parts = [], []
    for k in range(origins):
        o = origin - timedelta(days=horizon + step_days * k)
        if (o - observed.first_day).days + 1 < need:
            break
        mean, _ = cover_forecast(forecaster, observed, world, context, o, horizon,
                                 published_plan(world, o), history_days, plan_lift)
        mean_cum = np.concatenate([np.zeros((world.n_cells, 1)), np.cumsum(mean, axis=1)],
                                  axis=1)
        first, last = lag + 1, lag + 1 + cover       # columns of the covered days
        predicted = mean_cum[cells, last] - mean_cum[cells, first]
        base = (o - observed.first_day).days + 1     # panel column of o + 1
        actual = cum[cells, base + last] - cum[cells, base + first]
        forecast_parts.append(predicted)
        error_parts.append((actual - predicted)
                           / np.sqrt(np.maximum(predicted, COVER_ERROR_FLOOR)))
    if not forecast_parts:
        return None
    predicted, errors = np.concatenate(forecast_parts), np.concatenate(error_parts)
    n_classes = int(max(1, min(classes, predicted.size // 200)))
    edges = np.unique(np.quantile(predicted, np.linspace(0, 1, n_classes + 1)[1:-1]))
    cls = np.digitize(predicted, edges)
    return CoverErrors(edges=edges, samples=int(predicted.size),
                       errors=tuple(np.sort(errors[cls == c]) for c in range(edges.size + 1)))


def forecast_matrices(world: World, forecast: pd.DataFrame, origin: date,
                      horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """A bottom-level forecast frame as (n_cells × horizon) matrices of mean units and their
    variance (from the 80% interval); cells or days the forecast lacks get 0."""
    mean = np.zeros((world.n_cells, horizon))
    variance = np.zeros((world.n_cells, horizon))
    if len(forecast) == 0:
        return mean, variance
    store_index = pd.Index(world.store_id.tolist())
    product_index = pd.Index(world.product_id.tolist())
    store = store_index.get_indexer(forecast["store_id"].astype(str))
    product = product_index.get_indexer(forecast["product_id"].astype(str))
    step = ((pd.to_datetime(forecast["target_date"]) - pd.Timestamp(origin)).dt.days - 1).to_numpy()
    ok = (store >= 0) & (product >= 0) & (step >= 0) & (step < horizon)
    cell = store[ok].astype(np.int64) * world.n_products + product[ok]
    units = np.clip(forecast["units"].to_numpy(dtype=float)[ok], 0, None)
    width = (forecast["units_p90"].to_numpy(dtype=float)
             - forecast["units_p10"].to_numpy(dtype=float))[ok]
    mean[cell, step[ok]] = units
    variance[cell, step[ok]] = (np.clip(width, 0, None) / _INTERVAL_80_WIDTH) ** 2
    return mean, variance


def context_for_world(world: World) -> Any:
    """The forecasters' ``ForecastContext`` from the simulated chain's dimensions (the same
    columns the marts' dim_products and dim_stores carry)."""
    from retailops.forecast.frames import ForecastContext

    products = pd.DataFrame({
        "product_id": world.product_id.astype(str), "category": world.product_category.astype(str),
        "subcategory": world.product_subcategory.astype(str),
        "list_price": world.product_list_price.astype(float),
        "unit_cost": world.product_unit_cost.astype(float),
        "is_perishable": world.product_perishable.astype(bool),
        "supplier_id": world.supplier_id[world.product_supplier].astype(str)})
    stores = pd.DataFrame({
        "store_id": world.store_id.astype(str), "store_type": world.store_type.astype(str),
        "region": world.store_region.astype(str), "cluster": world.store_cluster.astype(int),
        "size_sqft": world.store_size_sqft.astype(int)})
    return ForecastContext(products=products, stores=stores)


# The forecaster name of the bound below: the only mode that reads the world's true parameters.
ORACLE = "oracle"


class OracleDemand:
    """**The oracle, a bound and never a policy a chain could run**: the simulation's own
    expected units per cell and day (the world's base rate × weekday, season, holiday, growth
    and the true promotion lift and stock-up, the whole plan even where it is not published
    yet; nothing on a closed day) in place of a forecast, with the compound-Poisson variance.
    It reads the world's true parameters, so it only answers how far a policy's *structure*
    can go with perfect knowledge of average demand (``forecaster: oracle``; the tests mark
    it). Everything else the policy does (safety stock measured from cover errors, the
    allocation, the supply risk from goods receipts) stays as it is."""

    name = ORACLE
    reads_the_worlds_true_parameters = True
    min_history_days = 0

    def fit(self, history: Any, plan: Any, context: Any) -> "OracleDemand":
        return self

    def cover_matrices(self, world: World, origin: date,
                       horizon: int) -> tuple[np.ndarray, np.ndarray]:
        """(n_cells × horizon) expected units and their variance from ``origin + 1``."""
        from retailops.simulation.demand import extra_units_per_line
        from retailops.simulation.engine import demand_multiplier

        mean = np.zeros((world.n_cells, horizon))
        for k in range(horizon):
            day = origin + timedelta(days=k + 1)
            if is_closed(day):
                continue
            discount = promotions(world, day)
            per_product = (demand_multiplier(world, day, discount)
                           * (1 + extra_units_per_line(discount)))
            mean[:, k] = world.base_lines_per_day * np.tile(per_product, world.n_stores)
        return mean, mean * UNIT_VARIANCE_PER_UNIT


def forecaster_for(settings: "StudySettings") -> Any:
    """The study's forecaster from the project's registry (``forecast.models.forecasters``),
    or the oracle bound (``oracle``)."""
    from retailops.errors import InvalidParameterError
    from retailops.forecast.models import forecasters

    from retailops.forecast.models import MODEL_NAMES

    if settings.forecaster == ORACLE:
        return OracleDemand()
    if settings.forecaster not in MODEL_NAMES:
        raise InvalidParameterError(
            f"replenishment_study.forecaster={settings.forecaster!r} is not a forecaster; "
            f"known: {', '.join(MODEL_NAMES + (ORACLE,))}")
    # Only the one model is built (the others may need packages this study does not use).
    options = dict((settings.forecast_params or {}).get(settings.forecaster) or {})
    return forecasters({"models": [settings.forecaster],
                        settings.forecaster: options})[settings.forecaster]


SAFETY_STOCKS = ("empirical", "intervals")
# The built-in rules every row is also compared with, by the suffix of the comparison's columns
# (``lost_units_vs_old_rule``, ...) and of the verdict's keys.
RULE_SUFFIXES = {"_vs_old_rule": PERIODIC_REVIEW_BEFORE_ISSUE_15.name,
                 "_vs_sales_rule": PeriodicReviewFromSales.name}
# Forecasters that read the promotion plan themselves (the others get ``PlanLift``).
PLAN_READING_FORECASTERS = frozenset({"lightgbm", ORACLE})


# --- the study ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StudySettings:
    """One closed-loop study: the chain, when it starts, how long, which policies."""

    seed: int = 20240701
    scale: float = 1.0
    review_period_days: int = 10
    # The chain's own ordering (the ingest's `simulation` block): the warm-up and the first
    # row run it; the other built-in rule runs too, as a second point of comparison.
    safety_factor: float = DEFAULT_SAFETY_FACTOR
    builtin_policy: str = PERIODIC_REVIEW.name
    warmup_weeks: int = 26
    study_weeks: int = 13
    service_levels: tuple[float, ...] = (0.80, 0.90, 0.95, 0.98, 0.99)
    headline_service_level: float = 0.95
    forecaster: str = "lightgbm"
    forecast_every_days: int = 7
    # Days of observed history handed to each prediction (None: all); fitting sees all of it.
    history_days: int | None = 91
    # Scale the safety stock by the forecaster's measured error over a cover / its intervals'
    # spread (measured either way and reported as forecast_error_scale).
    safety_from_forecast_errors: bool = False
    # "empirical": the safety stock is the service level's quantile of the realised cover
    # errors measured before the start, per velocity class (``CoverErrors``); "intervals": z ×
    # the forecast intervals' spread (scaled as above).
    safety_stock: str = "empirical"
    calibration_origins: int = 6
    # Apply the published plan's measured lift to the forecast: "auto" does so for a forecaster
    # that does not read the plan itself (all but lightgbm).
    plan_lift: str | bool = "auto"
    # Each forecaster's own options under its name (as in parameters_forecast.yml).
    forecast_params: Mapping[str, Any] = field(default_factory=dict)
    # "uniform": every cell at the service level; "cost": the safety stock value of the
    # uniform level re-spent per cell where a unit at cost saves the most lost units
    # (allocate_service_levels), each cell's level within level_bounds. Empirical only.
    allocation: str = "uniform"
    level_bounds: tuple[float, float] = (0.5, 0.995)
    # Size the level on demand plus short deliveries and slips, read from the goods receipts
    # (supply_aware_order_up_to). Empirical only.
    supply_risk: bool = False
    # Uniform levels run as well, on the same demand, to compare the allocation with.
    compare_uniform_levels: tuple[float, ...] = ()
    # The (R, s, S) structure (ForecastOrderUpTo.cycle_periods): None orders up to the level
    # at every review; a number makes the level a reorder point and orders up to it plus the
    # forecast over that many review periods (perishable_cycle_periods for perishables) plus
    # cycle_packs case packs.
    cycle_periods: float | None = None
    perishable_cycle_periods: float | None = None
    cycle_packs: float = 1.0

    @property
    def start(self) -> date:
        return FIRST_DAY + timedelta(weeks=self.warmup_weeks)

    @property
    def end(self) -> date:
        return self.start + timedelta(weeks=self.study_weeks) - timedelta(days=1)

    def config(self) -> SimulationConfig:
        return SimulationConfig(seed=self.seed, scale=self.scale,
                                review_period_days=self.review_period_days,
                                safety_factor=self.safety_factor,
                                builtin_policy=self.builtin_policy)


@dataclass
class LoopTrace:
    """What one policy did over the study window: per-day totals, and per cell × day arrays
    when asked for (tests compare demand cell by cell)."""

    policy: str
    service_level: float | None
    demanded: np.ndarray        # (days,) units
    sold: np.ndarray
    inventory_value: np.ndarray  # end-of-day on hand at unit cost
    cogs: np.ndarray             # units sold at unit cost
    orders: np.ndarray           # purchase orders placed
    order_lines: np.ndarray
    delivery_lines: np.ndarray   # lines received
    stockout_cells: np.ndarray   # cells with demand left unserved
    seconds: float = 0.0
    cell_demanded: np.ndarray | None = None
    cell_sold: np.ndarray | None = None


def run_closed_loop(world: World, state: SimulationState, days: int, policy: OrderingPolicy,
                    observed: ObservedSales | None = None, keep_cells: bool = False,
                    service_level: float | None = None) -> LoopTrace:
    """Simulate ``days`` days from ``state`` under ``policy``; ``observed`` (the policy's own
    view of its sales) is fed each day, so a forecast-driven policy sees its own stock-outs."""
    started = time.perf_counter()
    cost = np.tile(world.product_unit_cost, world.n_stores)
    series = {k: np.zeros(days) for k in ("demanded", "sold", "inventory_value", "cogs",
                                          "orders", "order_lines", "delivery_lines",
                                          "stockout_cells")}
    cell_demanded = np.zeros((days, world.n_cells), dtype=np.int32) if keep_cells else None
    cell_sold = np.zeros((days, world.n_cells), dtype=np.int32) if keep_cells else None
    for i in range(days):
        lines_before = state.pending["shipment_id"].size
        activity, state = simulate_day(world, state, policy)
        received = activity.received["shipment_id"].size
        series["demanded"][i] = activity.demanded_units.sum()
        series["sold"][i] = activity.sold_units.sum()
        series["inventory_value"][i] = float(state.on_hand @ cost)
        series["cogs"][i] = float(activity.sold_units @ cost)
        series["orders"][i] = activity.orders_placed
        series["order_lines"][i] = state.pending["shipment_id"].size - (lines_before - received)
        series["delivery_lines"][i] = received
        series["stockout_cells"][i] = int((activity.demanded_units > activity.sold_units).sum())
        if keep_cells:
            cell_demanded[i] = activity.demanded_units
            cell_sold[i] = activity.sold_units
        if observed is not None:
            observed.record(activity)
    return LoopTrace(policy.name, service_level, seconds=time.perf_counter() - started,
                     cell_demanded=cell_demanded, cell_sold=cell_sold, **series)


def warm_up(world: World, start: date, observers: Sequence[PeriodicReviewFromSales] = ()
            ) -> tuple[SimulationState, ObservedSales]:
    """The chain under its built-in policy from its first day to ``start`` (the state a
    checkpoint at the end of the day before holds), with the sales it observed; each of
    ``observers`` (a rule that sets its levels from sales) observes the same days."""
    days = (start - FIRST_DAY).days
    observed = ObservedSales(world, FIRST_DAY, days + 7 * 53)
    state = initial_state(world)
    for _ in range(days):
        activity, state = simulate_day(world, state)
        observed.record(activity)
        for observer in observers:
            observer.observe(world, activity.sold_units, state)
    return state, observed


def summarise(trace: LoopTrace, settings: StudySettings, world: World) -> dict[str, Any]:
    """One row of the study's dataset."""
    demanded, sold = float(trace.demanded.sum()), float(trace.sold.sum())
    inventory = float(trace.inventory_value.mean())
    daily_cogs = float(trace.cogs.mean())
    return {
        "policy": trace.policy,
        "service_level": trace.service_level,
        "start_date": settings.start.isoformat(),
        "end_date": settings.end.isoformat(),
        "days": int(trace.demanded.size),
        "scale": settings.scale,
        "seed": settings.seed,
        "stores": world.n_stores,
        "products": world.n_products,
        "demanded_units": demanded,
        "sold_units": sold,
        "lost_units": demanded - sold,
        "fill_rate": sold / demanded if demanded else float("nan"),
        "stockout_cell_days": int(trace.stockout_cells.sum()),
        "avg_inventory_value": inventory,
        "days_of_cover": inventory / daily_cogs if daily_cogs else float("nan"),
        "orders": int(trace.orders.sum()),
        "order_lines": int(trace.order_lines.sum()),
        "delivery_lines": int(trace.delivery_lines.sum()),
        "simulation_seconds": trace.seconds,
    }


def run_study(settings: StudySettings, forecaster_factory: Callable[[StudySettings], Any],
              context_factory: ContextFactory,
              on_trace: Callable[[LoopTrace], None] | None = None) -> pd.DataFrame:
    """Every policy over the same weeks from the same state: a row for the chain's built-in
    policy (``simulation.builtin_policy``), one for each other built-in rule (issue 15 asks for
    the study against the rule before it and the rule after it; the rule from sales sets the
    same levels from what the chain observed, for a comparison that reads no simulation
    parameter), and one per service level of the forecast-driven policy, compared with each.

    The forecaster is fitted once, on the sales observed before the start; each forecast-driven
    run then predicts from the sales it observes itself (censored by its own stock-outs).
    """
    world = build_world(settings.config())
    forecaster = forecaster_factory(settings)  # a bad name fails before the long replay
    chains_own = builtin_policy(world)
    # The built-in rules side by side: the chain's own (its warm-up), then the others. The rule
    # from sales, when it is not the chain's own, observes the warm-up to start with a history.
    from_sales = (chains_own if isinstance(chains_own, PeriodicReviewFromSales)
                  else PeriodicReviewFromSales())
    builtin_rules = [chains_own] + [p for p in (PERIODIC_REVIEW, PERIODIC_REVIEW_BEFORE_ISSUE_15,
                                                from_sales) if p is not chains_own]
    started = time.perf_counter()
    state, observed = warm_up(world, settings.start,
                              () if from_sales is chains_own else (from_sales,))
    warmup_seconds = time.perf_counter() - started
    days = settings.study_weeks * 7
    context = context_factory(world)
    origin = settings.start - timedelta(days=1)

    started = time.perf_counter()
    forecaster = forecaster.fit(observed.frame(origin),
                                published_plan(world, origin), context) or forecaster
    fit_seconds = time.perf_counter() - started
    log.info("Fitted %s on %d days of observed sales in %.1f s", settings.forecaster,
             observed.recorded, fit_seconds)
    measured_scale = forecast_error_scale(forecaster, observed, world, context, origin,
                                          settings.history_days)
    error_scale = measured_scale if settings.safety_from_forecast_errors else 1.0
    lift = None
    if settings.plan_lift is True or (settings.plan_lift == "auto"
                                      and settings.forecaster not in PLAN_READING_FORECASTERS):
        lift = PlanLift.measure(observed, world, origin)
    started = time.perf_counter()
    cover_errors = None
    if settings.safety_stock == "empirical":
        cover_errors = measure_cover_errors(
            forecaster, observed, world, context, origin, settings.history_days,
            settings.forecast_every_days, lift, settings.calibration_origins)
    calibration_seconds = time.perf_counter() - started
    if cover_errors is not None:
        log.info("Safety stock from %d realised cover errors (%d velocity classes); at %.2f "
                 "the quantiles per sqrt(unit) are %s", cover_errors.samples,
                 cover_errors.edges.size + 1, settings.headline_service_level,
                 cover_errors.summary(settings.headline_service_level))
    else:
        log.info("Forecast errors over a cover are %.2fx the spread the intervals imply; the "
                 "safety stock %s", measured_scale,
                 "uses that" if settings.safety_from_forecast_errors else
                 "uses the intervals as they are (safety_from_forecast_errors: false)")

    rows = []
    for rule in builtin_rules:
        builtin = run_closed_loop(world, state, days, rule, observed.copy())
        if on_trace:
            on_trace(builtin)
        rows.append(summarise(builtin, settings, world))
    # The study's own runs, then (side by side, on the same demand) the uniform levels asked
    # for as a comparison: every cell at the level, demand risk only.
    runs = ([(level, settings.allocation, settings.supply_risk, True)
             for level in settings.service_levels]
            + [(level, "uniform", False, False) for level in settings.compare_uniform_levels])
    for level, allocation, supply_risk, own in runs:
        empirical = cover_errors is not None
        policy = ForecastOrderUpTo(forecaster, observed.copy(), context, level,
                                   settings.forecast_every_days, settings.history_days,
                                   error_scale=error_scale, cover_errors=cover_errors,
                                   plan_lift=lift,
                                   allocation=allocation if empirical else "uniform",
                                   level_bounds=tuple(settings.level_bounds),
                                   supply_risk=supply_risk and empirical,
                                   cycle_periods=settings.cycle_periods if own else None,
                                   perishable_cycle_periods=settings.perishable_cycle_periods,
                                   cycle_packs=settings.cycle_packs)
        trace = run_closed_loop(world, state, days, policy, policy.observed,
                                service_level=level)
        if on_trace:
            on_trace(trace)
        row = summarise(trace, settings, world)
        row.update(forecaster=settings.forecaster, forecasts=policy.log.forecasts,
                   forecast_error_scale=measured_scale, safety_error_scale=error_scale,
                   forecast_seconds=policy.log.forecast_seconds,
                   safety_stock=("empirical cover errors" if cover_errors is not None
                                 else "forecast intervals"),
                   plan_lift=lift is not None,
                   allocation=policy.allocation, supply_risk=policy.supply_risk,
                   cycle_periods=(float("nan") if policy.cycle_periods is None
                                  else policy.cycle_periods),
                   comparison=not own,
                   # The oracle bound reads the simulation's true expected demand.
                   reads_true_demand=isinstance(forecaster, OracleDemand),
                   forecast_every_days=settings.forecast_every_days,
                   days_beyond_plan=policy.log.days_beyond_plan,
                   plan_note=(f"{policy.log.days_beyond_plan} forecast days past the published "
                              "plan assumed no promotion"))
        rows.append(row)
        log.info("Service level %.2f: lost %.0f units (built-in %.0f), average inventory "
                 "%.0f at cost (built-in %.0f); %s", level, row["lost_units"],
                 rows[0]["lost_units"], row["avg_inventory_value"],
                 rows[0]["avg_inventory_value"], row["plan_note"])
    frame = pd.DataFrame(rows)
    base = frame.iloc[0]
    frame["lost_units_vs_builtin"] = frame["lost_units"] / base["lost_units"]
    frame["inventory_vs_builtin"] = frame["avg_inventory_value"] / base["avg_inventory_value"]
    for suffix, rule in RULE_SUFFIXES.items():
        other = frame[frame["policy"] == rule].iloc[0]
        frame[f"lost_units{suffix}"] = frame["lost_units"] / other["lost_units"]
        frame[f"inventory{suffix}"] = frame["avg_inventory_value"] / other["avg_inventory_value"]
    frame["headline"] = ((frame["service_level"] == settings.headline_service_level)
                         & ~frame.get("comparison", pd.Series(False, frame.index)).eq(True))
    frame["warmup_seconds"] = warmup_seconds
    frame["fit_seconds"] = fit_seconds
    frame["calibration_seconds"] = calibration_seconds
    return frame


def lost_ratio_at_equal_inventory(forecast: pd.DataFrame, base: pd.Series) -> float | None:
    """The forecast-driven policy's lost units at ``base``'s average inventory value, read off
    its trade-off curve (linear between the two service levels around that value), over
    ``base``'s lost units; None when no two levels bracket it."""
    curve = forecast.sort_values("avg_inventory_value")
    inventory = curve["avg_inventory_value"].to_numpy(float)
    lost = curve["lost_units"].to_numpy(float)
    target = float(base["avg_inventory_value"])
    if inventory.size < 2 or not inventory[0] <= target <= inventory[-1]:
        return None
    return float(np.interp(target, inventory, lost) / float(base["lost_units"]))


def target_verdict(study: pd.DataFrame) -> dict[str, Any]:
    """The issue's target on the headline row: >= 50% fewer lost units than the built-in
    policy (the study's first row, the chain's own) at no more average inventory value; also
    whether any service level meets it, the same against the rule before issue 15 and the rule
    from sales, and against each the curve's lost units at that rule's inventory."""
    comparison = (study["comparison"].eq(True) if "comparison" in study
                  else pd.Series(False, study.index))
    forecast = study[study["service_level"].notna() & ~comparison]   # the study's own runs
    headline = forecast[forecast["headline"].astype(bool)]
    verdict: dict[str, Any] = {"headline_service_level": (float(headline["service_level"].iloc[0])
                                                          if len(headline) else None)}
    against = {"": study.iloc[0]}
    for suffix, rule in RULE_SUFFIXES.items():
        other = study[study["policy"] == rule]
        if len(other) and other.index[0] != study.index[0]:
            against[suffix] = other.iloc[0]
    for suffix, base in against.items():
        verdict[f"lost_ratio_at_equal_inventory{suffix}"] = lost_ratio_at_equal_inventory(
            forecast, base)
        meets = ((forecast["lost_units"] <= 0.5 * base["lost_units"])
                 & (forecast["avg_inventory_value"] <= base["avg_inventory_value"]))
        verdict[f"headline_meets_target{suffix}"] = bool(
            meets[forecast["headline"].astype(bool)].any())
        verdict[f"levels_meeting_target{suffix}"] = [
            float(x) for x in forecast.loc[meets, "service_level"]]
    return verdict


def settings_from_params(params: Mapping[str, Any], seed: int, scale: float,
                         simulation: Mapping[str, Any] | None) -> StudySettings:
    """``StudySettings`` from the ``replenishment_study`` parameter block."""
    params = dict(params or {})
    chain = {"seed", "scale", "review_period_days", "safety_factor", "builtin_policy"}
    known = set(StudySettings.__dataclass_fields__) - chain
    unknown = sorted(set(params) - known)
    if unknown:
        from retailops.errors import InvalidParameterError
        raise InvalidParameterError(
            f"unknown replenishment_study parameter(s): {', '.join(unknown)}")
    if params.get("safety_stock", "empirical") not in SAFETY_STOCKS:
        from retailops.errors import InvalidParameterError
        raise InvalidParameterError(
            f"replenishment_study.safety_stock={params['safety_stock']!r} must be one of "
            f"{', '.join(SAFETY_STOCKS)}")
    if params.get("allocation", "uniform") not in ALLOCATIONS:
        from retailops.errors import InvalidParameterError
        raise InvalidParameterError(
            f"replenishment_study.allocation={params['allocation']!r} must be one of "
            f"{', '.join(ALLOCATIONS)}")
    bounds = params.get("level_bounds", StudySettings.level_bounds)
    if (not isinstance(bounds, (list, tuple)) or len(bounds) != 2
            or not 0 < float(bounds[0]) <= float(bounds[1]) < 1):
        from retailops.errors import InvalidParameterError
        raise InvalidParameterError(
            f"replenishment_study.level_bounds={bounds!r} must be [low, high] with "
            "0 < low <= high < 1")
    for key in ("cycle_periods", "perishable_cycle_periods", "cycle_packs"):
        value = params.get(key)
        if value is None and key != "cycle_packs":
            continue
        if key in params and (isinstance(value, bool) or not isinstance(value, (int, float))
                              or value < 0):
            from retailops.errors import InvalidParameterError
            raise InvalidParameterError(
                f"replenishment_study.{key}={value!r} must be a number >= 0"
                + ("" if key == "cycle_packs" else " or null"))
    if "level_bounds" in params:
        params["level_bounds"] = (float(bounds[0]), float(bounds[1]))
    if params.get("plan_lift", "auto") not in ("auto", True, False):
        from retailops.errors import InvalidParameterError
        raise InvalidParameterError(
            f"replenishment_study.plan_lift={params['plan_lift']!r} must be auto, true or false")
    # The chain is the ingest's, checked as the ingest checks it (defect rates change no
    # ordering, so they are not carried).
    config = SimulationConfig.from_params({"seed": seed, "scale": scale, **(simulation or {})})
    if "compare_uniform_levels" in params:
        params["compare_uniform_levels"] = tuple(
            float(x) for x in params["compare_uniform_levels"] or ())
    levels: Sequence[float] = params.pop("service_levels", StudySettings.service_levels)
    return StudySettings(seed=config.seed, scale=config.scale,
                         review_period_days=config.review_period_days,
                         safety_factor=config.safety_factor,
                         builtin_policy=config.builtin_policy,
                         service_levels=tuple(float(x) for x in levels), **params)


__all__ = [
    "ForecastOrderUpTo", "LoopTrace", "ObservedSales", "StudySettings", "forecast_matrices",
    "plan_horizon_end", "published_plan", "run_closed_loop", "run_study",
    "summarise", "target_verdict", "warm_up",
]
