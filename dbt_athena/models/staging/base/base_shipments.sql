{#- The raw delivery lines of complete partitions (those with a manifest), as landed: text
    columns, `dt` last, exact duplicate rows still in (stg_shipments collapses them). How it
    is stored depends on the engine (raw_landing_config). -#}
{{ config(**raw_landing_config()) }}

with

source as (

    select * from {{ source('raw', 'shipments') }}
    {%- if is_incremental() %}
    where {{ rebuilt_days_filter('dt') }}
    {%- endif %}

),

complete_partitions as (

    select partition_dt from {{ ref('stg_manifests') }} where table_name = 'shipments'

),

final as (

    select
        shipment_id,
        line_number,
        supplier_id,
        store_id,
        product_id,
        order_date,
        expected_date,
        received_date,
        quantity_ordered,
        quantity_received,
        dt

    from source
    where dt in (select partition_dt from complete_partitions)

)

select * from final
