"""Landing simulated data in the raw zone, and knowing where a run must resume from.

Order of writes for a day: defect ledger, ground truth and state checkpoint first, then each
fact table's data followed by its manifest (which carries the lake configuration's
fingerprint). Each Monday's promotion plan lands the same way (``land_promotions``). The
manifests are the commit points, so a crash at any moment leaves either
complete partitions or partitions the next run re-lands.

A Kedro run finishes the ground truth and the checkpoint later (``land_day`` with
``finish_later``): nothing reads them before the next day's run or a forecast's scoring, so
they are written on a background thread while dbt builds (``start_finishing``, called by the
transform once the partitions dbt reads are verified; started with the landing itself they
took the cores the planning and the verification need). The day is marked
unfinished (``metadata/unfinished/dt=.../``) before its first commit point and unmarked once
both are written; a run killed in between leaves the mark, and the next landing simulates that
day again from the checkpoint before it and writes the same bytes (``finish_unfinished_days``).
The process does not exit before the thread is done, and the next day landed, the run report
and the next repair wait for it (``finish_landing``), raising what failed there. Old checkpoints are pruned after each
landed day (see ``state_store``); a backfill does not even write the ones it would prune, so a
crash in the middle of a long one resumes from the newest kept checkpoint before it (at most a
month of days replayed, never different bytes).
"""

from __future__ import annotations

import atexit
import io
import logging
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta

import pyarrow as pa
import pyarrow.parquet as pq

from retailops.lake import layout
from retailops.lake.partitions import Outcome, commit_partition, complete_days, encode_csv
from retailops.lake.state_store import (
    checkpoint_days,
    checkpoints_to_keep,
    load_state,
    prune_checkpoints,
    save_state,
)
from retailops.lake.storage import Lake
from retailops.simulation import (
    FACT_TABLES,
    FIRST_DAY,
    GENERATOR_VERSION,
    RAW_COLUMNS,
    DayBatch,
    DimensionBatch,
    SimulationState,
    World,
    advance,
    initial_state,
    run_days,
)

log = logging.getLogger(__name__)

PROMOTIONS = "promotions"


@dataclass
class DayLanding:
    """A simulated day plus how to land it (what the ingest node hands to the raw zone)."""

    batch: DayBatch
    fingerprint: str
    overwrite: bool = False
    # When the day's work began: set before the day is simulated, so the day's time (and its
    # rows/s) includes the simulation, not only the writes.
    started: float = field(default_factory=time.perf_counter)
    # Whether to checkpoint the day's end state: a backfill skips the checkpoints its own later
    # days would prune (``checkpoints_to_keep``), so only those a finished run keeps are written.
    checkpoint: bool = True


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


def _truth_parquet(truth: pa.Table) -> bytes:
    """The day's ground truth as Parquet bytes."""
    sink = io.BytesIO()
    # Dictionary-encoding the float column costs more than it saves: ids only.
    pq.write_table(truth, sink, compression="zstd", compression_level=1,
                   write_statistics=False, use_dictionary=["store_id", "product_id"])
    return sink.getvalue()


# Rows of a fact table encoded as one piece: a scale-16 day's sales (~0.8M lines) is three
# pieces, so both cores take part; a scale-1 day's tables are one piece each.
ROWS_PER_PIECE = 300_000


def _csv_in_pieces(encoders: ThreadPoolExecutor, table: pa.Table) -> list[Future]:
    """The table's CSV (``encode_csv``) as pieces of ``ROWS_PER_PIECE`` rows being encoded,
    each with the header line (``_joined`` keeps the first one only)."""
    starts = range(0, max(table.num_rows, 1), ROWS_PER_PIECE)
    return [encoders.submit(encode_csv, table.slice(start, ROWS_PER_PIECE)) for start in starts]


