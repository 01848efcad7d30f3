"""Landing simulated data in the raw zone, and knowing where a run must resume from.

Order of writes for a day: defect ledger, ground truth and state checkpoint first, then each
fact table's data followed by its manifest. The manifests are the commit points, so a crash at
any moment leaves either complete partitions or partitions the next run re-lands.
"""

from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass, field
from datetime import date, timedelta

import pyarrow.parquet as pq

from retailops.lake import layout
from retailops.lake.partitions import Outcome, commit_partition, complete_days, encode_csv
from retailops.lake.state_store import checkpoint_days, load_state, save_state
from retailops.lake.storage import Lake
from retailops.simulation import (
    FACT_TABLES,
    GENERATOR_VERSION,
    RAW_COLUMNS,
    DayBatch,
    DimensionBatch,
    SimulationState,
    World,
    advance,
    initial_state,
)

log = logging.getLogger(__name__)


@dataclass
class DayLanding:
    """A simulated day plus how to land it (what the ingest node hands to the raw zone)."""

    batch: DayBatch
    fingerprint: str
    overwrite: bool = False
    started: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True)
class DayReport:
    """What landing one day did, per fact table."""

    day: date
    outcomes: dict[str, Outcome]
    rows: dict[str, int]
    seconds: float


def land_dimensions(lake: Lake, batch: DimensionBatch) -> dict[str, int]:
    """Rewrite the dimension files (deterministic, so unchanged bytes) and their defect ledger."""
    for table, data in batch.tables.items():
        lake.write_bytes(layout.dimension_file(table), encode_csv(data),
                         metadata={"table": table, "rows": str(data.num_rows)})
    lake.write_bytes(layout.dimension_defects_file(), encode_csv(batch.defects))
    return {table: data.num_rows for table, data in batch.tables.items()}


def land_day(lake: Lake, landing: DayLanding) -> DayReport:
    """Land one simulated day under the commit protocol; complete partitions are kept as they are."""
    batch = landing.batch
    day = batch.day
    outcomes: dict[str, Outcome] = {}
    done = {t: _is_complete(lake, t, day) for t in FACT_TABLES}
    if landing.overwrite or not all(done.values()):
        lake.write_bytes(layout.day_defects_file(day), encode_csv(batch.defects))
        truth = io.BytesIO()
        # Dictionary-encoding the float column costs more than it saves: ids only.
        pq.write_table(batch.truth, truth, compression="zstd", compression_level=1,
                       write_statistics=False, use_dictionary=["store_id", "product_id"])
        lake.write_bytes(layout.truth_file(day), truth.getvalue())
    save_state(lake, batch.state, landing.fingerprint)
    for table in FACT_TABLES:
        if done[table] and not landing.overwrite:
            outcomes[table] = "skipped"
            continue
        data = batch.tables[table]
        outcomes[table] = commit_partition(
            lake, table, day, encode_csv(data), data.num_rows, RAW_COLUMNS[table],
            GENERATOR_VERSION, overwrite=landing.overwrite)
    seconds = time.perf_counter() - landing.started
    rows = {t: batch.tables[t].num_rows for t in FACT_TABLES}
    return DayReport(day, outcomes, rows, seconds)


def _is_complete(lake: Lake, table: str, day: date) -> bool:
    return lake.exists(layout.manifest_file(table, day))


@dataclass(frozen=True)
class ResumePlan:
    """Where a window's simulation starts, and which of its days must be (re)landed."""

    start_state: SimulationState
    days_to_land: list[date]
    replayed_days: int


def plan_window(lake: Lake, world: World, first: date, last: date, overwrite: bool) -> ResumePlan:
    """Find the days of [first, last] that need landing and the state to start them from.

    Complete days with a checkpoint are skipped without simulating them. The simulation
    resumes from the newest usable checkpoint before the first day to land; only when there is
    none does it replay from the chain's first day.
    """
    fingerprint = world.config.fingerprint()
    complete = {t: complete_days(lake, t) for t in FACT_TABLES}
    checkpoints = set(checkpoint_days(lake))
    window = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    to_land = [d for d in window if overwrite or d not in checkpoints
               or not all(d in complete[t] for t in FACT_TABLES)]
    if not to_land:
        return ResumePlan(initial_state(world), [], 0)
    start = to_land[0]
    state = None
    for day in sorted((d for d in checkpoints if d < start), reverse=True):
        state = load_state(lake, day, fingerprint)
        if state is not None:
            break
    if state is None:
        state = initial_state(world)
    replayed = (start - state.next_day).days
    if replayed:
        log.info("Replaying %d day(s) from %s to reach %s", replayed, state.next_day, start)
        state = advance(world, state, start)
    # Days between the first and last to land are simulated (the state must pass through
    # them) and each one is landed only if incomplete.
    days = [d for d in window if d >= start]
    return ResumePlan(state, days, replayed)
