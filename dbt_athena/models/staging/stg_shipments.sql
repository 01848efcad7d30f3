{#- A double-scanned delivery line arrives as an exact duplicate row: keep one, and how many
    copies arrived. -#}
with

source as (

    select * from {{ ref('base_shipments') }}

),

final as (

    select
        shipment_id,
        line_number,
        supplier_id,
        store_id,
        product_id,
        order_date,
        expected_date,
        received_date,
        quantity_ordered,
        quantity_received,
        dt as partition_dt,
        cast(count(*) as integer) as copies_received

    from source
    group by
        shipment_id, line_number, supplier_id, store_id, product_id, order_date,
        expected_date, received_date, quantity_ordered, quantity_received, dt

)

select * from final
