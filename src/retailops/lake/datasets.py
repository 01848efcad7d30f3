"""Kedro datasets over the lake: the catalog's way to read and write the raw zone.

Readers, in kedro-datasets' own terms:

- ``CompletePartitionsDataset`` (``raw_sales``, ``raw_inventory``, ``raw_shipments``,
  ``raw_promotions``) is a
  kedro-datasets ``PartitionedDataset`` of a fact table's CSV partitions that lists only the
  complete ones (a manifest under ``metadata/manifests/<table>/dt=.../``), keyed ``dt=YYYY-MM-DD``:
  ``catalog.load("raw_sales")["dt=2024-07-01"]()`` is that day's DataFrame. The dimensions are
  plain ``pandas.CSVDataset`` entries in the catalog.

Writers and handles of the commit protocol (the ingest pipeline's outputs):

- ``LakeDataset`` loads a ``Lake`` handle (root + credentials) for nodes that plan work.
- ``RawDimensionsDataset`` saves the dimension tables.
- ``RawDaysDataset`` saves simulated days one at a time under the commit protocol (the ingest
  node is a generator, so a year-long backfill never sits in memory) and loads the raw zone's
  completeness: the complete days of each fact table (and the Mondays of the promotion plan).
- ``RawPromotionsDataset`` saves the Mondays' promotion plans under the same protocol.
- ``RunReportDataset`` keeps the run reports under ``metadata/``.

Every one of them takes the lake the way kedro-datasets take a location: ``path`` (a folder or
an ``s3://`` URL) plus ``credentials`` and ``fs_args`` for fsspec. Kedro anchors a relative
``path`` (or ``filepath``) of a catalog entry at the project root before the dataset is built,
so ``data/lake`` is the same lake from ``notebooks/``, from the project root and under
``kedro jupyter``; a custom key such as ``lake_root`` would resolve against the working directory.
"""

from __future__ import annotations

import json
import logging
import posixpath
from datetime import date
from typing import Any, Callable, TypeVar

from kedro.io import AbstractDataset, DatasetError
from kedro.io.core import get_protocol_and_path
from kedro_datasets.partitions import PartitionedDataset

from retailops.errors import LakeUnavailableError
from retailops.lake import layout, manifest_index
from retailops.lake.landing import (
    PROMOTIONS,
    DayLanding,
    PlanLanding,
    finish_landing,
    land_day,
    land_dimensions,
    land_promotions,
)
from retailops.lake.partitions import complete_days
from retailops.lake.storage import Lake
from retailops.simulation import DIMENSION_TABLES, FACT_TABLES, WEEKLY_TABLES, DimensionBatch

# Raw tables partitioned by dt: the daily facts and the weekly promotion plan.
PARTITIONED_TABLES = FACT_TABLES + WEEKLY_TABLES

log = logging.getLogger(__name__)

_DI = TypeVar("_DI")
_DO = TypeVar("_DO")


def _open_lake(root: str, credentials: dict[str, Any] | None,
               fs_args: dict[str, Any] | None) -> Lake:
    """The lake as kedro-datasets open a location: credentials and fs_args go to fsspec."""
    return Lake(root, {**(credentials or {}), **(fs_args or {})})


class _LakeBacked(AbstractDataset[_DI, _DO]):
    """A dataset over the whole lake root (``path``), opened lazily."""

    def __init__(self, *, path: str, credentials: dict[str, Any] | None = None,
                 fs_args: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None):
        self._path = path.rstrip("/")
        self._credentials = dict(credentials or {})
        self._fs_args = dict(fs_args or {})
        self.metadata = metadata
        self._lake: Lake | None = None

    @property
    def lake(self) -> Lake:
        if self._lake is None:
            self._lake = _open_lake(self._path, self._credentials, self._fs_args)
        return self._lake

    def _describe(self) -> dict[str, Any]:
        # Credentials are left out on purpose: the description ends up in logs and kedro-viz.
        return {"path": self._path, "protocol": get_protocol_and_path(self._path)[0]}

    def _exists(self) -> bool:
        return self.lake.exists("")


class LakeDataset(_LakeBacked[None, Lake]):
    """Loads a handle on the lake root, checked to be writable."""

    def load(self) -> Lake:
        self.lake.check_writable()
        return self.lake

    def save(self, data: None) -> None:
        raise DatasetError(f"the lake handle at {self._path} is read-only")


