"""The warehouse behind one small interface: run a SQL query, get a DataFrame.

Locally it is the DuckDB file dbt builds (schemas ``staging`` and ``marts``); on AWS it is
Athena (Glue databases ``retailops_staging`` and ``retailops_marts``) through awswrangler.
Callers write schema-qualified names with ``warehouse.table("marts", "fct_daily_sales")`` and
ANSI SQL that both engines accept. ``rows`` answers with plain tuples: on DuckDB it needs no
pandas, so the daily run's planning and validation never import it (0.25 s of CPU).
"""

from __future__ import annotations

import os
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, ContextManager, Iterator, Protocol

from retailops.errors import InvalidParameterError, LakeUnavailableError

if TYPE_CHECKING:
    import pandas as pd


class Warehouse(Protocol):
    engine: str

    def table(self, layer: str, name: str) -> str:
        """Fully qualified name of a model in a layer (``staging`` or ``marts``)."""

    def query(self, sql: str) -> pd.DataFrame:
        """Run one query and return its rows."""

    def rows(self, sql: str) -> list[tuple]:
        """Run one query and return its rows as plain Python values: NULL as None, numbers as
        int or float (as ``query`` would give them), days as ``date``/``datetime``."""

    def has_table(self, layer: str, name: str) -> bool:
        """Whether a model has been built (a daily run needs the full build to exist)."""

    def session(self) -> ContextManager["Warehouse"]:
        """The same warehouse for a batch of queries (a report, a validation): on DuckDB one
        read-only connection serves them all and is closed when the batch ends; Athena has
        nothing to hold open."""

    def concurrent(self) -> ContextManager["Warehouse | None"]:
        """A handle another thread may query while this one does (on a DuckDB session, a
        second connection to the same open database, closed when the block ends), or None
        where queries run one at a time (Athena: awswrangler shares boto3's default session,
        which is not safe to use from two threads)."""


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

    def rows(self, sql: str) -> list[tuple]:
        with self.session() as connected:
            return connected.rows(sql)

    def has_table(self, layer: str, name: str) -> bool:
        if not Path(self.path).is_file():
            return False
        return _has_table(self, layer, name)

    def concurrent(self) -> ContextManager["DuckDBWarehouse"]:
        return nullcontext(self)  # every query opens its own connection

    @contextmanager
    def session(self) -> Iterator["DuckDBSession"]:
        import duckdb

        if not Path(self.path).is_file():
            raise LakeUnavailableError(
                f"the warehouse {self.path} does not exist yet: run the transform stage first")
        config = duckdb_memory_config()
        try:
            connection = duckdb.connect(self.path, read_only=True, config=config)
        except duckdb.ParserException as exc:  # connecting parses only the settings
            raise InvalidParameterError(
                f"RETAILOPS_DUCKDB_MEMORY_LIMIT={config['memory_limit']!r} is not a DuckDB "
                f"memory limit (e.g. 4GB): {exc}") from None
        with connection as con:
            yield DuckDBSession(self.path, con)


# DuckDB's own default is 80% of the machine's memory. dbt's connection is capped in
# dbt_athena/profiles.yml; the platform's reads (validation, reports, the forecast's history) take
# the same cap, so a pass over a long history spills to the file's ``.tmp`` folder instead of
# growing (issue 13: the validate stage over a year at scale 16 reached 8.4 GB uncapped).
DEFAULT_DUCKDB_MEMORY_LIMIT = "4GB"


def duckdb_memory_config() -> dict[str, str]:
    """DuckDB's connection settings for the memory cap: ``RETAILOPS_DUCKDB_MEMORY_LIMIT`` (as
    dbt's profile reads it), 4GB by default."""
    return {"memory_limit": os.environ.get("RETAILOPS_DUCKDB_MEMORY_LIMIT",
                                           DEFAULT_DUCKDB_MEMORY_LIMIT)}


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

    def rows(self, sql: str) -> list[tuple]:
        # DECIMAL (a literal like 0.5 in an expression) as float, as ``query``'s frame has it.
        return [tuple(float(v) if isinstance(v, Decimal) else v for v in row)
                for row in self.connection.execute(sql).fetchall()]

    def has_table(self, layer: str, name: str) -> bool:
        return _has_table(self, layer, name)

    def session(self) -> ContextManager["DuckDBSession"]:
        return nullcontext(self)

    @contextmanager
    def concurrent(self) -> Iterator["DuckDBSession"]:
        # DuckDB's cursor(): another connection to the same database instance, for one thread.
        with self.connection.cursor() as cursor:
            yield DuckDBSession(self.path, cursor)


def _has_table(warehouse: Warehouse, layer: str, name: str) -> bool:
    found = warehouse.rows("select count(*) as n from information_schema.tables "
                           f"where table_schema = '{layer}' and table_name = '{name}'")
    return bool(found[0][0])


def frame_rows(frame: pd.DataFrame) -> list[tuple]:
    """A query's frame as ``Warehouse.rows`` answers: None for every kind of missing (None,
    NaN, NaT, pd.NA: awswrangler's nullable integers), numpy scalars as int/float/bool."""
    import pandas as pd

    def plain(value: Any) -> Any:
        if value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value))):
            return None
        if isinstance(value, pd.Timestamp):
            return value
        return value.item() if hasattr(value, "item") else value

    return [tuple(plain(v) for v in row) for row in frame.itertuples(index=False, name=None)]


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

    def rows(self, sql: str) -> list[tuple]:
        return frame_rows(self.query(sql))

    def has_table(self, layer: str, name: str) -> bool:
        import awswrangler as wr

        return bool(wr.catalog.does_table_exist(database=f"{self.database_prefix}_{layer}",
                                                table=name))

    def session(self) -> ContextManager["AthenaWarehouse"]:
        return nullcontext(self)

    def concurrent(self) -> ContextManager[None]:
        return nullcontext(None)


def make_warehouse(engine: str, **options: str) -> Warehouse:
    """The warehouse named by the catalog (``duckdb`` with ``path``, or ``athena``)."""
    if engine == "duckdb":
        return DuckDBWarehouse(path=str(Path(options["path"]).resolve()))
    if engine == "athena":
        return AthenaWarehouse(**{k: v for k, v in options.items()
                                  if k in ("database_prefix", "workgroup")})
    raise ValueError(f"unknown warehouse engine {engine!r} (expected duckdb or athena)")
