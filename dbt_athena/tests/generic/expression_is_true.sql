{#- Fails for each row where the boolean expression is not true (false or null). Attached to
    a column, the expression continues the column name (e.g. `>= 0`). -#}
{% test expression_is_true(model, expression, column_name=none) %}

with

final as (

    select *
    from {{ model }}
    where not coalesce({{ (column_name ~ ' ' ~ expression) if column_name else expression }}, false)

)

select * from final

{% endtest %}
