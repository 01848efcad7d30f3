"""The readers' copy of the local warehouse: a serving DuckDB file that dashboards (Metabase),
notebooks and the executive summary open instead of the file dbt writes.

Why it exists: while any process holds a DuckDB file open, even read-only, no other process
can open it for writing ("Could not set lock on file"). Metabase's DuckDB driver keeps a
connection pool open, so a reader on the warehouse file would make the next ``kedro run`` fail.
Readers therefore never open the warehouse; after each validated run the writer publishes:

1. **A snapshot of the curated Parquet** of every mart under ``<serving dir>/snapshots/<id>/``
   (``<serving dir>`` is the serving file's path without its suffix). A whole-table mart is a
   hard link ``<id>/<model>/<model>.parquet``. A fact's day partitions are grouped by month:
   ``<id>/<model>/<YYYY-MM>`` is a symbolic link to an immutable folder
   ``<serving dir>/partitions/<model>/<YYYY-MM>/<version>/<column>=<day>/*.parquet`` of hard
   links, made once and shared by every later snapshot while that month's curated files stay
   the same files (same names, sizes and modification times). A daily publish so links only the
   files of the months that changed (usually the run's month), a few month links, and each
   whole-table file: its cost does not grow with history. ``<id>/snapshot.json`` records what
   the snapshot holds (each month's version, files and rows), so the next publish compares
   the curated zone with it instead of re-linking or re-counting what did not change. dbt
   replaces a curated file by writing a new file and renaming it over the old one, so a link
   keeps the published bytes while the next run writes: readers see only validated data and
   never a half-written folder. (Where the lake is on another file system, files are copied;
   an unchanged file is linked to the previous copy.)
2. **``<serving dir>/current``**, a symbolic link swapped atomically (``os.replace``) to the new
   snapshot. The serving file's views read through it, so a connection held open across runs
   (a Metabase pool) sees the new data on its next query.
3. **The serving file**, written whole under a temporary name and swapped in with
   ``os.replace``: schema ``marts`` holds one view per mart with the warehouse table's column
   names, order and types; small relations readers query that have no curated copy (the defect
   ledger, ``staging.stg_defects``) are copied in as tables. Marts written to ``curated/`` by
   Python rather than dbt (the forecast marts, ``forecast_marts.FORECAST_MARTS``) have no
   warehouse table: their views take the columns fixed for them, and while none was written
   yet (a fresh lake, too little history) a typed view with no rows, so dashboards and the
   report still find the table. A reader holding the old file keeps its (unlinked) inode; the
   writer never opens a file a reader holds.

Studies run apart from the daily run (the Favorita study, ``retailops.favorita``) publish their
own Parquet marts beside these, one schema each (``published_parquet``: ``{schema: {view:
file}}``, e.g. ``favorita.daily_sales_store_family``): each existing file is snapshotted the same
way and served as a view; a file not written yet is left out.

Snapshots older than the last ``keep_snapshots`` are deleted, and with them the month folders no
remaining snapshot refers to. Publishing checks that every view counts the same rows as its
warehouse table before anything is swapped in (a month's rows are counted when its folder is
made and recorded; an unchanged month keeps its count), so a curated copy out of step with the
warehouse is refused and the previous publication stays in place.

On AWS readers use Athena over the curated zone, which never locks anything: nothing is
published there (the catalog's serving dataset is a no-op with ``engine: athena``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from retailops.errors import LakeUnavailableError, RetailOpsError
from retailops.warehouse.engines import DuckDBSession, DuckDBWarehouse
from retailops.warehouse.forecast_marts import MARTS_BY_NAME

log = logging.getLogger(__name__)

MARTS_SCHEMA = "marts"
# The serving file's own record of what it holds and when it was published.
PUBLICATION_TABLE = "main.publication"


class PublishError(RetailOpsError):
    """The marts cannot be published to the readers' serving file."""


