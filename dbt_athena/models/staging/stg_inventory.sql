{#- A negative count is impossible: the row is kept and flagged, its cleaned quantity is
    unknown (null) rather than guessed. -#}
with

source as (

    select * from {{ ref('base_inventory') }}

),

final as (

    select
        snapshot_date,
        store_id,
        product_id,
        quantity_on_hand as recorded_quantity_on_hand,
        case when quantity_on_hand >= 0 then quantity_on_hand end as quantity_on_hand,
        quantity_on_hand < 0 as is_negative_on_hand,
        quantity_on_order,
        reorder_point,
        dt as partition_dt

    from source

)

select * from final
