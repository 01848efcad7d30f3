{#- How marts are stored, per adapter. Models call
      {{ config(**mart_table_config()) }}               for whole tables (dimensions, scorecards)
      {{ config(**fact_table_config('sale_date')) }}    for facts incremental by a date column
    and every mart lands as Parquet under <lake_root>/curated/<model>/:
    - Athena: a Hive Parquet table whose external_location is that folder (facts partitioned by
      the date column, which each fact selects last; insert_overwrite replaces a day's partition).
    - DuckDB: a table in the warehouse file plus a post-hook COPY to that folder
      (export_curated); facts are incremental by day (clear_rebuilt_days, then
      insert_rebuilt_rows). -#}

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

{% macro fact_table_config(date_column, batch_column=none, batch_source=none) -%}
    {{ return(adapter.dispatch('fact_table_config', 'retailops')(date_column, batch_column, batch_source)) }}
{%- endmacro %}

{#- batch_column / batch_source (DuckDB only): a full build of the fact runs month by month,
    see insert_full_build_batches below. Athena's full builds are batched by partition already
    (safe_create_table_as in athena_batches.sql). -#}
{% macro default__fact_table_config(date_column, batch_column=none, batch_source=none) -%}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'insert_overwrite',
        'on_schema_change': 'fail',
        'table_type': 'hive',
        'format': 'parquet',
        'write_compression': 'snappy',
        'partitioned_by': [date_column],
        'external_location': curated_location(this.identifier),
        'pre_hook': ["{{ retailops.clear_rebuilt_days('" ~ date_column ~ "', 'date') }}"],
    }) }}
{%- endmacro %}

{% macro duckdb__fact_table_config(date_column, batch_column=none, batch_source=none) -%}
    {%- set post_hooks = [] -%}
    {%- if batch_column -%}
        {%- do post_hooks.append("{{ retailops.insert_full_build_batches('" ~ batch_column ~ "', " ~ batch_source ~ ") }}") -%}
    {%- endif -%}
    {%- do post_hooks.append("{{ retailops.export_curated('" ~ date_column ~ "') }}") -%}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'insert_rebuilt_rows',
        'on_schema_change': 'fail',
        'pre_hook': ["{{ retailops.clear_rebuilt_days('" ~ date_column ~ "', 'date') }}"],
        'post_hook': post_hooks,
    }) }}
{%- endmacro %}

{#- A full (non-incremental) build of a big fact, month by month (DuckDB).

    One GROUP BY over every sale line of a year at scale 16 (282.8M lines, 96.7M
    day x store x product groups) does not fit the warehouse's 4 GB cap: it spilled 10 GB to
    disk and took 558 s (docs/scale.md, finding 8). Its groups hold the day, so the months can
    be aggregated one after the other, each GROUP BY holding a month of groups.

    How: on a full build the model's own statement keeps no rows (its batched filter,
    full_build_batch_filter(), is a marker that selects nothing), so dbt creates the table with
    the model's columns and types; then this post-hook (before the Parquet export) inserts the
    model's compiled SELECT once per batch, the marker replaced by the batch's range of
    `column` (the raw partition text, YYYY-MM-DD, which the base tables store in day order, so
    each batch's scan skips the other months' row groups). The batches are the distinct
    prefixes of `column` in `source` (7 characters: months), cut as ranges that together cover
    every value (the first also takes nulls): the union is the one-statement result, row for
    row (tests/dbt/test_full_build_batches.py). On an incremental build the marker is absent
    and nothing happens here.

    RETAILOPS_FULL_BUILD_BATCH (read when the hook runs, never while dbt parses): `month`
    (default), `day`, or `none` for the one statement. -#}
{% macro full_build_batch_marker() -%}
    {{ return('1 = 0 /* retailops: full build in batches, see insert_full_build_batches */') }}
{%- endmacro %}

{% macro full_build_batch_unit() -%}
    {%- set unit = env_var('RETAILOPS_FULL_BUILD_BATCH', 'month') | trim | lower -%}
    {%- if unit not in ('month', 'day', 'none') -%}
        {{ exceptions.raise_compiler_error("env RETAILOPS_FULL_BUILD_BATCH must be month, day or none, got '" ~ unit ~ "'") }}
    {%- endif -%}
    {{ return(unit) }}
{%- endmacro %}