@dataclass(frozen=True)
class Publication:
    """What one publish wrote: the serving file, the snapshot its views read, what it holds."""

    serving_path: str
    snapshot: str
    views: tuple[str, ...]
    copied: tuple[str, ...]
    rows: dict[str, int] = field(default_factory=dict)
    published_at: str = ""
    # Curated files linked (or copied) into the snapshot: the changed months and whole tables.
    files_linked: int = 0
    # Months of monthly relations exported again (the others are shared with the last snapshot).
    months_exported: int = 0


def serving_dir(serving_path: str | Path) -> Path:
    """The folder beside the serving file that holds its Parquet snapshots."""
    path = Path(serving_path)
    return path.with_name(path.stem)


@dataclass(frozen=True)
class ServingWarehouse(DuckDBWarehouse):
    """The serving file through the warehouse interface: every connection is read-only and
    never touches the file dbt writes."""

    @contextmanager
    def session(self) -> Iterator[DuckDBSession]:
        if not Path(self.path).is_file():
            raise LakeUnavailableError(
                f"the serving warehouse {self.path} does not exist yet: run `kedro run` "
                "(or `kedro run --pipelines publish` after a transform and validate)")
        with super().session() as connected:
            yield connected


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _link_or_copy(source: Path, target: Path, previous: Path | None) -> None:
    """Hard-link ``source`` to ``target``; across file systems, reuse the previous snapshot's
    copy when the file is unchanged (same size and modification time), else copy it."""
    try:
        os.link(source, target)
        return
    except OSError:
        pass
    if previous is not None and previous.is_file():
        was, now = previous.stat(), source.stat()
        if (was.st_size, was.st_mtime_ns) == (now.st_size, now.st_mtime_ns):
            os.link(previous, target)
            return
    shutil.copy2(source, target)


# What each snapshot records about itself, and where the month folders of facts live.
SNAPSHOT_RECORD = "snapshot.json"
PARTITION_STORE = "partitions"
# A monthly relation's rows without a month (the dimension ledger): written by every publish.
UNPARTITIONED = "undated"
_MONTH = re.compile(r"\d{4}-\d{2}")
# A curated file's identity: (size, modification time in ns), the test `_link_or_copy` uses for
# an unchanged file too. dbt never rewrites a curated file in place: a rebuilt day is a new file
# with a new modification time. Not the inode: a copy of the lake and serving folders that keeps
# modification times (cp -a, a restored backup) still reuses every month.
_Identity = list[int]


def _identity(path: str | Path) -> _Identity:
    found = os.stat(path)
    return [found.st_size, found.st_mtime_ns]


def _month(partition: str) -> str:
    """The month folder a hive partition belongs to (``sale_date=2024-07-01`` -> ``2024-07``);
    partitions whose value is not a date share one folder."""
    value = partition.partition("=")[2]
    return value[:7] if _MONTH.match(value) else "other"


def _curated_months(source: Path, suffix: str = ".parquet") -> dict[str, dict[str, _Identity]]:
    """A partitioned folder's files by month: ``{month: {"<col>=<value>/<file>": identity}}``
    (one listing per partition, no file read): a mart's curated Parquet, or the lake files a
    monthly relation reads (``suffix`` ``.csv`` for the defect ledger)."""
    months: dict[str, dict[str, _Identity]] = {}
    with os.scandir(source) as partitions:
        for partition in partitions:
            if "=" not in partition.name or not partition.is_dir():
                continue
            with os.scandir(partition.path) as files:
                for file in files:
                    if file.name.endswith(suffix) and file.is_file():
                        months.setdefault(_month(partition.name), {})[
                            f"{partition.name}/{file.name}"] = _identity(file.path)
    return months