class RawDimensionsDataset(_LakeBacked[DimensionBatch, dict[str, int]]):
    """Dimension CSVs under ``raw/<table>/<table>.csv`` plus their defect ledger.

    Loads which dimension files exist (1/0 per table); read the tables themselves through the
    catalog's ``raw_products``, ``raw_stores`` and ``raw_suppliers``.
    """

    def save(self, data: DimensionBatch) -> None:
        rows = land_dimensions(self.lake, data)
        log.info("Landed dimensions: %s", ", ".join(f"{t} {n:,} rows" for t, n in rows.items()))

    def load(self) -> dict[str, int]:
        return {t: int(self.lake.exists(layout.dimension_file(t))) for t in DIMENSION_TABLES}

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "tables": list(DIMENSION_TABLES)}


class RawDaysDataset(_LakeBacked[DayLanding, dict[str, list[date]]]):
    """Fact partitions under ``raw/<table>/dt=YYYY-MM-DD/`` with their manifests.

    Saving lands one simulated day under the commit protocol (``retailops.lake.landing``).
    Loading gives the complete days of each fact table, by manifest alone, so a manifest whose
    data file went missing still reaches the transform's verification and fails there, named;
    the promotion plan's complete Mondays come with them (``promotions``), so the transform
    verifies and tracks its partitions too. A day is complete with its three facts: the plan
    has partitions on Mondays only.
    """

    def save(self, data: DayLanding) -> None:
        # The day's ground truth and checkpoint are finished on a background thread while the
        # run goes on (``landing.land_day``); the run report waits for them.
        report = land_day(self.lake, data, finish_later=True)
        lines = sum(report.rows.values())
        written = [t for t, o in report.outcomes.items() if o != "skipped"]
        repaired = [t for t, o in report.outcomes.items() if o == "rewritten"]
        # The time covers simulating and writing the day (DayLanding.started).
        log.info("%s %s: sales %s, inventory %s, shipment lines %s in %.2f s simulated and "
                 "written (%s rows/s)%s",
                 report.day, "landed " + "+".join(written) if written else "already complete",
                 f"{report.rows['sales']:,}", f"{report.rows['inventory']:,}",
                 f"{report.rows['shipments']:,}", report.seconds,
                 f"{lines / max(report.seconds, 1e-9):,.0f}",
                 f"; re-landed over an existing manifest: {'+'.join(repaired)}" if repaired else "")

    def load(self) -> dict[str, list[date]]:
        # Through the manifest index: only the manifests that changed since the last look are
        # read (a daily run loads this after ingest; reading all of history took seconds).
        return {t: manifest_index.complete_days(self.lake, t) for t in PARTITIONED_TABLES}

    def _describe(self) -> dict[str, Any]:
        manifests = f"{self._path}/{layout.manifest_folder('<table>')}/dt=*/manifest.json"
        return {**super()._describe(), "tables": list(FACT_TABLES), "complete_when": manifests}

    def _exists(self) -> bool:
        return any(complete_days(self.lake, t) for t in FACT_TABLES)


class RawPromotionsDataset(_LakeBacked[PlanLanding, list[date]]):
    """The promotion plans under ``raw/promotions/dt=<Monday>/`` with their manifests.

    Saving lands a window's Mondays under the commit protocol; loading gives the Mondays whose
    publication is complete. Read the plans themselves with ``retailops.lake.promotions``
    (``read_plan``) or the catalog's ``raw_promotions``.
    """

    def save(self, data: PlanLanding) -> None:
        outcomes = land_promotions(self.lake, data)
        if not outcomes:
            log.info("Promotion plan: the window publishes no Monday")
            return
        counts = {o: sum(v == o for v in outcomes.values()) for o in ("written", "rewritten",
                                                                       "skipped")}
        log.info("Promotion plans %s..%s: %s", min(outcomes), max(outcomes),
                 ", ".join(f"{n} {o}" for o, n in counts.items() if n))

    def load(self) -> list[date]:
        return manifest_index.complete_days(self.lake, PROMOTIONS)

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "table": PROMOTIONS}


