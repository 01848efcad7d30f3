"""Landing days in a lake exactly as the ingest pipeline does: its node functions feeding the
raw zone's dataset logic, without Kedro's session around them."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

from retailops.lake.landing import DayReport, land_day, land_dimensions, land_promotions
from retailops.lake.storage import Lake
from retailops.pipelines.ingest.nodes import (
    build_dimensions,
    check_lake_configuration,
    publish_promotions,
    resolve_window,
    simulate_window,
)

SMALL = {"review_period_days": 10}


def days_to_land(lake: Lake, first: str, last: str, scale: float = 0.05, seed: int = 7,
                 overwrite: bool = False, simulation: dict | None = None):
    """The ingest node's generator of the window's days, after the nodes before it ran (the
    lake's configuration checked, the dimensions and promotion plans landed)."""
    window = resolve_window(first, last, None)
    sim = simulation or SMALL
    recorded = check_lake_configuration(lake, window, seed, scale, sim)
    land_dimensions(lake, build_dimensions(window, seed, scale, sim, recorded))
    land_promotions(lake, publish_promotions(window, seed, scale, sim, overwrite, 1, recorded))
    return simulate_window(lake, window, seed, scale, sim, overwrite, recorded)


def ingest(lake: Lake, first: str, last: str, scale: float = 0.05, seed: int = 7,
           overwrite: bool = False, simulation: dict | None = None) -> list[DayReport]:
    return [land_day(lake, landing) for landing in days_to_land(
        lake, first, last, scale, seed, overwrite, simulation)]


def tree_digest(root: Path, include_metadata: bool = True) -> dict[str, str]:
    """sha256 of every file below ``root`` (manifests' written_at makes them differ by run,
    so they are compared by their sha256 field instead)."""
    import json

    digests = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        rel = str(path.relative_to(root))
        if rel.endswith("manifest.json"):
            digests[rel] = json.loads(path.read_text())["sha256"]
        elif include_metadata or not rel.startswith("metadata/"):
            digests[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def day(s: str) -> date:
    return date.fromisoformat(s)
