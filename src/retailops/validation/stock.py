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

History is bounded: a run checks the pairs whose second count falls in its window, looking
back at most ``lookback_days`` for the first count (the simulated chain counts every cell
every 18 days). Consecutive counts are paired with ``lag`` over the counts alone, and each
pair's flows are summed by a join on the cell and the days (t1, t2]: a running total over every
flow row (a window over ~300K rows in ~70K cells a week at scale 1) cost DuckDB twice as
long. The ledger is filtered on its partition column, so only the days of
``first - lookback_days .. last`` are opened whatever the history.
"""

from __future__ import annotations

from datetime import timedelta

from retailops.validation.checks import MAX_NAMED_PROBLEMS, Check, rows
from retailops.validation.window import Window
from retailops.warehouse.engines import Warehouse


def _pairs_sql(warehouse: Warehouse, window: Window, lookback_days: int) -> str:
    stg = lambda name: warehouse.table("staging", name)  # noqa: E731
    mart = lambda name: warehouse.table("marts", name)  # noqa: E731
    since = (window.first - timedelta(days=lookback_days)).isoformat()
    a, b = window.first.isoformat(), window.last.isoformat()
    cell = "partition by store_id, product_id order by on_day"
    return f"""
        with checked_cells as (
            -- only cells counted in the window have a pair to check
            select distinct store_id, product_id
            from {mart('fct_inventory_snapshots')}
            where snapshot_date between date '{a}' and date '{b}'
        ),
        counts as (
            select counts.store_id, counts.product_id, counts.snapshot_date as on_day,
                   counts.recorded_quantity_on_hand as on_hand
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
              on listed_counts.record_key = cast(counts.on_day as varchar) || '|'
                                            || counts.store_id || '|' || counts.product_id
             and listed_counts.recorded_value = cast(counts.on_hand as varchar)
        ),
        consecutive as (
            select store_id, product_id, on_day, on_hand, excused,
                   lag(on_day) over ({cell}) as previous_day,
                   lag(on_hand) over ({cell}) as previous_on_hand,
                   lag(excused) over ({cell}) as previous_excused
            from judged_counts
        ),
        pairs as (
            select store_id, product_id, previous_day, on_day, on_hand, previous_on_hand
            from consecutive
            where previous_day is not null
              and on_day between date '{a}' and date '{b}'
              and excused = 0 and previous_excused = 0
        ),
        sold as (
            select sales.store_id, sales.product_id, sales.sale_date as on_day,
                   sales.quantity as units
            from {mart('fct_daily_sales')} sales
            join checked_cells
              on sales.store_id = checked_cells.store_id
             and sales.product_id = checked_cells.product_id
            where sales.sale_date between date '{since}' and date '{b}'
        ),
        delivery_lines as (
            select shipment_id, line_number, store_id, product_id, received_date,
                   quantity_received, count(*) as copies
            from {stg('base_shipments')}
            where dt between '{since}' and '{b}'
            group by shipment_id, line_number, store_id, product_id, received_date,
                     quantity_received
        ),
        listed_duplicates as (
            select record_key, count(*) as listed
            from {stg('stg_defects')}
            where defect_type = 'duplicate_shipment_line'
              and ledger = 'facts' and partition_dt between '{since}' and '{b}'
              and defect_date between date '{since}' and date '{b}'
            group by record_key
        ),
        received as (
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
        flows as (
            select store_id, product_id, on_day, -units as units from sold
            union all
            select store_id, product_id, on_day, units from received
        ),
        -- What was sold and received in (t1, t2], the days between a pair's counts.
        pair_flows as (
            select pairs.store_id, pairs.product_id, pairs.previous_day, pairs.on_day,
                   pairs.on_hand, pairs.previous_on_hand,
                   coalesce(sum(flows.units), 0) as net_flow
            from pairs
            left join flows
              on flows.store_id = pairs.store_id
             and flows.product_id = pairs.product_id
             and flows.on_day > pairs.previous_day
             and flows.on_day <= pairs.on_day
            group by pairs.store_id, pairs.product_id, pairs.previous_day, pairs.on_day,
                     pairs.on_hand, pairs.previous_on_hand
        ),
        judged as (
            select store_id, product_id, previous_day, on_day, on_hand,
                   previous_on_hand + net_flow as expected_on_hand,
                   case when on_hand = previous_on_hand + net_flow then 0 else 1 end as broken
            from pair_flows
        ),
        ranked as (
            select judged.*,
                   count(*) over () as pairs_checked,
                   sum(broken) over () as pairs_broken,
                   row_number() over (order by broken desc, store_id, product_id, on_day)
                       as report_order
            from judged
        )
        select store_id, product_id, previous_day, on_day, on_hand, expected_on_hand, broken,
               pairs_checked, pairs_broken
        from ranked
        where report_order <= {MAX_NAMED_PROBLEMS}
        order by report_order
    """


def stock_checks(warehouse: Warehouse, window: Window, lookback_days: int = 31) -> list[Check]:
    found = rows(warehouse, _pairs_sql(warehouse, window, lookback_days))
    checked = int(found[0][7]) if found else 0
    broken = int(found[0][8]) if found else 0
    problems = [f"{store}/{product} {str(t1)[:10]}..{str(t2)[:10]}: counted {_units(on_hand)}, "
                f"expected {_units(expected)}"
                for store, product, t1, t2, on_hand, expected, is_broken, *_ in found if is_broken]
    if broken > len(problems):
        problems.append(f"and {broken - len(problems)} more")
    return [Check(
        "stock: on hand conserved between consecutive counts", checked, checked - broken,
        f"clean pairs of counts whose second count is in the window (first count at most "
        f"{lookback_days} days earlier): count(t1) - sold + received in (t1, t2] = count(t2)",
        problems=tuple(problems))]


def _units(value: object) -> str:
    return "nothing" if value is None else f"{int(value)}"
