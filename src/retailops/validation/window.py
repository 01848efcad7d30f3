"""Which days a run validates.

A backfill (``start_date..end_date``) validates exactly its days. A daily run
(``run_date=D``) validates the last week up to D, ``max(first landed day, D - 6)..D``: a day
that went missing earlier in the week (a failed run, a lost partition) keeps failing every
daily run until it is repaired, instead of passing unseen because it is not "today".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from retailops.warehouse.engines import Warehouse

FACT_TABLES = ("sales", "inventory", "shipments")


@dataclass(frozen=True)
class Window:
    first: date
    last: date

    def __str__(self) -> str:
        return f"{self.first.isoformat()}..{self.last.isoformat()}"


def first_landed_day(warehouse: Warehouse) -> date | None:
    """The earliest day with a complete fact partition of any table (None on an empty lake)."""
    tables = ", ".join(f"'{t}'" for t in FACT_TABLES)
    found = warehouse.rows(
        f"select min(partition_dt) as first_day from {warehouse.table('staging', 'stg_manifests')} "
        f"where table_name in ({tables})")[0][0]
    return None if found is None else date.fromisoformat(str(found))


def daily_window(warehouse: Warehouse, run_date: date, days: int) -> Window:
    """``max(first landed day, run_date - (days - 1))..run_date``."""
    landed = first_landed_day(warehouse)
    if landed is None or landed > run_date:
        # Nothing landed up to the run's day: the day itself is what is missing.
        return Window(run_date, run_date)
    return Window(max(landed, run_date - timedelta(days=days - 1)), run_date)