def snapshot_file(snapshot: Path, relative: str | Path) -> Path:
    """Where a snapshot serves a curated file (``relative`` to ``curated/``, e.g.
    ``fct_daily_sales/sale_date=2024-07-01/data_0.parquet``): under its month's link for a
    partition, as it is for a whole-table file."""
    parts = Path(relative).parts
    if len(parts) == 3 and "=" in parts[1]:
        return snapshot / parts[0] / _month(parts[1]) / parts[1] / parts[2]
    return snapshot.joinpath(*parts)


def _read_record(snapshot: Path | None) -> dict:
    """What a snapshot holds (``{}`` for none, or one from before snapshots kept a record)."""
    if snapshot is None:
        return {}
    try:
        return json.loads((snapshot / SNAPSHOT_RECORD).read_text())
    except (OSError, ValueError):
        return {}


class _Snapshotter:
    """Makes one snapshot from the curated zone, reusing what the previous snapshot holds."""

    def __init__(self, folder: Path, snapshot: Path, previous: Path | None):
        self.store = folder / PARTITION_STORE
        self.snapshot, self.previous = snapshot, previous
        self.version = snapshot.name
        self.before = _read_record(previous).get("marts", {})
        self.record: dict[str, dict] = {}
        self.created: list[Path] = []  # month folders made by this publish (removed on failure)
        self.linked = 0
        self.months_exported = 0  # months of monthly relations written (not shared) this time

    def _link(self, source: Path, target: Path, previous: Path | None) -> None:
        _link_or_copy(source, target, previous)
        self.linked += 1

    def mart(self, curated: Path, model: str) -> None:
        """Snapshot one mart's curated folder (nothing when it has no Parquet)."""
        source = curated / model
        if not source.is_dir():
            return
        whole = source / f"{model}.parquet"
        if whole.is_file():
            target = self.snapshot / model / whole.name
            target.parent.mkdir(parents=True, exist_ok=True)
            self._link(whole, target, self.previous / model / whole.name
                       if self.previous else None)
            self.record[model] = {"file": whole.name}
            return
        months = _curated_months(source)
        if not months:
            return
        had = self.before.get(model, {}).get("months", {})
        (self.snapshot / model).mkdir(parents=True, exist_ok=True)
        recorded = {}
        for month, files in sorted(months.items()):
            was = had.get(month)
            folder = self.store / model / month
            if was and was.get("files") == files and (folder / was["version"]).is_dir():
                version, rows = was["version"], was.get("rows")
            else:
                version, rows = self.version, None
                self._make_month(folder / version, source, files,
                                 folder / was["version"] if was else None)
            os.symlink(f"../../../{PARTITION_STORE}/{model}/{month}/{version}",
                       self.snapshot / model / month)
            recorded[month] = {"version": version, "rows": rows, "files": files}
        self.record[model] = {"months": recorded}

    def _make_month(self, target: Path, source: Path, files: Mapping[str, _Identity],
                    previous: Path | None) -> None:
        self.created.append(target)
        for relative in sorted(files):
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            self._link(source / relative, target / relative,
                       previous / relative if previous else None)

    def monthly(self, con, alias: str, relation: str, by: str, sources: Path,
                suffix: str) -> int:
        """Snapshot a relation that has no curated Parquet and grows with history (the defect
        ledger, read from one CSV per day) as one Parquet file per month of ``by``, the hive
        partition value of the lake files it is built from (``sources``: folders
        ``<col>=<day>/``). A month is exported again only when its files (names, sizes,
        modification times) or the relation's columns (and a view's SQL) changed since the
        previous snapshot; the export's filter on ``by`` reads only that month. Rows whose
        ``by`` is null (the dimension ledger, a few rows) are exported every time. Returns the
        rows the snapshot holds. Not seen: a change of a table's model that keeps its columns
        and its source files (delete ``<serving dir>/partitions/<relation>`` to re-export)."""
        schema, name = _split(relation)
        columns = _columns(con, alias, schema, name)
        if not columns:
            raise PublishError(f"monthly relation {relation} is not in the warehouse "
                               "(publish.monthly_relations)")
        if by not in {c for c, _ in columns}:
            raise PublishError(f"monthly relation {relation} has no column {by!r} "
                               "(publish.monthly_relations)")
        views = con.execute("select sql from duckdb_views() where database_name = ? and "
                            "schema_name = ? and view_name = ?", [alias, schema, name]).fetchall()
        definition = hashlib.sha256(json.dumps([views[0][0] if views else "", columns])
                                    .encode()).hexdigest()
        qualified = f"{_quote(alias)}.{_quote(schema)}.{_quote(name)}"
        was = self.before.get(relation, {})
        had = was.get("months", {}) if was.get("definition") == definition else {}
        sources_now = _curated_months(sources, suffix) if sources.is_dir() else {}
        (self.snapshot / relation).mkdir(parents=True)
        recorded = {}
        for month, files in sorted(sources_now.items()):
            held = had.get(month)
            folder = self.store / relation / month
            if held and held.get("files") == files and (folder / held["version"]).is_dir():
                version, rows = held["version"], held["rows"]
            else:
                version = self.version
                (folder / version).mkdir(parents=True)
                self.created.append(folder / version)
                year, number = int(month[:4]), int(month[5:7])
                after = f"{year + number // 12:04d}-{number % 12 + 1:02d}-01"
                ((rows,),) = con.execute(
                    f"copy (select * from {qualified} where {_quote(by)} >= '{month}-01' and "
                    f"{_quote(by)} < '{after}') to {_literal(str(folder / version / 'data.parquet'))}"
                    " (format parquet)").fetchall()
                self.months_exported += 1
            os.symlink(f"../../../{PARTITION_STORE}/{relation}/{month}/{version}",
                       self.snapshot / relation / month)
            recorded[month] = {"version": version, "rows": int(rows), "files": files}
        (self.snapshot / relation / UNPARTITIONED).mkdir()
        ((undated,),) = con.execute(
            f"copy (select * from {qualified} where {_quote(by)} is null) to "
            f"{_literal(str(self.snapshot / relation / UNPARTITIONED / 'data.parquet'))} "
            "(format parquet)").fetchall()
        self.record[relation] = {"months": recorded, "definition": definition,
                                 "undated_rows": int(undated)}
        return int(undated) + sum(m["rows"] for m in recorded.values())

    def count_new_months(self, con) -> None:
        """Count the rows of each month folder made now (the others keep their count)."""
        for model, entry in self.record.items():
            for month, held in entry.get("months", {}).items():
                if held["rows"] is None:
                    folder = self.snapshot / model / month
                    files = ", ".join(_literal(str(folder / f)) for f in sorted(held["files"]))
                    ((count,),) = con.execute(
                        f"select count(*) from read_parquet([{files}])").fetchall()
                    held["rows"] = int(count)

    def probe(self, model: str) -> str | None:
        """A ``read_parquet`` over the files of the months made now (or of the newest month):
        enough to check the columns and types, without listing every partition of history.
        None for a whole-table file."""
        months = self.record.get(model, {}).get("months")
        if not months:
            return None
        made = [m for m, held in months.items() if held["version"] == self.version]
        folder = self.snapshot / model
        files = [str(folder / m / f) for m in (made or [max(months)])
                 for f in sorted(months[m]["files"])]
        return (f"read_parquet([{', '.join(_literal(f) for f in files)}], "
                "hive_partitioning = true)")

    def rows(self, model: str) -> int | None:
        """The rows a partitioned mart's snapshot holds (None for a whole-table file)."""
        months = self.record.get(model, {}).get("months")
        return None if months is None else sum(m["rows"] for m in months.values())

    def write_record(self) -> None:
        body = json.dumps({"marts": self.record}, separators=(",", ":"), sort_keys=True)
        (self.snapshot / SNAPSHOT_RECORD).write_text(body)

    def discard(self) -> None:
        """Remove what a failed publish made (the month folders first: nothing refers to them)."""
        for folder in self.created:
            shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(self.snapshot, ignore_errors=True)


