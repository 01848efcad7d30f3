{#- The promotion plan of complete partitions (those with a manifest), typed: one row per
    published row, so a week shows once per publication (up to five identical times). Empty or
    unparsable text becomes null and fails the model's expression test. No base model: a
    publication is a few hundred rows a week, so a view over the files costs little on both
    engines. -#}
with

source as (

    select * from {{ source('raw', 'promotions') }}

),

complete_partitions as (

    select partition_dt from {{ ref('stg_manifests') }} where table_name = 'promotions'

),

final as (

    select
        try_cast(nullif(trim(published_date), '') as date) as published_date,
        nullif(trim(product_id), '') as product_id,
        try_cast(nullif(trim(start_date), '') as date) as start_date,
        try_cast(nullif(trim(end_date), '') as date) as end_date,
        try_cast(nullif(trim(discount_pct), '') as double) as discount_pct,
        dt as partition_dt

    from source
    where dt in (select partition_dt from complete_partitions)

)

select * from final
