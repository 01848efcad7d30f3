"""Stock is conserved between counts, on the data the run produced.

For every store x product cell and every pair of consecutive end-of-day counts t1 < t2,

    on_hand(t2) = on_hand(t1) - units sold in (t1, t2] + units received in (t1, t2]

with the counts from fct_inventory_snapshots (as recorded), the units sold from
fct_daily_sales and the units received from the raw delivery lines (base_shipments).
Defects are excused only as the defect ledger lists them: a pair is skipped when one of its
counts is a ledger-listed negative_on_hand with the very value recorded, and a repeated
delivery line counts once per copy the ledger does not list as a duplicate_shipment_line.
Anything else that breaks the balance (a lost day of sales, a changed count, a receipt
counted twice) fails the check, naming the cell and the two days.

History is bounded: a run checks the pairs whose second count falls in its window and whose
first count lies at most ``lookback_days`` before the second (the simulated chain counts every
cell every 18 days). A pair's verdict depends only on ``t2 - lookback_days .. t2``, so a daily
run keeps each day's clean result (``retailops.validation.kept``, with a fingerprint of those
days' partitions, ledger and mart totals) and reads only the pairs ending on the days not kept:
the new day, and any day whose inputs changed or that was not clean. (The bound was once
shared by the window, ``first - lookback_days``, which gave the week's last day six more days;
the default lookback, 37 days, keeps every pair that bound of 31 days reached.)

Consecutive counts are paired with ``lag`` over the counts alone (one pass in cell and day
order, a row paired with its predecessor when that is the same cell), and each pair's flows are
summed by a join on the cell and the days (t1, t2]: a running total over every flow row (a
window over ~300K rows in ~70K cells a week at scale 1) cost DuckDB twice as long. The ledger
is filtered on its partition column, so only the days of ``first - lookback_days .. last`` (of
the days read) are opened whatever the history.
"""

from __future__ import annotations

from datetime import date, timedelta

from retailops.validation.checks import MAX_NAMED_PROBLEMS, Check, day_batches, rows
from retailops.validation.kept import DayResults
from retailops.validation.window import Window
from retailops.warehouse.engines import Warehouse


