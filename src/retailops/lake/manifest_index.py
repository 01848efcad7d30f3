"""An index of the raw zone's manifests, so that knowing every complete partition costs one
listing plus the manifests that changed, not a read of every manifest of history.

``complete_manifests(lake, table)`` gives what ``partitions.read_manifests(lake, table)`` gives
(the manifest of each complete partition; one that is missing, does not parse or names another
partition leaves its partition incomplete). It lists the table's manifests with a stamp each —
on S3 the object's ETag (a digest of its bytes), locally its size and modification time in
nanoseconds — and reads only those whose stamp differs from the one recorded in
``metadata/manifest_index/<table>.json``; a manifest added, re-landed, repaired or removed
anywhere in history therefore changes the answer exactly as a full read would. The index is a
cache: it is checked against the listing on every call, rewritten when anything was read, and
a missing, unreadable or unwritable index only costs the reads it would have saved.

Locally a file rewritten within the file system's timestamp granularity of the previous write
could keep its size and modification time; as git does for its index, a manifest modified less
than ``RACY_SECONDS`` before the index was made is not trusted and is read again.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from datetime import date

from retailops.errors import LakeUnavailableError
from retailops.lake import layout
from retailops.lake.partitions import Manifest, read_manifests
from retailops.lake.storage import Lake

log = logging.getLogger(__name__)

INDEX_FORMAT = 1
RACY_SECONDS = 2
# A manifest's stamp: how its bytes are known to be the same, and its modification time in ns
# (0 on S3, where the stamp is a digest and nothing is racy).
Stamp = tuple[str, int]


def index_file(table: str) -> str:
    """The index of a table's manifests, relative to the lake root."""
    return f"{layout.METADATA}/manifest_index/{table}.json"


def manifest_stamps(lake: Lake, table: str) -> dict[date, Stamp]:
    """Every manifest of ``table`` with its stamp: one listing, no manifest read."""
    folder = layout.manifest_folder(table)
    stamps: dict[date, Stamp] = {}
    if not lake.is_s3:
        try:
            with os.scandir(lake.url(folder)) as partitions:
                entries = [(p.name, p.path) for p in partitions]
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise LakeUnavailableError(f"cannot list {lake.url(folder)}: {exc.strerror}") from exc
        for name, path in entries:
            day = layout.parse_partition(name)
            if day is None:
                continue
            try:
                found = os.stat(os.path.join(path, "manifest.json"))
            except (FileNotFoundError, NotADirectoryError):
                continue
            stamps[day] = (f"{found.st_size}:{found.st_mtime_ns}", found.st_mtime_ns)
        return stamps
    url = lake.url(folder)
    try:
        lake.fs.invalidate_cache(url)
        listed = lake.fs.find(url, detail=True)
    except FileNotFoundError:
        return {}
    except Exception as exc:  # noqa: BLE001 - any failure here means "cannot list"
        raise LakeUnavailableError(f"cannot list {url}: {exc}") from exc
    for path, info in listed.items():
        parts = path.rstrip("/").rsplit("/", 2)
        if len(parts) != 3 or parts[2] != "manifest.json":
            continue
        day = layout.parse_partition(parts[1])
        tag = info.get("ETag") or info.get("etag")
        if day is not None:
            # Without an ETag nothing proves the bytes unchanged: an empty stamp is never trusted.
            stamps[day] = (f"{tag}:{info.get('size')}" if tag else "", 0)
    return stamps


def _load(lake: Lake, table: str) -> tuple[dict[str, list], int]:
    """The recorded entries ``{dt: [stamp, manifest fields]}`` and when they were listed (ns)."""
    try:
        payload = json.loads(lake.read_bytes(index_file(table)))
        if payload.get("format") != INDEX_FORMAT or payload.get("table") != table:
            return {}, 0
        return dict(payload["entries"]), int(payload["listed_at_ns"])
    except FileNotFoundError:
        return {}, 0
    except (ValueError, KeyError, TypeError, AttributeError, LakeUnavailableError):
        return {}, 0  # an unreadable index: read the manifests instead


def _save(lake: Lake, table: str, entries: dict[str, list], listed_at_ns: int) -> None:
    body = json.dumps({"format": INDEX_FORMAT, "table": table, "listed_at_ns": listed_at_ns,
                       "entries": entries}, separators=(",", ":"), sort_keys=True).encode()
    try:
        lake.write_bytes(index_file(table), body)
    except LakeUnavailableError as exc:  # e.g. read-only credentials: the index only saves time
        log.debug("Manifest index of %s not written: %s", table, exc)


_FIELDS = tuple(f.name for f in dataclasses.fields(Manifest))


def _fields(manifest: Manifest) -> dict:
    """A manifest's fields as the index stores them: ``dataclasses.asdict`` deep-copies every
    field and cost ~0.4 s per table at 900 days when a new day rewrites the index."""
    fields = {name: getattr(manifest, name) for name in _FIELDS}
    fields["columns"] = list(manifest.columns)
    return fields


# What this process last knew per (lake root, table): a daily run asks twice (loading raw_days,
# then planning the rebuild), and the second time needs neither the index file nor its parse.
_KNOWN: dict[tuple[str, str], tuple[dict[date, tuple[str, Manifest]], int]] = {}


def _recorded(lake: Lake, table: str) -> tuple[dict[date, tuple[str, Manifest]], int]:
    """What the index file records: ``{day: (stamp, manifest)}`` and when it was listed."""
    entries, listed_at_ns = _load(lake, table)
    known = {}
    for day, entry in entries.items():
        try:
            fields = dict(entry[1])
            known[date.fromisoformat(day)] = (str(entry[0]), Manifest(
                **{**fields, "columns": tuple(fields["columns"])}))
        except (KeyError, TypeError, ValueError, IndexError):
            continue  # a damaged entry: its manifest is read instead
    return known, listed_at_ns


def complete_manifests(lake: Lake, table: str) -> dict[date, Manifest]:
    """The manifests of ``table``'s complete partitions, reading only those that changed since
    the index was written (see the module docstring)."""
    listed_at_ns = time.time_ns()
    stamps = manifest_stamps(lake, table)
    known, known_at_ns = _KNOWN.get((lake.root, table)) or _recorded(lake, table)
    trusted_before = known_at_ns - RACY_SECONDS * 1_000_000_000
    manifests: dict[date, Manifest] = {}
    unread: list[date] = []
    for day, (stamp, modified_ns) in stamps.items():
        hit = known.get(day)
        if stamp and hit and hit[0] == stamp and modified_ns < trusted_before:
            manifests[day] = hit[1]
        else:
            unread.append(day)
    if unread:
        manifests.update(read_manifests(lake, table, unread))
    now = {day: (stamps[day][0], manifest) for day, manifest in sorted(manifests.items())}
    if now != known:
        _save(lake, table, {day.isoformat(): [stamp, _fields(manifest)]
                            for day, (stamp, manifest) in now.items()}, listed_at_ns)
    # Re-read now, unchanged: still as recent as the index says, so trusted from the same time.
    _KNOWN[(lake.root, table)] = (now, listed_at_ns if now != known else known_at_ns)
    return dict(sorted(manifests.items()))


def complete_days(lake: Lake, table: str) -> list[date]:
    """The days of ``table`` with a complete partition, oldest first."""
    return list(complete_manifests(lake, table))
