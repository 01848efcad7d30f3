"""The supplier scorecard (mart_supplier_performance) reconciles with the raw delivery lines.

Recomputed here from ``base_shipments`` (every complete shipment partition as landed), after
the documented duplicate removal (a double-scanned line arrives as an exact duplicate row, and
counts once), with the scorecard's definitions:

- a shipment (delivery) is a shipment_id; it was ordered on its earliest order date, is due on
  its latest expected date and arrived with its last line;
- on-time rate = deliveries that arrived on or before their due date / deliveries;
- lead time = mean days from order to arrival, over deliveries;
- fill rate = units received / units ordered, over lines.

The scorecard covers the whole history, so this check does too: one pass over the delivery
lines (about 3 million a year at scale 1).
"""

from __future__ import annotations

from retailops.validation.checks import Check, named, rows
from retailops.warehouse.engines import Warehouse

# Rates and means are doubles computed in a different order on each side.
RATE_TOLERANCE = 1e-9


def _recomputed(warehouse: Warehouse) -> dict[str | None, dict[str, float]]:
    sql = f"""
        with lines as (
            select distinct
                shipment_id, line_number, supplier_id, store_id, product_id, order_date,
                expected_date, received_date, quantity_ordered, quantity_received, dt
            from {warehouse.table('staging', 'base_shipments')}
        ),
        deliveries as (
            select
                supplier_id,
                shipment_id,
                case when max(received_date) <= max(expected_date) then 1 else 0 end as on_time,
                date_diff('day', min(order_date), max(received_date)) as lead_days
            from lines
            group by supplier_id, shipment_id
        ),
        per_delivery as (
            select supplier_id, count(*) as shipments, sum(on_time) as on_time,
                   avg(cast(lead_days as double)) as lead_days
            from deliveries
            group by supplier_id
        ),
        per_line as (
            select supplier_id, count(*) as lines, sum(quantity_ordered) as ordered,
                   sum(quantity_received) as received
            from lines
            group by supplier_id
        )
        select per_line.supplier_id, per_delivery.shipments, per_line.lines,
               per_delivery.on_time, per_delivery.lead_days, per_line.ordered, per_line.received
        from per_line
        join per_delivery
            on coalesce(per_line.supplier_id, '') = coalesce(per_delivery.supplier_id, '')
    """
    found = {}
    for supplier, shipments, lines, on_time, lead, ordered, received in rows(warehouse, sql):
        found[supplier] = {
            "shipments": float(shipments), "lines": float(lines),
            "on-time rate": float(on_time) / float(shipments),
            "lead time": lead,
            "fill rate": float(received) / float(ordered) if ordered else None}
    return found


def _in_mart(warehouse: Warehouse) -> dict[str | None, dict[str, float]]:
    sql = (f"select supplier_id, shipments, lines, on_time_rate, avg_lead_time_days, fill_rate "
           f"from {warehouse.table('marts', 'mart_supplier_performance')}")
    return {supplier: {"shipments": float(shipments or 0), "lines": float(lines or 0),
                       "on-time rate": on_time, "lead time": lead, "fill rate": fill}
            for supplier, shipments, lines, on_time, lead, fill in rows(warehouse, sql)}


def _differs(left: float | None, right: float | None, tolerance: float) -> bool:
    if left is None or right is None:
        return left is not right
    return abs(left - right) > tolerance * max(1.0, abs(left))


def supplier_checks(warehouse: Warehouse) -> list[Check]:
    raw, mart = _recomputed(warehouse), _in_mart(warehouse)
    # Suppliers the mart says delivered; those the raw lines say delivered are in `raw`.
    delivering = set(raw) | {s for s, m in mart.items() if m["shipments"] or m["lines"]}
    unnamed = lambda s: s or "(no supplier_id)"  # noqa: E731
    checks = []
    for measure in ("shipments", "lines"):
        problems = [f"{unnamed(s)}: {raw.get(s, {}).get(measure, 0):g} in the raw lines, "
                    f"{mart[s][measure]:g} in the mart" if s in mart else
                    f"{unnamed(s)}: {raw[s][measure]:g} in the raw lines, not in the mart"
                    for s in sorted(delivering, key=str)
                    if s not in mart or raw.get(s, {}).get(measure, 0) != mart[s][measure]]
        checks.append(Check(
            f"suppliers: {measure} per supplier = mart_supplier_performance {measure}",
            sum(r[measure] for r in raw.values()),
            sum(mart[s][measure] for s in delivering if s in mart),
            "recomputed from the raw delivery lines after removing exact duplicates",
            problems=named(problems)))
    for measure in ("on-time rate", "fill rate", "lead time"):
        agree, problems = 0, []
        for s in sorted(delivering, key=str):
            left, right = raw.get(s, {}).get(measure), mart.get(s, {}).get(measure)
            if s in mart and not _differs(left, right, RATE_TOLERANCE):
                agree += 1
            else:
                problems.append(f"{unnamed(s)}: {_value(left)} from the raw lines, "
                                f"{_value(right) if s in mart else 'not'} in the mart")
        checks.append(Check(
            f"suppliers: {measure} per supplier = mart_supplier_performance {measure}",
            len(delivering), agree,
            "suppliers with deliveries whose measure, recomputed from the raw delivery lines, "
            "the mart agrees with", problems=named(problems)))
    return checks


def _value(value: float | None) -> str:
    return "nothing" if value is None else f"{value:.6g}"
