{#- How stg_defects (the defect ledger) is stored, per adapter: {{ config(**ledger_table_config()) }}
    - Athena: a view over the Glue tables, like the other staging views (Athena prunes the
      ledger's partitions per query by projection).
    - DuckDB: a table. Its source is one CSV per day; every query of a view listed all of them
      again (the glob of metadata/defects/dt=*/defects.csv, then the partition filter), and the
      data test, the validation's ledger, stock and promotion checks and the readers' publish
      each query it: after 900 days that listing was ~0.1 s per query on a loaded machine, over
      ten queries a day. Incremental: a daily run deletes the rebuilt days' rows (a day removed
      from the lake goes with them) and the dimension ledger's undated rows (the dimension
      files are rewritten every run), then reads only those days' files and the dimension file;
      a full build (no rebuild days) deletes everything and reads every file. The ledger is
      written only when its day is landed, with that day's partitions, so the rebuilt days are
      the days whose ledger can have changed. -#}
{% macro ledger_table_config() -%}
    {{ return(adapter.dispatch('ledger_table_config', 'retailops')()) }}
{%- endmacro %}

{% macro default__ledger_table_config() -%}
    {{ return({'materialized': 'view'}) }}
{%- endmacro %}

{% macro duckdb__ledger_table_config() -%}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'append',
        'on_schema_change': 'fail',
        'pre_hook': ["{{ retailops.clear_rebuilt_days('partition_dt') }}",
                     "{{ retailops.clear_undated_rows('partition_dt') }}"],
    }) }}
{%- endmacro %}

{#- Before an incremental build of the ledger on DuckDB: remove the rows without a day (the
    dimension ledger), which every run reads again whole. -#}
{% macro clear_undated_rows(column) -%}
    {%- if not execute or not is_incremental() -%}{{ return('') }}{%- endif -%}
    delete from {{ this }} where {{ column }} is null
{%- endmacro %}
