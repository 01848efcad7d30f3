"""Kedro datasets over the lake: the catalog's way to read and write the raw zone.

- ``LakeDataset`` loads a ``Lake`` handle (root + credentials) for nodes that plan work.
- ``RawDimensionsDataset`` saves the dimension tables.
- ``RawDaysDataset`` saves simulated days one at a time under the commit protocol (the ingest
  node is a generator, so a year-long backfill never sits in memory) and loads the raw zone's
  completeness: the complete days of each fact table.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from kedro.io import AbstractDataset

from retailops.errors import LakeUnavailableError
from retailops.lake.landing import DayLanding, land_day, land_dimensions
from retailops.lake.partitions import complete_days
from retailops.lake.storage import Lake
from retailops.simulation import FACT_TABLES, DimensionBatch

log = logging.getLogger(__name__)


class _LakeBacked:
    def __init__(self, lake_root: str, credentials: dict[str, Any] | None = None,
                 metadata: dict[str, Any] | None = None):
        self._lake_root = lake_root
        self._credentials = dict(credentials or {})
        self.metadata = metadata
        self._lake: Lake | None = None

    @property
    def lake(self) -> Lake:
        if self._lake is None:
            self._lake = Lake(self._lake_root, self._credentials)
        return self._lake

    def _describe(self) -> dict[str, Any]:
        return {"lake_root": self._lake_root}


class LakeDataset(_LakeBacked, AbstractDataset[None, Lake]):
    """Loads a handle on the lake root, checked to be writable."""

    def load(self) -> Lake:
        self.lake.check_writable()
        return self.lake

    def save(self, data: None) -> None:
        raise NotImplementedError("LakeDataset is read-only")


class RawDimensionsDataset(_LakeBacked, AbstractDataset[DimensionBatch, dict[str, int]]):
    """Dimension CSVs under ``raw/<table>/<table>.csv`` plus their defect ledger."""

    def save(self, data: DimensionBatch) -> None:
        rows = land_dimensions(self.lake, data)
        log.info("Landed dimensions: %s", ", ".join(f"{t} {n:,} rows" for t, n in rows.items()))

    def load(self) -> dict[str, int]:
        return {t: int(self.lake.exists(f"raw/{t}/{t}.csv")) for t in ("products", "stores",
                                                                       "suppliers")}


class RawDaysDataset(_LakeBacked, AbstractDataset[DayLanding, dict[str, list[date]]]):
    """Fact partitions under ``raw/<table>/dt=YYYY-MM-DD/`` with their manifests."""

    def save(self, data: DayLanding) -> None:
        report = land_day(self.lake, data)
        lines = sum(report.rows.values())
        written = [t for t, o in report.outcomes.items() if o != "skipped"]
        log.info("%s %s: sales %s, inventory %s, shipment lines %s in %.2f s (%s rows/s)",
                 report.day, "landed " + "+".join(written) if written else "already complete",
                 f"{report.rows['sales']:,}", f"{report.rows['inventory']:,}",
                 f"{report.rows['shipments']:,}", report.seconds,
                 f"{lines / max(report.seconds, 1e-9):,.0f}")

    def load(self) -> dict[str, list[date]]:
        return {t: sorted(complete_days(self.lake, t)) for t in FACT_TABLES}


class RunReportDataset(_LakeBacked, AbstractDataset[dict, dict]):
    """Run reports under ``metadata/runs/<kind>/``: one file per run plus ``latest.json``."""

    def __init__(self, lake_root: str, kind: str, credentials: dict[str, Any] | None = None,
                 metadata: dict[str, Any] | None = None):
        super().__init__(lake_root, credentials, metadata)
        self._kind = kind

    def save(self, data: dict) -> None:
        import json

        body = (json.dumps(data, indent=2, default=str) + "\n").encode()
        stamp = str(data.get("generated_at", "")).replace(":", "").replace("+0000", "Z")
        window = data.get("window", {})
        run_id = f"{stamp}_{window.get('first', '')}_{window.get('last', '')}".strip("_")
        self.lake.write_bytes(f"metadata/runs/{self._kind}/{run_id}.json", body)
        self.lake.write_bytes(f"metadata/runs/{self._kind}/latest.json", body)
        log.info("Run report written to %s", self.lake.url(f"metadata/runs/{self._kind}/{run_id}.json"))

    def load(self) -> dict:
        import json

        latest = f"metadata/runs/{self._kind}/latest.json"
        try:
            return json.loads(self.lake.read_bytes(latest))
        except FileNotFoundError:
            raise LakeUnavailableError(
                f"no {self._kind} run report yet at {self.lake.url(latest)}: "
                f"run the {self._kind.replace('validation', 'validate')} stage first") from None

    def _describe(self) -> dict[str, Any]:
        return {"lake_root": self._lake_root, "kind": self._kind}
