"""What a daily validation keeps so that its week's heavy checks read the new day, not the week.

A daily run validates the week up to its day, so that a day broken or lost earlier in the
week keeps failing. The cheap checks (presence, row counts, the ledger, the mart side of the
money check, the promotion plans) read the whole week every run. The three families whose cost
grows with the chain's size read, per day, what that day's verdict depends on, and a day they
already found clean is not read again while none of it changed:

- ``promotions`` (day d): the sale lines of d against the plan of d's week; d's result depends
  on the sales partition of d, the plan partition of its Monday and d's blank-discount ledger;
- ``money`` (day d): the raw side, net revenue and cost recomputed from d's sale lines and the
  products' unit cost (kept whatever the verdict: they are the raw lines' totals); the mart
  side is read for the whole week every run;
- ``stock`` (day d): the pairs of counts whose second count is on d; they read the counts,
  the mart's units sold, the delivery lines and the ledger of ``d - lookback .. d``.

Each day's result is kept with a **fingerprint** of those inputs: the sha256 of every lake
partition it reads (from the manifest index the build wrote), the number of ledger rows of each
defect type it reads, the products file's sha256 and, for the stock check, each day's row count
and unit total of the two marts it reads (so a mart day rebuilt or changed since is read again).
A day is read again when its fingerprint differs, when it was not clean (a failing day keeps
failing until repaired), or when nothing is kept (the first run, a lost or unreadable file).
The week's check is then the kept days' results plus the days read: the same numbers and the
same named problems as reading the whole week.

What a kept day does not see: a change to its raw lines that leaves the manifest's checksum as
it was (the lake's contract is that a partition's bytes are its manifest's), and an edit made
to a mart outside dbt that keeps the day's row count and unit total (a rebuild from changed
data changes them; the mart side of the money check, the presence and row checks still read
the whole week).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, timedelta

from retailops.validation.checks import SalesDays, rows
from retailops.validation.window import Window
from retailops.warehouse.engines import Warehouse

FORMAT = 1
FAMILIES = ("promotions", "money", "stock")


@dataclass
class DayResults:
    """Per family, per day (ISO date): (fingerprint, values). ``promotions`` keeps clean days
    only (no values); ``money`` the raw side's [net revenue, cost]; ``stock`` clean days only,
    with [count pairs checked]. ``recomputed``: per family, the days this run read."""

    days: dict[str, dict[str, tuple[str, list[float]]]] = field(default_factory=dict)
    recomputed: dict[str, list[str]] = field(default_factory=dict)

    def get(self, family: str, day: str, key: str | None) -> list[float] | None:
        """The values kept for ``day`` if its fingerprint is ``key`` (None otherwise)."""
        found = self.days.get(family, {}).get(day)
        if key is None or found is None or found[0] != key:
            return None
        return found[1]

    def put(self, family: str, day: str, key: str | None, values: list[float]) -> None:
        if key is not None:
            self.days.setdefault(family, {})[day] = (key, list(values))

    def forget(self, family: str, day: str) -> None:
        self.days.get(family, {}).pop(day, None)

    def read(self, family: str, days: list[str]) -> None:
        self.recomputed.setdefault(family, []).extend(days)

    def within(self, window: Window) -> "DayResults":
        """Only the window's days: what the next run's week can use."""
        a, b = window.first.isoformat(), window.last.isoformat()
        return DayResults({family: {d: v for d, v in per_day.items() if a <= d <= b}
                           for family, per_day in self.days.items()},
                          {f: sorted(d) for f, d in self.recomputed.items()})

    def to_json(self) -> bytes:
        return json.dumps({"format": FORMAT, "days": {
            family: {day: [key, values] for day, (key, values) in sorted(per_day.items())}
            for family, per_day in sorted(self.days.items())}}).encode()

    @classmethod
    def from_json(cls, data: bytes | None) -> "DayResults":
        """The kept file; an unreadable or foreign one is nothing kept (every day read)."""
        try:
            document = json.loads(data or b"null")
            if document.get("format") != FORMAT:
                return cls()
            days = {}
            for family, per_day in document["days"].items():
                if family not in FAMILIES:
                    continue
                days[family] = {str(day): (str(key), [float(v) for v in values])
                                for day, (key, values) in per_day.items()}
            return cls(days)
        except (ValueError, TypeError, AttributeError, KeyError):
            return cls()


def _digest(parts: list) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True)
class Fingerprints:
    """Each day's fingerprint per family over a window (see the module's docstring)."""

    promotions: dict[str, str]
    money: dict[str, str | None]
    stock: dict[str, str]


def fingerprints(warehouse: Warehouse, window: Window, lookback_days: int,
                 products_sha: str | None, sold: SalesDays) -> Fingerprints:
    """Four small queries over ``first - lookback .. last``: the manifest index, the fact
    ledger's counts per day and type, and the two marts' per-day totals. ``sold``:
    ``sales_mart_days`` of the window (the sales mart is read here for the lookback before
    the window only)."""
    stg = lambda name: warehouse.table("staging", name)  # noqa: E731
    mart = lambda name: warehouse.table("marts", name)  # noqa: E731
    first, last = window.first, window.last
    since = first - timedelta(days=lookback_days)
    a, b, s = first.isoformat(), last.isoformat(), since.isoformat()
    mondays = sorted({monday(first + timedelta(days=i)).isoformat()
                      for i in range((last - first).days + 1)})
    shas: dict[tuple[str, str], str | None] = {}
    for table, day, sha in rows(warehouse, (
            f"select table_name, partition_dt, sha256 from {stg('stg_manifests')} "
            f"where (table_name in ('sales', 'inventory', 'shipments') "
            f"and partition_dt between '{s}' and '{b}') "
            f"or (table_name = 'promotions' and partition_dt in "
            f"({', '.join(repr(m) for m in mondays)}))")):
        shas[(str(table), str(day))] = None if sha is None else str(sha)
    ledger: dict[tuple[str, str], int] = {}
    for day, defect, n in rows(warehouse, (
            f"select partition_dt, defect_type, count(*) from {stg('stg_defects')} "
            f"where ledger = 'facts' and partition_dt between '{s}' and '{b}' "
            f"and defect_date between date '{s}' and date '{b}' "
            f"group by partition_dt, defect_type")):
        ledger[(str(day), str(defect))] = int(n)
    sold_to = (first - timedelta(days=1)).isoformat()
    sold_days = {str(day)[:10]: [int(n), int(units or 0)] for day, n, units in rows(warehouse, (
        f"select cast(sale_date as varchar), count(*), sum(quantity) "
        f"from {mart('fct_daily_sales')} where sale_date between date '{s}' "
        f"and date '{sold_to}' group by sale_date"))}
    for day, (n, _, units, *_) in sold.items():
        sold_days[day] = [int(n), int(units or 0)]
    counted = {str(day)[:10]: [int(n), int(units or 0)] for day, n, units in rows(warehouse, (
        f"select cast(snapshot_date as varchar), count(*), sum(recorded_quantity_on_hand) "
        f"from {mart('fct_inventory_snapshots')} "
        f"where snapshot_date between date '{s}' and date '{b}' group by snapshot_date"))}

    def stock_day(day: date) -> list:
        d = day.isoformat()
        return [d, shas.get(("inventory", d)), shas.get(("sales", d)),
                shas.get(("shipments", d)), ledger.get((d, "negative_on_hand"), 0),
                ledger.get((d, "duplicate_shipment_line"), 0), sold_days.get(d),
                counted.get(d)]

    promotions, money, stock = {}, {}, {}
    for i in range((last - first).days + 1):
        day = first + timedelta(days=i)
        d = day.isoformat()
        sales = shas.get(("sales", d))
        promotions[d] = _digest([d, sales, shas.get(("promotions", monday(day).isoformat())),
                                 ledger.get((d, "null_discount"), 0)])
        money[d] = None if products_sha is None else _digest([d, sales, products_sha])
        stock[d] = _digest([lookback_days] + [
            stock_day(day - timedelta(days=back)) for back in range(lookback_days + 1)])
    return Fingerprints(promotions, money, stock)
