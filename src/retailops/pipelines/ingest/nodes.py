"""Ingest nodes: thin wiring of ``retailops.simulation`` (what happened) to the raw zone
(where it lands, through the catalog)."""

from __future__ import annotations

import logging
import time
from datetime import date
from typing import Any, Iterator

from retailops.errors import InvalidParameterError
from retailops.lake.lake_config import ensure_lake_configuration
from retailops.lake.landing import DayLanding, PlanLanding, finish_unfinished_days, plan_window
from retailops.lake.state_store import checkpoint_days, checkpoints_to_keep
from retailops.lake.storage import Lake
from retailops.lake.world_store import lake_world
from retailops.simulation import (
    FIRST_DAY,
    DimensionBatch,
    SimulationConfig,
    dimension_tables,
    last_supported_day,
    shared_world,
)
from retailops.simulation.ahead import run_days_ahead
from retailops.simulation.pages import ordinary_pages
from retailops.simulation.promotions import plan_table, publication_days

log = logging.getLogger(__name__)


def _parse_day(name: str, value: Any, calendar_years_ahead: int = 1) -> date:
    """A run date, refused unless it lies in FIRST_DAY..Dec 31 of (this year + years ahead)."""
    if isinstance(value, date):
        day = value
    else:
        try:
            day = date.fromisoformat(str(value).strip())
        except ValueError:
            raise InvalidParameterError(
                f"{name}={value!r} is not a valid date (expected YYYY-MM-DD)") from None
    last_day = last_supported_day(calendar_years_ahead)
    if not FIRST_DAY <= day <= last_day:
        raise InvalidParameterError(
            f"{name}={day.isoformat()} is outside the supported range "
            f"{FIRST_DAY.isoformat()}..{last_day.isoformat()} "
            f"(calendar_years_ahead={calendar_years_ahead})")
    return day


def resolve_window(start_date: Any, end_date: Any, run_date: Any,
                   calendar_years_ahead: int = 1) -> dict[str, str]:
    """The days to ingest: ``run_date`` alone when given, else ``start_date..end_date``."""
    if run_date not in (None, ""):
        day = _parse_day("run_date", run_date, calendar_years_ahead)
        return {"first": day.isoformat(), "last": day.isoformat()}
    first = _parse_day("start_date", start_date, calendar_years_ahead)
    last = _parse_day("end_date", end_date, calendar_years_ahead)
    if first > last:
        raise InvalidParameterError(
            f"start_date={first.isoformat()} is after end_date={last.isoformat()}")
    return {"first": first.isoformat(), "last": last.isoformat()}


def simulation_config(seed: int, scale: float, simulation: dict[str, Any]) -> SimulationConfig:
    """The simulation's configuration from the run parameters (a fractional or negative seed
    is refused, never rounded)."""
    return SimulationConfig.from_params({"seed": seed, "scale": scale, **(simulation or {})})


def check_lake_configuration(lake: Lake, window: dict[str, str], seed: int, scale: float,
                             simulation: dict[str, Any]) -> dict[str, Any]:
    """Record this run's configuration in a new lake, or stop (before anything is written)
    when the lake was built with another one. The nodes that write take its output, so they
    run after it."""
    del window  # only orders this node after the window was validated
    return ensure_lake_configuration(lake, simulation_config(seed, scale, simulation))


def build_dimensions(window: dict[str, str], seed: int, scale: float,
                     simulation: dict[str, Any],
                     lake_configuration: dict[str, Any] | None = None,
                     lake: Lake | None = None) -> DimensionBatch:
    """Stores, products and suppliers of the chain (deterministic for a configuration). The
    world comes from ``lake`` when a local lake keeps it (``lake.world_store``), else is drawn."""
    del window, lake_configuration  # ordering only: after the window and the lake were checked
    return dimension_tables(lake_world(lake, simulation_config(seed, scale, simulation)))


def publish_promotions(window: dict[str, str], seed: int, scale: float,
                       simulation: dict[str, Any], overwrite: bool, calendar_years_ahead: int = 1,
                       lake_configuration: dict[str, Any] | None = None) -> PlanLanding:
    """The promotion plans the window publishes: each Monday in it, and the Monday before a
    window that starts mid-week; no planned week starts after the last supported day."""
    del lake_configuration  # ordering only: runs after the lake's configuration was checked
    config = simulation_config(seed, scale, simulation)
    world = shared_world(config)
    last_supported = last_supported_day(calendar_years_ahead)
    first, last = date.fromisoformat(window["first"]), date.fromisoformat(window["last"])
    plans = {monday: plan_table(world, monday, last_supported)
             for monday in publication_days(first, last)}
    return PlanLanding(plans, config.fingerprint(), bool(overwrite))


def simulate_window(lake: Lake, window: dict[str, str], seed: int, scale: float,
                    simulation: dict[str, Any], overwrite: bool,
                    lake_configuration: dict[str, Any] | None = None,
                    promotion_plans: Any = None) -> Iterator[DayLanding]:
    """Yield each day of the window that needs landing, resuming from the saved state."""
    # Ordering only: runs after the lake's configuration was checked and the window's
    # promotion plans landed (so the days' output, which the transform waits for, comes last).
    del lake_configuration, promotion_plans
    # The days' arrays on ordinary pages while they are simulated and landed (the dataset lands
    # each day while this generator waits at its ``yield``): retailops.simulation.pages. This
    # process only: a window simulated ahead in a child (retailops.simulation.ahead, a backfill)
    # keeps numpy's default there (not measured).
    with ordinary_pages():
        yield from _window_days(lake, window, seed, scale, simulation, overwrite)


def _window_days(lake: Lake, window: dict[str, str], seed: int, scale: float,
                 simulation: dict[str, Any], overwrite: bool) -> Iterator[DayLanding]:
    config = simulation_config(seed, scale, simulation)
    world = lake_world(lake, config)
    first, last = date.fromisoformat(window["first"]), date.fromisoformat(window["last"])
    # A day whose facts a killed run committed before its ground truth and checkpoint were
    # written gets them now, wherever it lies (normally: one empty folder listed).
    finish_unfinished_days(lake, world)
    plan = plan_window(lake, world, first, last, bool(overwrite))
    if not plan.days_to_land:
        log.info("Every day from %s to %s is already complete; nothing to land", first, last)
        return
    log.info("Landing %d day(s) %s..%s at scale %s: %s", len(plan.days_to_land),
             plan.days_to_land[0], last, config.scale, plan.describe())
    # A window of MIN_DAYS_IN_CHILD days or more is simulated ahead in a child process while
    # this process writes (retailops.simulation.ahead; the days still come in order, each landed
    # under the commit protocol before the next); shorter ones in place. Each day's clock
    # starts when the previous day was saved, so the per-day time and rows/s the dataset logs
    # are the wall time per day, simulation included.
    # The checkpoints the run keeps once it is over (the last days, one a month of history):
    # the others would be pruned a few days after being written, so they are not written.
    kept = checkpoints_to_keep(set(checkpoint_days(lake)) | set(plan.days_to_land))
    started = time.perf_counter()
    for batch in run_days_ahead(world, plan.start_state, last):
        yield DayLanding(batch=batch, fingerprint=config.fingerprint(), overwrite=bool(overwrite),
                         started=started, checkpoint=batch.day in kept)
        started = time.perf_counter()
