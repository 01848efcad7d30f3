"""The raw zone's commit protocol and its readers.

A fact partition is complete only when its manifest exists and parses, and the manifest is
always written after the data. Re-landing a complete partition is skipped (same bytes, no write)
unless the run asks to overwrite; an overwrite checks the STORED bytes against the manifest and
lands again whatever does not match, removing the manifest first, so a crash in between leaves
the partition looking incomplete (and re-landed by the next run), never complete with wrong
bytes. ``verify_lake`` is the readers' check before a transform: sizes of every partition,
sha256 of chosen days.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Iterable, Literal, Mapping, Sequence

import pyarrow as pa
import pyarrow.csv as pacsv

from retailops.errors import CorruptPartitionError, LakeUnavailableError
from retailops.lake import layout
from retailops.lake.storage import Lake, as_pieces
from retailops.simulation import FACT_TABLES, RAW_COLUMNS

log = logging.getLogger(__name__)

Outcome = Literal["written", "skipped", "rewritten"]


def encode_csv(table: pa.Table) -> bytes:
    """CSV bytes as the contract wants them: header, commas, RFC 4180 quoting, null = empty."""
    sink = io.BytesIO()
    pacsv.write_csv(table, sink, write_options=pacsv.WriteOptions(include_header=True))
    return sink.getvalue()


@dataclass(frozen=True)
class Manifest:
    """Proof that a partition landed whole, and under which lake configuration."""

    table: str
    dt: str
    rows: int
    sha256: str
    bytes: int
    written_at: str
    generator_version: str
    columns: tuple[str, ...]
    config_fingerprint: str = ""

    def to_json(self) -> bytes:
        """One JSON record on one line: Athena's JSON SerDes read a record per line and reject
        an indented manifest (HIVE_CURSOR_ERROR), while DuckDB would accept either."""
        payload = {"table": self.table, "dt": self.dt, "rows": self.rows, "sha256": self.sha256,
                   "bytes": self.bytes, "written_at": self.written_at,
                   "generator_version": self.generator_version, "columns": list(self.columns),
                   "config_fingerprint": self.config_fingerprint}
        return (json.dumps(payload, separators=(",", ":")) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes, where: str) -> "Manifest":
        try:
            raw = json.loads(data)
            manifest = cls(table=str(raw["table"]), dt=str(raw["dt"]), rows=int(raw["rows"]),
                           sha256=str(raw["sha256"]), bytes=int(raw.get("bytes", -1)),
                           written_at=str(raw["written_at"]),
                           generator_version=str(raw["generator_version"]),
                           columns=tuple(raw.get("columns", ())),
                           config_fingerprint=str(raw.get("config_fingerprint", "")))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CorruptPartitionError(f"manifest {where} is not a valid manifest: {exc}") from exc
        if len(manifest.sha256) != 64:
            raise CorruptPartitionError(f"manifest {where} is not a valid manifest: bad sha256")
        return manifest


def _parse_or_none(lake: Lake, table: str, day: date, data: bytes | None) -> Manifest | None:
    """A manifest that is missing, does not parse or names another partition is no proof:
    its partition is incomplete (readers skip it, the next ingest re-lands it)."""
    if data is None:
        return None
    where = lake.url(layout.manifest_file(table, day))
    try:
        manifest = Manifest.from_json(data, where)
    except CorruptPartitionError as exc:
        log.warning("%s; the partition counts as incomplete and is re-landed by the next ingest",
                    exc)
        return None
    if manifest.table != table or manifest.dt != day.isoformat():
        log.warning("manifest %s names %s/dt=%s; the partition counts as incomplete", where,
                    manifest.table, manifest.dt)
        return None
    return manifest


def read_manifest(lake: Lake, table: str, day: date) -> Manifest | None:
    """The manifest of a partition, or None when the partition is not complete (no manifest,
    or one that does not parse)."""
    relative = layout.manifest_file(table, day)
    try:
        data = lake.read_bytes(relative)
    except FileNotFoundError:
        return None
    return _parse_or_none(lake, table, day, data)


def read_manifests(lake: Lake, table: str,
                   days: Iterable[date] | None = None) -> dict[date, Manifest]:
    """The manifests of the complete partitions of ``table``: of every day (one listing), or of
    the given days only. Read in one batch (concurrent GETs on S3)."""
    if days is None:
        wanted = []
        for relative in lake.find(layout.manifest_folder(table)):
            parts = relative.rsplit("/", 2)
            if len(parts) == 3 and parts[2] == "manifest.json":
                day = layout.parse_partition(parts[1])
                if day is not None:
                    wanted.append(day)
    else:
        wanted = sorted(set(days))
    paths = {layout.manifest_file(table, d): d for d in wanted}
    found = lake.read_many(list(paths))
    manifests = {}
    for relative, day in paths.items():
        manifest = _parse_or_none(lake, table, day, found.get(relative))
        if manifest is not None:
            manifests[day] = manifest
    return manifests


def complete_days(lake: Lake, table: str, days: Iterable[date] | None = None) -> set[date]:
    """Days whose partition of ``table`` is complete (has a manifest that parses), among
    ``days`` when given."""
    return set(read_manifests(lake, table, days))


def _stored_digest(lake: Lake, table: str, day: date) -> str | None:
    try:
        return lake.digest(layout.fact_file(table, day))[0]
    except FileNotFoundError:
        return None


def commit_partition(lake: Lake, table: str, day: date,
                     data: bytes | Sequence[bytes | memoryview], rows: int,
                     columns: tuple[str, ...], generator_version: str,
                     overwrite: bool = False, config_fingerprint: str = "") -> Outcome:
    """Land one fact partition: data first, manifest last.

    A complete partition is kept as it is. With ``overwrite`` it is kept only when the STORED
    file still hashes to its manifest and the manifest names these very bytes; a tampered or
    missing file, or a manifest describing other bytes, is landed again (the manifest removed
    first, so a crash in between leaves the partition incomplete, never wrongly complete).
    ``data``: the file's bytes, or its pieces in order (``Lake.write_bytes``).
    """
    pieces = as_pieces(data)
    hashed = hashlib.sha256()
    for piece in pieces:
        hashed.update(piece)
    digest, size = hashed.hexdigest(), sum(len(piece) for piece in pieces)
    manifest_path = layout.manifest_file(table, day)
    existing = read_manifest(lake, table, day)
    if existing is not None:
        if not overwrite:
            return "skipped"
        stored = _stored_digest(lake, table, day)
        if (stored == existing.sha256 == digest and existing.bytes == size
                and existing.config_fingerprint == config_fingerprint):
            return "skipped"
        if stored != existing.sha256:
            log.warning("%s is missing or does not match its manifest (sha256): re-landing it",
                        lake.url(layout.fact_file(table, day)))
    # Also clears a manifest that does not parse, so only the new one can ever prove the data.
    lake.remove(manifest_path)
    written_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    lake.write_bytes(layout.fact_file(table, day), pieces, metadata={
        "table": table, "dt": day.isoformat(), "rows": str(rows), "sha256": digest,
        "written-at": written_at})
    manifest = Manifest(table=table, dt=day.isoformat(), rows=rows, sha256=digest,
                        bytes=size, written_at=written_at,
                        generator_version=generator_version, columns=columns,
                        config_fingerprint=config_fingerprint)
    lake.write_bytes(manifest_path, manifest.to_json(),
                     metadata={"table": table, "dt": day.isoformat()})
    return "rewritten" if existing is not None else "written"


def _check_bytes(lake: Lake, table: str, day: date, manifest: Manifest,
                 expected_columns: tuple[str, ...]) -> None:
    """A stored partition checked against its manifest (sha256) and its header against the
    contract's columns, read in pieces (``Lake.digest``): nothing of it is kept."""
    relative = layout.fact_file(table, day)
    try:
        digest, first_line = lake.digest(relative)
    except FileNotFoundError:
        raise _missing(lake, relative) from None
    _raise_unless_matching(lake.url(relative), digest, first_line, manifest, expected_columns)


