{#- Typed sale lines. base_sales holds only partitions with a manifest (an incomplete
    partition is invisible). -#}
with

source as (

    select * from {{ ref('base_sales') }}

),

final as (

    select
        try_cast(nullif(trim(sale_id), '') as bigint) as sale_id,
        {{ iso_timestamp("nullif(trim(sold_at), '')") }} as sold_at,
        try_cast(nullif(trim(dt), '') as date) as sale_date,
        nullif(trim(store_id), '') as store_id,
        nullif(trim(product_id), '') as product_id,
        try_cast(nullif(trim(quantity), '') as integer) as quantity,
        try_cast(nullif(trim(unit_price), '') as double) as unit_price,
        coalesce(try_cast(nullif(trim(discount_pct), '') as double), 0.0) as discount_pct,
        nullif(trim(discount_pct), '') is null as discount_was_missing,
        dt as partition_dt

    from source

)

select * from final
