{#- The raw sale lines of complete partitions (those with a manifest), typed: empty text is
    null, a value that does not parse is null too (the staging tests then name the column).
    `dt` (the partition, as text) last. How it is stored depends on the engine
    (raw_landing_config): on DuckDB the typed columns are what the tests and marts scan. -#}
{{ config(**raw_landing_config()) }}

with

source as (

    select * from {{ source('raw', 'sales') }}
    {%- if is_incremental() %}
    where {{ rebuilt_rows_filter('dt') }}
    {%- endif %}

),

complete_partitions as (

    select partition_dt from {{ ref('stg_manifests') }} where table_name = 'sales'

),

final as (

    select
        {{ raw_integer('sale_id', 'bigint') }} as sale_id,
        {{ raw_timestamp('sold_at') }} as sold_at,
        {{ raw_text('store_id') }} as store_id,
        {{ raw_text('product_id') }} as product_id,
        {{ raw_integer('quantity') }} as quantity,
        {{ raw_double('unit_price') }} as unit_price,
        {{ raw_double('discount_pct') }} as discount_pct,
        dt

    from source
    where dt in (select partition_dt from complete_partitions)

)

select * from final
