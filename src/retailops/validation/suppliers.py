"""The supplier scorecard (mart_supplier_performance) reconciles with the raw delivery lines.

Recomputed here from ``base_shipments`` (every complete shipment partition as landed), after
the documented duplicate removal (a double-scanned line arrives as an exact duplicate row, and
counts once), with the scorecard's definitions:

- a shipment (delivery) is a shipment_id; it was ordered on its earliest order date, is due on
  its latest expected date and arrived with its last line;
- on-time rate = deliveries that arrived on or before their due date / deliveries;
- lead time = mean days from order to arrival, over deliveries;
- fill rate = units received / units ordered, over lines.

The scorecard covers the whole history, but the check does not read it every day. A delivery
arrives whole on one day, in that day's partition (staging's rule: received_date is the
partition date), so every measure is a sum of per-day, per-supplier totals. Those totals are
kept between runs (``DeliveryTotals``, saved in the lake beside the run reports) under the
SHA-256 of the partition they were computed from: a run recomputes only its window's days and
the days whose partition is new or was re-landed (its manifest's checksum changed), and adds up
the rest. A delivery split over two days would count twice here and once in the mart, so it
fails the check rather than pass unseen. Without kept totals (the first run, a lost state
file) every day is computed once, in one pass.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from retailops.validation.checks import Check, named, rows
from retailops.validation.window import Window
from retailops.warehouse.engines import Warehouse

# Rates and means are doubles computed in a different order on each side.
RATE_TOLERANCE = 1e-9
# Per supplier and day: deliveries, on-time deliveries, sum of lead days, lines, units
# ordered, units received.
MEASURES = ("shipments", "on_time", "lead_days", "lines", "ordered", "received")


@dataclass
class DeliveryTotals:
    """Per-day, per-supplier delivery totals from the raw lines, kept between runs.

    ``days``: ``{partition day: (sha256 of the partition, {supplier: (measures...)})}``; the
    supplier is None for lines without one. ``recomputed``: the days the last check computed
    from the raw lines (the rest came from the kept totals)."""

    days: dict[str, tuple[str | None, dict[str | None, tuple[float, ...]]]] = field(
        default_factory=dict)
    recomputed: list[str] = field(default_factory=list)

    def to_json(self) -> bytes:
        return json.dumps({"version": 1, "measures": list(MEASURES), "days": {
            day: {"sha256": sha, "suppliers": [[s, *v] for s, v in sorted(
                per_supplier.items(), key=lambda item: str(item[0]))]}
            for day, (sha, per_supplier) in sorted(self.days.items())}}).encode()

    @classmethod
    def from_json(cls, data: bytes | None) -> "DeliveryTotals":
        """Kept totals; an unreadable or foreign file is no totals (everything recomputed)."""
        try:
            document = json.loads(data or b"null")
            if document.get("version") != 1 or document.get("measures") != list(MEASURES):
                return cls()
            return cls({day: (entry["sha256"], {row[0]: tuple(float(v) for v in row[1:])
                                                for row in entry["suppliers"]})
                        for day, entry in document["days"].items()})
        except (ValueError, TypeError, AttributeError, KeyError, IndexError):
            return cls()


def _sql_list(values: list[str]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def _committed(warehouse: Warehouse) -> dict[str, str | None]:
    """Every complete shipment partition and its checksum (one row per day: small)."""
    return {str(day): sha for day, sha in rows(warehouse, (
        f"select partition_dt, sha256 from {warehouse.table('staging', 'stg_manifests')} "
        f"where table_name = 'shipments'"))}


def _day_totals(warehouse: Warehouse, days: list[str] | None) -> dict[str, dict]:
    """``{day: {supplier: measures}}`` from the raw lines of ``days`` (None: every day)."""
    where = "" if days is None else f"where dt in {_sql_list(days)}"
    sql = f"""
        with lines as (
            select distinct
                shipment_id, line_number, supplier_id, store_id, product_id, order_date,
                expected_date, received_date, quantity_ordered, quantity_received, dt
            from {warehouse.table('staging', 'base_shipments')}
            {where}
        ),
        deliveries as (
            select
                dt,
                supplier_id,
                shipment_id,
                case when max(received_date) <= max(expected_date) then 1 else 0 end as on_time,
                date_diff('day', min(order_date), max(received_date)) as lead_days
            from lines
            group by dt, supplier_id, shipment_id
        ),
        per_delivery as (
            select dt, supplier_id, count(*) as shipments, sum(on_time) as on_time,
                   sum(lead_days) as lead_days
            from deliveries
            group by dt, supplier_id
        ),
        per_line as (
            select dt, supplier_id, count(*) as lines, sum(quantity_ordered) as ordered,
                   sum(quantity_received) as received
            from lines
            group by dt, supplier_id
        )
        select per_line.dt, per_line.supplier_id, per_delivery.shipments, per_delivery.on_time,
               per_delivery.lead_days, per_line.lines, per_line.ordered, per_line.received
        from per_line
        join per_delivery
            on per_line.dt = per_delivery.dt
           and coalesce(per_line.supplier_id, '') = coalesce(per_delivery.supplier_id, '')
    """
    found: dict[str, dict] = {}
    for day, supplier, *measures in rows(warehouse, sql):
        found.setdefault(str(day), {})[supplier] = tuple(float(v or 0) for v in measures)
    return found


def delivery_totals(warehouse: Warehouse, window: Window | None,
                    kept: DeliveryTotals | None) -> DeliveryTotals:
    """Today's per-day totals: the kept ones, with the window's days and every new or
    re-landed partition recomputed from the raw lines (every day without kept totals)."""
    committed = _committed(warehouse)
    if kept is None or not kept.days:
        computed = _day_totals(warehouse, None)
        return DeliveryTotals({day: (sha, computed.get(day, {}))
                               for day, sha in committed.items()}, sorted(committed))
    in_window = set() if window is None else {
        day for day in committed if window.first.isoformat() <= day <= window.last.isoformat()}
    stale = sorted(day for day, sha in committed.items()
                   if day in in_window or day not in kept.days or kept.days[day][0] != sha
                   or sha is None)
    computed = _day_totals(warehouse, stale) if stale else {}
    days = {day: (sha, computed.get(day, {}) if day in stale else kept.days[day][1])
            for day, sha in committed.items()}
    return DeliveryTotals(days, stale)


def _recomputed(totals: DeliveryTotals) -> dict[str | None, dict[str, float]]:
    summed: dict[str | None, list[float]] = {}
    for _, per_supplier in totals.days.values():
        for supplier, measures in per_supplier.items():
            into = summed.setdefault(supplier, [0.0] * len(MEASURES))
            for i, value in enumerate(measures):
                into[i] += value
    found = {}
    for supplier, (shipments, on_time, lead_days, lines, ordered, received) in summed.items():
        if not shipments and not lines:
            continue
        found[supplier] = {
            "shipments": shipments, "lines": lines,
            "on-time rate": on_time / shipments if shipments else None,
            "lead time": lead_days / shipments if shipments else None,
            "fill rate": received / ordered if ordered else None}
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


def supplier_checks(warehouse: Warehouse, window: Window | None = None,
                    kept: DeliveryTotals | None = None) -> tuple[list[Check], DeliveryTotals]:
    """The scorecard's checks, and the per-day totals to keep for the next run."""
    totals = delivery_totals(warehouse, window, kept)
    raw, mart = _recomputed(totals), _in_mart(warehouse)
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
    return checks, totals


def _value(value: float | None) -> str:
    return "nothing" if value is None else f"{value:.6g}"
