{#- Schema names: DuckDB gets `staging` and `marts`; Athena gets the Glue databases
    `retailops_staging` and `retailops_marts` (<profile schema>_<folder schema>). -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ return(adapter.dispatch('warehouse_schema_name', 'retailops')(custom_schema_name, node)) }}
{%- endmacro %}

{% macro default__warehouse_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema | trim }}
    {%- else -%}
        {{ target.schema | trim }}_{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}

{% macro duckdb__warehouse_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
