{#- One row per delivery and shipments partition: the delivery's lines (exact duplicates already
    collapsed by stg_shipments) summed, so the supplier scorecard combines deliveries instead
    of grouping every delivery line of history each day. Every figure combines across
    partitions (min, max, sums), so a delivery whose lines arrived in two partitions still
    counts once in the scorecard. Stored like the base tables (raw_landing_config): on DuckDB an
    incremental table whose rebuilt days alone are deleted and read again, on Athena a view;
    `dt` (the partition, as text) last. -#}
{{ config(**raw_landing_config()) }}

with

shipment_lines as (

    select * from {{ ref('stg_shipments') }}
    {%- if is_incremental() %}
    where {{ rebuilt_rows_filter() }}
    {%- endif %}

),

final as (

    select
        supplier_id,
        shipment_id,
        min(order_date) as order_date,
        max(expected_date) as expected_date,
        max(received_date) as received_date,
        cast(count(*) as bigint) as lines,
        cast(sum(quantity_ordered) as bigint) as units_ordered,
        cast(sum(quantity_received) as bigint) as units_received,
        cast(sum(copies_received - 1) as bigint) as duplicate_lines_removed,
        partition_dt as dt

    from shipment_lines
    group by supplier_id, shipment_id, partition_dt

)

select * from final
