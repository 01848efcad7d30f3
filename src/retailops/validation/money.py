"""Money reconciles from the raw sale lines to fct_daily_sales.

Net revenue, cost and profit are recomputed here from the raw lines as landed (``base_sales``:
the complete partitions, typed, before any staging rule) and the products' unit cost, with
the contract's definitions rather than the mart's SQL:

- net revenue = quantity x unit price x (1 - discount), a blank discount being no discount;
- cost = quantity x the product's unit cost;
- profit = net revenue - cost.

Each day of the window must agree within ``tolerance`` (0.01% by default: the two sides add
the same doubles in a different order, and a wrong day is off by far more).

The mart side is read for the whole window every run. The raw side of a day depends only on
its sale lines and the products' unit cost: a daily run keeps it (``retailops.validation.kept``,
keyed by the sales partition's and the products file's sha256) and reads from the raw lines
only the days not kept, so a day's sale lines are read once, not on each of seven runs.
"""

from __future__ import annotations

from datetime import date, timedelta

from retailops.validation.checks import Check, SalesDays, day_batches, named, rows
from retailops.validation.kept import DayResults
from retailops.validation.window import Window
from retailops.warehouse.engines import Warehouse

MEASURES = ("net revenue", "cost", "profit")


def money_checks(warehouse: Warehouse, window: Window, sold: SalesDays,
                 tolerance: float = 1e-4,
                 kept: DayResults | None = None,
                 keys: dict[str, str | None] | None = None,
                 batch_days: int = 31) -> list[Check]:
    """``kept``: the raw side of days earlier runs read (fingerprints ``keys``), not read
    again; the days read now are added to it. The raw lines are read ``batch_days`` at a
    time. ``sold``: ``sales_mart_days`` of the window (the mart side)."""
    keys = keys or {}
    window_days = [(window.first + timedelta(days=i)).isoformat()
                   for i in range((window.last - window.first).days + 1)]
    reused = {} if kept is None else {
        day: values for day in window_days
        if (values := kept.get("money", day, keys.get(day))) is not None}
    unread = [day for day in window_days if day not in reused]
    if kept is not None:
        kept.read("money", unread)
    read = []
    for batch in day_batches([date.fromisoformat(d) for d in unread], batch_days):
        if len(batch) == (batch[-1] - batch[0]).days + 1:
            days = f"between '{batch[0].isoformat()}' and '{batch[-1].isoformat()}'"
        else:
            days = "in (" + ", ".join(f"'{d.isoformat()}'" for d in batch) + ")"
        read.extend(_raw_totals(warehouse, days))
    raw_sums = {**{day: tuple(values) for day, values in reused.items()},
                **{str(day)[:10]: (net, cost) for day, net, cost in read}}
    if kept is not None:
        for day, net, cost in read:
            if net is not None and cost is not None:
                kept.put("money", str(day)[:10], keys.get(str(day)[:10]), [net, cost])
    raw = {day: (net, cost, None if net is None or cost is None else net - cost)
           for day, (net, cost) in raw_sums.items()}
    mart = {day: (net, cost, profit) for day, (*_, net, cost, profit) in sold.items()}

    checks = []
    for i, measure in enumerate(MEASURES):
        problems, expected, actual = [], 0.0, 0.0
        for day in sorted(set(raw) | set(mart)):
            left = raw.get(day, (None,) * 3)[i]
            right = mart.get(day, (None,) * 3)[i]
            if left is None or right is None:
                problems.append(f"{day}: {_money(left)} from the raw lines, "
                                f"{_money(right)} in the mart")
                continue
            expected, actual = expected + left, actual + right
            if abs(left - right) > tolerance * max(1.0, abs(left)):
                problems.append(f"{day}: {left:.2f} from the raw lines, {right:.2f} in the mart")
        checks.append(Check(
            f"money: {measure} from the raw sale lines = fct_daily_sales {measure}, every day",
            expected if raw else None, actual if mart else None,
            f"recomputed from base_sales and the products' unit cost; agree within "
            f"{tolerance:.2%} a day", tolerance=tolerance, problems=named(problems)))
    return checks


def _raw_totals(warehouse: Warehouse, days: str) -> list[tuple]:
    """(day, net revenue, cost) per day from the raw sale lines of ``dt <days>``."""
    return rows(warehouse, (
        f"select sales.dt, "
        f"sum(sales.quantity * sales.unit_price * (1 - coalesce(sales.discount_pct, 0))), "
        f"sum(sales.quantity * products.unit_cost) "
        f"from {warehouse.table('staging', 'base_sales')} sales "
        f"left join {warehouse.table('staging', 'stg_products')} products "
        f"on sales.product_id = products.product_id "
        f"where sales.dt {days} group by sales.dt"))


def _money(value: float | None) -> str:
    return "nothing" if value is None else f"{value:.2f}"
