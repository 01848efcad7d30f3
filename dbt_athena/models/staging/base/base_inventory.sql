{#- The raw cycle counts of complete partitions (those with a manifest), typed: empty text is
    null, a value that does not parse is null too. `dt` (the partition, as text) last. How it
    is stored depends on the engine (raw_landing_config). -#}
{{ config(**raw_landing_config()) }}

with

source as (

    select * from {{ source('raw', 'inventory') }}
    {%- if is_incremental() %}
    where {{ rebuilt_rows_filter('dt') }}
    {%- endif %}

),

complete_partitions as (

    select partition_dt from {{ ref('stg_manifests') }} where table_name = 'inventory'

),

final as (

    select
        try_cast(nullif(trim(snapshot_date), '') as date) as snapshot_date,
        nullif(trim(store_id), '') as store_id,
        nullif(trim(product_id), '') as product_id,
        {{ raw_integer('quantity_on_hand') }} as quantity_on_hand,
        {{ raw_integer('quantity_on_order') }} as quantity_on_order,
        {{ raw_integer('reorder_point') }} as reorder_point,
        dt

    from source
    where dt in (select partition_dt from complete_partitions)

)

select * from final
