{#- Fails for each combination of the columns that appears more than once (a grain test). -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

with

final as (

    select
        {{ combination_of_columns | join(', ') }},
        count(*) as occurrences
    from {{ model }}
    group by {{ combination_of_columns | join(', ') }}
    having count(*) > 1

)

select * from final

{% endtest %}
