{#- An incremental build rebuilds only the days of rebuild_days (the transform stage's plan:
    new, changed and removed partitions plus the run's day); a first or full build, every day,
    on DuckDB a month at a time (insert_full_build_batches in macros/materializations.sql: one
    GROUP BY over a year at scale 16 spilled 10 GB under the 4 GB cap). -#}
{{ config(**fact_table_config('sale_date', batch_column='partition_dt',
                              batch_source="ref('stg_sales')")) }}

with

sales as (

    select * from {{ ref('stg_sales') }}
    {%- if is_incremental() %}
    where {{ rebuilt_rows_filter() }}
    {%- else %}
    where {{ full_build_batch_filter() }}
    {%- endif %}

),

products as (

    select * from {{ ref('stg_products') }}

),

sale_lines as (

    select
        sales.sale_date,
        sales.store_id,
        sales.product_id,
        sales.quantity,
        sales.quantity * sales.unit_price as gross_revenue,
        sales.quantity * sales.unit_price * sales.discount_pct as discount_amount,
        sales.quantity * sales.unit_price * (1 - sales.discount_pct) as net_revenue,
        sales.quantity * products.unit_cost as cost,
        case when sales.discount_was_missing then 1 else 0 end as discount_missing

    from sales
    left join products
        on sales.product_id = products.product_id

),

final as (

    select
        store_id,
        product_id,
        cast(sum(quantity) as bigint) as quantity,
        sum(gross_revenue) as gross_revenue,
        sum(discount_amount) as discount_amount,
        sum(net_revenue) as net_revenue,
        sum(cost) as cost,
        sum(net_revenue) - sum(cost) as profit,
        cast(count(*) as bigint) as transactions,
        cast(sum(discount_missing) as bigint) as discount_missing_lines,
        sale_date

    from sale_lines
    group by sale_date, store_id, product_id

)

select * from final
