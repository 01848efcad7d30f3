{{ config(**mart_table_config()) }}

with

products as (

    select * from {{ ref('stg_products') }}

),

suppliers as (

    select * from {{ ref('stg_suppliers') }}

),

final as (

    select
        products.product_id,
        products.product_name,
        products.category,
        products.subcategory,
        products.brand,
        products.unit_cost,
        products.list_price,
        products.list_price - products.unit_cost as unit_margin,
        products.is_perishable,
        products.supplier_id,
        products.is_missing_supplier,
        suppliers.supplier_name,
        suppliers.country as supplier_country,
        suppliers.lead_time_days as supplier_lead_time_days,
        suppliers.on_time_rate as supplier_on_time_rate

    from products
    left join suppliers
        on products.supplier_id = suppliers.supplier_id

)

select * from final