{#- The fact's filter on a full build: everything (Athena; DuckDB with batching off, or while
    dbt parses) or the marker the batches replace. -#}
{% macro full_build_batch_filter() -%}
    {{ return(adapter.dispatch('full_build_batch_filter', 'retailops')()) }}
{%- endmacro %}

{% macro default__full_build_batch_filter() -%}
    {{ return('1 = 1') }}
{%- endmacro %}

{% macro duckdb__full_build_batch_filter() -%}
    {%- if not execute or full_build_batch_unit() == 'none' -%}{{ return('1 = 1') }}{%- endif -%}
    {{ return(full_build_batch_marker()) }}
{%- endmacro %}

{% macro insert_full_build_batches(column, source) -%}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set marker = full_build_batch_marker() -%}
    {%- set code = model.compiled_code -%}
    {%- if marker not in code -%}{{ return('') }}{%- endif -%}
    {%- set width = 10 if full_build_batch_unit() == 'day' else 7 -%}
    {%- set found = run_query("select distinct substr(" ~ column ~ ", 1, " ~ width ~ ") as prefix from "
                              ~ source ~ " where " ~ column ~ " is not null order by prefix") -%}
    {%- set prefixes = found.columns[0].values() | list -%}
    {%- if prefixes | length == 0 -%}{{ return('') }}{%- endif -%}
    {%- for prefix in prefixes -%}
        {%- set bounds = [] -%}
        {%- if not loop.first -%}
            {%- do bounds.append(column ~ " >= '" ~ prefix ~ "'") -%}
        {%- endif -%}
        {%- if not loop.last -%}
            {%- do bounds.append(column ~ " < '" ~ prefixes[loop.index] ~ "'") -%}
        {%- endif -%}
        {%- set batch = '(' ~ (bounds | join(' and ') or '1 = 1') ~ ')' -%}
        {%- if loop.first -%}
            {%- set batch = '(' ~ batch ~ ' or ' ~ column ~ ' is null)' -%}
        {%- endif -%}
        {%- do log(this.identifier ~ ": full build batch " ~ loop.index ~ "/" ~ prefixes | length ~ " (" ~ prefix ~ ")") -%}
        {%- do run_query("insert into " ~ this ~ " " ~ code.replace(marker, batch)) -%}
    {%- endfor -%}
    {{ return('') }}
{%- endmacro %}

{#- Before an incremental build of a fact (or, on DuckDB, a base table): remove the rows of
    every day the run rebuilds (rebuild_days), so that a day whose partitions were removed
    from the lake, or re-landed with fewer rows, leaves no stale rows behind. delete+insert and
    insert_overwrite alone only replace the days present in the new rows. `kind` is 'date'
    for a date column, 'text' for the raw partition column `dt`.
    - DuckDB: a delete, in the model's transaction.
    - Athena: the days' partitions are dropped from Glue and their files deleted (what
      insert_overwrite itself does for the days it writes). -#}
{% macro clear_rebuilt_days(column, kind='text') -%}
    {%- if not execute or not is_incremental() -%}{{ return('') }}{%- endif -%}
    {{ return(adapter.dispatch('clear_rebuilt_days', 'retailops')(column, kind)) }}
{%- endmacro %}

{% macro default__clear_rebuilt_days(column, kind) -%}
    {%- set days = rebuild_days() -%}
    {%- if days -%}
        {%- set conditions = [] -%}
        {%- for day in days -%}
            {%- do conditions.append(column ~ "='" ~ day ~ "'") -%}
        {%- endfor -%}
        {%- do adapter.clean_up_partitions(this, conditions) -%}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}

{% macro duckdb__clear_rebuilt_days(column, kind) -%}
    {%- set days = rebuild_days() -%}
    {%- if days is none -%}
        delete from {{ this }}
    {%- elif days -%}
        delete from {{ this }} where {{ column }} in {{ rebuild_days_sql(days, 'date ' if kind == 'date' else '') }}
    {%- endif -%}
{%- endmacro %}