def _missing(lake: Lake, relative: str) -> CorruptPartitionError:
    return CorruptPartitionError(f"partition {lake.url(relative)} is missing but has a manifest")


def _raise_unless_matching(where: str, digest: str, first_line: bytes, manifest: Manifest,
                           expected_columns: tuple[str, ...]) -> None:
    if digest != manifest.sha256:
        raise CorruptPartitionError(f"partition {where} does not match its manifest (sha256)")
    found = tuple(c.strip().strip('"')
                  for c in first_line.decode("utf-8", "replace").split(","))
    if found[: len(expected_columns)] != expected_columns:
        raise CorruptPartitionError(
            f"partition {where} has drifted columns: expected {','.join(expected_columns)}, "
            f"found {','.join(found)}")


def verify_partition(lake: Lake, table: str, day: date,
                     expected_columns: tuple[str, ...]) -> bytes:
    """The bytes of a complete partition, checked against its manifest (sha256) and its header
    against the contract's columns; raises ``CorruptPartitionError`` naming the file otherwise."""
    manifest = read_manifest(lake, table, day)
    if manifest is None:
        raise CorruptPartitionError(
            f"partition {lake.url(layout.fact_file(table, day))} is not complete (no manifest)")
    relative = layout.fact_file(table, day)
    try:
        data = lake.read_bytes(relative)
    except FileNotFoundError:
        raise _missing(lake, relative) from None
    # The first line as a slice: ``split`` would copy the rest of the file too.
    end = data.find(b"\n")
    _raise_unless_matching(lake.url(relative), hashlib.sha256(data).hexdigest(),
                           data[: end if end >= 0 else len(data)], manifest, expected_columns)
    return data


