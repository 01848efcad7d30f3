{#- A double-scanned delivery line arrives as an exact duplicate row: keep one. -#}
with

source as (

    select * from {{ ref('base_shipments') }}

),

typed as (

    select
        try_cast(nullif(trim(shipment_id), '') as bigint) as shipment_id,
        try_cast(nullif(trim(line_number), '') as integer) as line_number,
        nullif(trim(supplier_id), '') as supplier_id,
        nullif(trim(store_id), '') as store_id,
        nullif(trim(product_id), '') as product_id,
        try_cast(nullif(trim(order_date), '') as date) as order_date,
        try_cast(nullif(trim(expected_date), '') as date) as expected_date,
        try_cast(nullif(trim(received_date), '') as date) as received_date,
        try_cast(nullif(trim(quantity_ordered), '') as integer) as quantity_ordered,
        try_cast(nullif(trim(quantity_received), '') as integer) as quantity_received,
        dt as partition_dt

    from source

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
        partition_dt,
        cast(count(*) as integer) as copies_received

    from typed
    group by
        shipment_id, line_number, supplier_id, store_id, product_id, order_date,
        expected_date, received_date, quantity_ordered, quantity_received, partition_dt

)

select * from final
