"""Landing a day does the same file work whatever the history behind it (issue 13: a year at
scale 16 must not land slower on day 300 than on day 3).

Counted, not timed: every file the process opens and every folder it lists under the lake
root, seen through Python's audit hooks (``open``, ``os.scandir``, ``os.listdir``: fsspec's
local listings, ``tempfile``'s atomic writes and plain reads all raise them). For each landed
day the paths are normalised (the day itself -> ``D``, the day before -> ``D-1``, a writer's
random temporary name -> ``<tmp>``); the work of every day must then be the very same list, and
name no other day's partition. The state checkpoints are the one folder whose listing may grow
(bounded by ``checkpoints_to_keep``), so its entries are left out of the comparison, not its
listing.
"""

from __future__ import annotations

import os
import re
import sys
from collections import Counter
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

from retailops.lake import landing as landing_module
from retailops.lake.landing import land_day, land_dimensions, land_promotions
from retailops.lake.partitions import complete_days
from retailops.lake.storage import Lake
from retailops.pipelines.ingest.nodes import (
    build_dimensions,
    check_lake_configuration,
    publish_promotions,
    resolve_window,
    simulate_window,
)

SEED, SCALE, SIM = 7, 0.05, {"review_period_days": 10}
_EVENTS = ("open", "os.scandir", "os.listdir")
_recording: list[tuple[str, str]] | None = None
_hooked = False


def _hook(event: str, args: tuple) -> None:
    if _recording is None or event not in _EVENTS or not args:
        return
    path = args[0]
    if path is None or isinstance(path, int):
        return
    try:
        _recording.append((event, os.path.abspath(os.fsdecode(path))))
    except TypeError:
        pass


@contextmanager
def recording():
    """The (event, absolute path) of every open and listing while the block runs."""
    global _recording, _hooked
    if not _hooked:  # an audit hook cannot be removed: one per process, idle unless recording
        sys.addaudithook(_hook)
        _hooked = True
    found: list[tuple[str, str]] = []
    _recording = found
    try:
        yield found
    finally:
        _recording = None


def normalised(events: list[tuple[str, str]], root: Path, day: date) -> Counter:
    """The lake-relative work of landing ``day``: its own partitions as ``D``, the day
    before as ``D-1``, temporary names as ``<tmp>``; files outside the lake are left out."""
    prefix = str(root) + os.sep
    work: Counter = Counter()
    for event, path in events:
        if not path.startswith(prefix):
            continue
        relative = path[len(prefix):]
        relative = relative.replace(f"dt={day.isoformat()}", "dt=D")
        relative = relative.replace(f"dt={(day - timedelta(days=1)).isoformat()}", "dt=D-1")
        relative = re.sub(r"\.tmp-[^/]*\.part$", "<tmp>", relative)
        work[(event, relative)] += 1
    return work


def other_days(work: Counter) -> list[str]:
    """Paths of the work that name another day's partition than ``D`` (``D-1`` only for the
    resume checkpoint, which a daily run reads)."""
    bad = []
    for _, relative in work:
        for found in re.findall(r"dt=([^/]+)", relative):
            if found == "D" or (found == "D-1" and relative.startswith("metadata/state/")):
                continue
            bad.append(relative)
    return bad


def land_recorded(root: Path, first: str, last: str) -> tuple[list[str], dict[date, Counter]]:
    """Land ``first..last`` as the ingest pipeline does. Returns the lake files the run's plan
    touched (once per run: the window's manifests, the checkpoints) and each day's file work
    while landing it; simulating a day (here or in the child process) must touch no lake file."""
    lake = Lake(str(root))
    window = resolve_window(first, last, None)
    checked = check_lake_configuration(lake, window, SEED, SCALE, SIM)
    land_dimensions(lake, build_dimensions(window, SEED, SCALE, SIM, checked))
    land_promotions(lake, publish_promotions(window, SEED, SCALE, SIM, False, 1, checked))
    days = simulate_window(lake, window, SEED, SCALE, SIM, False, checked)
    prefix = str(root) + os.sep
    plan: list[str] = []
    work: dict[date, Counter] = {}
    while True:
        with recording() as simulating:
            landing = next(days, None)
        touched = [path[len(prefix):] for _, path in simulating if path.startswith(prefix)]
        if landing is None:
            assert not touched, f"finishing the window touched the lake: {touched}"
            break
        day = landing.batch.day
        if work:
            assert not touched, f"simulating {day} touched the lake: {touched}"
        else:  # the first next() plans the window, then simulates its first day
            plan = touched
        with recording() as events:
            land_day(lake, landing)
        work[day] = normalised(events, root, day)
    return plan, work


