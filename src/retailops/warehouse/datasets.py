"""Kedro datasets over the warehouse.

- ``WarehouseDataset`` loads the query interface (DuckDB locally, Athena on AWS).
- ``DbtModelDataset`` is one dbt model as a catalog entry. dbt materialises the table, so
  saving only checks that the build reported success for it; loading gives a ``ModelTable``,
  a lazy handle an analyst can query or pull into pandas (nothing is read until asked).
  With ``serving_path`` (the marts, the defect ledger) loading reads the readers' serving file
  instead of the warehouse, so a notebook never holds the file dbt writes.
- ``ServingWarehouseDataset`` is the readers' published copy (``retailops.warehouse.serving``):
  saving publishes the marts to the serving file, loading gives it as a read-only warehouse.
  With ``engine: athena`` (AWS) readers query Athena directly: saving does nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset

from retailops.errors import TransformError
from retailops.warehouse.engines import Warehouse, make_warehouse
from retailops.warehouse.serving import ServingWarehouse, publish_serving

log = logging.getLogger(__name__)


class WarehouseDataset(AbstractDataset[None, Warehouse]):
    def __init__(self, engine: str, metadata: dict[str, Any] | None = None, **options: str):
        self._engine = engine
        self._options = options
        self.metadata = metadata

    def load(self) -> Warehouse:
        return make_warehouse(self._engine, **self._options)

    def save(self, data: None) -> None:
        raise NotImplementedError("the warehouse is written by dbt, not through the catalog")

    def _describe(self) -> dict[str, Any]:
        return {"engine": self._engine, **self._options}


@dataclass(frozen=True)
class ModelTable:
    """A built dbt model in the warehouse."""

    warehouse: Warehouse
    layer: str
    name: str

    @property
    def qualified_name(self) -> str:
        return self.warehouse.table(self.layer, self.name)

    def query(self, sql: str) -> pd.DataFrame:
        """Run SQL where ``{table}`` stands for this model's qualified name."""
        return self.warehouse.query(sql.format(table=self.qualified_name))

    def to_pandas(self, limit: int | None = None) -> pd.DataFrame:
        suffix = f" limit {int(limit)}" if limit else ""
        return self.query("select * from {table}" + suffix)


def _reader_warehouse(engine: str, serving_path: str | None, **options: str) -> Warehouse:
    """Where readers query: the serving file locally, Athena itself on AWS (which never locks;
    conf/aws entries inherit ``serving_path`` from base by the soft merge, so it is ignored)."""
    if engine == "duckdb" and serving_path:
        return ServingWarehouse(path=str(Path(serving_path).resolve()))
    return make_warehouse(engine, **options)


class DbtModelDataset(AbstractDataset[dict[str, Any], ModelTable]):
    def __init__(self, layer: str, name: str, engine: str, serving_path: str | None = None,
                 metadata: dict[str, Any] | None = None, **options: str):
        self._layer, self._name = layer, name
        self._engine, self._options = engine, options
        self._serving_path = serving_path
        self.metadata = metadata

    def load(self) -> ModelTable:
        return ModelTable(_reader_warehouse(self._engine, self._serving_path, **self._options),
                          self._layer, self._name)

    def save(self, data: dict[str, Any]) -> None:
        status = data.get("status")
        if status not in ("success", "unchanged"):
            raise TransformError(f"dbt model {self._layer}.{self._name} was not built ({status})")

    def _describe(self) -> dict[str, Any]:
        described = {"model": f"{self._layer}.{self._name}", "engine": self._engine}
        if self._serving_path and self._engine == "duckdb":
            described["read_from"] = self._serving_path
        return described


class ServingWarehouseDataset(AbstractDataset[dict[str, Any], Warehouse]):
    """The readers' view of the marts. ``save(request)`` publishes (``request``: the keys
    ``copied_relations``, ``keep_snapshots``, ``curated_tables`` and ``published_parquet``);
    ``load()`` is the
    read-only serving warehouse.
    """

    def __init__(self, engine: str, path: str | None = None, warehouse_path: str | None = None,
                 lake_root: str | None = None, metadata: dict[str, Any] | None = None,
                 **options: str):
        if path is None and warehouse_path:  # conf without serving_path: beside the warehouse
            path = str(Path(warehouse_path).with_name("serving.duckdb"))
        self._engine, self._path = engine, path
        self._warehouse_path, self._lake_root = warehouse_path, lake_root
        self._options = options
        self.metadata = metadata

    def load(self) -> Warehouse:
        return _reader_warehouse(self._engine, self._path, **self._options)

    def save(self, data: dict[str, Any]) -> None:
        if self._engine != "duckdb":
            log.info("Readers query %s directly: nothing to publish", self._engine)
            return
        if not (self._path and self._warehouse_path and self._lake_root):
            raise ValueError("the serving dataset needs warehouse_path and lake_root")
        publish_serving(self._warehouse_path, self._path, self._lake_root,
                        copied_relations=tuple(data.get("copied_relations", ())),
                        keep_snapshots=int(data.get("keep_snapshots", 2)),
                        curated_tables=tuple(data.get("curated_tables", ())),
                        published_parquet=data.get("published_parquet") or {},
                        monthly_relations=data.get("monthly_relations") or {})

    def _describe(self) -> dict[str, Any]:
        return {"engine": self._engine, "path": self._path}


class ForecastMartsDataset(AbstractDataset[dict[str, Any], dict[str, Any]]):
    """The forecast marts as a catalog entry (``retailops.warehouse.forecast_marts``): the
    forecast stage saves the outcome of its checks (it raises before saving when they fail),
    publish loads it for ordering and lineage. Loading reads nothing, so ``--pipelines
    publish`` alone works whether a forecast exists or not."""

    def __init__(self, lake_root: str, metadata: dict[str, Any] | None = None):
        self._lake_root = lake_root
        self._saved: dict[str, Any] | None = None
        self.metadata = metadata

    def load(self) -> dict[str, Any]:
        return self._saved or {"lake_root": self._lake_root, "forecast_date": None}

    def save(self, data: dict[str, Any]) -> None:
        self._saved = {"lake_root": self._lake_root, **data}

    def _describe(self) -> dict[str, Any]:
        return {"lake_root": self._lake_root}