def _joined(pieces: list[Future]) -> list[bytes | memoryview]:
    """The CSV of the whole table as its pieces in order: the first piece whole, the others
    without their header line (the same line: the columns are the table's). Hashed and written
    piece by piece (``commit_partition``): joined, a scale-16 day's sales (~89 MB) was one more
    copy in fresh memory (~22K page faults) before it was written."""
    first = pieces[0].result()
    if len(pieces) == 1:
        return [first]
    header = first.index(b"\n") + 1
    return [first, *(memoryview(piece.result())[header:] for piece in pieces[1:])]


def _write_truth_and_checkpoint(lake: Lake, batch: DayBatch, fingerprint: str, truth: bool,
                                checkpoint: bool) -> None:
    """The day's ground truth and end-of-day checkpoint (each when asked), then the prune of
    old checkpoints (after the new one, so a crash never loses the one a re-run resumes from),
    then the day's unfinished mark goes."""
    if truth:
        lake.write_bytes(layout.truth_file(batch.day), _truth_parquet(batch.truth))
    if checkpoint:
        save_state(lake, batch.state, fingerprint)
    prune_checkpoints(lake)
    lake.remove(layout.unfinished_file(batch.day))
    lake.remove_folder(f"{layout.unfinished_folder()}/{layout.partition(batch.day)}")


class _Finishing:
    """One day's ground truth and checkpoint, written later: on a background thread once
    ``start_finishing`` is called (the transform calls it when dbt starts), or in the caller's
    thread by ``finish_landing`` if nobody started it."""

    def __init__(self, lake: Lake, batch: DayBatch, fingerprint: str, truth: bool,
                 checkpoint: bool):
        self.day = batch.day
        self.error: BaseException | None = None
        self._work = (lake, batch, fingerprint, truth, checkpoint)
        # Not a daemon: the interpreter waits for it before the process exits.
        self.thread = threading.Thread(target=self._run, name=f"finish-{batch.day}")

    def start(self) -> None:
        if self.thread.ident is None:
            self.thread.start()

    def _run(self) -> None:
        # Below the run's other work (Linux: a thread's own nice value): it takes a core dbt
        # leaves idle, and does not slow what the run waits for.
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), FINISHING_NICE)
        except (AttributeError, OSError):
            pass
        self._write()

    def _write(self) -> None:
        try:
            _write_truth_and_checkpoint(*self._work)
        except BaseException as exc:  # noqa: BLE001 - kept for finish_landing to raise
            self.error = exc
            log.error("%s: the ground truth and checkpoint were not written (%s); the day stays "
                      "marked unfinished and the next landing writes them", self.day, exc)
        self._work = None  # the day's batch is not held longer than needed

    def finish(self) -> None:
        """Done when this returns: joined, or written here if never started; raises a failure."""
        if self.thread.ident is None:
            self._write()
        else:
            self.thread.join()
        if self.error is not None:
            raise self.error


FINISHING_NICE = 10

# The day of this process whose ground truth and checkpoint are still to be written (at most
# one: landing the next day finishes it first, so a backfill never holds more than a day).
_FINISHING: list[_Finishing] = []


def start_finishing() -> None:
    """Start writing, on a background thread, the ground truth and checkpoint this process
    left for later (``land_day`` with ``finish_later``). The transform calls it once the
    partitions dbt reads are verified: from then on the run waits for dbt, and a core is idle
    for much of that."""
    for finishing in _FINISHING:
        finishing.start()


def finish_landing() -> None:
    """Make sure the ground truth and checkpoint this process left for later are written
    (waiting for the background thread, or writing them here when it was never started);
    raise what failed there."""
    while _FINISHING:
        _FINISHING.pop().finish()


def _finish_at_exit() -> None:
    try:
        finish_landing()
    except Exception:  # noqa: BLE001 - logged by _Finishing; the next landing repairs the day
        pass


# A run that never starts the thread (an ingest alone) still writes them before it exits.
atexit.register(_finish_at_exit)


