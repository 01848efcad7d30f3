"""Where everything lives in the lake: the one place that knows a partition's path.

Paths are relative to the lake root (a local folder or ``s3://bucket``); ``Lake`` joins them.
"""

from __future__ import annotations

from datetime import date

RAW = "raw"
CURATED = "curated"
METADATA = "metadata"


def partition(day: date) -> str:
    """Hive-style partition folder name for a day."""
    return f"dt={day.isoformat()}"


def dimension_file(table: str) -> str:
    return f"{RAW}/{table}/{table}.csv"


def fact_file(table: str, day: date) -> str:
    return f"{RAW}/{table}/{partition(day)}/{table}.csv"


def fact_folder(table: str) -> str:
    return f"{RAW}/{table}"


def manifest_file(table: str, day: date) -> str:
    return f"{METADATA}/manifests/{table}/{partition(day)}/manifest.json"


def manifest_folder(table: str) -> str:
    return f"{METADATA}/manifests/{table}"


def day_defects_file(day: date) -> str:
    return f"{METADATA}/defects/{partition(day)}/defects.csv"


def dimension_defects_file() -> str:
    return f"{METADATA}/defects/dimensions/defects.csv"


def truth_file(day: date) -> str:
    return f"{METADATA}/truth/{partition(day)}/demand.parquet"


def state_file(day: date) -> str:
    """Simulation state at the end of ``day``."""
    return f"{METADATA}/state/{partition(day)}/state.npz.zst"


def state_folder() -> str:
    return f"{METADATA}/state"


def unfinished_file(day: date) -> str:
    """Marks a day whose facts a run committed before writing its ground truth and checkpoint
    (``landing.land_day`` with ``finish_later``); removed once both are written."""
    return f"{METADATA}/unfinished/{partition(day)}/unfinished.txt"


def unfinished_folder() -> str:
    return f"{METADATA}/unfinished"


def world_file(key: str) -> str:
    """The chain's world kept under its key (``lake.world_store``)."""
    return f"{METADATA}/world/{key}.npz"


def lake_config_file() -> str:
    """The lake's configuration record (seed, scale, generator), written on its first ingest."""
    return f"{METADATA}/lake.json"


def run_report_file(kind: str, run_id: str) -> str:
    return f"{METADATA}/runs/{kind}/{run_id}.json"


def parse_partition(name: str) -> date | None:
    """The day of a ``dt=YYYY-MM-DD`` folder name, or None for anything else."""
    if not name.startswith("dt="):
        return None
    try:
        return date.fromisoformat(name[3:])
    except ValueError:
        return None
