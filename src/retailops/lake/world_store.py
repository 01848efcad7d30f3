"""The chain's world kept in a local lake (``metadata/world/``), so a daily run reads it back
instead of drawing it again.

``simulation.build_world`` draws the world from the configuration's seed: ~0.17 s of CPU at
scale 16 (1.15M store × product cells) in every daily run, against ~0.03 s to read the same
arrays back. The file's name is a digest of everything the world is a function of: the
configuration's fingerprint, the generator version, numpy's version (its random streams) and
the source of the simulation package, so a change to any of them names another file and the
world is drawn again (and kept under the new name). The arrays are an uncompressed ``.npz``,
whose members carry a CRC-32 that numpy checks when it reads them: a damaged file is drawn
again, with a warning, never used. Only local lakes keep it: on S3, fetching ~30 MB would cost
more than drawing the world.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
from dataclasses import fields
from importlib import resources

import numpy as np

from retailops.lake.layout import world_file
from retailops.lake.storage import Lake
from retailops.simulation import GENERATOR_VERSION, SimulationConfig, World, shared_world
from retailops.simulation import world as world_module

log = logging.getLogger(__name__)

WORLD_FORMAT = 1


@functools.lru_cache(maxsize=1)
def _simulation_source_digest() -> str:
    """sha256 over the source files of ``retailops.simulation`` (by name, then bytes)."""
    digest = hashlib.sha256()
    package = resources.files("retailops.simulation")
    for entry in sorted(package.iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".py"):
            digest.update(entry.name.encode() + b"\0" + entry.read_bytes() + b"\0")
    return digest.hexdigest()


def world_key(config: SimulationConfig) -> str:
    """What the world of ``config`` is a function of, as a digest (the kept file's name)."""
    parts = (f"format={WORLD_FORMAT}", config.fingerprint(), GENERATOR_VERSION,
             f"numpy={np.__version__}", _simulation_source_digest())
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def _arrays(world: World) -> dict[str, np.ndarray]:
    arrays = {item.name: getattr(world, item.name) for item in fields(world)
              if isinstance(getattr(world, item.name), np.ndarray)}
    arrays["cycle_days"] = np.array([world.cycle_days], dtype=np.int64)
    return arrays


def save_world(lake: Lake, world: World) -> None:
    """Keep the world under its key (whole-file write: readers see it complete or not at all)."""
    buffer = io.BytesIO()
    np.savez(buffer, key=np.array([world_key(world.config)]), **_arrays(world))
    lake.write_bytes(world_file(world_key(world.config)), buffer.getvalue())


def load_world(lake: Lake, config: SimulationConfig) -> World | None:
    """The kept world of ``config``, or None when there is none (or it cannot be trusted)."""
    key = world_key(config)
    relative = world_file(key)
    try:
        data = lake.read_bytes(relative)
    except FileNotFoundError:
        return None
    expected = {item.name for item in fields(World)} - {"config"}
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}  # each member's CRC checked
        if str(arrays.pop("key")[0]) != key or set(arrays) != expected:
            raise ValueError("another world's file")
        cycle_days = int(arrays.pop("cycle_days")[0])
    except Exception as exc:  # noqa: BLE001 - any decoding failure means "draw it again"
        log.warning("Not using the kept world %s (%s); drawing it again", lake.url(relative), exc)
        return None
    return World(config=config, cycle_days=cycle_days, **arrays)


def lake_world(lake: Lake | None, config: SimulationConfig) -> World:
    """The world of ``config`` as ``shared_world`` keeps it for the process; the first ask of
    a process reads it from a local lake when kept there, else draws it (and keeps it)."""
    if lake is None or lake.is_s3:
        return shared_world(config)

    def read_or_draw(config: SimulationConfig) -> World:
        world = load_world(lake, config)
        if world is None:
            world = world_module.build_world(config)
            save_world(lake, world)
        return world

    return shared_world(config, build=read_or_draw)