def _pairs_sql(warehouse: Warehouse, second_days: list[date], lookback_days: int) -> str:
    """The pairs whose second count is on one of ``second_days``: one row per such day (its
    pairs, its broken pairs) and the first MAX_NAMED_PROBLEMS broken pairs."""
    stg = lambda name: warehouse.table("staging", name)  # noqa: E731
    mart = lambda name: warehouse.table("marts", name)  # noqa: E731
    first, last = min(second_days), max(second_days)
    since = (first - timedelta(days=lookback_days)).isoformat()
    a, b = first.isoformat(), last.isoformat()
    if len(second_days) == (last - first).days + 1:
        on_days = f"between date '{a}' and date '{b}'"
    else:
        on_days = "in (" + ", ".join(f"date '{d.isoformat()}'" for d in second_days) + ")"
    # One ordered pass over the checked cells' counts: a row's predecessor is its cell's
    # previous count when it is the same cell (a cell's first count follows another cell's
    # last). Partitioned by cell, DuckDB built ~64K two-row partitions a day at scale 16:
    # 0.1-0.17 s of the check's 0.7-0.9 s of CPU.
    in_order = "order by store_id, product_id, on_day"
    return f"""
        with checked_cells as (
            -- only cells counted on the days checked have a pair to check
            select distinct store_id, product_id
            from {mart('fct_inventory_snapshots')}
            where snapshot_date {on_days}
        ),
        counts as (
            select counts.store_id, counts.product_id, counts.snapshot_date as on_day,
                   counts.recorded_quantity_on_hand as on_hand,
                   -- the ledger's key and value, computed here on the checked cells' counts:
                   -- written in the join, DuckDB joined the ledger to every count of the
                   -- lookback first (a third of a single day's check at scale 16)
                   cast(counts.snapshot_date as varchar) || '|' || counts.store_id || '|'
                   || counts.product_id as count_key,
                   cast(counts.recorded_quantity_on_hand as varchar) as recorded_text
            from {mart('fct_inventory_snapshots')} counts
            join checked_cells
              on counts.store_id = checked_cells.store_id
             and counts.product_id = checked_cells.product_id
            where counts.snapshot_date between date '{since}' and date '{b}'
        ),
        listed_counts as (
            select record_key, recorded_value
            from {stg('stg_defects')}
            where defect_type = 'negative_on_hand'
              and ledger = 'facts' and partition_dt between '{since}' and '{b}'
              and defect_date between date '{since}' and date '{b}'
        ),
        judged_counts as (
            select counts.store_id, counts.product_id, counts.on_day, counts.on_hand,
                   case when listed_counts.record_key is null then 0 else 1 end as excused
            from counts
            left join listed_counts
              on listed_counts.record_key = counts.count_key
             and listed_counts.recorded_value = counts.recorded_text
        ),
        consecutive as (
            select store_id, product_id, on_day, on_hand, excused,
                   case when lag(store_id) over ({in_order}) = store_id
                         and lag(product_id) over ({in_order}) = product_id
                        then lag(on_day) over ({in_order}) end as previous_day,
                   lag(on_hand) over ({in_order}) as previous_on_hand,
                   lag(excused) over ({in_order}) as previous_excused
            from judged_counts
        ),
        pairs as (
            select store_id, product_id, previous_day, on_day, on_hand, previous_on_hand
            from consecutive
            where previous_day is not null
              and on_day {on_days}
              and date_diff('day', previous_day, on_day) <= {lookback_days}
              and excused = 0 and previous_excused = 0
        ),
        -- Each pair's flows are summed by joining the flows to the pairs themselves (a cell
        -- has at most one pair ending on a day, so store, product and second day name it):
        -- joined to the checked cells first and then to the pairs, DuckDB matched the
        -- flows twice and grouped them on all six columns of a pair (half the check).
        sold as (
            select pairs.store_id, pairs.product_id, pairs.on_day,
                   sum(sales.quantity) as units
            from {mart('fct_daily_sales')} sales
            join pairs
              on sales.store_id = pairs.store_id
             and sales.product_id = pairs.product_id
             and sales.sale_date > pairs.previous_day
             and sales.sale_date <= pairs.on_day
            where sales.sale_date between date '{since}' and date '{b}'
            group by pairs.store_id, pairs.product_id, pairs.on_day
        ),
        delivery_lines as (
            -- The checked cells' lines only (the lookback's delivery lines number ~950K at
            -- scale 16), kept by a semi join (EXISTS) before the copies are counted: written
            -- as a join, DuckDB grouped every line of the lookback on its six columns first
            -- and joined the groups to the cells after (a quarter of the check's CPU).
            select lines.shipment_id, lines.line_number, lines.store_id, lines.product_id,
                   lines.received_date, lines.quantity_received, count(*) as copies
            from {stg('base_shipments')} lines
            where lines.dt between '{since}' and '{b}'
              and exists (select 1 from checked_cells
                          where checked_cells.store_id = lines.store_id
                            and checked_cells.product_id = lines.product_id)
            group by lines.shipment_id, lines.line_number, lines.store_id, lines.product_id,
                     lines.received_date, lines.quantity_received
        ),
        listed_duplicates as (
            select record_key, count(*) as listed
            from {stg('stg_defects')}
            where defect_type = 'duplicate_shipment_line'
              and ledger = 'facts' and partition_dt between '{since}' and '{b}'
              and defect_date between date '{since}' and date '{b}'
            group by record_key
        ),
        received_lines as (
            select delivery_lines.store_id, delivery_lines.product_id,
                   delivery_lines.received_date as on_day,
                   delivery_lines.quantity_received
                   * (delivery_lines.copies - coalesce(listed_duplicates.listed, 0)) as units
            from delivery_lines
            left join listed_duplicates
              on listed_duplicates.record_key
                 = cast(delivery_lines.shipment_id as varchar) || '|'
                   || cast(delivery_lines.line_number as varchar)
        ),
        received as (
            select pairs.store_id, pairs.product_id, pairs.on_day,
                   sum(received_lines.units) as units
            from received_lines
            join pairs
              on received_lines.store_id = pairs.store_id
             and received_lines.product_id = pairs.product_id
             and received_lines.on_day > pairs.previous_day
             and received_lines.on_day <= pairs.on_day
            group by pairs.store_id, pairs.product_id, pairs.on_day
        ),
        -- What was sold and received in (t1, t2], the days between a pair's counts.
        pair_flows as (
            select pairs.store_id, pairs.product_id, pairs.previous_day, pairs.on_day,
                   pairs.on_hand, pairs.previous_on_hand,
                   coalesce(received.units, 0) - coalesce(sold.units, 0) as net_flow
            from pairs
            left join sold
              on sold.store_id = pairs.store_id
             and sold.product_id = pairs.product_id
             and sold.on_day = pairs.on_day
            left join received
              on received.store_id = pairs.store_id
             and received.product_id = pairs.product_id
             and received.on_day = pairs.on_day
        ),
        judged as (
            select store_id, product_id, previous_day, on_day, on_hand,
                   previous_on_hand + net_flow as expected_on_hand,
                   case when on_hand = previous_on_hand + net_flow then 0 else 1 end as broken
            from pair_flows
        ),
        ranked as (
            select judged.*,
                   row_number() over (order by store_id, product_id, on_day) as report_order
            from judged
            where broken = 1
        )
        select 0 as report_order, cast(null as varchar) as store_id,
               cast(null as varchar) as product_id, cast(null as date) as previous_day,
               on_day, cast(null as bigint) as on_hand, cast(null as bigint) as expected_on_hand,
               count(*) as pairs, sum(broken) as broken
        from judged
        group by on_day
        union all
        select report_order, store_id, product_id, previous_day, on_day, on_hand,
               expected_on_hand, 1 as pairs, 1 as broken
        from ranked
        where report_order <= {MAX_NAMED_PROBLEMS}
        order by report_order, on_day
    """


