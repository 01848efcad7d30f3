{#- An incremental build rebuilds only the days of rebuild_days (the transform stage's plan:
    new, changed and removed partitions plus the run's day); a first or full build, every day. -#}
{{ config(**fact_table_config('snapshot_date')) }}

with

inventory as (

    select * from {{ ref('stg_inventory') }}
    {%- if is_incremental() %}
    where {{ rebuilt_rows_filter() }}
    {%- endif %}

),

products as (

    select * from {{ ref('stg_products') }}

),

final as (

    select
        inventory.store_id,
        inventory.product_id,
        inventory.quantity_on_hand,
        inventory.recorded_quantity_on_hand,
        inventory.is_negative_on_hand,
        inventory.quantity_on_order,
        inventory.reorder_point,
        inventory.quantity_on_hand * products.unit_cost as inventory_value,
        coalesce(inventory.quantity_on_hand = 0, false) as is_stock_out,
        coalesce(inventory.quantity_on_hand <= inventory.reorder_point, false) as is_below_reorder_point,
        inventory.snapshot_date

    from inventory
    left join products
        on inventory.product_id = products.product_id

)

select * from final