{#- DuckDB only: copy the model just built to Parquet under curated/.
    - Whole tables: curated/<model>/<model>.parquet, replaced each run.
    - Facts (date_column given): hive partitions curated/<model>/<date_column>=YYYY-MM-DD/data_0.parquet.
      With rebuild_days only those days' folders are replaced, one plain COPY per day (a day
      without rows any more, e.g. removed from the lake, loses its folder); without, the
      folder is replaced as a whole, one partitioned COPY per month. -#}
{% macro export_curated(date_column=none) -%}
    {{ return(adapter.dispatch('export_curated', 'retailops')(date_column)) }}
{%- endmacro %}

{% macro default__export_curated(date_column=none) -%}
    {#- Athena tables already live in curated/ (external_location). -#}
{%- endmacro %}

{% macro duckdb__export_curated(date_column=none) -%}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set folder = curated_location(this.identifier) -%}
    {%- set days = rebuild_days() -%}
    {%- if date_column is none -%}
        {%- do run_query("select retailops_make_dirs('" ~ folder ~ "')") -%}
        copy (select * from {{ this }}) to '{{ folder }}/{{ this.identifier }}.parquet' (format parquet)
    {%- elif days is none -%}
        {#- A month per COPY: one partitioned COPY of a year at scale 16 (~100M rows, 365
            folders) spilled 9.8 GB under the 4 GB cap and took 132 s; by month, 72 s and no
            spill (docs/scale.md, finding 11). The folder is emptied first, as `overwrite` did. -#}
        {%- do run_query("select retailops_remove_dir('" ~ folder ~ "')") -%}
        {%- do run_query("select retailops_make_dirs('" ~ folder ~ "')") -%}
        {%- set months = run_query("select distinct cast(date_trunc('month', " ~ date_column ~ ") as date) as m from " ~ this ~ " where " ~ date_column ~ " is not null order by m") -%}
        {%- for month in months.columns[0].values() -%}
            {%- do run_query("copy (select * from " ~ this ~ " where " ~ date_column ~ " >= date '" ~ month ~ "' and " ~ date_column ~ " < date '" ~ month ~ "' + interval 1 month) to '" ~ folder ~ "' (format parquet, partition_by (" ~ date_column ~ "), overwrite_or_ignore, filename_pattern 'data_{i}')") -%}
        {%- endfor -%}
        {#- Rows without a day (none expected: the grain holds it) keep their own folder. -#}
        copy (select * from {{ this }} where {{ date_column }} is null)
        to '{{ folder }}' (format parquet, partition_by ({{ date_column }}), overwrite_or_ignore, filename_pattern 'data_{i}')
    {%- elif days -%}
        {#- A rebuilt day: its rows straight to its one file, the file a partitioned COPY
            writes (the hive folder's name carries the day, the file holds the other columns):
            partitioning a single day cost more CPU for nothing (docs/scale.md, finding 16).
            Each column passes through a CASE that is true for every row written, because a
            plain COPY marks a column REQUIRED in the file when the table's statistics show
            no null in it (DuckDB 2.0), where the partitioned COPY writes every column
            OPTIONAL; the CASE's implicit ELSE NULL keeps them OPTIONAL. A day without rows
            (removed from the lake) loses its folder and gets no file: COPY returns the count
            of rows it wrote. tests/dbt/test_curated_day_export.py compares both COPYs. -#}
        {%- set columns = [] -%}
        {%- for column in adapter.get_columns_in_relation(this) if column.name != date_column -%}
            {%- do columns.append(adapter.quote(column.name)) -%}
        {%- endfor -%}
        {%- for day in days -%}
            {%- set day_folder = folder ~ "/" ~ date_column ~ "=" ~ day -%}
            {%- set in_day = date_column ~ " = date '" ~ day ~ "'" -%}
            {%- set selected = [] -%}
            {%- for column in columns -%}
                {%- do selected.append("case when " ~ in_day ~ " then " ~ column ~ " end as " ~ column) -%}
            {%- endfor -%}
            {%- do run_query("select retailops_remove_dir('" ~ day_folder ~ "')") -%}
            {%- do run_query("select retailops_make_dirs('" ~ day_folder ~ "')") -%}
            {%- set written = run_query("copy (select " ~ selected | join(", ") ~ " from " ~ this ~ " where " ~ in_day ~ ") to '" ~ day_folder ~ "/data_0.parquet' (format parquet)") -%}
            {%- if written.columns[0].values()[0] == 0 -%}
                {%- do run_query("select retailops_remove_dir('" ~ day_folder ~ "')") -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{#- How the raw fact partitions are landed in the warehouse (models/staging/base/), per adapter:
    {{ config(**raw_landing_config()) }}
    - Athena: a view over the Glue table. Athena scans the files per query anyway, pruned by
      partition projection; copying them would only duplicate the raw zone.
    - DuckDB: a table holding the typed rows of every complete partition, so that the staging
      views and the data tests read typed columnar storage instead of re-parsing and re-casting
      the CSVs (one parse of the sales history costs ~9 s on two cores). Incremental with
      insert_rebuilt_rows: a run with rebuild_days first deletes those days
      (clear_rebuilt_days: a partition that lost its manifest goes away too) and reloads them;
      a run without rebuild days deletes every row and reloads them all (clear_rebuilt_days),
      and the transform stage passes --full-refresh to every full build anyway. The days are
      never read here: a config is evaluated while dbt parses, and a model that reads
      RETAILOPS_REBUILD_DAYS while parsed is re-parsed every new day. -#}
{% macro raw_landing_config() -%}
    {{ return(adapter.dispatch('raw_landing_config', 'retailops')()) }}
{%- endmacro %}

{% macro default__raw_landing_config() -%}
    {{ return({'materialized': 'view'}) }}
{%- endmacro %}

{% macro duckdb__raw_landing_config() -%}
    {%- set settings = {
        'materialized': 'incremental',
        'incremental_strategy': 'insert_rebuilt_rows',
        'on_schema_change': 'fail',
        'pre_hook': ["{{ retailops.clear_rebuilt_days('dt') }}"],
    } -%}
    {{ return(settings) }}
{%- endmacro %}

{#- How stg_manifests is stored, per adapter: {{ config(**manifest_index_config()) }}
    - Athena: a view over the Glue manifests table, like the other staging views.
    - DuckDB: a table. Its source is one small JSON file per fact partition (about 1,100 for
      a year); every query of a view would open them all again, and the base models, the
      row-count tests and the manifest tests each query it (about 0.5 s per query for a year
      on two cores, against milliseconds for the table). Incremental like the base tables:
      a daily run deletes the rebuilt days' rows (a removed manifest goes with them) and
      reads only those days' manifests; reading them all grew with history (~1.7 s a day
      after a year on a loaded machine). -#}
{% macro manifest_index_config() -%}
    {{ return(adapter.dispatch('manifest_index_config', 'retailops')()) }}
{%- endmacro %}

{% macro default__manifest_index_config() -%}
    {{ return({'materialized': 'view'}) }}
{%- endmacro %}

{% macro duckdb__manifest_index_config() -%}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'delete+insert',
        'unique_key': 'partition_dt',
        'on_schema_change': 'fail',
        'pre_hook': ["{{ retailops.clear_rebuilt_days('partition_dt') }}"],
    }) }}
{%- endmacro %}

{#- How an incremental model's rows reach its table on DuckDB (the base tables and the facts):
    incremental_strategy 'insert_rebuilt_rows', a custom strategy (dbt calls
    get_incremental_<strategy>_sql), with the model's incremental filter written
    {{ rebuilt_rows_filter(column) }} instead of rebuilt_days_filter.

    dbt-duckdb's own strategies first create a temporary table from the model's SELECT, then
    delete the table's rows matching the temporary table's keys and insert its rows: the day's
    rows are typed and stored twice, and the delete joins them all again. At scale 16 a daily
    run's base_sales holds 0.74-0.87M sale lines: the copy and the join cost ~0.3-0.5 CPU-s of
    the node's ~1.6 (docs/scale.md, finding 14). Here:
    - the delete is clear_rebuilt_days (the models' pre-hook), which already removes every
      rebuilt day, so a delete by key would find nothing more;
    - rebuilt_rows_filter adds a marker that selects nothing to the rebuilt-days filter, so the
      temporary table dbt creates (for its column checks, on_schema_change) is empty and its
      SELECT reads no file;
    - the strategy's statement inserts the model's compiled SELECT with the marker replaced by
      `1 = 1`: the rebuilt days' rows are read, typed and stored once, straight into the table.
    A model using the strategy without the marker is refused. Full builds do not use a
    strategy. Athena keeps insert_overwrite; its rebuilt_rows_filter is
    rebuilt_days_filter, word for word. -#}
{% macro insert_in_place_marker() -%}
    {{ return('1 = 0 /* retailops: rows inserted in place, see insert_rebuilt_rows */') }}
{%- endmacro %}

{% macro rebuilt_rows_filter(partition_column='partition_dt') -%}
    {{ return(adapter.dispatch('rebuilt_rows_filter', 'retailops')(partition_column)) }}
{%- endmacro %}

{% macro default__rebuilt_rows_filter(partition_column) -%}
    {{ return(rebuilt_days_filter(partition_column)) }}
{%- endmacro %}

{% macro duckdb__rebuilt_rows_filter(partition_column) -%}
    {%- if not execute -%}{{ return(rebuilt_days_filter(partition_column)) }}{%- endif -%}
    {{ return(rebuilt_days_filter(partition_column) ~ ' and ' ~ insert_in_place_marker()) }}
{%- endmacro %}

{% macro get_incremental_insert_rebuilt_rows_sql(arg_dict) -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    {%- set marker = insert_in_place_marker() -%}
    {%- set code = model.compiled_code -%}
    {%- if marker not in code -%}
        {{ exceptions.raise_compiler_error(this.identifier ~ ": incremental_strategy insert_rebuilt_rows needs rebuilt_rows_filter() in the model's incremental filter") }}
    {%- endif %}
    insert into {{ arg_dict['target_relation'] }} ({{ columns }})
    select {{ columns }} from (
        {{ code.replace(marker, '1 = 1') }}
    ) as rebuilt_rows
{%- endmacro %}

{#- The on-run-start hook's storage settings for this build, per adapter (dbt_project.yml).
    - Athena: none (an empty hook, which dbt does not send).
    - DuckDB, a build of listed days (a daily run, a repair, a backfill: rebuild_days() is a
      list): `max_vacuum_tasks = 0` for the connection dbt closes at the end of the build.
      Closing the file checkpoints it, and the checkpoint "vacuums": wherever up to three
      adjacent row groups fit in fewer, it rewrites them whole. Days appended as their own row
      groups are such runs: the tables that take less than a row group a day (base_inventory,
      base_shipments, fct_inventory_snapshots: ~64K rows a day at scale 16, ~4K at scale 1)
      had their last two or three days' row groups decompressed and written again every other
      run, and partial row groups of the big facts too: 0.2-0.9 s of one thread at scale 16
      (0.13-0.43 s at scale 1) after the last model, while the validation waits for the file
      (docs/scale.md, finding 18). With no vacuum task, a checkpoint writes the new row groups
      and nothing else; a row group whose rows were all deleted (a rebuilt day's) is still
      dropped, and a partly deleted one keeps its deleted rows until a full build. A checkpoint
      vacuums every table, not only those its connection wrote, so the transform stage's own
      read-write connection (build_state.record_built) checkpoints with no vacuum task too.
    - DuckDB, a full build (every day): DuckDB's default, which leaves compact row groups.
    The cost: such a table keeps a row group per day appended by daily runs until the next
    full build, the rows of one day each (what a query on a day's partition reads anyway).
    tests/dbt/test_daily_checkpoint.py. -#}
{% macro build_storage_settings() -%}
    {{ return(adapter.dispatch('build_storage_settings', 'retailops')()) }}
{%- endmacro %}

{% macro default__build_storage_settings() -%}
    {{ return('') }}
{%- endmacro %}

{% macro duckdb__build_storage_settings() -%}
    {%- if execute and rebuild_days() is not none -%}
        {{ return('set global max_vacuum_tasks = 0') }}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}
