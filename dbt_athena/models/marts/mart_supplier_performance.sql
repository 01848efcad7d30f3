{{ config(**mart_table_config()) }}

{#- Over every complete shipment partition. A delivery is on time when it arrived on or
    before its expected date; fill rate is units received over units ordered. -#}
with

suppliers as (

    select * from {{ ref('stg_suppliers') }}

),

delivery_partitions as (

    select * from {{ ref('stg_deliveries') }}

),

spread_deliveries as (

    {#- Deliveries with rows in more than one partition (lines received on different days):
        none in a simulated lake, where a delivery arrives on one day, but a re-landed or
        edited partition can make one. Only these need combining. -#}
    select supplier_id, shipment_id
    from delivery_partitions
    group by supplier_id, shipment_id
    having count(*) > 1

),

deliveries as (

    {#- One row per delivery, its partitions' rows combined (every figure of stg_deliveries
        is a min, a max or a sum, so this is what grouping the lines themselves gives). A
        daily run so reads one row per delivery and partition of history (a year: ~106K at
        scale 1, ~425K at scale 16), not every delivery line, and stg_deliveries rebuilds
        only the run's days. A delivery in one partition is its row as it is; only the spread
        ones are grouped: grouping every row with its nine figures cost twice the CPU of
        finding the spread ones (0.22 -> 0.11 CPU-s at the end of a year at scale 16,
        docs/scale.md, finding 17). Keys compare null-safe, as GROUP BY groups nulls. -#}
    select
        supplier_id,
        shipment_id,
        order_date,
        received_date,
        expected_date,
        lines,
        units_ordered,
        units_received,
        duplicate_lines_removed

    from delivery_partitions
    where not exists (
        select 1
        from spread_deliveries
        where spread_deliveries.supplier_id is not distinct from delivery_partitions.supplier_id
          and spread_deliveries.shipment_id is not distinct from delivery_partitions.shipment_id
    )

    union all

    select
        delivery_partitions.supplier_id,
        delivery_partitions.shipment_id,
        min(delivery_partitions.order_date) as order_date,
        max(delivery_partitions.received_date) as received_date,
        max(delivery_partitions.expected_date) as expected_date,
        sum(delivery_partitions.lines) as lines,
        sum(delivery_partitions.units_ordered) as units_ordered,
        sum(delivery_partitions.units_received) as units_received,
        sum(delivery_partitions.duplicate_lines_removed) as duplicate_lines_removed

    from delivery_partitions
    join spread_deliveries
        on spread_deliveries.supplier_id is not distinct from delivery_partitions.supplier_id
       and spread_deliveries.shipment_id is not distinct from delivery_partitions.shipment_id
    group by delivery_partitions.supplier_id, delivery_partitions.shipment_id

),

delivery_stats as (

    select
        supplier_id,
        cast(count(*) as bigint) as shipments,
        cast(sum(case when received_date <= expected_date then 1 else 0 end) as bigint) as on_time_shipments,
        cast(sum(case when received_date > expected_date then 1 else 0 end) as bigint) as late_shipments,
        {#- date_diff on two dates means whole days on both engines; dbt.datediff's Athena form
            (to_milliseconds(date - date)) has no DuckDB equivalent the Athena-offline tests can run. #}
        avg(cast(date_diff('day', order_date, received_date) as double)) as avg_lead_time_days,
        min(received_date) as first_received_date,
        max(received_date) as last_received_date,
        cast(sum(lines) as bigint) as lines,
        cast(sum(units_ordered) as bigint) as units_ordered,
        cast(sum(units_received) as bigint) as units_received,
        cast(sum(duplicate_lines_removed) as bigint) as duplicate_lines_removed

    from deliveries
    group by supplier_id

),

final as (

    select
        suppliers.supplier_id,
        suppliers.supplier_name,
        suppliers.country,
        suppliers.lead_time_days as promised_lead_time_days,
        suppliers.on_time_rate as promised_on_time_rate,
        coalesce(delivery_stats.shipments, 0) as shipments,
        coalesce(delivery_stats.lines, 0) as lines,
        coalesce(delivery_stats.units_ordered, 0) as units_ordered,
        coalesce(delivery_stats.units_received, 0) as units_received,
        coalesce(delivery_stats.on_time_shipments, 0) as on_time_shipments,
        coalesce(delivery_stats.late_shipments, 0) as late_shipments,
        cast(delivery_stats.on_time_shipments as double) / nullif(delivery_stats.shipments, 0) as on_time_rate,
        cast(delivery_stats.units_received as double) / nullif(delivery_stats.units_ordered, 0) as fill_rate,
        delivery_stats.avg_lead_time_days,
        coalesce(delivery_stats.duplicate_lines_removed, 0) as duplicate_lines_removed,
        delivery_stats.first_received_date,
        delivery_stats.last_received_date

    from suppliers
    left join delivery_stats
        on suppliers.supplier_id = delivery_stats.supplier_id

)

select * from final