def land_day(lake: Lake, landing: DayLanding, finish_later: bool = False) -> DayReport:
    """Land one simulated day under the commit protocol; complete partitions are kept as they
    are (with ``overwrite``, as long as the stored bytes still match their manifests).

    The fact tables' CSV (the day's bulk: ~60 MB of sales at scale 16) is encoded in pieces
    on two more threads while this one encodes and writes the ledger, the truth and the
    checkpoint: pyarrow's writers, zstd and sha256 release the GIL, so on two cores they
    overlap. Only where the bytes are made changes: the writes keep the protocol's order, and
    the encoding threads are gone when the day is landed.

    ``finish_later``: the ground truth and the checkpoint (~0.2 s of CPU at scale 16) are
    written after this call returns, after the facts' commit points: on a background thread
    once ``start_finishing`` is called, else by ``finish_landing`` (the module docstring: the
    unfinished mark). The same bytes either way."""
    finish_landing()
    batch = landing.batch
    day = batch.day
    outcomes: dict[str, Outcome] = {}
    done = {t: day in complete_days(lake, t, [day]) for t in FACT_TABLES}
    to_land = [t for t in FACT_TABLES if landing.overwrite or not done[t]]
    later = finish_later and bool(to_land or landing.checkpoint)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="land-day") as encoders:
        encoded = {t: _csv_in_pieces(encoders, batch.tables[t]) for t in to_land}
        if to_land:
            lake.write_bytes(layout.day_defects_file(day), encode_csv(batch.defects))
        if later:
            # Before the first commit point: a crash from here on leaves the mark.
            lake.write_bytes(layout.unfinished_file(day), f"{day.isoformat()}\n".encode())
        else:
            if to_land:
                lake.write_bytes(layout.truth_file(day), _truth_parquet(batch.truth))
            if landing.checkpoint:
                save_state(lake, batch.state, landing.fingerprint)
        for table in FACT_TABLES:
            if table not in encoded:
                outcomes[table] = "skipped"
                continue
            outcomes[table] = commit_partition(
                lake, table, day, _joined(encoded.pop(table)), batch.tables[table].num_rows,
                RAW_COLUMNS[table], GENERATOR_VERSION, overwrite=landing.overwrite,
                config_fingerprint=landing.fingerprint)
    if later:
        _FINISHING.append(_Finishing(lake, batch, landing.fingerprint, truth=bool(to_land),
                                     checkpoint=landing.checkpoint))
    else:
        # After the day is landed, so a crash never loses the checkpoint a re-run resumes from.
        prune_checkpoints(lake)
    seconds = time.perf_counter() - landing.started
    rows = {t: batch.tables[t].num_rows for t in FACT_TABLES}
    return DayReport(day, outcomes, rows, seconds)


def unfinished_days(lake: Lake) -> list[date]:
    """Days marked unfinished (one listing of a folder that is normally empty)."""
    days = (layout.parse_partition(name) for name in lake.list_partitions(layout.unfinished_folder()))
    return sorted(d for d in days if d is not None)


def _resume_state(lake: Lake, world: World, start: date) -> tuple[SimulationState, date | None]:
    """The state at the start of ``start``: from the newest usable checkpoint before it
    (corrupt ones are skipped with a warning), else from the chain's first day; and the day of
    the checkpoint used."""
    fingerprint = world.config.fingerprint()
    state, checkpoint = None, None
    for day in sorted((d for d in checkpoint_days(lake) if d < start), reverse=True):
        state = load_state(lake, day, fingerprint)
        if state is not None:
            checkpoint = day
            break
    if state is None:
        state = initial_state(world)
    return state, checkpoint


