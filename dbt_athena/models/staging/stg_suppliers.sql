{#- lead_time arrives as "7 days", "1 week", "2 weeks", "7d", "7 Days", " 7 days ";
    on_time_rate as "92%", "0.92", "92 %", " 92% ". Both are parsed here, once. -#}
with

source as (

    select * from {{ source('raw', 'suppliers') }}

),

normalised as (

    select
        nullif(trim(supplier_id), '') as supplier_id,
        nullif(trim(supplier_name), '') as supplier_name,
        nullif(trim(country), '') as country,
        lead_time as lead_time_text,
        on_time_rate as on_time_rate_text,
        lower(replace(nullif(trim(lead_time), ''), ' ', '')) as lead_time_compact,
        replace(nullif(trim(on_time_rate), ''), ' ', '') as on_time_rate_compact

    from source

),

parsed as (

    select
        *,
        try_cast(nullif(regexp_extract(lead_time_compact, '^([0-9]+)', 1), '') as integer) as lead_time_number,
        try_cast(nullif(replace(on_time_rate_compact, '%', ''), '') as double) as on_time_rate_number

    from normalised

),

final as (

    select
        supplier_id,
        supplier_name,
        country,
        lead_time_text,
        case
            when lead_time_compact like '%week%' or lead_time_compact like '%w'
                then lead_time_number * 7
            else lead_time_number
        end as lead_time_days,
        on_time_rate_text,
        case
            when strpos(on_time_rate_compact, '%') > 0 or on_time_rate_number > 1
                then round(on_time_rate_number / 100.0, 4)
            else round(on_time_rate_number, 4)
        end as on_time_rate,
        not coalesce({{ regex_full_match('lead_time_text', '[0-9]+ days') }}, false) as is_messy_lead_time,
        not coalesce({{ regex_full_match('on_time_rate_text', '[0-9]+%') }}, false) as is_messy_on_time_rate

    from parsed

)

select * from final
