"""Landing a day leaves nothing for the cyclic garbage collector (issue 13, scale 16).

`kedro run` raises the collector's thresholds (cli.RUN_GC_THRESHOLDS) so far that a landing
(vectorised numpy, few Python objects) all but never runs a collection: anything a day leaves
in a reference cycle stays. The manifests read while landing a day came back from fsspec as
FileNotFoundError objects whose tracebacks reached, frame by frame, back to land_day and its
locals (the day's whole batch): a year at scale 16 grew the landing by ~140 MB a day until the
kernel killed it at 22 GB (docs/scale.md). Lake.read_many now drops those tracebacks.
"""

from __future__ import annotations

import gc
from datetime import date
from pathlib import Path

from retailops.lake.landing import DayLanding, land_day
from retailops.lake.storage import Lake
from retailops.simulation import SimulationConfig, build_world, initial_state, run_days


def _garbage_after(action) -> list:
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        action()
        gc.collect()
        return list(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


def test_landing_a_day_leaves_no_reference_cycle(tmp_path: Path) -> None:
    config = SimulationConfig(scale=0.05)
    world = build_world(config)
    lake = Lake(str(tmp_path / "lake"))
    days = run_days(world, initial_state(world), date(2024, 7, 3))
    land_day(lake, DayLanding(next(days), config.fingerprint()))  # a first day: folders made

    batch = next(days)
    garbage = _garbage_after(lambda: land_day(lake, DayLanding(batch, config.fingerprint())))

    frames = [f"{o.f_code.co_name} ({o.f_code.co_filename.rsplit('/', 1)[-1]})"
              for o in garbage if type(o).__name__ == "frame"]
    assert frames == [], f"landing a day left frames in reference cycles: {frames}"
    assert garbage == [], f"landing a day left {len(garbage)} objects in reference cycles"


def test_reading_missing_objects_leaves_no_reference_cycle(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    lake.write_bytes("metadata/a.json", b"{}")
    found: dict = {}

    def read() -> None:
        found.update(lake.read_many(["metadata/a.json", "metadata/missing.json"]))

    assert _garbage_after(read) == []
    assert found == {"metadata/a.json": b"{}", "metadata/missing.json": None}