def finish_unfinished_days(lake: Lake, world: World) -> list[date]:
    """Write the ground truth and checkpoint of the days a killed run left marked unfinished
    with their facts committed: each is simulated again from the checkpoint before it (the
    same bytes, as every landing of a day). A marked day whose facts are not all complete is
    left to the landing that re-lands it (which writes both and removes the mark). Returns the
    days finished; a normal run finds no mark and lists one folder."""
    finish_landing()
    finished = []
    for day in unfinished_days(lake):
        if not all(day in complete_days(lake, t, [day]) for t in FACT_TABLES):
            continue
        state, _ = _resume_state(lake, world, day)
        if state.next_day < day:
            state = advance(world, state, day)
        batch = next(iter(run_days(world, state, day)))
        keep = day in checkpoints_to_keep(set(checkpoint_days(lake)) | {day})
        _write_truth_and_checkpoint(lake, batch, world.config.fingerprint(), truth=True,
                                    checkpoint=keep)
        log.info("%s: ground truth%s written again (a run was stopped before writing them)",
                 day, " and checkpoint" if keep else "")
        finished.append(day)
    return finished


@dataclass(frozen=True)
class ResumePlan:
    """Where a window's simulation starts, and which of its days must be (re)landed."""

    start_state: SimulationState
    days_to_land: list[date]
    replayed_days: int
    # The day whose end-of-day checkpoint the simulation started from (None: the first day).
    checkpoint: date | None = None

    def describe(self) -> str:
        """What the run resumed from and replayed, for the log, exactly."""
        if not self.days_to_land:
            return "nothing to land"
        start = self.days_to_land[0]
        replay = (f"{self.replayed_days} day{'s' if self.replayed_days != 1 else ''}")
        if self.checkpoint is not None:
            text = f"resumed from the checkpoint of {self.checkpoint.isoformat()}"
            if self.replayed_days:
                text += (f", replayed {replay} from {self.checkpoint + timedelta(days=1)} "
                         f"to reach {start}")
            return text
        if self.replayed_days:
            return f"replayed {replay} from {FIRST_DAY.isoformat()} (no checkpoint)"
        return f"started from the chain's first day {FIRST_DAY.isoformat()}"


def plan_window(lake: Lake, world: World, first: date, last: date, overwrite: bool) -> ResumePlan:
    """Find the days of [first, last] that need landing and the state to start them from.

    Complete days are skipped without simulating them (only the window's manifests are read,
    so history does not slow a daily run). The simulation resumes from the newest usable
    checkpoint before the first day to land (corrupt ones are skipped with a warning); only
    when there is none does it replay from the chain's first day.
    """
    window = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    complete = {t: complete_days(lake, t, window) for t in FACT_TABLES}
    to_land = [d for d in window if overwrite or not all(d in complete[t] for t in FACT_TABLES)]
    if not to_land:
        return ResumePlan(initial_state(world), [], 0)
    start = to_land[0]
    state, checkpoint = _resume_state(lake, world, start)
    replayed = (start - state.next_day).days
    if replayed:
        state = advance(world, state, start)
    # Days between the first and last to land are simulated (the state must pass through
    # them) and each one is landed only if incomplete.
    days = [d for d in window if d >= start]
    return ResumePlan(state, days, replayed, checkpoint)


@dataclass
class PlanLanding:
    """The promotion plans a window publishes (one table per Monday), ready to land."""

    plans: dict[date, pa.Table]
    fingerprint: str
    overwrite: bool = False


def land_promotions(lake: Lake, landing: PlanLanding) -> dict[date, Outcome]:
    """Land each Monday's plan under the same commit protocol as the facts (data, then
    manifest): a complete publication is skipped, or with ``overwrite`` kept only while its
    stored bytes match its manifest. The plans are pure functions of the seed and the
    calendar, so they need no simulated state and land in any order."""
    outcomes: dict[date, Outcome] = {}
    for monday, data in sorted(landing.plans.items()):
        outcomes[monday] = commit_partition(
            lake, PROMOTIONS, monday, encode_csv(data), data.num_rows, RAW_COLUMNS[PROMOTIONS],
            GENERATOR_VERSION, overwrite=landing.overwrite,
            config_fingerprint=landing.fingerprint)
    return outcomes
