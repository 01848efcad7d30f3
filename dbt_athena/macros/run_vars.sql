{#- The run's variables, checked once at the start of every run, and read through these
    macros everywhere else. -#}

{% macro lake_root() -%}
    {{ return(var('lake_root').rstrip('/')) }}
{%- endmacro %}

{#- run_date: the var wins; otherwise env RETAILOPS_RUN_DATE. The env route exists for speed:
    a changed var forces dbt to re-parse the whole project (~8 s on 2 cores), a changed env
    var only re-parses the few nodes that read it. -#}
{% macro run_date() -%}
    {%- set value = var('run_date', none) -%}
    {%- if value in (none, '', 'None', 'null') -%}
        {%- set value = env_var('RETAILOPS_RUN_DATE', '') -%}
    {%- endif -%}
    {{ return(none if value in (none, '', 'None', 'null') else (value | string)) }}
{%- endmacro %}

{% macro check_run_vars() %}
    {%- set root = var('lake_root', '') | string -%}
    {%- if root | trim == '' -%}
        {{ exceptions.raise_compiler_error("var lake_root is required: an absolute folder or s3://bucket (--vars '{lake_root: ...}')") }}
    {%- endif -%}
    {%- if not (root.startswith('/') or root.startswith('s3://')) -%}
        {{ exceptions.raise_compiler_error("var lake_root must be an absolute folder or s3://bucket, got '" ~ root ~ "'") }}
    {%- endif -%}
    {%- set day = run_date() -%}
    {%- if day is not none -%}
        {%- if not modules.re.match('^\\d{4}-\\d{2}-\\d{2}$', day) -%}
            {{ exceptions.raise_compiler_error("var run_date must be YYYY-MM-DD, got '" ~ day ~ "'") }}
        {%- endif -%}
        {%- if day < var('calendar_start') or day > var('calendar_end') -%}
            {{ exceptions.raise_compiler_error("var run_date " ~ day ~ " is outside the supported range " ~ var('calendar_start') ~ ".." ~ var('calendar_end')) }}
        {%- endif -%}
    {%- endif -%}
    select 1
{% endmacro %}

{#- Rows of a staged fact limited to the days this run rebuilds: `run_date` alone when set,
    every complete day otherwise. Filters on the raw partition column so that both engines
    prune files (DuckDB hive partitions, Athena partition projection).
    While dbt parses the project (`execute` false) the filter is not needed and the run date
    is not read: a node that reads an environment variable at parse time is re-parsed
    whenever its value changes, i.e. every day. -#}
{% macro rebuilt_days_filter(partition_column='partition_dt') -%}
    {%- if not execute -%}{{ return('1 = 1') }}{%- endif -%}
    {%- set day = run_date() -%}
    {%- if day is none -%}
        1 = 1
    {%- else -%}
        {{ partition_column }} = '{{ day }}'
    {%- endif -%}
{%- endmacro %}

{#- The same limit for a date column (the fact marts' sale_date / snapshot_date). -#}
{% macro rebuilt_dates_filter(date_column) -%}
    {%- if not execute -%}{{ return('1 = 1') }}{%- endif -%}
    {%- set day = run_date() -%}
    {%- if day is none -%}
        1 = 1
    {%- else -%}
        {{ date_column }} = date '{{ day }}'
    {%- endif -%}
{%- endmacro %}
