{#- The `where` of a data test, with the run's day filled in at run time.

    Tests on facts check only the days a run rebuilt (rebuild_days: the transform stage's plan,
    or run_date alone). Their yml says which column holds the day, as a marker:
        where: "rebuilt_days(partition_dt)"    text partition column (dt=YYYY-MM-DD)
        where: "rebuilt_dates(sale_date)"      date column
    and this override of dbt's get_where_subquery turns it into the run's filter
    (rebuilt_days_filter / rebuilt_dates_filter): `partition_dt in ('2025-07-02')` on a daily
    run; no filter at all on a full build. Any other `where` is used as written.

    Why a marker rather than Jinja in the yml: yml configs are rendered when dbt parses the
    project, so a `where` that read the run date would make every test depend on it, and each
    new day would re-parse the whole schema files (~4 s on two cores). Here the date is read
    when the test is compiled, and the yml never changes. -#}
{% macro default__get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set marker = modules.re.match('^ *rebuilt_(days|dates)[(]([A-Za-z0-9_]+)[)] *$', where or '') -%}
    {%- if marker -%}
        {#- Parsing (execute false) must not read the run date; a full build filters nothing. -#}
        {%- if not execute or rebuild_days() is none -%}
            {%- do return(relation) -%}
        {%- elif marker.group(1) == 'days' -%}
            {%- set where = rebuilt_days_filter(marker.group(2)) -%}
        {%- else -%}
            {%- set where = rebuilt_dates_filter(marker.group(2)) -%}
        {%- endif -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
