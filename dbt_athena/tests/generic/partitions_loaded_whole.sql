{#- Every committed partition (one with a manifest in `model`, the manifest index) of each
    landed table was loaded whole: fails for each partition whose rows in the table's model
    differ from its manifest's row count, a partition missing from the model included (0 rows),
    and once when the `not_empty` table's model holds no rows at all (a lake whose manifests
    all went missing, or lie where dbt does not read them, would otherwise build empty marts
    and pass every other test).
    - loaded: [{table_name, model, partition_column}]: the manifest's table name, the model
      holding its rows, and that model's partition column (YYYY-MM-DD text).
    With rebuild days (a daily run) only those days are compared (rebuilt_days_filter); the
    not_empty probe reads one row whatever the days: a run may rebuild none.
    One test for every landed table: a daily run pays one dbt node instead of one per table.
    The base models keep only partitions that have a manifest, so "rows without a manifest"
    cannot happen and is not tested. -#}
{% test partitions_loaded_whole(model, loaded, not_empty=none) %}

{%- set not_empty_model = [] -%}
{%- for table in loaded if table.table_name == not_empty -%}
    {%- do not_empty_model.append(table.model) -%}
{%- endfor -%}
{%- if not_empty and not not_empty_model -%}
    {{ exceptions.raise_compiler_error("partitions_loaded_whole: not_empty names " ~ not_empty ~ ", which `loaded` does not list") }}
{%- endif -%}

with

{%- for table in loaded %}

loaded_{{ loop.index }} as (

    select
        '{{ table.table_name }}' as table_name,
        {{ table.partition_column }} as partition_dt,
        count(*) as loaded_rows
    from {{ table.model }}
    where {{ rebuilt_days_filter(table.partition_column) }}
    group by {{ table.partition_column }}

),
{%- endfor %}

loaded as (

    {%- for table in loaded %}
    select * from loaded_{{ loop.index }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

committed as (

    select table_name, partition_dt, row_count
    from {{ model }}
    where table_name in (
        {%- for table in loaded %}'{{ table.table_name }}'{{ ', ' if not loop.last }}{% endfor -%}
    )
        and {{ rebuilt_days_filter('partition_dt') }}

),

mismatched as (

    select
        committed.table_name,
        committed.partition_dt,
        committed.row_count as manifest_rows,
        coalesce(loaded.loaded_rows, 0) as loaded_rows
    from committed
    left join loaded
        on committed.table_name = loaded.table_name
        and committed.partition_dt = loaded.partition_dt
    where coalesce(loaded.loaded_rows, 0) <> committed.row_count
        or committed.row_count is null

),

{%- if not_empty %}

probe as (

    select 1 as found from {{ not_empty_model[0] }} limit 1

),

empty as (

    select
        '{{ not_empty }}' as table_name,
        cast(null as varchar) as partition_dt,
        cast(null as bigint) as manifest_rows,
        cast(0 as bigint) as loaded_rows
    from (select count(*) as found_rows from probe) counted
    where found_rows = 0

),
{%- endif %}

final as (

    select * from mismatched
    {%- if not_empty %}
    union all
    select * from empty
    {%- endif %}

)

select * from final

{% endtest %}
