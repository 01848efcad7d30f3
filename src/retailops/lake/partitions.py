"""The raw zone's commit protocol and its readers.

A fact partition is complete only when its manifest exists, and the manifest is always written
after the data. Re-landing a complete partition is skipped (same bytes, no write) unless the run
asks to overwrite; an overwrite first removes the manifest, so a crash in between leaves the
partition looking incomplete (and re-landed by the next run), never complete with wrong bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Literal

import pyarrow as pa
import pyarrow.csv as pacsv

from retailops.errors import CorruptPartitionError
from retailops.lake import layout
from retailops.lake.storage import Lake

Outcome = Literal["written", "skipped", "rewritten"]


def encode_csv(table: pa.Table) -> bytes:
    """CSV bytes as the contract wants them: header, commas, RFC 4180 quoting, null = empty."""
    sink = io.BytesIO()
    pacsv.write_csv(table, sink, write_options=pacsv.WriteOptions(include_header=True))
    return sink.getvalue()


@dataclass(frozen=True)
class Manifest:
    """Proof that a partition landed whole."""

    table: str
    dt: str
    rows: int
    sha256: str
    bytes: int
    written_at: str
    generator_version: str
    columns: tuple[str, ...]

    def to_json(self) -> bytes:
        payload = {"table": self.table, "dt": self.dt, "rows": self.rows, "sha256": self.sha256,
                   "bytes": self.bytes, "written_at": self.written_at,
                   "generator_version": self.generator_version, "columns": list(self.columns)}
        return (json.dumps(payload, indent=2) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes, where: str) -> "Manifest":
        try:
            raw = json.loads(data)
            return cls(table=raw["table"], dt=raw["dt"], rows=int(raw["rows"]),
                       sha256=raw["sha256"], bytes=int(raw.get("bytes", -1)),
                       written_at=raw["written_at"], generator_version=raw["generator_version"],
                       columns=tuple(raw.get("columns", ())))
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptPartitionError(f"manifest {where} is not a valid manifest: {exc}") from exc


def read_manifest(lake: Lake, table: str, day: date) -> Manifest | None:
    """The manifest of a partition, or None when the partition is not complete."""
    relative = layout.manifest_file(table, day)
    try:
        data = lake.read_bytes(relative)
    except FileNotFoundError:
        return None
    return Manifest.from_json(data, lake.url(relative))


def complete_days(lake: Lake, table: str) -> set[date]:
    """Days whose partition of ``table`` is complete (has a manifest)."""
    days = set()
    for relative in lake.find(layout.manifest_folder(table)):
        parts = relative.rsplit("/", 2)
        if len(parts) == 3 and parts[2] == "manifest.json":
            day = layout.parse_partition(parts[1])
            if day is not None:
                days.add(day)
    return days


def commit_partition(lake: Lake, table: str, day: date, data: bytes, rows: int,
                     columns: tuple[str, ...], generator_version: str,
                     overwrite: bool = False) -> Outcome:
    """Land one fact partition: data first, manifest last."""
    digest = hashlib.sha256(data).hexdigest()
    existing = read_manifest(lake, table, day)
    if existing is not None:
        if not overwrite or existing.sha256 == digest:
            return "skipped"
        lake.remove(layout.manifest_file(table, day))
    written_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    lake.write_bytes(layout.fact_file(table, day), data, metadata={
        "table": table, "dt": day.isoformat(), "rows": str(rows), "sha256": digest,
        "written-at": written_at})
    manifest = Manifest(table=table, dt=day.isoformat(), rows=rows, sha256=digest,
                        bytes=len(data), written_at=written_at,
                        generator_version=generator_version, columns=columns)
    lake.write_bytes(layout.manifest_file(table, day), manifest.to_json(),
                     metadata={"table": table, "dt": day.isoformat()})
    return "rewritten" if existing is not None else "written"


def verify_partition(lake: Lake, table: str, day: date,
                     expected_columns: tuple[str, ...]) -> bytes:
    """The bytes of a complete partition, checked against its manifest (sha256) and its header
    against the contract's columns; raises ``CorruptPartitionError`` naming the file otherwise."""
    manifest = read_manifest(lake, table, day)
    where = lake.url(layout.fact_file(table, day))
    if manifest is None:
        raise CorruptPartitionError(f"partition {where} is not complete (no manifest)")
    try:
        data = lake.read_bytes(layout.fact_file(table, day))
    except FileNotFoundError:
        raise CorruptPartitionError(f"partition {where} is missing but has a manifest") from None
    if hashlib.sha256(data).hexdigest() != manifest.sha256:
        raise CorruptPartitionError(f"partition {where} does not match its manifest (sha256)")
    header = data.split(b"\n", 1)[0].decode("utf-8", "replace")
    columns = tuple(c.strip().strip('"') for c in header.split(","))
    if columns[: len(expected_columns)] != expected_columns:
        raise CorruptPartitionError(
            f"partition {where} has drifted columns: expected {','.join(expected_columns)}, "
            f"found {','.join(columns)}")
    return data


def read_partition(lake: Lake, table: str, day: date, expected_columns: tuple[str, ...]) -> pa.Table:
    """Read a complete, verified partition (all columns as text)."""
    data = verify_partition(lake, table, day, expected_columns)
    columns = data.split(b"\n", 1)[0].decode("utf-8", "replace").split(",")
    convert = pacsv.ConvertOptions(column_types={c.strip().strip('"'): pa.string() for c in columns})
    return pacsv.read_csv(io.BytesIO(data), convert_options=convert)
