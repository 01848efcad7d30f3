"""Simulation state checkpoints under ``metadata/state/``, so a daily run resumes from
yesterday's state instead of replaying history from the first day.

A checkpoint records the configuration fingerprint it was made with; a checkpoint from another
configuration is ignored (and the days are replayed), never mixed in. A checkpoint that is
corrupt or truncated is skipped with a warning (an older one is used, or history replayed): a
checkpoint only saves time, the data never depends on which one a run started from.

Checkpoints are kept bounded: the last ``RECENT_DAYS`` days plus the newest of every
``SPARSE_EVERY_DAYS`` days of history, pruned after each landed day.
"""

from __future__ import annotations

import hashlib
import io
import logging
from datetime import date, timedelta
from typing import Iterable

import numpy as np
import pyarrow as pa

from retailops.lake import layout
from retailops.lake.storage import Lake
from retailops.simulation import FIRST_DAY, SimulationState

log = logging.getLogger(__name__)

# Frame: magic, uncompressed length (8 bytes little-endian), sha256 of everything after the
# digest, then the zstd-compressed .npz. The digest is checked before the length is trusted,
# so a damaged file can never ask for a huge buffer or decompress into wrong arrays.
_MAGIC = b"RSTATE2\n"
_DIGEST_SIZE = 32

# The last two weeks: re-running or repairing a recent day resumes a day before it.
RECENT_DAYS = 14
# Older history: one checkpoint per 30 days bounds the replay for a repair of an old day.
SPARSE_EVERY_DAYS = 30


class CorruptCheckpointError(ValueError):
    """A checkpoint file that cannot be trusted (truncated, damaged or of an unknown format)."""


def _pack(arrays: dict[str, np.ndarray]) -> bytes:
    """An .npz archive, zstd-compressed (zlib is 3-10x slower here for a similar size)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    raw = buffer.getvalue()
    body = len(raw).to_bytes(8, "little") + pa.compress(raw, codec="zstd", asbytes=True)
    return _MAGIC + hashlib.sha256(body).digest() + body


def _unpack(data: bytes) -> dict[str, np.ndarray]:
    head = len(_MAGIC) + _DIGEST_SIZE
    if len(data) < head + 8 or not data.startswith(_MAGIC):
        raise CorruptCheckpointError("not a checkpoint (truncated or unknown format)")
    body = data[head:]
    if hashlib.sha256(body).digest() != data[len(_MAGIC):head]:
        raise CorruptCheckpointError("checksum mismatch (truncated or damaged)")
    size = int.from_bytes(body[:8], "little")
    try:
        raw = pa.decompress(body[8:], decompressed_size=size, codec="zstd", asbytes=True)
        with np.load(io.BytesIO(raw), allow_pickle=False) as arrays:
            return {k: arrays[k] for k in arrays.files}
    except Exception as exc:  # noqa: BLE001 - any decoding failure means "cannot use it"
        raise CorruptCheckpointError(f"cannot be decoded: {exc}") from exc


def save_state(lake: Lake, state: SimulationState, fingerprint: str) -> None:
    """Checkpoint the state at the end of ``state.next_day - 1``."""
    data = _pack({"fingerprint": np.array([fingerprint]), **state.to_arrays()})
    lake.write_bytes(layout.state_file(state.next_day - timedelta(days=1)), data)


def load_state(lake: Lake, end_of: date, fingerprint: str) -> SimulationState | None:
    """The checkpoint at the end of ``end_of``, or None if missing, from another configuration,
    or corrupt (with a warning naming the file)."""
    relative = layout.state_file(end_of)
    try:
        data = lake.read_bytes(relative)
    except FileNotFoundError:
        return None
    try:
        arrays = _unpack(data)
        if str(arrays["fingerprint"][0]) != fingerprint:
            log.info("Checkpoint %s is from another configuration; not used", lake.url(relative))
            return None
        state = SimulationState.from_arrays(arrays)
    except (CorruptCheckpointError, KeyError, IndexError, ValueError, TypeError) as exc:
        log.warning("Skipping corrupt checkpoint %s (%s); an older one is used, or the days "
                    "are replayed", lake.url(relative), exc)
        return None
    if state.next_day != end_of + timedelta(days=1):
        log.warning("Skipping checkpoint %s: it holds the state of %s", lake.url(relative),
                    state.next_day - timedelta(days=1))
        return None
    return state


def checkpoint_days(lake: Lake) -> list[date]:
    """Days that have a checkpoint (of any configuration), oldest first."""
    days = (layout.parse_partition(name) for name in lake.list_partitions(layout.state_folder()))
    return sorted(d for d in days if d is not None)


def checkpoints_to_keep(days: Iterable[date], recent_days: int = RECENT_DAYS,
                        sparse_every_days: int = SPARSE_EVERY_DAYS) -> set[date]:
    """Which checkpoints a lake keeps: every one of the ``recent_days`` days up to the newest,
    and the newest of each ``sparse_every_days``-day block of history (blocks counted from the
    chain's first day, so they do not move as days are added)."""
    days = sorted(set(days))
    if not days:
        return set()
    newest = days[-1]
    keep = {d for d in days if (newest - d).days < recent_days}
    newest_in_block: dict[int, date] = {}
    for d in days:
        newest_in_block[(d - FIRST_DAY).days // sparse_every_days] = d
    return keep | set(newest_in_block.values())


def prune_checkpoints(lake: Lake) -> list[date]:
    """Remove the checkpoints ``checkpoints_to_keep`` does not keep; returns the days removed.
    Only files under ``metadata/state/`` are touched."""
    days = checkpoint_days(lake)
    removed = sorted(set(days) - checkpoints_to_keep(days))
    for day in removed:
        lake.remove(layout.state_file(day))
        lake.remove_folder(f"{layout.state_folder()}/{layout.partition(day)}")
    return removed
