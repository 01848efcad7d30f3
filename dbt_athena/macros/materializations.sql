{#- How marts are stored, per adapter. Models call
      {{ config(**mart_table_config()) }}               for whole tables (dimensions, scorecards)
      {{ config(**fact_table_config('sale_date')) }}    for facts incremental by a date column
    and every mart lands as Parquet under <lake_root>/curated/<model>/:
    - Athena: a Hive Parquet table whose external_location is that folder (facts partitioned by
      the date column, which each fact selects last; insert_overwrite replaces a day's partition).
    - DuckDB: a table in the warehouse file plus a post-hook COPY to that folder
      (export_curated); facts use delete+insert on the date column. -#}

{% macro curated_location(model_name) -%}
    {{ return(lake_root() ~ '/curated/' ~ model_name) }}
{%- endmacro %}

{% macro mart_table_config() -%}
    {{ return(adapter.dispatch('mart_table_config', 'retailops')()) }}
{%- endmacro %}

{% macro default__mart_table_config() -%}
    {{ return({
        'materialized': 'table',
        'table_type': 'hive',
        'format': 'parquet',
        'write_compression': 'snappy',
        'external_location': curated_location(this.identifier),
    }) }}
{%- endmacro %}

{% macro duckdb__mart_table_config() -%}
    {{ return({
        'materialized': 'table',
        'post_hook': ["{{ retailops.export_curated() }}"],
    }) }}
{%- endmacro %}

{% macro fact_table_config(date_column) -%}
    {{ return(adapter.dispatch('fact_table_config', 'retailops')(date_column)) }}
{%- endmacro %}

{% macro default__fact_table_config(date_column) -%}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'insert_overwrite',
        'on_schema_change': 'fail',
        'table_type': 'hive',
        'format': 'parquet',
        'write_compression': 'snappy',
        'partitioned_by': [date_column],
        'external_location': curated_location(this.identifier),
    }) }}
{%- endmacro %}

{% macro duckdb__fact_table_config(date_column) -%}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'delete+insert',
        'unique_key': date_column,
        'on_schema_change': 'fail',
        'post_hook': ["{{ retailops.export_curated('" ~ date_column ~ "') }}"],
    }) }}
{%- endmacro %}

{#- DuckDB only: copy the model just built to Parquet under curated/.
    - Whole tables: curated/<model>/<model>.parquet, replaced each run.
    - Facts (date_column given): hive partitions curated/<model>/<date_column>=YYYY-MM-DD/data_0.parquet.
      With run_date only that day's file is rewritten (idempotent); without, the folder is
      replaced as a whole, one file per day. -#}
{% macro export_curated(date_column=none) -%}
    {{ return(adapter.dispatch('export_curated', 'retailops')(date_column)) }}
{%- endmacro %}

{% macro default__export_curated(date_column=none) -%}
    {#- Athena tables already live in curated/ (external_location). -#}
{%- endmacro %}

{% macro duckdb__export_curated(date_column=none) -%}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set folder = curated_location(this.identifier) -%}
    {%- set day = run_date() -%}
    {%- if date_column is none -%}
        {%- do run_query("select retailops_make_dirs('" ~ folder ~ "')") -%}
        copy (select * from {{ this }}) to '{{ folder }}/{{ this.identifier }}.parquet' (format parquet)
    {%- elif day is none -%}
        {%- do run_query("select retailops_make_dirs('" ~ lake_root() ~ "/curated')") -%}
        copy (select * from {{ this }})
        to '{{ folder }}' (format parquet, partition_by ({{ date_column }}), overwrite, filename_pattern 'data_{i}')
    {%- else -%}
        {%- set day_folder = folder ~ '/' ~ date_column ~ '=' ~ day -%}
        {%- do run_query("select retailops_make_dirs('" ~ day_folder ~ "')") -%}
        copy (select * exclude ({{ date_column }}) from {{ this }} where {{ date_column }} = date '{{ day }}')
        to '{{ day_folder }}/data_0.parquet' (format parquet)
    {%- endif -%}
{%- endmacro %}

{#- How the raw fact partitions are landed in the warehouse (models/staging/base/), per adapter:
    {{ config(**raw_landing_config()) }}
    - Athena: a view over the Glue table. Athena scans the files per query anyway, pruned by
      partition projection; copying them would only duplicate the raw zone.
    - DuckDB: a table holding the typed rows of every complete partition, so that the staging
      views and the data tests read typed columnar storage instead of re-parsing and re-casting
      the CSVs (one parse of the sales history costs ~9 s on two cores). Incremental with
      delete+insert on `dt`: a run with run_date reloads only that day's partition; a run
      without run_date rebuilds the table whole (full_refresh), so a partition that lost its
      manifest goes away too. -#}
{% macro raw_landing_config() -%}
    {{ return(adapter.dispatch('raw_landing_config', 'retailops')()) }}
{%- endmacro %}

{% macro default__raw_landing_config() -%}
    {{ return({'materialized': 'view'}) }}
{%- endmacro %}

{% macro duckdb__raw_landing_config() -%}
    {%- set settings = {
        'materialized': 'incremental',
        'incremental_strategy': 'delete+insert',
        'unique_key': 'dt',
        'on_schema_change': 'fail',
    } -%}
    {%- if run_date() is none -%}
        {%- do settings.update({'full_refresh': true}) -%}
    {%- endif -%}
    {{ return(settings) }}
{%- endmacro %}

{#- How stg_manifests is stored, per adapter: {{ config(**manifest_index_config()) }}
    - Athena: a view over the Glue manifests table, like the other staging views.
    - DuckDB: a table rebuilt whole every run. Its source is one small JSON file per fact
      partition (about 1,100 for a year); every query of a view would open them all again,
      and the base models, the row-count tests and the manifest tests each query it (about
      0.5 s per query for a year on two cores, against milliseconds for the table). -#}
{% macro manifest_index_config() -%}
    {{ return(adapter.dispatch('manifest_index_config', 'retailops')()) }}
{%- endmacro %}

{% macro default__manifest_index_config() -%}
    {{ return({'materialized': 'view'}) }}
{%- endmacro %}

{% macro duckdb__manifest_index_config() -%}
    {{ return({'materialized': 'table'}) }}
{%- endmacro %}
