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

{#- rebuild_days: the days whose raw partitions and fact rows this run rebuilds, as a sorted
    list of YYYY-MM-DD; none means every day (a full build). Read from env
    RETAILOPS_REBUILD_DAYS, which the transform stage sets from its rebuild plan: a comma list
    of every day whose partitions are new, changed or removed since the last build, plus the
    run's day; `none` for the empty set; `all` for a full build. When it is unset (dbt run by
    hand), run_date alone, or none. Env, not a var, for the same reason as run_date. -#}
{% macro rebuild_days() -%}
    {%- set value = env_var('RETAILOPS_REBUILD_DAYS', '') | trim -%}
    {%- if value == 'all' -%}
        {{ return(none) }}
    {%- elif value == 'none' -%}
        {{ return([]) }}
    {%- elif value != '' -%}
        {{ return(value.split(',') | map('trim') | reject('equalto', '') | unique | sort | list) }}
    {%- endif -%}
    {%- set day = run_date() -%}
    {{ return(none if day is none else [day]) }}
{%- endmacro %}

{#- The days of rebuild_days() as a SQL list of literals, e.g. ('2024-07-01', '2024-07-03'),
    with `prefix` before each (e.g. "date "). An empty set gives a list matching nothing. -#}
{% macro rebuild_days_sql(days, prefix='') -%}
    {%- if days | length == 0 -%}
        {{ return("(" ~ prefix ~ "'0001-01-01')") }}
    {%- endif -%}
    {%- set quoted = [] -%}
    {%- for day in days -%}
        {%- do quoted.append(prefix ~ "'" ~ day ~ "'") -%}
    {%- endfor -%}
    {{ return("(" ~ quoted | join(', ') ~ ")") }}
{%- endmacro %}

{% macro check_run_vars() %}
    {%- set root = var('lake_root', '') | string -%}
    {%- if root | trim == '' -%}
        {{ exceptions.raise_compiler_error("var lake_root is required: an absolute folder or s3://bucket (--vars '{lake_root: ...}')") }}
    {%- endif -%}
    {%- if not (root.startswith('/') or root.startswith('s3://')) -%}
        {{ exceptions.raise_compiler_error("var lake_root must be an absolute folder or s3://bucket, got '" ~ root ~ "'") }}
    {%- endif -%}
    {#- Checked when running only: `dbt parse` (lineage) needs no calendar. -#}
    {%- for name in ('calendar_start', 'calendar_end') if execute -%}
        {%- if not modules.re.match('^\\d{4}-\\d{2}-\\d{2}$', var(name, none) | string) -%}
            {{ exceptions.raise_compiler_error("var " ~ name ~ " must be YYYY-MM-DD, got '" ~ var(name, none) ~ "' (the transform stage passes it, see dbt_vars())") }}
        {%- endif -%}
    {%- endfor -%}
    {%- set day = run_date() -%}
    {%- if day is not none -%}
        {%- if not modules.re.match('^\\d{4}-\\d{2}-\\d{2}$', day) -%}
            {{ exceptions.raise_compiler_error("var run_date must be YYYY-MM-DD, got '" ~ day ~ "'") }}
        {%- endif -%}
        {%- if day < var('calendar_start') or day > var('calendar_end') -%}
            {{ exceptions.raise_compiler_error("var run_date " ~ day ~ " is outside the supported range " ~ var('calendar_start') ~ ".." ~ var('calendar_end')) }}
        {%- endif -%}
    {%- endif -%}
    {%- for rebuilt in rebuild_days() or [] -%}
        {%- if not modules.re.match('^\\d{4}-\\d{2}-\\d{2}$', rebuilt) -%}
            {{ exceptions.raise_compiler_error("env RETAILOPS_REBUILD_DAYS must list YYYY-MM-DD days, got '" ~ rebuilt ~ "'") }}
        {%- endif -%}
    {%- endfor -%}
    select 1
{% endmacro %}

{#- Rows of a staged fact limited to the days this run rebuilds (rebuild_days): every
    complete day on a full build. Filters on the raw partition column so that both engines
    prune files (DuckDB hive partitions, Athena partition projection).
    While dbt parses the project (`execute` false) the filter is not needed and the days are
    not read: a node that reads an environment variable at parse time is re-parsed whenever
    its value changes, i.e. every day. -#}
{% macro rebuilt_days_filter(partition_column='partition_dt') -%}
    {%- if not execute -%}{{ return('1 = 1') }}{%- endif -%}
    {%- set days = rebuild_days() -%}
    {%- if days is none -%}
        1 = 1
    {%- else -%}
        {{ partition_column }} in {{ rebuild_days_sql(days) }}
    {%- endif -%}
{%- endmacro %}

{#- The same limit for a date column (the fact marts' sale_date / snapshot_date). -#}
{% macro rebuilt_dates_filter(date_column) -%}
    {%- if not execute -%}{{ return('1 = 1') }}{%- endif -%}
    {%- set days = rebuild_days() -%}
    {%- if days is none -%}
        1 = 1
    {%- else -%}
        {{ date_column }} in {{ rebuild_days_sql(days, 'date ') }}
    {%- endif -%}
{%- endmacro %}
