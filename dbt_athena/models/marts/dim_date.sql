{{ config(**mart_table_config()) }}

with

days as (

    {{ calendar_days(var('calendar_start'), var('calendar_end')) }}

),

final as (

    select
        date_day,
        cast(extract(year from date_day) as integer) as year,
        cast(extract(quarter from date_day) as integer) as quarter,
        cast(extract(month from date_day) as integer) as month,
        {{ month_name('date_day') }} as month_name,
        cast(extract(day from date_day) as integer) as day_of_month,
        cast({{ iso_day_of_week('date_day') }} as integer) as iso_day_of_week,
        {{ day_name('date_day') }} as day_name,
        cast(extract(week from date_day) as integer) as iso_week,
        {{ iso_day_of_week('date_day') }} >= 6 as is_weekend,
        cast(date_trunc('month', date_day) as date) as month_start_date

    from days

)

select * from final
