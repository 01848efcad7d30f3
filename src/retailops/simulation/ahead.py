"""Simulating ahead: a backfill's days are simulated and formatted in a child process while
the caller writes the previous one, so a long backfill uses both cores.

Only where the work happens changes, never its result: the days are still simulated one after
the other in one process (each day's state comes from the day before, each day's randomness
from its own seeded stream), and the caller receives them in order, so the landed bytes are
those of ``run_days``. Writing stays with the caller, so the lake's commit protocol (and what a
crash leaves behind) is unchanged; the child writes nothing.

A process rather than a thread: simulating and formatting a day spends much of its time in
Python code holding the GIL, so a thread would mostly wait for the writer. The child is
``python -m retailops.simulation.ahead`` reading the world and start state from its stdin and
streaming pickled days to its stdout; the pipe's small buffer keeps it about one day ahead (it
blocks writing day N+1 until day N is taken), and when the parent dies (a SIGKILLed run) its
next write fails and it exits, so no orphan is left simulating. Unlike ``multiprocessing``'s
spawn it never re-imports the caller's main script. Starting it (a fresh interpreter that
imports numpy and pyarrow) costs about a second, so short windows (a daily run) are simulated
in place.
"""

from __future__ import annotations

import pickle
import queue
import subprocess
import sys
import threading
from datetime import date, timedelta
from typing import Iterator

from retailops.errors import RetailOpsError
from retailops.simulation import DayBatch, SimulationState, World, run_days

# Days that may wait, simulated, for the writer (a scale-16 day is ~0.1 GB of tables).
AHEAD_DAYS = 2
# Below this many days the child's start-up (~1 s) costs more than the overlap saves.
MIN_DAYS_IN_CHILD = 8

_DONE = "done"
_FAILED = "failed"
_DIED = "died"


class SimulationProcessError(RetailOpsError):
    """The child process simulating ahead failed or died before handing over every day."""


def run_days_ahead(world: World, state: SimulationState, last_day: date,
                   min_days: int | None = None) -> Iterator[DayBatch]:
    """The batches of ``run_days(world, state, last_day)``, the same ones in the same order,
    simulated up to AHEAD_DAYS days ahead of the consumer in a child process when the window holds at least
    ``min_days`` days (default ``MIN_DAYS_IN_CHILD``; else in place).

    An exception in the child is raised here, at the day it happened; a child that dies
    raises ``SimulationProcessError``. Closing the iterator early stops the child.
    """
    days = (last_day - state.next_day).days + 1
    if days < max(MIN_DAYS_IN_CHILD if min_days is None else min_days, 2):
        yield from run_days(world, state, last_day)
        return
    child = subprocess.Popen(_child_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    _widen_pipe(child.stdout)
    # A reader thread takes days off the pipe as soon as they come (reading and unpickling
    # release the GIL or are cheap), so the child blocks only when AHEAD_DAYS days wait here:
    # neither side waits for the other's time slice on a loaded machine.
    arrived: queue.Queue = queue.Queue(maxsize=AHEAD_DAYS)
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                item = pickle.load(child.stdout)
            except Exception:  # noqa: BLE001 - EOF or a torn pickle: the child died
                item = (_DIED, None)
            while not stop.is_set():
                try:
                    arrived.put(item, timeout=0.2)
                    break
                except queue.Full:
                    continue
            if isinstance(item, tuple):
                return

    reader = threading.Thread(target=read, name="retailops-simulate-ahead", daemon=True)
    expected = state.next_day
    finished = False
    try:
        pickle.dump((world, state, last_day), child.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        child.stdin.close()
        reader.start()
        while True:
            item = arrived.get()
            if isinstance(item, tuple):
                kind, payload = item
                if kind == _DONE:
                    finished = True
                    return
                if kind == _DIED:
                    raise SimulationProcessError(
                        f"the process simulating ahead died (exit code {child.wait()}) before "
                        f"handing over {expected.isoformat()}")
                raise pickle.loads(payload)
            if item.day != expected:  # never land a day out of order
                raise SimulationProcessError(
                    f"the process simulating ahead handed over {item.day.isoformat()} "
                    f"where {expected.isoformat()} was due")
            expected += timedelta(days=1)
            yield item
    finally:
        stop.set()
        if finished:  # it sent everything and exits on its own
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if child.poll() is None:
            child.kill()
        child.wait()
        if reader.is_alive():
            reader.join()
        child.stdout.close()


def _child_command() -> list[str]:
    return [sys.executable, "-m", "retailops.simulation.ahead"]


def _widen_pipe(stream) -> None:
    """Let the pipe hold 1 MB (Linux; 64 KB by default): a day (~8 MB at scale 1) then crosses
    in a few large writes instead of ~130 wake-ups of each side, which on a loaded machine
    each wait for a time slice."""
    try:
        import fcntl

        fcntl.fcntl(stream.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError):
        pass  # another platform, or a lower pipe-max-size: the default pipe still works


def _serve() -> int:
    """(child process) Read (world, state, last day) from stdin; stream the days to stdout."""
    out = sys.stdout.buffer
    world, state, last_day = pickle.load(sys.stdin.buffer)
    try:
        try:
            for batch in run_days(world, state, last_day):
                pickle.dump(batch, out, protocol=pickle.HIGHEST_PROTOCOL)
                out.flush()
        except (BrokenPipeError, ConnectionResetError):
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to the parent, raised there
            try:
                error = pickle.dumps(exc)
            except Exception:  # noqa: BLE001 - an exception that cannot cross processes
                error = pickle.dumps(RuntimeError(repr(exc)))
            pickle.dump((_FAILED, error), out)
            out.flush()
            return 1
        pickle.dump((_DONE, None), out)
        out.flush()
    except (BrokenPipeError, ConnectionResetError):
        return 0  # the parent is gone (killed, or it stopped reading): nothing to do
    return 0


if __name__ == "__main__":
    sys.exit(_serve())
