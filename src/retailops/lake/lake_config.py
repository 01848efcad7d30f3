"""The lake's configuration record, ``metadata/lake.json``: which simulated chain a lake holds.

Every file of the raw zone is a function of the simulation's configuration (seed, scale, the
other simulation parameters) and the generator's version. The first ingest into an empty lake
records them, before anything else is written; every later ingest compares its own
configuration with the record and stops, before writing anything, when they differ. Mixing two
worlds in one lake (new dimensions over old days, days of two seeds) is therefore impossible.

Lakes written before the record existed, or by another generator version, are not migrated:
the error says how to rebuild them.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from retailops.errors import LakeConfigurationError
from retailops.lake import layout
from retailops.lake.storage import Lake
from retailops.simulation import FACT_TABLES, GENERATOR_VERSION, SimulationConfig

_REBUILD = "use another lake_root, or delete the lake to rebuild it"


def configuration_record(config: SimulationConfig) -> dict[str, Any]:
    """What ``metadata/lake.json`` holds for a configuration (no timestamp: the record is a
    pure function of the configuration, like every other byte of the lake)."""
    return {**asdict(config), "generator_version": GENERATOR_VERSION,
            "config_fingerprint": config.fingerprint()}


def read_lake_configuration(lake: Lake) -> dict[str, Any] | None:
    """The lake's recorded configuration, or None when it has none yet."""
    relative = layout.lake_config_file()
    try:
        data = lake.read_bytes(relative)
    except FileNotFoundError:
        return None
    try:
        record = json.loads(data)
        if not isinstance(record, dict) or "config_fingerprint" not in record:
            raise ValueError("no config_fingerprint")
    except ValueError as exc:
        raise LakeConfigurationError(
            f"the lake's configuration record {lake.url(relative)} is not valid ({exc}): "
            f"restore it, {_REBUILD}") from None
    return record


def _holds_data(lake: Lake) -> bool:
    """Whether anything an ingest writes is already there (three cheap existence checks)."""
    folders = ["raw", layout.state_folder()] + [layout.manifest_folder(t) for t in FACT_TABLES]
    return any(lake.exists(folder) for folder in folders)


def _describe(record: dict[str, Any], differing: list[str]) -> str:
    shown = ["seed", "scale"] + [k for k in differing if k not in ("seed", "scale")]
    return " ".join(f"{k}={_format(record.get(k))}" for k in shown)


def _format(value: Any) -> str:
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def ensure_lake_configuration(lake: Lake, config: SimulationConfig) -> dict[str, Any]:
    """Record the configuration in a new lake, or check a lake's record matches ``config``.

    Returns the record. Raises ``LakeConfigurationError`` (one line naming both
    configurations, and how to rebuild) for another configuration, another generator version,
    or a lake that holds data but no record; nothing is written then.
    """
    wanted = configuration_record(config)
    recorded = read_lake_configuration(lake)
    if recorded is None:
        if _holds_data(lake):
            raise LakeConfigurationError(
                f"the lake at {lake.root} holds data but no metadata/lake.json: it was written "
                f"before lakes recorded their configuration, and is not migrated; "
                f"delete the lake to rebuild it with generator {GENERATOR_VERSION} "
                f"(or use another lake_root)")
        # The record is the first thing a new lake holds: a run that dies right after it
        # leaves a lake that later runs of this configuration simply continue.
        record = json.dumps(wanted, sort_keys=True, separators=(",", ":")) + "\n"
        lake.write_bytes(layout.lake_config_file(), record.encode())
        return wanted
    if recorded.get("generator_version") != GENERATOR_VERSION:
        raise LakeConfigurationError(
            f"the lake at {lake.root} was built by generator {recorded.get('generator_version')}"
            f" and this run's generator is {GENERATOR_VERSION}: lakes are not migrated; "
            f"{_REBUILD} with {GENERATOR_VERSION}")
    if recorded.get("config_fingerprint") != wanted["config_fingerprint"]:
        differing = sorted(k for k in wanted if k not in ("config_fingerprint",)
                           and recorded.get(k) != wanted[k])
        raise LakeConfigurationError(
            f"the lake at {lake.root} was built with {_describe(recorded, differing)} "
            f"(generator {recorded.get('generator_version')}); this run asks for "
            f"{_describe(wanted, differing)}: {_REBUILD}")
    return recorded