def _parquet_source(snapshot: Path, model: str, root: Path) -> str | None:
    """The ``read_parquet`` call for a mart's files in ``snapshot``, with paths under ``root``
    (the snapshot itself to check it, ``current`` for the readers' views): one file for whole
    tables, hive partitions (below the month links) for facts."""
    if (snapshot / model / f"{model}.parquet").is_file():
        return f"read_parquet({_literal(str(root / model / f'{model}.parquet'))})"
    if (snapshot / model).is_dir() and any((snapshot / model).iterdir()):
        pattern = str(root / model / "*" / "*=*" / "*.parquet")
        return f"read_parquet({_literal(pattern)}, hive_partitioning = true)"
    return None


def _swap_symlink(link: Path, target: str) -> None:
    staged = link.with_name(f".{link.name}.tmp-{os.getpid()}")
    if staged.is_symlink() or staged.exists():
        staged.unlink()
    os.symlink(target, staged)
    os.replace(staged, link)


def _prune(folder: Path, keep: set[str], keep_count: int) -> None:
    """Delete old snapshots, keeping the newest ``keep_count`` and those named in ``keep``, then
    the month folders no remaining snapshot refers to. The previous snapshot stays so a query
    that listed its files just before the swap can finish."""
    snapshots = folder / "snapshots"
    names = sorted((p.name for p in snapshots.iterdir() if p.is_dir()), reverse=True)
    for name in names[max(keep_count, 1):]:
        if name not in keep:
            shutil.rmtree(snapshots / name, ignore_errors=True)
    referenced = {(model, month, held["version"])
                  for snapshot in snapshots.iterdir() if snapshot.is_dir()
                  for model, entry in _read_record(snapshot).get("marts", {}).items()
                  for month, held in entry.get("months", {}).items()}
    store = folder / PARTITION_STORE
    if not store.is_dir():
        return
    for model in store.iterdir():
        for month in model.iterdir():
            for version in month.iterdir():
                if (model.name, month.name, version.name) not in referenced:
                    shutil.rmtree(version, ignore_errors=True)
            if not any(month.iterdir()):
                month.rmdir()
        if not any(model.iterdir()):
            model.rmdir()


