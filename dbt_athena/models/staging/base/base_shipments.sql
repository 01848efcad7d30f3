{#- The raw delivery lines of complete partitions (those with a manifest), typed: empty text
    is null, a value that does not parse is null too. Exact duplicate rows are still in
    (stg_shipments collapses them); `dt` (the partition, as text) last. How it is stored
    depends on the engine (raw_landing_config). -#}
{{ config(**raw_landing_config()) }}

with

source as (

    select * from {{ source('raw', 'shipments') }}
    {%- if is_incremental() %}
    where {{ rebuilt_rows_filter('dt') }}
    {%- endif %}

),

complete_partitions as (

    select partition_dt from {{ ref('stg_manifests') }} where table_name = 'shipments'

),

final as (

    select
        {{ raw_integer('shipment_id', 'bigint') }} as shipment_id,
        {{ raw_integer('line_number') }} as line_number,
        nullif(trim(supplier_id), '') as supplier_id,
        nullif(trim(store_id), '') as store_id,
        nullif(trim(product_id), '') as product_id,
        try_cast(nullif(trim(order_date), '') as date) as order_date,
        try_cast(nullif(trim(expected_date), '') as date) as expected_date,
        try_cast(nullif(trim(received_date), '') as date) as received_date,
        {{ raw_integer('quantity_ordered') }} as quantity_ordered,
        {{ raw_integer('quantity_received') }} as quantity_received,
        dt

    from source
    where dt in (select partition_dt from complete_partitions)

)

select * from final
