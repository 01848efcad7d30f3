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
partition date), so every measure is a sum of per-day, per-supplier counts (all integers: sums
are exact). Validation keeps them between runs (``DeliveryTotals``): the per-supplier sums over
every checked day, with each day's partition checksum, in one small summary, and each day's own
counts in a file of its own. A run recomputes from the raw lines only the days whose partition
is new, re-landed (its manifest's checksum changed) or removed (and, given a window, a
backfill's, that window's days; a daily run passes none, so it reads its new day, not its week),
subtracting what the summary held for them (read from their day files) and adding what they
hold now: its reads and writes do not grow with history. A delivery split over two days would
count twice here and once in the mart, so it fails the check rather than pass unseen. Without
kept totals (the first run, a lost or unreadable file) every day is computed once, a batch of
days at a time (``batch_days``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Callable

from retailops.validation.checks import Check, day_batches, named, rows
from retailops.validation.window import Window
from retailops.warehouse.engines import Warehouse

# Rates and means are doubles computed in a different order on each side.
RATE_TOLERANCE = 1e-9
# Per supplier (and day): deliveries, on-time deliveries, sum of lead days, lines, units
# ordered, units received.
MEASURES = ("shipments", "on_time", "lead_days", "lines", "ordered", "received")
FORMAT = 2

PerSupplier = dict[str | None, tuple[float, ...]]
# Reads kept day files: {day: their bytes, None when missing}.
DayReader = Callable[[list[str]], dict[str, "bytes | None"]]


def _rows(per_supplier: PerSupplier) -> list[list]:
    return [[supplier, *values] for supplier, values in
            sorted(per_supplier.items(), key=lambda item: str(item[0]))]


def _per_supplier(rows: list[list]) -> PerSupplier:
    found = {}
    for row in rows:
        if len(row) != len(MEASURES) + 1:
            raise ValueError("a supplier's totals do not have the measures expected")
        found[row[0]] = tuple(float(v) for v in row[1:])
    return found


def _add(into: dict[str | None, list[float]], per_supplier: PerSupplier, sign: int) -> None:
    for supplier, values in per_supplier.items():
        sums = into.setdefault(supplier, [0.0] * len(MEASURES))
        for i, value in enumerate(values):
            sums[i] += sign * value


@dataclass
class DeliveryTotals:
    """Delivery counts from the raw lines, kept between runs.

    ``days``: every day the sums hold, with the checksum of its partition then;
    ``suppliers``: the per-supplier sums over those days (MEASURES); ``day_totals``: the
    per-supplier counts of single days, for the days this run computed (written to their day
    files) or read (to subtract); ``recomputed``: the days this run computed from the raw lines.
    """

    days: dict[str, str | None] = field(default_factory=dict)
    suppliers: dict[str | None, tuple[float, ...]] = field(default_factory=dict)
    day_totals: dict[str, PerSupplier] = field(default_factory=dict)
    recomputed: list[str] = field(default_factory=list)

    def summary_json(self) -> bytes:
        return json.dumps({"format": FORMAT, "measures": list(MEASURES),
                           "days": dict(sorted(self.days.items())),
                           "suppliers": _rows(self.suppliers)}).encode()

    def day_json(self, day: str) -> bytes:
        return json.dumps({"format": FORMAT, "day": day, "sha256": self.days.get(day),
                           "suppliers": _rows(self.day_totals[day])}).encode()

    @classmethod
    def from_json(cls, summary: bytes | None) -> "DeliveryTotals":
        """The kept summary; an unreadable or foreign one is no totals (all recomputed)."""
        try:
            document = json.loads(summary or b"null")
            if document.get("format") != FORMAT or document.get("measures") != list(MEASURES):
                return cls()
            days = {str(day): sha for day, sha in document["days"].items()}
            return cls(days, _per_supplier(document["suppliers"]))
        except (ValueError, TypeError, AttributeError, KeyError):
            return cls()

    def with_day_files(self, files: dict[str, bytes | None]) -> "DeliveryTotals":
        """These totals with days' own counts read from their files (``{day: bytes}``); a
        missing or unreadable file, or one of another partition, is left out (the check then
        recomputes every day: what the sums hold for that day is unknown)."""
        loaded = dict(self.day_totals)
        for day, data in files.items():
            try:
                document = json.loads(data or b"null")
                if document.get("format") == FORMAT and document.get("day") == day \
                        and document.get("sha256") == self.days.get(day):
                    loaded[day] = _per_supplier(document["suppliers"])
            except (ValueError, TypeError, AttributeError, KeyError):
                continue
        return DeliveryTotals(self.days, self.suppliers, loaded, self.recomputed)


def stale_days(kept: DeliveryTotals, committed: dict[str, str | None],
               window: Window | None) -> list[str]:
    """The days a run recomputes: every day whose partition is new, re-landed or removed
    since the kept totals (all of them without kept totals), and ``window``'s days (None: no
    window, as a daily run passes)."""
    if not kept.days:
        return sorted(committed)
    first = None if window is None else window.first.isoformat()
    last = None if window is None else window.last.isoformat()
    return sorted({day for day, sha in committed.items()
                   if (first is not None and first <= day <= last) or sha is None
                   or kept.days.get(day, "") != sha}
                  | {day for day in kept.days if day not in committed})


def _sql_list(values: list[str]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def _committed(warehouse: Warehouse) -> dict[str, str | None]:
    """Every complete shipment partition and its checksum (one row per day: small)."""
    return {str(day): sha for day, sha in rows(warehouse, (
        f"select partition_dt, sha256 from {warehouse.table('staging', 'stg_manifests')} "
        f"where table_name = 'shipments'"))}


def _day_totals(warehouse: Warehouse, days: list[str], batch_days: int = 31
                ) -> dict[str, dict]:
    """``{day: {supplier: measures}}`` from the raw lines of ``days``, ``batch_days`` at a
    time (every measure is per day: a batch's distinct lines are the day's)."""
    found: dict[str, dict] = {}
    for batch in day_batches([date.fromisoformat(day) for day in days], batch_days):
        found.update(_batch_totals(warehouse, [day.isoformat() for day in batch]))
    return found


def _batch_totals(warehouse: Warehouse, days: list[str]) -> dict[str, dict]:
    """One batch of ``_day_totals``."""
    where = f"where dt in {_sql_list(days)}"
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


def delivery_totals(warehouse: Warehouse, window: Window | None, kept: DeliveryTotals | None,
                    read_days: DayReader | None = None, batch_days: int = 31
                    ) -> DeliveryTotals:
    """Today's totals: the kept sums with the stale days' old counts taken out and their
    counts recomputed from the raw lines put in (every day, in one pass, without usable kept
    totals). ``read_days`` reads the kept day files of the days to take out (``{day:
    bytes}``); days ``kept`` already carries are not read."""
    committed = _committed(warehouse)
    kept = kept or DeliveryTotals()
    stale = stale_days(kept, committed, window)
    previous = [day for day in stale if day in kept.days]
    unread = [day for day in previous if day not in kept.day_totals]
    if unread and read_days is not None:
        kept = kept.with_day_files(read_days(unread))
    if any(day not in kept.day_totals for day in previous):
        kept, stale, previous = DeliveryTotals(), sorted(committed), []
    computed = _day_totals(warehouse, stale, batch_days) if stale else {}
    sums = {supplier: list(values) for supplier, values in kept.suppliers.items()}
    for day in previous:
        _add(sums, kept.day_totals[day], -1)
    recomputed = [day for day in stale if day in committed]
    for day in recomputed:
        _add(sums, computed.get(day, {}), +1)
    days = {day: sha for day, sha in kept.days.items() if day in committed}
    days.update({day: committed[day] for day in recomputed})
    return DeliveryTotals(days, {s: tuple(v) for s, v in sums.items() if any(v)},
                          {day: computed.get(day, {}) for day in recomputed}, recomputed)


def _recomputed(totals: DeliveryTotals) -> dict[str | None, dict[str, float]]:
    found = {}
    for supplier, (shipments, on_time, lead_days, lines, ordered, received) in \
            totals.suppliers.items():
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
                    kept: DeliveryTotals | None = None, read_days: DayReader | None = None,
                    batch_days: int = 31) -> tuple[list[Check], DeliveryTotals]:
    """The scorecard's checks, and the totals to keep for the next run."""
    totals = delivery_totals(warehouse, window, kept, read_days, batch_days)
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
