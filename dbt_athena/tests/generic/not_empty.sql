{#- Fails when the model has no rows at all. Reads at most one row: on a raw CSV source the
    scan stops at the first row instead of parsing every file. -#}
{% test not_empty(model) %}

with

probe as (

    select 1 as found from {{ model }} limit 1

),

counted as (

    select count(*) as row_count from probe

),

final as (

    select row_count from counted where row_count = 0

)

select * from final

{% endtest %}
