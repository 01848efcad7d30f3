{#- SQL that differs between DuckDB and Athena (Trino). `default__` is the Athena/Trino
    form, `duckdb__` DuckDB's. Everything else in the models is written once. -#}

{#- One row per day from start_date to end_date inclusive, as column `date_day`. -#}
{% macro calendar_days(start_date, end_date) -%}
    {{ return(adapter.dispatch('calendar_days', 'retailops')(start_date, end_date)) }}
{%- endmacro %}

{% macro default__calendar_days(start_date, end_date) -%}
    select date_day
    from unnest(sequence(date '{{ start_date }}', date '{{ end_date }}', interval '1' day)) as days (date_day)
{%- endmacro %}

{% macro duckdb__calendar_days(start_date, end_date) -%}
    select cast(days.range as date) as date_day
    from range(date '{{ start_date }}', date '{{ end_date }}' + interval 1 day, interval 1 day) as days
{%- endmacro %}

{#- ISO day of week, Monday = 1 .. Sunday = 7. -#}
{% macro iso_day_of_week(date_expr) -%}
    {{ return(adapter.dispatch('iso_day_of_week', 'retailops')(date_expr)) }}
{%- endmacro %}

{% macro default__iso_day_of_week(date_expr) -%}
    day_of_week({{ date_expr }})
{%- endmacro %}

{% macro duckdb__iso_day_of_week(date_expr) -%}
    isodow({{ date_expr }})
{%- endmacro %}

{#- English day name (Monday) and month name (July) of a date. -#}
{% macro day_name(date_expr) -%}
    {{ return(adapter.dispatch('day_name', 'retailops')(date_expr)) }}
{%- endmacro %}

{% macro default__day_name(date_expr) -%}
    date_format({{ date_expr }}, '%W')
{%- endmacro %}

{% macro duckdb__day_name(date_expr) -%}
    dayname({{ date_expr }})
{%- endmacro %}

{% macro month_name(date_expr) -%}
    {{ return(adapter.dispatch('month_name', 'retailops')(date_expr)) }}
{%- endmacro %}

{% macro default__month_name(date_expr) -%}
    date_format({{ date_expr }}, '%M')
{%- endmacro %}

{% macro duckdb__month_name(date_expr) -%}
    monthname({{ date_expr }})
{%- endmacro %}

{#- ISO-8601 local timestamp text (2024-07-01T13:45:12) to a timestamp; NULL if malformed. -#}
{% macro iso_timestamp(text_expr) -%}
    {{ return(adapter.dispatch('iso_timestamp', 'retailops')(text_expr)) }}
{%- endmacro %}

{% macro default__iso_timestamp(text_expr) -%}
    try(date_parse({{ text_expr }}, '%Y-%m-%dT%H:%i:%s'))
{%- endmacro %}

{% macro duckdb__iso_timestamp(text_expr) -%}
    try_strptime({{ text_expr }}, '%Y-%m-%dT%H:%M:%S')
{%- endmacro %}

{#- True when the whole text matches the regular expression. -#}
{% macro regex_full_match(text_expr, pattern) -%}
    {{ return(adapter.dispatch('regex_full_match', 'retailops')(text_expr, pattern)) }}
{%- endmacro %}

{% macro default__regex_full_match(text_expr, pattern) -%}
    regexp_like({{ text_expr }}, '^{{ pattern }}$')
{%- endmacro %}

{% macro duckdb__regex_full_match(text_expr, pattern) -%}
    regexp_full_match({{ text_expr }}, '{{ pattern }}')
{%- endmacro %}

{#- Text to an integer type: NULL unless the text is an optional sign and digits. Trino's
    try_cast already answers so ('7.5' and '1e1' are NULL); DuckDB's rounds '7.5' to 8 and
    reads '1e1' as 10, so DuckDB checks the text first (tests/athena_offline). -#}
{% macro try_cast_integer(text_expr, integer_type='integer') -%}
    {{ return(adapter.dispatch('try_cast_integer', 'retailops')(text_expr, integer_type)) }}
{%- endmacro %}

{% macro default__try_cast_integer(text_expr, integer_type) -%}
    try_cast({{ text_expr }} as {{ integer_type }})
{%- endmacro %}

{% macro duckdb__try_cast_integer(text_expr, integer_type) -%}
    try_cast(case when regexp_full_match({{ text_expr }}, '[+-]?[0-9]+') then {{ text_expr }} end as {{ integer_type }})
{%- endmacro %}

{#- A raw text column typed as the base models type it: surrounding spaces trimmed (trim()),
    empty text NULL, text that does not parse NULL (integers: try_cast_integer's rule).
    default (Athena): exactly that expression. DuckDB: the same values, cheaper where the text
    is plain. trim() and the regex over the trimmed text cost every value; on a year at scale
    16 (321M sale lines) base_sales types 4 such columns (docs/scale.md finding 12). DuckDB's
    casts skip ASCII whitespace themselves, so a CASE (evaluated lazily, row by row) takes the
    untrimmed cast where the text is plainly a number and the old expression elsewhere:
    - integers: text that is its own cast printed back (an integer in canonical form, e.g.
      '7', '-12': the regex below accepts it and the cast reads that integer) is read by the
      cast alone, without a regex (~1/3 of the column's cost); otherwise text matching
      ' *[+-]?[0-9]+ *' is, once trimmed, what try_cast_integer accepts, and the cast reads it
      alike with or without the spaces;
    - doubles: all-ASCII text (strlen = length) has only ' ' for trim() to remove, which the
      cast skips anyway; other text (e.g. padded with a no-break space, which trim() removes
      and the cast does not skip) takes the old expression.
    tests/dbt/test_raw_typing.py checks both against hand-written values. -#}
{% macro raw_integer(column, integer_type='integer') -%}
    {{ return(adapter.dispatch('raw_integer', 'retailops')(column, integer_type)) }}
{%- endmacro %}

{% macro default__raw_integer(column, integer_type) -%}
    {{ try_cast_integer("nullif(trim(" ~ column ~ "), '')", integer_type) }}
{%- endmacro %}

{% macro duckdb__raw_integer(column, integer_type) -%}
    case when cast(try_cast({{ column }} as {{ integer_type }}) as varchar) = {{ column }} then try_cast({{ column }} as {{ integer_type }}) when regexp_full_match({{ column }}, ' *[+-]?[0-9]+ *') then try_cast({{ column }} as {{ integer_type }}) else {{ default__raw_integer(column, integer_type) }} end
{%- endmacro %}

{% macro raw_double(column) -%}
    {{ return(adapter.dispatch('raw_double', 'retailops')(column)) }}
{%- endmacro %}

{% macro default__raw_double(column) -%}
    try_cast(nullif(trim({{ column }}), '') as double)
{%- endmacro %}

{% macro duckdb__raw_double(column) -%}
    case when strlen({{ column }}) = length({{ column }}) then try_cast({{ column }} as double) else {{ default__raw_double(column) }} end
{%- endmacro %}

{#- A raw text column as the base models keep text and timestamps: surrounding spaces trimmed
    (trim()), empty text NULL; timestamps then parsed by iso_timestamp. default (Athena): exactly
    that expression. DuckDB: the same values, cheaper where the text is plain. trim() copies every
    value; on base_sales' 0.74-0.87M lines a day at scale 16 the timestamp's trim cost as much as
    its parse (docs/scale.md, finding 14). Text that is all ASCII (strlen = length) and neither
    starts nor ends with ' ' is its own trim (among ASCII characters trim() removes only ' '), so
    it is kept (timestamps: parsed) as it is; other text, '' included, takes the old expression.
    tests/dbt/test_raw_typing.py checks both against hand-written values. -#}
{% macro raw_text(column) -%}
    {{ return(adapter.dispatch('raw_text', 'retailops')(column)) }}
{%- endmacro %}

{% macro default__raw_text(column) -%}
    nullif(trim({{ column }}), '')
{%- endmacro %}

{% macro duckdb__raw_text(column) -%}
    case when {{ plain_ascii_text(column) }} and {{ column }} <> '' then {{ column }} else {{ default__raw_text(column) }} end
{%- endmacro %}

{% macro raw_timestamp(column) -%}
    {{ return(adapter.dispatch('raw_timestamp', 'retailops')(column)) }}
{%- endmacro %}

{% macro default__raw_timestamp(column) -%}
    {{ iso_timestamp("nullif(trim(" ~ column ~ "), '')") }}
{%- endmacro %}

{% macro duckdb__raw_timestamp(column) -%}
    case when {{ plain_ascii_text(column) }} then {{ iso_timestamp(column) }} else {{ default__raw_timestamp(column) }} end
{%- endmacro %}

{#- DuckDB: text whose trim() is itself (all ASCII, no ' ' at either end). -#}
{% macro plain_ascii_text(column) -%}
    strlen({{ column }}) = length({{ column }}) and not starts_with({{ column }}, ' ') and not ends_with({{ column }}, ' ')
{%- endmacro %}
