"""Simulating ahead: a backfill's days are simulated and formatted in a child process while
the caller writes the previous one, so a long backfill uses both cores.

Only where the work happens changes, never its result: the days are still simulated one after
the other in one process (each day's state comes from the day before, each day's randomness
from its own seeded stream), and the caller receives them in order, so the landed bytes are
those of ``run_days``. Writing the lake stays with the caller, so the lake's commit protocol
(and what a crash leaves behind) is unchanged; the child never touches the lake.

How a day crosses: the child pickles each day into a file of a private staging folder (under
the system's temporary folder, not the lake) and then sends its name, a few bytes, on its
stdout; the caller reads the file, deletes it and sends one byte back on the child's stdin for
each day it took. The child waits for that byte only when AHEAD_DAYS days wait unread. So
neither side ever waits for the other in the middle of a day: an 8 MB day pushed through a pipe
instead went across in pipe-sized pieces, each one waking the other side, which on a loaded
machine means waiting for its time slice every time.

A process rather than a thread: simulating and formatting a day spends much of its time in
Python code holding the GIL, so a thread would mostly wait for the writer. The child runs in a
session of its own: Linux's scheduler (autogroup) gives each session one share of the CPU,
however many processes it runs, so a child in the caller's session would share the caller's
single share with it and on a busy machine nothing would overlap. Its own session also keeps a
terminal's Ctrl-C from reaching it; the caller stops it.

The child is ``python -m retailops.simulation.ahead <staging folder>``; once started it says
so, and reads the world and the state to start from on its stdin. Unlike ``multiprocessing``'s
spawn it never re-imports the caller's main script. Starting it (a fresh interpreter that
imports numpy and pyarrow) takes about a second, longer on a busy machine: until it is ready
the caller simulates days itself, and short windows (a daily run) are simulated in place.
When the caller dies (a SIGKILLed run) the child's next message fails or its stdin ends: it
removes the staging folder and exits, so neither an orphan nor staged days are left behind.
"""

from __future__ import annotations

import os
import pickle
import select
import shutil
import subprocess
import sys
import tempfile
from datetime import date, timedelta
from typing import BinaryIO, Iterator

from retailops.errors import RetailOpsError
from retailops.simulation import DayBatch, SimulationState, World, day_batch, run_days
from retailops.simulation.engine import simulate_day

# Days that may wait, simulated, for the writer (a scale-1 day is ~8 MB, a scale-16 day
# ~0.1 GB of staged files). More than one absorbs the two processes' uneven time slices.
AHEAD_DAYS = 3
# Below this many days the child's start-up (~1 s) costs more than the overlap saves.
MIN_DAYS_IN_CHILD = 8
# One day in this many (by date) crosses unformatted and the caller formats it: simulating and
# formatting (~38 ms a day at scale 1) is otherwise the longer side against writing (~31 ms),
# and a third of the formatting (~11 ms a day) evens them out. 0: the child formats every day.
FORMATTED_BY_CALLER = 3

_READY = "ready"
_DAY = "day"
_DONE = "done"
_FAILED = "failed"
_STAGING_PREFIX = "retailops-ahead-"


class SimulationProcessError(RetailOpsError):
    """The child process simulating ahead failed or died before handing over every day."""


def run_days_ahead(world: World, state: SimulationState, last_day: date,
                   min_days: int | None = None) -> Iterator[DayBatch]:
    """The batches of ``run_days(world, state, last_day)``, the same ones in the same order,
    simulated up to AHEAD_DAYS days ahead of the consumer in a child process when the window
    holds at least ``min_days`` days (default ``MIN_DAYS_IN_CHILD``; else in place, as are the
    days before the child has started).

    An exception in the child is raised here, at the day it happened; a child that dies
    raises ``SimulationProcessError``. Closing the iterator early stops the child.
    """
    days = (last_day - state.next_day).days + 1
    if days < max(MIN_DAYS_IN_CHILD if min_days is None else min_days, 2):
        yield from run_days(world, state, last_day)
        return
    staging = tempfile.mkdtemp(prefix=f"{_STAGING_PREFIX}{os.getpid()}-")
    child = subprocess.Popen([*_child_command(), staging], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, start_new_session=True)
    expected = state.next_day
    finished = False
    try:
        # The child takes about a second to start (a new interpreter importing numpy and
        # pyarrow; longer on a busy machine): until it says it is ready, days are simulated
        # here, and it starts from the state they reached.
        while expected <= last_day and not _has_message(child.stdout):
            batch = next(run_days(world, state, expected))
            state, expected = batch.state, expected + timedelta(days=1)
            yield batch
        if expected > last_day:
            finished = True  # it never got work: its input ends, and it exits
            return
        _receive(child, expected)  # ready (or raises: it died)
        try:
            pickle.dump((world, state, last_day, AHEAD_DAYS), child.stdin,
                        protocol=pickle.HIGHEST_PROTOCOL)
            child.stdin.flush()
        except BrokenPipeError:
            pass  # it died: reading its next message below says so
        while True:
            kind, payload = _receive(child, expected)
            if kind == _DONE:
                finished = True
                return
            if kind == _FAILED:
                raise pickle.loads(payload)
            staged = _take(os.path.join(staging, payload), expected)
            day = staged.day if isinstance(staged, DayBatch) else staged[0].day
            if day != expected:  # never land a day out of order
                raise SimulationProcessError(
                    f"the process simulating ahead handed over {day.isoformat()} "
                    f"where {expected.isoformat()} was due")
            _grant(child.stdin)
            expected += timedelta(days=1)
            # A day staged unformatted: (what happened, the state at its end).
            yield staged if isinstance(staged, DayBatch) else day_batch(world, *staged)
    finally:
        try:
            child.stdin.close()  # its end of input: a child done (or waiting) exits
        except BrokenPipeError:
            pass
        if finished:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if child.poll() is None:
            child.kill()
        child.wait()
        child.stdout.close()
        shutil.rmtree(staging, ignore_errors=True)


