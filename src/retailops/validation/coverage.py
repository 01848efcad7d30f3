"""Every day of the window is in the lake and in the marts, whole.

Presence: each fact table has a complete partition (a manifest) for every day of the window,
and the two daily fact marts hold every day. Rows: per day, the lines the manifests say were
landed are the lines staged and the lines counted in the marts. Both name the days that fail,
so an operator knows what to re-land or rebuild.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from retailops.validation.checks import (
    Check,
    SalesDays,
    day_batches,
    day_list,
    days,
    each_day,
    named,
    rows,
)
from retailops.validation.window import FACT_TABLES, Window
from retailops.warehouse.engines import Warehouse


def _per_day(warehouse: Warehouse, sql: str) -> dict[str, tuple]:
    """``{YYYY-MM-DD: (values...)}`` from a query whose first column is the day."""
    return {str(row[0])[:10]: row[1:] for row in rows(warehouse, sql)}


def presence_checks(warehouse: Warehouse, window: Window, sold: SalesDays) -> list[Check]:
    """A partition of every fact table and a slice of every daily fact mart for each day.
    ``sold``: ``sales_mart_days`` of the window."""
    a, b = window.first.isoformat(), window.last.isoformat()
    wanted = days(window.first, window.last)
    checks: list[Check] = []

    landed: dict[str, set[date]] = defaultdict(set)
    # Days whose landed partition has no rows: the chain was closed (Christmas Day), so the
    # mart rightly has nothing for them; a partition with rows must reach the mart.
    empty: dict[str, set[date]] = defaultdict(set)
    for table, day, landed_rows in rows(warehouse, (
            f"select table_name, partition_dt, sum(row_count) "
            f"from {warehouse.table('staging', 'stg_manifests')} "
            f"where partition_dt between '{a}' and '{b}' group by table_name, partition_dt")):
        landed[table].add(date.fromisoformat(day))
        if not landed_rows:
            empty[table].add(date.fromisoformat(day))
    for table in FACT_TABLES:
        missing = [d for d in wanted if d not in landed[table]]
        checks.append(Check(
            f"lake: every day has a complete {table} partition", len(wanted),
            len(wanted) - len(missing),
            "days of the window with a manifest (a partition without one was never landed)",
            problems=(f"no {table} partition for {day_list(missing)}",) if missing else ()))

    counted = _per_day(warehouse, (
        f"select cast(snapshot_date as varchar) as day, count(*) as n "
        f"from {warehouse.table('marts', 'fct_inventory_snapshots')} "
        f"where snapshot_date between date '{a}' and date '{b}' group by snapshot_date"))
    for mart, days_in_mart, table in (("fct_daily_sales", sold, "sales"),
                                      ("fct_inventory_snapshots", counted, "inventory")):
        present = {date.fromisoformat(day) for day in days_in_mart}
        expected = [d for d in wanted if d not in empty[table]]
        missing = [d for d in expected if d not in present]
        checks.append(Check(
            f"marts: every day is in {mart}", len(expected), len(expected) - len(missing),
            f"days of the window with rows in the mart (days whose {table} partition landed "
            f"empty, the chain closed, are not expected)",
            problems=(f"{mart} has no rows for {day_list(missing)}",) if missing else ()))
    return checks


def _compare_days(name: str, explanation: str, left_label: str, left: dict[str, float],
                  right_label: str, right: dict[str, float]) -> Check:
    """Totals over the window, and every day on which the two sides differ."""
    problems = [f"{day}: {left.get(day, 0):g} {left_label}, {right.get(day, 0):g} {right_label}"
                for day in sorted(set(left) | set(right))
                if left.get(day, 0) != right.get(day, 0)]
    total = lambda side: sum(side.values()) if side else None  # noqa: E731 - no rows: missing
    return Check(name, total(left), total(right), explanation, problems=named(problems))


def _staged_sales(warehouse: Warehouse, window: Window, batch_days: int) -> dict[str, tuple]:
    """``{day: (sale lines, units)}`` of ``stg_sales`` for the window's days that have lines,
    one branch per day (``each_day``), ``batch_days`` days to a statement."""
    found: dict[str, tuple] = {}
    for batch in day_batches(days(window.first, window.last), batch_days):
        found.update((day, values) for day, *values in rows(warehouse, each_day(batch, (
            f"select '{{day}}' as day, count(*), sum(quantity) "
            f"from {warehouse.table('staging', 'stg_sales')} where partition_dt = '{{day}}'")))
            if values[0])
    return found


def row_checks(warehouse: Warehouse, window: Window, sold: SalesDays,
               batch_days: int = 31) -> list[Check]:
    """Per day: landed lines (manifests) = staged lines = lines counted in the marts. The
    staged sale lines are counted ``batch_days`` days to a statement; ``sold``:
    ``sales_mart_days`` of the window."""
    a, b = window.first.isoformat(), window.last.isoformat()
    stg = lambda name: warehouse.table("staging", name)  # noqa: E731
    mart = lambda name: warehouse.table("marts", name)  # noqa: E731

    def landed(table: str) -> dict[str, float]:
        return {day: float(v[0]) for day, v in _per_day(warehouse, (
            f"select partition_dt, sum(row_count) from {stg('stg_manifests')} "
            f"where table_name = '{table}' and partition_dt between '{a}' and '{b}' "
            f"group by partition_dt")).items()}

    staged_sales = _staged_sales(warehouse, window, batch_days)
    mart_sales = {day: (transactions, units) for day, (_, transactions, units, *_) in
                  sold.items()}
    # A week's counts are ~10x fewer than its sale lines: grouped, they cost less than a
    # statement of seven branches (measured at scale 1 and 16).
    staged_counts = _per_day(warehouse, (
        f"select partition_dt, count(*) from {stg('stg_inventory')} "
        f"where partition_dt between '{a}' and '{b}' group by partition_dt"))
    mart_counts = _per_day(warehouse, (
        f"select cast(snapshot_date as varchar), count(*) from {mart('fct_inventory_snapshots')} "
        f"where snapshot_date between date '{a}' and date '{b}' group by snapshot_date"))
    column = lambda per_day, i: {d: float(v[i] or 0) for d, v in per_day.items()}  # noqa: E731

    return [
        _compare_days("sales: landed lines = staged lines, every day",
                      "staging drops no sale line; defects are flagged, not removed",
                      "landed", landed("sales"), "staged", column(staged_sales, 0)),
        _compare_days("sales: staged lines = fct_daily_sales transactions, every day",
                      "each sale line counts once in fct_daily_sales",
                      "staged", column(staged_sales, 0), "in the mart", column(mart_sales, 0)),
        _compare_days("sales: staged units = fct_daily_sales units, every day",
                      "units sold are neither lost nor double counted",
                      "staged", column(staged_sales, 1), "in the mart", column(mart_sales, 1)),
        _compare_days("inventory: landed counts = staged counts, every day",
                      "negative counts are flagged and kept",
                      "landed", landed("inventory"), "staged", column(staged_counts, 0)),
        _compare_days("inventory: staged counts = fct_inventory_snapshots rows, every day",
                      "one mart row per count", "staged", column(staged_counts, 0),
                      "in the mart", column(mart_counts, 0)),
    ]
