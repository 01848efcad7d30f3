{#- Fails for each committed partition (one with a manifest) whose rows in the model differ
    from its manifest's row count, a partition missing from the model included (0 rows): the
    landing took every committed partition whole. With run_date only that day is compared
    (rebuilt_days_filter).
    Why a left join from the manifests: the base models keep only partitions that have a
    manifest, so "loaded rows without a manifest" cannot happen (an earlier version tested it
    in a branch no data could reach). -#}
{% test row_counts_match_manifest(model, table_name, partition_column='dt') %}

with

loaded as (

    select {{ partition_column }} as partition_dt, count(*) as loaded_rows
    from {{ model }}
    where {{ rebuilt_days_filter(partition_column) }}
    group by {{ partition_column }}

),

committed as (

    select partition_dt, row_count
    from {{ ref('stg_manifests') }}
    where table_name = '{{ table_name }}' and {{ rebuilt_days_filter('partition_dt') }}

),

final as (

    select
        committed.partition_dt,
        committed.row_count as manifest_rows,
        coalesce(loaded.loaded_rows, 0) as loaded_rows
    from committed
    left join loaded
        on committed.partition_dt = loaded.partition_dt
    where coalesce(loaded.loaded_rows, 0) <> committed.row_count
        or committed.row_count is null

)

select * from final

{% endtest %}
