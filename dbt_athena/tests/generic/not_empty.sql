{#- Fails when the model has no rows at all. -#}
{% test not_empty(model) %}

with

counted as (

    select count(*) as row_count from {{ model }}

),

final as (

    select row_count from counted where row_count = 0

)

select * from final

{% endtest %}
