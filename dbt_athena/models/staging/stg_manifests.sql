{{ config(**manifest_index_config()) }}

with

source as (

    select * from {{ source('raw', 'manifests') }}
    {%- if is_incremental() %}
    -- DuckDB keeps the index as a table: a daily run re-reads only the rebuilt days'
    -- manifests (their folders; the dt filter prunes the rest), not every day's.
    where {{ rebuilt_days_filter('dt') }}
    {%- endif %}

),

final as (

    select
        nullif(trim(table_name), '') as table_name,
        nullif(trim(dt), '') as partition_dt,
        try_cast(nullif(trim(dt), '') as date) as partition_date,
        cast("rows" as bigint) as row_count,
        nullif(trim(sha256), '') as sha256,
        nullif(trim(written_at), '') as written_at,
        nullif(trim(generator_version), '') as generator_version

    from source
    -- A manifest that does not parse (a truncated file) reads as a row of nulls on both
    -- engines; its partition is incomplete, never committed with unknown rows.
    where not (manifest_table is null and manifest_dt is null and "rows" is null
               and sha256 is null)

)

select * from final
