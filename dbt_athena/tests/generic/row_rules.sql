{#- Every per-row rule of a model in one scan: fails for each row that breaks any of them, with
    the rules it breaks named in `failed_rules` (comma-separated), beside the row's columns.

    - rules: {name: boolean SQL expression}; a row fails the rule unless the expression is
      true (false or null fail: a null in a checked column is caught without a not_null test).
    - unique: columns forming the model's grain; every row of a duplicated combination fails
      rule `unique(<columns>)`.
    - references: [{column, to, field}]; a row whose `column` is not null and has no `field`
      in relation `to` fails rule `<column> in <to's name>` (dbt's relationships test).

    Why one test per model: a daily run pays dbt's per-node overhead (~50 ms on two cores) and
    a scan of the model for every test; here it pays one of each, and the failing rows still
    say which rule broke. The `where` config (rebuilt_days / rebuilt_dates markers) limits the
    model's rows as for any test (macros/test_where.sql): uniqueness is then checked within the
    rebuilt days, which for a grain that holds the day is the whole of it.
    Uniqueness is counted on the grain's columns alone (duplicated_keys: a GROUP BY of the key
    columns), then joined back to the rows: a window `count(*) over (partition by <key>)` on
    `select *` would sort or hash every column of every row to count one key, which on a year
    at scale 16 (282.8M sale lines) spilled 15.3 GB under the 4 GB cap (docs/scale.md,
    finding 8). The key columns are renamed there (grain_key_<n>) so that the rules' bare
    column names stay unambiguous. The join is null-safe (`is not distinct from`): rows whose key is null
    together are duplicates, as the window counted them.
    Only failing rows get their `failed_rules` text: the rows are filtered on the OR of the
    rules' failure conditions (each true or false, never null), which holds exactly when the
    text would not be empty; building the text for every row and then keeping the non-empty
    ones cost ~0.05 CPU-s more on a day of stg_sales at scale 16 (docs/scale.md, finding 16).
    Plain ANSI SQL (group by, left joins, concat_ws): the same on DuckDB and Athena. -#}
{% test row_rules(model, rules={}, unique=none, references=none) %}

{%- set references = references or [] -%}
{%- set checks = [] -%}
{%- for name, expression in rules.items() -%}
    {%- do checks.append((name, 'not coalesce((' ~ expression ~ '), false)')) -%}
{%- endfor -%}
{%- if unique -%}
    {%- do checks.append(('unique(' ~ unique | join(', ') ~ ')',
                          'duplicated_keys.is_duplicated is not null')) -%}
{%- endif -%}
{%- for reference in references -%}
    {#- The relation's own name, from its rendered, quoted and qualified text. -#}
    {%- set to_name = (reference.to | string).split('.')[-1] | replace('"', '') | replace('`', '') -%}
    {%- do checks.append((reference.column ~ ' in ' ~ to_name,
                          'model_rows.' ~ reference.column ~ ' is not null and reference_'
                          ~ loop.index ~ '.referenced_key is null')) -%}
{%- endfor -%}
{%- if checks | length == 0 -%}
    {{ exceptions.raise_compiler_error("row_rules on " ~ model ~ " has no rules, unique or references") }}
{%- endif -%}

with

model_rows as (

    select * from {{ model }}

),
{%- if unique %}

duplicated_keys as (

    select
        {%- for column in unique %}
        {{ column }} as grain_key_{{ loop.index }},
        {%- endfor %}
        true as is_duplicated
    from {{ model }}
    group by {{ unique | join(', ') }}
    having count(*) > 1

),
{%- endif %}

{%- for reference in references %}

reference_{{ loop.index }} as (

    select distinct {{ reference.field or reference.column }} as referenced_key
    from {{ reference.to }}

),
{%- endfor %}

judged as (

    select
        model_rows.*,
        concat_ws(', '
        {%- for name, failed in checks %},
            case when {{ failed }} then '{{ name }}' end
        {%- endfor %}
        ) as failed_rules
    from model_rows
    {%- if unique %}
    left join duplicated_keys
        on {% for column in unique -%}
        {{ 'and ' if not loop.first }}model_rows.{{ column }} is not distinct from duplicated_keys.grain_key_{{ loop.index }}
        {% endfor -%}
    {%- endif %}
    {%- for reference in references %}
    left join reference_{{ loop.index }}
        on model_rows.{{ reference.column }} = reference_{{ loop.index }}.referenced_key
    {%- endfor %}
    where
        {%- for name, failed in checks %}
        {{ 'or ' if not loop.first }}({{ failed }})
        {%- endfor %}

),

final as (

    select * from judged

)

select * from final

{% endtest %}
