{#- Sale lines of complete partitions, typed by base_sales. A missing discount counts as no
    discount and is flagged. -#}
with

source as (

    select * from {{ ref('base_sales') }}

),

final as (

    select
        sale_id,
        sold_at,
        try_cast(dt as date) as sale_date,
        store_id,
        product_id,
        quantity,
        unit_price,
        coalesce(discount_pct, 0.0) as discount_pct,
        discount_pct is null as discount_was_missing,
        dt as partition_dt

    from source

)

select * from final
