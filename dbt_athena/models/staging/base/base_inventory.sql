{#- The raw cycle counts of complete partitions (those with a manifest), as landed: text
    columns, `dt` last. How it is stored depends on the engine (raw_landing_config). -#}
{{ config(**raw_landing_config()) }}

with

source as (

    select * from {{ source('raw', 'inventory') }}
    {%- if is_incremental() %}
    where {{ rebuilt_days_filter('dt') }}
    {%- endif %}

),

complete_partitions as (

    select partition_dt from {{ ref('stg_manifests') }} where table_name = 'inventory'

),

final as (

    select
        snapshot_date,
        store_id,
        product_id,
        quantity_on_hand,
        quantity_on_order,
        reorder_point,
        dt

    from source
    where dt in (select partition_dt from complete_partitions)

)

select * from final
