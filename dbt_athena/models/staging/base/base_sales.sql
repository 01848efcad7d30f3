{#- The raw sale lines of complete partitions (those with a manifest), as landed: text
    columns, `dt` last. How it is stored depends on the engine (raw_landing_config). -#}
{{ config(**raw_landing_config()) }}

with

source as (

    select * from {{ source('raw', 'sales') }}
    {%- if is_incremental() %}
    where {{ rebuilt_days_filter('dt') }}
    {%- endif %}

),

complete_partitions as (

    select partition_dt from {{ ref('stg_manifests') }} where table_name = 'sales'

),

final as (

    select
        sale_id,
        sold_at,
        store_id,
        product_id,
        quantity,
        unit_price,
        discount_pct,
        dt

    from source
    where dt in (select partition_dt from complete_partitions)

)

select * from final
