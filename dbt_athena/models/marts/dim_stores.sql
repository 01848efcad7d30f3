{{ config(**mart_table_config()) }}

with

stores as (

    select * from {{ ref('stg_stores') }}

),

final as (

    select
        store_id,
        store_name,
        city,
        region,
        store_type,
        store_cluster,
        size_sqft,
        opened_date

    from stores

)

select * from final