def _columns(con, catalog: str, schema: str, table: str) -> list[tuple[str, str]]:
    return con.execute(
        "select column_name, data_type from duckdb_columns() "
        "where database_name = ? and schema_name = ? and table_name = ? "
        "order by column_index", [catalog, schema, table]).fetchall()


def _split(relation: str) -> tuple[str, str]:
    schema, _, name = relation.partition(".")
    if not name:
        raise PublishError(f"copied relation {relation!r} must be written schema.name "
                           "(publish.copied_relations)")
    return schema, name


def _snapshot_studies(con, published: Mapping[str, Mapping[str, str]], snapshot: Path,
                      previous: Path | None) -> list[tuple[str, int]]:
    """Link each study's existing Parquet into ``snapshot/<schema>/<view>.parquet``; return
    ``[(schema.view, rows)]``. A schema of the warehouse's own is refused: a study must never
    shadow a mart."""
    import duckdb

    served = []
    for schema, views in sorted(published.items()):
        if schema in {MARTS_SCHEMA, "main", "staging"}:
            raise PublishError(f"publish.published_parquet: schema {schema!r} is the "
                               "warehouse's own; give the study a schema of its own")
        for name, file in sorted((views or {}).items()):
            source = Path(str(file)).resolve()
            if not source.is_file():
                log.info("Not publishing %s.%s: %s does not exist (run the study first)",
                         schema, name, source)
                continue
            target = snapshot / schema / f"{name}.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            _link_or_copy(source, target,
                          previous / schema / f"{name}.parquet" if previous else None)
            try:
                ((count,),) = con.execute(
                    f"select count(*) from read_parquet({_literal(str(target))})").fetchall()
            except duckdb.Error as error:
                raise PublishError(f"{schema}.{name}: {source} is not readable Parquet: "
                                   f"{str(error).strip().splitlines()[0]}") from error
            served.append((f"{schema}.{name}", int(count)))
    return served