def _child_command() -> list[str]:
    return [sys.executable, "-m", "retailops.simulation.ahead"]


def _has_message(stream: BinaryIO) -> bool:
    """Whether the child has written something (or ended) that a read would not wait for."""
    try:
        return bool(select.select([stream], [], [], 0)[0])
    except (OSError, ValueError):  # no select() on pipes here: wait for the child
        return True


def _receive(child: subprocess.Popen, expected: date) -> tuple:
    try:
        return pickle.load(child.stdout)
    except Exception:  # noqa: BLE001 - EOF or a torn message: the child died
        raise SimulationProcessError(
            f"the process simulating ahead died (exit code {child.wait()}) before "
            f"handing over {expected.isoformat()}") from None


def _formatted_by_caller(day: date) -> bool:
    return FORMATTED_BY_CALLER > 0 and day.toordinal() % FORMATTED_BY_CALLER == 0


def _take(path: str, expected: date) -> DayBatch | tuple:
    """Read a staged day (a batch, or what happened and the end state) and delete its file."""
    try:
        with open(path, "rb") as handle:
            batch = pickle.load(handle)
        os.unlink(path)
    except (OSError, pickle.UnpicklingError, EOFError) as exc:
        raise SimulationProcessError(
            f"the day {expected.isoformat()} the process simulating ahead staged at {path} "
            f"cannot be read: {exc}") from None
    return batch


def _grant(inbox: BinaryIO) -> None:
    """Tell the child one more day may be simulated ahead (one byte per day taken)."""
    try:
        inbox.write(b"\x01")
        inbox.flush()
    except BrokenPipeError:
        pass  # it died: reading its next message says so


def _send(out: BinaryIO, message: tuple) -> None:
    pickle.dump(message, out, protocol=pickle.HIGHEST_PROTOCOL)
    out.flush()


def _serve(staging: str) -> int:
    """(child process) Say it is ready; read (world, state, last day, days ahead) from stdin;
    stage each day as a file in ``staging`` and send its name on stdout."""
    inbox, out = sys.stdin.buffer, sys.stdout.buffer
    status = 0
    try:
        _send(out, (_READY, None))
        try:
            world, state, last_day, ahead = pickle.load(inbox)
        except EOFError:
            return 0  # the parent simulated the whole window itself, or is gone
        waiting = 0  # days staged that the parent has not taken, as far as we know
        try:
            while state.next_day <= last_day:
                activity, state = simulate_day(world, state)
                staged = ((activity, state) if _formatted_by_caller(activity.day)
                          else day_batch(world, activity, state))
                if waiting >= ahead:
                    if not inbox.read(1):  # its end of input: the parent is gone or stopped
                        return 0
                    waiting -= 1
                name = f"{activity.day.isoformat()}.pickle"
                with open(os.path.join(staging, name), "wb") as handle:
                    pickle.dump(staged, handle, protocol=pickle.HIGHEST_PROTOCOL)
                _send(out, (_DAY, name))
                waiting += 1
        except (BrokenPipeError, ConnectionResetError):
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to the parent, raised there
            try:
                error = pickle.dumps(exc)
            except Exception:  # noqa: BLE001 - an exception that cannot cross processes
                error = pickle.dumps(RuntimeError(repr(exc)))
            _send(out, (_FAILED, error))
            status = 1
        else:
            _send(out, (_DONE, None))
        # The days staged before still wait for the parent: wait for it to close our input
        # (it took them) or to die (the days it never took are removed below).
        while inbox.read(1 << 16):
            pass
    except (BrokenPipeError, ConnectionResetError):
        pass  # the parent is gone (killed, or it stopped reading)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(_serve(sys.argv[1]))
