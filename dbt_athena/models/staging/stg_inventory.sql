{#- A negative count is impossible: the row is kept and flagged, its cleaned quantity is
    unknown (null) rather than guessed. -#}
with

source as (

    select * from {{ ref('base_inventory') }}

),

typed as (

    select
        try_cast(nullif(trim(snapshot_date), '') as date) as snapshot_date,
        nullif(trim(store_id), '') as store_id,
        nullif(trim(product_id), '') as product_id,
        try_cast(nullif(trim(quantity_on_hand), '') as integer) as recorded_quantity_on_hand,
        try_cast(nullif(trim(quantity_on_order), '') as integer) as quantity_on_order,
        try_cast(nullif(trim(reorder_point), '') as integer) as reorder_point,
        dt as partition_dt

    from source

),

final as (

    select
        snapshot_date,
        store_id,
        product_id,
        recorded_quantity_on_hand,
        case when recorded_quantity_on_hand >= 0 then recorded_quantity_on_hand end as quantity_on_hand,
        recorded_quantity_on_hand < 0 as is_negative_on_hand,
        quantity_on_order,
        reorder_point,
        partition_dt

    from typed

)

select * from final
