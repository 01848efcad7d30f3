"""The retail world: dimensions, demand, stock, replenishment and defects (pure numpy, no I/O).

``build_world`` draws the chain from a configuration; ``run_days`` advances a state day by day
and yields each day formatted as the contract's raw tables.
"""

from __future__ import annotations

from datetime import date
from typing import Iterator

from retailops.simulation.config import (
    FIRST_DAY,
    GENERATOR_VERSION,
    DefectRates,
    SimulationConfig,
    last_supported_day,
)
from retailops.simulation.engine import SimulationState, initial_state, simulate_day
from retailops.simulation.tables import (
    DIMENSION_TABLES,
    FACT_TABLES,
    LEDGER_SCHEMA,
    RAW_COLUMNS,
    WEEKLY_TABLES,
    DayBatch,
    DimensionBatch,
    day_batch,
    dimension_tables,
)
from retailops.simulation.world import World, build_world, shared_world

__all__ = [
    "DIMENSION_TABLES", "FACT_TABLES", "FIRST_DAY", "GENERATOR_VERSION", "LEDGER_SCHEMA",
    "RAW_COLUMNS", "DayBatch", "DefectRates", "DimensionBatch", "SimulationConfig",
    "SimulationState", "World", "advance", "build_world", "day_batch", "dimension_tables",
    "initial_state", "last_supported_day", "run_days", "shared_world", "WEEKLY_TABLES",
]


def advance(world: World, state: SimulationState, until: date) -> SimulationState:
    """Replay days without formatting them, until ``state.next_day == until``."""
    while state.next_day < until:
        _, state = simulate_day(world, state)
    return state


def run_days(world: World, state: SimulationState, last_day: date) -> Iterator[DayBatch]:
    """Simulate from ``state.next_day`` through ``last_day``, one formatted day at a time."""
    while state.next_day <= last_day:
        activity, state = simulate_day(world, state)
        yield day_batch(world, activity, state)
