{#- Fails for each partition whose loaded rows differ from its manifest's row count, and for
    each loaded partition without a manifest: the landing took every committed partition
    whole and nothing else. With run_date only that day is compared (rebuilt_days_filter). -#}
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
        coalesce(committed.partition_dt, loaded.partition_dt) as partition_dt,
        committed.row_count as manifest_rows,
        loaded.loaded_rows
    from committed
    full outer join loaded
        on committed.partition_dt = loaded.partition_dt
    where committed.partition_dt is null
        or coalesce(loaded.loaded_rows, 0) <> committed.row_count

)

select * from final

{% endtest %}
