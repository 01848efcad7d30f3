"""Kedro datasets over the warehouse.

- ``WarehouseDataset`` loads the query interface (DuckDB locally, Athena on AWS).
- ``DbtModelDataset`` is one dbt model as a catalog entry. dbt materialises the table, so
  saving only checks that the build reported success for it; loading gives a ``ModelTable``,
  a lazy handle an analyst can query or pull into pandas (nothing is read until asked).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset

from retailops.errors import TransformError
from retailops.warehouse.engines import Warehouse, make_warehouse


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


class DbtModelDataset(AbstractDataset[dict[str, Any], ModelTable]):
    def __init__(self, layer: str, name: str, engine: str,
                 metadata: dict[str, Any] | None = None, **options: str):
        self._layer, self._name = layer, name
        self._engine, self._options = engine, options
        self.metadata = metadata

    def load(self) -> ModelTable:
        return ModelTable(make_warehouse(self._engine, **self._options), self._layer, self._name)

    def save(self, data: dict[str, Any]) -> None:
        status = data.get("status")
        if status not in ("success", "unchanged"):
            raise TransformError(f"dbt model {self._layer}.{self._name} was not built ({status})")

    def _describe(self) -> dict[str, Any]:
        return {"model": f"{self._layer}.{self._name}", "engine": self._engine}