def stock_checks(warehouse: Warehouse, window: Window, lookback_days: int = 37,
                 kept: DayResults | None = None,
                 keys: dict[str, str] | None = None, batch_days: int = 31) -> list[Check]:
    """``kept``: the days earlier runs found clean (fingerprints ``keys``), not read again; the
    days found clean now are added to it. The days read are read ``batch_days`` at a time
    (each batch with its own lookback): a day's pairs do not depend on the batch."""
    keys = keys or {}
    window_days = [window.first + timedelta(days=i)
                   for i in range((window.last - window.first).days + 1)]
    checked = broken = 0
    unread = []
    for day in window_days:
        values = None if kept is None else kept.get("stock", day.isoformat(),
                                                   keys.get(day.isoformat()))
        if values is None:
            unread.append(day)
        else:
            checked += int(values[0])
    if kept is not None:
        kept.read("stock", [d.isoformat() for d in unread])
    found = [row for batch in day_batches(unread, batch_days)
             for row in rows(warehouse, _pairs_sql(warehouse, batch, lookback_days))]
    per_day = {str(row[4])[:10]: (int(row[7]), int(row[8])) for row in found if row[0] == 0}
    # Each batch names its first broken pairs in (store, product, day) order; the window's
    # first are the first of those.
    named_pairs = sorted((row for row in found if row[0]),
                         key=lambda row: (row[1], row[2], row[4]))[:MAX_NAMED_PROBLEMS]
    for day in unread:
        pairs, broken_pairs = per_day.get(day.isoformat(), (0, 0))
        checked, broken = checked + pairs, broken + broken_pairs
        if kept is not None and broken_pairs:
            kept.forget("stock", day.isoformat())
        elif kept is not None:
            kept.put("stock", day.isoformat(), keys.get(day.isoformat()), [pairs])
    problems = [f"{store}/{product} {str(t1)[:10]}..{str(t2)[:10]}: counted {_units(on_hand)}, "
                f"expected {_units(expected)}"
                for order, store, product, t1, t2, on_hand, expected, *_ in named_pairs]
    if broken > len(problems):
        problems.append(f"and {broken - len(problems)} more")
    return [Check(
        "stock: on hand conserved between consecutive counts", checked, checked - broken,
        f"clean pairs of counts whose second count is in the window (first count at most "
        f"{lookback_days} days earlier): count(t1) - sold + received in (t1, t2] = count(t2)",
        problems=tuple(problems))]


def _units(value: object) -> str:
    return "nothing" if value is None else f"{int(value)}"
