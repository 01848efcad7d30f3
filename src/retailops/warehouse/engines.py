"""The warehouse behind one small interface: run a SQL query, get a DataFrame.

Locally it is the DuckDB file dbt builds (schemas ``staging`` and ``marts``); on AWS it is
Athena (Glue databases ``retailops_staging`` and ``retailops_marts``) through awswrangler.
Callers write schema-qualified names with ``warehouse.table("marts", "fct_daily_sales")`` and
ANSI SQL that both engines accept.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ContextManager, Iterator, Protocol

import pandas as pd

from retailops.errors import LakeUnavailableError


class Warehouse(Protocol):
    engine: str

    def table(self, layer: str, name: str) -> str:
        """Fully qualified name of a model in a layer (``staging`` or ``marts``)."""

    def query(self, sql: str) -> pd.DataFrame:
        """Run one query and return its rows."""

    def has_table(self, layer: str, name: str) -> bool:
        """Whether a model has been built (a daily run needs the full build to exist)."""

    def session(self) -> ContextManager["Warehouse"]:
        """The same warehouse for a batch of queries (a report, a validation): on DuckDB one
        read-only connection serves them all and is closed when the batch ends; Athena has
        nothing to hold open."""


@dataclass(frozen=True)
class DuckDBWarehouse:
    """The local DuckDB file; every query opens it read-only, so dbt can write in between."""

    path: str
    engine: str = "duckdb"

    def table(self, layer: str, name: str) -> str:
        return f"{layer}.{name}"

    def query(self, sql: str) -> pd.DataFrame:
        with self.session() as connected:
            return connected.query(sql)

    def has_table(self, layer: str, name: str) -> bool:
        if not Path(self.path).is_file():
            return False
        return _has_table(self, layer, name)

    @contextmanager
    def session(self) -> Iterator["DuckDBSession"]:
        import duckdb

        if not Path(self.path).is_file():
            raise LakeUnavailableError(
                f"the warehouse {self.path} does not exist yet: run the transform stage first")
        with duckdb.connect(self.path, read_only=True) as con:
            yield DuckDBSession(self.path, con)


@dataclass(frozen=True)
class DuckDBSession:
    """The DuckDB file held open read-only for a batch of queries (``DuckDBWarehouse.session``).
    Opening the file costs ~25 ms and a fresh connection reads every table cold, so a report
    of eight queries is ~2x faster through one session. Only for the length of a batch: while
    it is open, dbt in this process cannot open the file for writing."""

    path: str
    connection: Any
    engine: str = "duckdb"

    def table(self, layer: str, name: str) -> str:
        return f"{layer}.{name}"

    def query(self, sql: str) -> pd.DataFrame:
        return self.connection.execute(sql).df()

    def has_table(self, layer: str, name: str) -> bool:
        return _has_table(self, layer, name)

    def session(self) -> ContextManager["DuckDBSession"]:
        return nullcontext(self)


def _has_table(warehouse: Warehouse, layer: str, name: str) -> bool:
    found = warehouse.query("select count(*) as n from information_schema.tables "
                            f"where table_schema = '{layer}' and table_name = '{name}'")
    return bool(found.iloc[0, 0])


@dataclass(frozen=True)
class AthenaWarehouse:
    """Athena through awswrangler. ``ctas_approach=False`` reads results directly (the CTAS
    path silently returns empty frames on emulators and costs a table per query)."""

    database_prefix: str = "retailops"
    workgroup: str = "primary"
    engine: str = "athena"

    def table(self, layer: str, name: str) -> str:
        return f"{self.database_prefix}_{layer}.{name}"

    def query(self, sql: str) -> pd.DataFrame:
        import awswrangler as wr

        return wr.athena.read_sql_query(sql, database=f"{self.database_prefix}_marts",
                                        workgroup=self.workgroup, ctas_approach=False)

    def has_table(self, layer: str, name: str) -> bool:
        import awswrangler as wr

        return bool(wr.catalog.does_table_exist(database=f"{self.database_prefix}_{layer}",
                                                table=name))

    def session(self) -> ContextManager["AthenaWarehouse"]:
        return nullcontext(self)


def make_warehouse(engine: str, **options: str) -> Warehouse:
    """The warehouse named by the catalog (``duckdb`` with ``path``, or ``athena``)."""
    if engine == "duckdb":
        return DuckDBWarehouse(path=str(Path(options["path"]).resolve()))
    if engine == "athena":
        return AthenaWarehouse(**{k: v for k, v in options.items()
                                  if k in ("database_prefix", "workgroup")})
    raise ValueError(f"unknown warehouse engine {engine!r} (expected duckdb or athena)")
