with

source as (

    select * from {{ source('raw', 'products') }}

),

final as (

    select
        nullif(trim(product_id), '') as product_id,
        nullif(trim(product_name), '') as product_name,
        nullif(trim(category), '') as category,
        nullif(trim(subcategory), '') as subcategory,
        nullif(trim(brand), '') as brand,
        try_cast(nullif(trim(unit_cost), '') as double) as unit_cost,
        try_cast(nullif(trim(list_price), '') as double) as list_price,
        nullif(trim(supplier_id), '') as supplier_id,
        nullif(trim(supplier_id), '') is null as is_missing_supplier,
        lower(nullif(trim(is_perishable), '')) = 'true' as is_perishable

    from source

)

select * from final