class RunReportDataset(_LakeBacked[dict, dict]):
    """Run reports under ``metadata/runs/<kind>/``: one file per run plus ``latest.json``."""

    def __init__(self, *, path: str, kind: str, credentials: dict[str, Any] | None = None,
                 fs_args: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None):
        super().__init__(path=path, credentials=credentials, fs_args=fs_args, metadata=metadata)
        self._kind = kind

    def _latest(self) -> str:
        return layout.run_report_file(self._kind, "latest")

    def save(self, data: dict) -> None:
        # A run's report (and every stage that reads it: forecast, publish, report) comes after
        # the ground truth and checkpoint of the days it landed are written; a failure there
        # fails the run here (``landing.finish_landing``).
        finish_landing()
        body = (json.dumps(data, indent=2, default=str) + "\n").encode()
        stamp = str(data.get("generated_at", "")).replace(":", "").replace("+0000", "Z")
        window = data.get("window", {})
        run_id = f"{stamp}_{window.get('first', '')}_{window.get('last', '')}".strip("_")
        self.lake.write_bytes(layout.run_report_file(self._kind, run_id), body)
        self.lake.write_bytes(self._latest(), body)
        log.info("Run report written to %s",
                 self.lake.url(layout.run_report_file(self._kind, run_id)))

    def load(self) -> dict:
        finish_landing()
        try:
            return json.loads(self.lake.read_bytes(self._latest()))
        except FileNotFoundError:
            raise LakeUnavailableError(
                f"no {self._kind} run report yet at {self.lake.url(self._latest())}: "
                f"run the {self._kind.replace('validation', 'validate')} stage first") from None

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "kind": self._kind}

    def _exists(self) -> bool:
        return self.lake.exists(self._latest())


class CompletePartitionsDataset(PartitionedDataset):
    """A raw fact table as kedro-datasets' ``PartitionedDataset``, complete partitions only.

    ``path`` is the table's folder, ``<lake root>/raw/<table>``; each partition is
    ``dt=YYYY-MM-DD/<table>.csv`` and loads through ``dataset`` (``pandas.CSVDataset`` unless the
    entry says otherwise). A partition without its manifest (being written, or left by a crash)
    is not listed: readers see exactly what the commit protocol has committed. Read-only: the
    ingest pipeline lands partitions (``RawDaysDataset``), data first and manifest last.
    """

    def __init__(self, *, path: str, dataset: str | type[AbstractDataset] | dict[str, Any]
                 = "pandas.CSVDataset", credentials: dict[str, Any] | None = None,
                 load_args: dict[str, Any] | None = None, fs_args: dict[str, Any] | None = None,
                 metadata: dict[str, Any] | None = None):
        path = path.rstrip("/")
        lake_root, table = _split_fact_folder(path)
        # The file name is the filename_suffix: "dt=2024-07-01" + "/sales.csv" is the partition's
        # file, so partition ids are the plain hive folder names.
        suffix = "/" + posixpath.basename(layout.fact_file(table, date.min))
        super().__init__(path=path, dataset=dataset, filename_suffix=suffix,
                         credentials=credentials, load_args=load_args, fs_args=fs_args,
                         metadata=metadata)
        self._table = table
        self._lake = _open_lake(lake_root, credentials, fs_args)

    def _list_partitions(self) -> list[str]:
        if self._cached_partitions is None:
            complete = {layout.partition(day) for day in complete_days(self._lake, self._table)}
            found = super()._list_partitions()
            self._cached_partitions = [p for p in found if self._path_to_partition(p) in complete]
        return self._cached_partitions

    def _invalidate_caches(self) -> None:
        super()._invalidate_caches()
        if hasattr(self, "_lake"):  # the base class calls this before __init__ ends
            self._lake.fs.invalidate_cache(self._lake.url(layout.manifest_folder(self._table)))

    def load(self) -> dict[str, Callable[[], Any]]:
        try:
            return super().load()
        except DatasetError:
            if self._cached_partitions:
                raise
            raise DatasetError(
                f"no complete partitions in {self._path}: a partition is complete once its "
                f"manifest exists under {self._lake.url(layout.manifest_folder(self._table))}/; "
                f"land days with `kedro run --pipelines ingest`") from None

    def save(self, data: dict[str, Any]) -> None:
        raise DatasetError(
            f"{self._path} is read-only through the catalog: partitions are landed by the ingest "
            f"pipeline under the commit protocol (data, then manifest)")

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "table": self._table,
                "complete_when": f"{self._lake.url(layout.manifest_folder(self._table))}"
                                 f"/dt=*/manifest.json"}


def _split_fact_folder(path: str) -> tuple[str, str]:
    """``(lake root, table)`` of a fact table's folder ``<lake root>/raw/<table>``."""
    parent, table = posixpath.split(path)
    lake_root = parent[: -len(layout.RAW)].rstrip("/") if parent.endswith("/" + layout.RAW) else ""
    if table not in PARTITIONED_TABLES or not lake_root or posixpath.join(
            lake_root, layout.fact_folder(table)) != path:
        raise DatasetError(f"path {path!r} is not a raw fact table's folder: expected "
                           f"<lake root>/{layout.fact_folder('<table>')} with <table> one of "
                           f"{', '.join(PARTITIONED_TABLES)}")
    return lake_root, table
