with

source as (

    select * from {{ source('raw', 'stores') }}

),

final as (

    select
        nullif(trim(store_id), '') as store_id,
        nullif(trim(store_name), '') as store_name,
        nullif(trim(city), '') as city,
        nullif(trim(region), '') as region,
        lower(nullif(trim(store_type), '')) as store_type,
        {{ try_cast_integer("nullif(trim(cluster), '')") }} as store_cluster,
        {{ try_cast_integer("nullif(trim(size_sqft), '')") }} as size_sqft,
        try_cast(nullif(trim(opened_date), '') as date) as opened_date

    from source

)

select * from final