def _stored_sizes(lake: Lake, table: str, days: Iterable[date]) -> dict[str, int]:
    """The stored size of each committed partition's data file (absent: missing). On S3 one
    listing of the table (a LIST returns a thousand sizes per call); locally one ``stat`` per
    file, no folder walked: fsspec's walk of a table's day folders cost ~0.15 s per table at
    900 days, the stats ~0.02 s."""
    if lake.is_s3:
        return lake.sizes(layout.fact_folder(table))
    sizes = {}
    for day in days:
        relative = layout.fact_file(table, day)
        try:
            sizes[relative] = os.stat(lake.url(relative)).st_size
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            raise LakeUnavailableError(f"cannot read {lake.url(relative)}: {exc.strerror}") from exc
    return sizes


# Partitions hashed at once by verify_lake. A full build hashes every partition (a year at
# scale 16: ~31 GB): reading is the cost (sha256 runs at ~1 GB/s here, the disk at ~160 MB/s),
# and hashlib and file reads release the GIL, so a second reader keeps the disk busy while
# the first hashes (and on S3 the GETs overlap). Two: each holds one partition in memory.
HASH_WORKERS = 2


def _size_problem(lake: Lake, table: str, committed: Mapping[date, Manifest],
                  sizes: Mapping[str, int]) -> CorruptPartitionError | None:
    """The first committed partition (in day order) whose data file is missing or has another
    size than its manifest records, as the error to raise; None when every size matches."""
    for day, manifest in sorted(committed.items()):
        relative = layout.fact_file(table, day)
        size = sizes.get(relative)
        if size is None:
            return _missing(lake, relative)
        if manifest.bytes >= 0 and size != manifest.bytes:
            return CorruptPartitionError(
                f"partition {lake.url(relative)} has {size:,} bytes but its manifest "
                f"records {manifest.bytes:,} (truncated or altered)")
    return None


def _raise_first_failure(checks: list[Future]) -> None:
    """Wait for the checks in the order they were submitted; the first one that failed raises
    (as checking them one by one would), whichever worker finished first."""
    for check in checks:
        check.result()


def verify_lake(lake: Lake, tables: Iterable[str] = FACT_TABLES,
                sha_days: Iterable[date] | Mapping[str, Iterable[date]] = (),
                columns: Mapping[str, tuple[str, ...]] = RAW_COLUMNS,
                manifests: Mapping[str, Mapping[date, Manifest]] | None = None,
                ) -> dict[str, dict[date, Manifest]]:
    """Check the raw zone before a transform reads it; returns the complete partitions'
    manifests per table (incomplete partitions, including unparsable manifests, are left out).

    Every complete partition: its data file exists with the size its manifest records (one
    ``stat`` per file locally, one listing with sizes per table on S3; no data read). The days in ``sha_days`` (the same days for
    every table, or a mapping table -> days): the sha256 of the stored bytes and the header's
    columns. The cost of a daily run stays flat as history grows; a same-size edit of an older
    day is caught once that day is in ``sha_days``. Days without a complete partition are
    skipped. Raises ``CorruptPartitionError`` naming the first bad file (tables in the given
    order, then sizes before contents, then days in order), as checking one file after the
    other would. ``manifests``: the tables' manifests when the caller read them already this
    run (they are not read again).

    The partitions to hash are read and hashed ``HASH_WORKERS`` at a time across every table
    (a daily run's day: the sales file on one worker, the other tables' on the other, while
    this thread checks the next table's sizes).
    """
    tables = list(tables)
    if isinstance(sha_days, Mapping):
        hashed = {t: set(sha_days.get(t, ())) for t in tables}
    else:
        every = set(sha_days)
        hashed = {t: every for t in tables}
    verified: dict[str, dict[date, Manifest]] = {}
    # Each task reads and hashes one partition in pieces and keeps nothing of it: a future holds
    # its result until the whole lake is checked (returning the bytes once kept every partition
    # of a full build in memory: the year at scale 16, ~27 GB of CSV, was killed at 24 GB).
    with ThreadPoolExecutor(HASH_WORKERS, thread_name_prefix="verify") as workers:
        checks: list[Future] = []  # in table order, then day order
        try:
            for table in tables:
                committed = (dict(manifests[table]) if manifests is not None and table in manifests
                             else read_manifests(lake, table))
                problem = _size_problem(lake, table, committed,
                                        _stored_sizes(lake, table, committed))
                if problem is not None:
                    _raise_first_failure(checks)  # an earlier table's bad file comes first
                    raise problem
                expected = tuple(columns[table])
                checks += [workers.submit(_check_bytes, lake, table, day, committed[day],
                                          expected)
                           for day in sorted(hashed[table] & set(committed))]
                verified[table] = committed
            _raise_first_failure(checks)
        finally:
            for check in checks:
                check.cancel()
    return verified


def read_partition(lake: Lake, table: str, day: date, expected_columns: tuple[str, ...]) -> pa.Table:
    """Read a complete, verified partition (all columns as text)."""
    data = verify_partition(lake, table, day, expected_columns)
    columns = data.split(b"\n", 1)[0].decode("utf-8", "replace").split(",")
    convert = pacsv.ConvertOptions(column_types={c.strip().strip('"'): pa.string() for c in columns})
    return pacsv.read_csv(io.BytesIO(data), convert_options=convert)
