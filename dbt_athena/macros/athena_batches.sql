{#- Athena writes at most 100 partitions per CTAS or INSERT. dbt-athena's own answer is to try
    the single CTAS, catch TOO_MANY_OPEN_PARTITIONS and only then redo the work in batches, so
    every first build or full refresh of a fact over more than 100 days scans its input twice
    (the failed attempt is billed). This project-level `safe_create_table_as` (it takes
    precedence over dbt-athena's, which every incremental and table materialization calls)
    asks for batches from the start when the relation being created is a partitioned table
    built whole: `temporary` false is a first build or a full refresh of the target itself.
    Temporary tables of daily insert_overwrite runs keep dbt-athena's default: they are created
    unpartitioned and may hold no rows at all (a day removed from the lake), which the batch
    path cannot create. Everything else is left to dbt-athena's macro. -#}
{% macro safe_create_table_as(temporary, relation, compiled_code, language='sql', force_batch=False) -%}
    {%- set whole_partitioned_table = not temporary and config.get('partitioned_by') -%}
    {{ return(dbt.safe_create_table_as(temporary, relation, compiled_code, language,
                                       force_batch or whole_partitioned_table)) }}
{%- endmacro %}