def before(paths: list[str], first: date) -> list[str]:
    """The paths naming a partition older than ``first`` (checkpoints aside: the plan lists
    them and reads the newest before the window)."""
    return [p for p in paths if not p.startswith("metadata/state/")
            and any(d < first.isoformat() for d in re.findall(r"dt=(\d{4}-\d\d-\d\d)", p))]


def normalised_plan(plan: list[str], day: date) -> Counter:
    """A one-day run's plan, normalised as a day's work (its events are opens and listings)."""
    return Counter(("plan", p.replace(f"dt={day.isoformat()}", "dt=D").replace(
        f"dt={(day - timedelta(days=1)).isoformat()}", "dt=D-1")) for p in plan)


def without_checkpoint_files(work: Counter) -> Counter:
    """The work minus the checkpoint written for the day (a backfill writes only those it
    keeps, so some days have one and some not); the checkpoint folder's listing stays."""
    return Counter({k: n for k, n in work.items() if not k[1].startswith("metadata/state/dt=")})


def test_each_backfill_day_does_the_same_file_work_and_reads_no_older_partition(tmp_path):
    root = tmp_path / "lake"
    land_recorded(root, "2024-07-01", "2024-07-04")  # history before the window
    plan, work = land_recorded(root, "2024-07-05", "2024-07-28")  # >= 8 days: simulated ahead
    assert len(work) == 24
    assert not before(plan, date(2024, 7, 5)), before(plan, date(2024, 7, 5))
    assert "metadata/manifests/sales/dt=2024-07-28/manifest.json" in plan  # it sees the window
    for day, done in work.items():
        assert not other_days(done), f"landing {day} touched {other_days(done)}"
    later = {day: without_checkpoint_files(done) for day, done in work.items()}
    reference = later[date(2024, 7, 5)]
    assert reference[("open", "raw/sales/dt=D/<tmp>")] == 1  # the check sees the writes
    for day, done in later.items():
        assert done == reference, f"landing {day} differs from landing 2024-07-05: " \
                                  f"{sorted((done - reference) + (reference - done))}"


def test_a_daily_run_does_the_same_file_work_after_more_history(tmp_path):
    """A one-day window, as the daily run lands it (plan, resume checkpoint, land), after
    12 days and after 40 days of history: the same opens and listings, nothing older than
    yesterday's checkpoint."""
    root = tmp_path / "lake"
    land_recorded(root, "2024-07-01", "2024-07-12")
    plan, work = land_recorded(root, "2024-07-13", "2024-07-13")
    early = normalised_plan(plan, date(2024, 7, 13)) + work[date(2024, 7, 13)]
    land_recorded(root, "2024-07-14", "2024-08-09")
    plan, work = land_recorded(root, "2024-08-10", "2024-08-10")
    late = normalised_plan(plan, date(2024, 8, 10)) + work[date(2024, 8, 10)]
    assert not other_days(early) and not other_days(late), (other_days(early), other_days(late))
    assert ("plan", "metadata/state/dt=D-1/state.npz.zst") in late  # resumed from yesterday
    assert late == early, sorted((late - early) + (early - late))


def test_the_check_sees_a_landing_that_reads_every_older_partition(tmp_path, monkeypatch):
    """The same check on a landing broken on purpose: each day asks which days of the whole
    table are complete (every manifest read) instead of its own."""
    monkeypatch.setattr(landing_module, "complete_days",
                        lambda lake, table, days=None: complete_days(lake, table))
    _, work = land_recorded(tmp_path / "lake", "2024-07-01", "2024-07-05")
    fifth = work[date(2024, 7, 5)]
    assert "metadata/manifests/sales/dt=2024-07-01/manifest.json" in other_days(fifth)
    assert without_checkpoint_files(fifth) != without_checkpoint_files(work[date(2024, 7, 2)])
