{#- The defect ledger: what the generator deliberately broke, one row per defect
    (facts: one file per day; dimensions: one file). Used to reconcile what staging caught.
    A table on DuckDB, rebuilt for the run's days only (macros/ledger.sql). -#}
{{ config(**ledger_table_config()) }}

with

fact_defects as (

    select * from {{ source('raw', 'defects') }}
    {%- if is_incremental() %}
    where {{ rebuilt_days_filter('dt') }}
    {%- endif %}

),

dimension_defects as (

    select * from {{ source('raw', 'dimension_defects') }}

),

unioned as (

    select
        'facts' as ledger,
        defect_dt, table_name, defect_type, record_key, column_name, recorded_value, true_value,
        dt as partition_dt
    from fact_defects

    union all

    select
        'dimensions' as ledger,
        defect_dt, table_name, defect_type, record_key, column_name, recorded_value, true_value,
        cast(null as varchar) as partition_dt
    from dimension_defects

),

final as (

    select
        ledger,
        try_cast(nullif(trim(defect_dt), '') as date) as defect_date,
        nullif(trim(table_name), '') as table_name,
        nullif(trim(defect_type), '') as defect_type,
        nullif(trim(record_key), '') as record_key,
        nullif(trim(column_name), '') as column_name,
        nullif(recorded_value, '') as recorded_value,
        nullif(trim(true_value), '') as true_value,
        partition_dt

    from unioned

)

select * from final