def publish_serving(warehouse_path: str | Path, serving_path: str | Path, lake_root: str | Path,
                    copied_relations: Sequence[str] = ("staging.stg_defects",),
                    keep_snapshots: int = 2,
                    curated_tables: Sequence[str] = (),
                    published_parquet: Mapping[str, Mapping[str, str]] | None = None,
                    monthly_relations: Mapping[str, Mapping[str, str]] | None = None,
                    ) -> Publication:
    """Publish the warehouse's marts to the serving file (see the module docstring).

    Reads the warehouse read-only, in the writer's own process, after the run's last write.
    Nothing a reader uses changes until every view has been checked; a failure leaves the
    previous publication whole. ``curated_tables``: marts with curated Parquet and no
    warehouse table (names of ``forecast_marts.FORECAST_MARTS``). ``published_parquet``:
    ``{schema: {view: Parquet file}}`` of studies published beside the marts.
    ``monthly_relations``: ``{schema.name: {"by": column, "lake_folder": folder, "suffix":
    ".csv"}}``, relations without curated Parquet that grow with history (the defect ledger),
    served as month Parquet files exported only when their lake files changed
    (``_Snapshotter.monthly``) instead of being copied whole like ``copied_relations``.
    """
    import duckdb

    warehouse_path, serving_path = Path(warehouse_path).resolve(), Path(serving_path).resolve()
    curated = Path(str(lake_root)).resolve() / "curated"
    if not warehouse_path.is_file():
        raise PublishError(f"nothing to publish: the warehouse {warehouse_path} does not exist "
                           "(run the transform stage first)")
    if serving_path == warehouse_path:
        raise PublishError(f"the serving file must not be the warehouse itself ({serving_path})")
    folder = serving_dir(serving_path)
    snapshots, current = folder / "snapshots", folder / "current"
    snapshots.mkdir(parents=True, exist_ok=True)
    now = datetime.now(timezone.utc)
    snapshot_id = now.strftime("%Y%m%dT%H%M%S%fZ")
    snapshot = snapshots / snapshot_id
    previous = current.resolve() if current.is_symlink() and current.resolve().is_dir() else None
    staged = serving_path.with_name(f".{serving_path.name}.tmp-{os.getpid()}")
    # What a publish killed midway left behind (one writer at a time: dbt holds the warehouse).
    for leftover in [*serving_path.parent.glob(f".{serving_path.name}.tmp-*"),
                     *folder.glob(".current.tmp-*")]:
        leftover.unlink(missing_ok=True)
    # The warehouse is attached under its own catalog name: dbt's views name their tables
    # catalog-qualified ("retailops"."staging"...), so another alias would break them.
    alias = warehouse_path.stem
    try:
        con = duckdb.connect(str(staged))
    except duckdb.Error as error:
        raise PublishError(f"could not write the serving file {staged}: "
                           f"{str(error).strip().splitlines()[0]}") from error
    swapped = False
    snap = _Snapshotter(folder, snapshot, previous)
    try:
        con.execute(f"attach {_literal(str(warehouse_path))} as {_quote(alias)} (read_only)")
        models = [name for (name,) in con.execute(
            "select table_name from duckdb_tables() where database_name = ? and schema_name = ? "
            "order by table_name", [alias, MARTS_SCHEMA]).fetchall()]
        if not models:
            raise PublishError(f"nothing to publish: the warehouse {warehouse_path} has no "
                               f"tables in schema {MARTS_SCHEMA} (run the transform stage first)")
        unknown = sorted(set(curated_tables) - set(MARTS_BY_NAME))
        if unknown:
            raise PublishError(f"publish.curated_tables: {', '.join(unknown)} not a known "
                               f"curated mart ({', '.join(sorted(MARTS_BY_NAME))})")
        extra = [name for name in curated_tables if name not in models]
        for model in [*models, *extra]:
            snap.mart(curated, model)
        snap.count_new_months(con)
        studies = _snapshot_studies(con, published_parquet or {}, snapshot, previous)
        selects, rows = {}, {}
        for model in models:
            source = _parquet_source(snapshot, model, snapshot)
            if source is None:
                raise PublishError(f"mart {MARTS_SCHEMA}.{model} has no curated Parquet under "
                                   f"{curated / model}: rebuild it "
                                   "(kedro run --pipelines transform)")
            columns = _columns(con, alias, MARTS_SCHEMA, model)
            probe = snap.probe(model) or source
            stored = {name: kind for name, kind, *_ in
                      con.execute(f"describe select * from {probe}").fetchall()}
            # Cast only what Parquet stores differently: a cast on the hive partition column
            # would stop DuckDB pruning the files by date (a week's query reading every day).
            selects[model] = ", ".join(
                _quote(c) if stored.get(c) == t else f"cast({_quote(c)} as {t}) as {_quote(c)}"
                for c, t in columns)
            # fetchall: DuckDB 2 keeps a partly fetched result open and refuses other work.
            served = snap.rows(model)
            if served is None:
                ((served,),) = con.execute(f"select count(*) from {source}").fetchall()
            ((built,),) = con.execute(
                f"select count(*) from {_quote(alias)}.{MARTS_SCHEMA}.{_quote(model)}").fetchall()
            if served != built:
                raise PublishError(
                    f"mart {MARTS_SCHEMA}.{model}: the curated Parquet under {curated / model} "
                    f"holds {served} rows, the warehouse {built}; not published (rebuild it "
                    "with a full `kedro run --pipelines transform`)")
            con.execute(f"select {selects[model]} from {probe} limit 0").fetchall()
            rows[model] = int(built)
        for name in extra:
            mart = MARTS_BY_NAME[name]
            source = _parquet_source(snapshot, name, snapshot)
            if source is None:
                selects[name] = None
                rows[name] = 0
                continue
            selects[name] = ", ".join(f"cast({_quote(c)} as {t}) as {_quote(c)}"
                                      for c, t in mart.columns)
            served = snap.rows(name)
            if served is None:
                ((served,),) = con.execute(f"select count(*) from {source}").fetchall()
            try:
                con.execute(f"select {selects[name]} from {snap.probe(name) or source} "
                            "limit 0").fetchall()
            except duckdb.Error as error:
                raise PublishError(f"curated mart {name} under {curated / name} does not have "
                                   f"the columns readers expect: "
                                   f"{str(error).strip().splitlines()[0]}") from error
            rows[name] = int(served)
        monthly = {}
        for relation, spec in sorted((monthly_relations or {}).items()):
            if relation in copied_relations:
                raise PublishError(f"{relation} is both copied and monthly (publish parameters)")
            if not isinstance(spec, Mapping) or not spec.get("by") or not spec.get("lake_folder"):
                raise PublishError(f"publish.monthly_relations: {relation} needs `by` (the "
                                   "partition column) and `lake_folder` (the files it reads)")
            rows[relation] = snap.monthly(
                con, alias, relation, str(spec["by"]),
                Path(str(lake_root)).resolve() / str(spec["lake_folder"]),
                str(spec.get("suffix", ".csv")))
            monthly[relation] = _literal(str(current / relation / "*" / "*.parquet"))
        copied = []
        for relation in copied_relations:
            schema, name = _split(relation)
            if not _columns(con, alias, schema, name):
                raise PublishError(f"copied relation {relation} is not in the warehouse "
                                   f"{warehouse_path} (publish.copied_relations)")
            con.execute(f"create schema if not exists {_quote(schema)}")
            con.execute(f"create table {_quote(schema)}.{_quote(name)} as select * from "
                        f"{_quote(alias)}.{_quote(schema)}.{_quote(name)}")
            ((count,),) = con.execute(
                f"select count(*) from {_quote(schema)}.{_quote(name)}").fetchall()
            rows[relation] = int(count)
            copied.append(relation)
        con.execute(f"detach {_quote(alias)}")
        snap.write_record()
        # Everything is checked: point `current` at the new snapshot. DuckDB binds a view when
        # it is created, so the views can only be created once `current` holds their files.
        _swap_symlink(current, f"snapshots/{snapshot_id}")
        swapped = True
        con.execute(f"create schema if not exists {MARTS_SCHEMA}")
        for model in models:
            con.execute(f"create view {MARTS_SCHEMA}.{_quote(model)} as "
                        f"select {selects[model]} from {_parquet_source(snapshot, model, current)}")
        for name in extra:
            body = (MARTS_BY_NAME[name].empty_select() if selects[name] is None else
                    f"select {selects[name]} from {_parquet_source(snapshot, name, current)}")
            con.execute(f"create view {MARTS_SCHEMA}.{_quote(name)} as {body}")
        for relation, pattern in monthly.items():
            schema, name = _split(relation)
            con.execute(f"create schema if not exists {_quote(schema)}")
            con.execute(f"create view {_quote(schema)}.{_quote(name)} as select * from "
                        f"read_parquet({pattern}, hive_partitioning = false)")
        for view, _ in studies:
            schema, name = _split(view)
            con.execute(f"create schema if not exists {_quote(schema)}")
            con.execute(f"create view {_quote(schema)}.{_quote(name)} as select * from read_parquet("
                        f"{_literal(str(current / schema / f'{name}.parquet'))})")
        con.execute(f"create table {PUBLICATION_TABLE} (published_at timestamp with time zone, "
                    "snapshot varchar, relation varchar, kind varchar, row_count bigint)")
        con.executemany(f"insert into {PUBLICATION_TABLE} values (?, ?, ?, ?, ?)",
                        [(now, snapshot_id, f"{MARTS_SCHEMA}.{m}", "view", rows[m])
                         for m in [*models, *extra]]
                        + [(now, snapshot_id, v, "view", n) for v, n in studies]
                        + [(now, snapshot_id, r, "view", rows[r]) for r in monthly]
                        + [(now, snapshot_id, r, "table", rows[r]) for r in copied])
        con.execute("checkpoint")
    except Exception as error:
        con.close()
        staged.unlink(missing_ok=True)
        Path(f"{staged}.wal").unlink(missing_ok=True)
        if swapped:  # readers go back to what the serving file they hold was published with
            if previous is not None:
                _swap_symlink(current, f"snapshots/{previous.name}")
            else:
                current.unlink(missing_ok=True)
        snap.discard()
        if isinstance(error, duckdb.Error):  # e.g. another process writing the warehouse
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise PublishError(f"could not publish {warehouse_path} to {serving_path}: "
                               f"{first_line}") from error
        raise
    con.close()
    os.replace(staged, serving_path)
    _prune(folder, keep={snapshot_id, previous.name if previous else ""},
           keep_count=keep_snapshots)
    log.info("Published %d mart view(s), %d monthly relation(s) and %d table(s) to %s "
             "(snapshot %s, %d file(s) linked, %d month(s) exported)", len(models), len(monthly),
             len(copied), serving_path, snapshot_id, snap.linked, snap.months_exported)
    return Publication(serving_path=str(serving_path), snapshot=snapshot_id,
                       views=tuple(f"{MARTS_SCHEMA}.{m}" for m in [*models, *extra])
                       + tuple(v for v, _ in studies) + tuple(monthly),
                       copied=tuple(copied),
                       rows={k: rows[k] for k in sorted(rows)} | dict(studies),
                       published_at=now.isoformat(), files_linked=snap.linked,
                       months_exported=snap.months_exported)
