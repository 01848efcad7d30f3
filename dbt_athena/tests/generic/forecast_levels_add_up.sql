{#- Fails for each aggregate forecast whose point forecast is not the sum of the bottom
    level (store x product) of the same model, forecast date and target date, over the level's
    members (category from `products`); also for a level row whose key matches no bottom rows.
    Only models the bottom level holds for that forecast date are compared (a level-only
    model, if one is ever written, has nothing to add up). Intervals are not compared: they
    are computed at each level and do not sum.
    `model` is the levels table as filtered by the test's `where` (the forecast dates this run
    checks); the bottom level is limited to the same forecast dates (rebuilt_days_filter), so
    a daily check reads one partition of each table. -#}
{% test forecast_levels_add_up(model, bottom, products) %}

with

levels as (

    select * from {{ model }}

),

bottom as (

    select
        forecast.forecast_date,
        forecast.target_date,
        forecast.model,
        forecast.store_id,
        products.category,
        forecast.units
    from {{ bottom }} as forecast
    inner join {{ products }} as products
        on forecast.product_id = products.product_id
    where {{ rebuilt_days_filter('forecast.forecast_date') }}

),

bottom_up as (

    select forecast_date, target_date, model, 'store_category' as level,
        store_id || '|' || category as level_key, sum(units) as units
    from bottom group by forecast_date, target_date, model, store_id, category
    union all
    select forecast_date, target_date, model, 'category' as level, category as level_key,
        sum(units) as units
    from bottom group by forecast_date, target_date, model, category
    union all
    select forecast_date, target_date, model, 'store' as level, store_id as level_key,
        sum(units) as units
    from bottom group by forecast_date, target_date, model, store_id
    union all
    select forecast_date, target_date, model, 'chain' as level, 'chain' as level_key,
        sum(units) as units
    from bottom group by forecast_date, target_date, model

),

bottom_models as (

    select distinct forecast_date, model from bottom

),

final as (

    select
        levels.forecast_date,
        levels.target_date,
        levels.level,
        levels.level_key,
        levels.model,
        levels.units,
        bottom_up.units as bottom_up_units
    from levels
    inner join bottom_models
        on levels.forecast_date = bottom_models.forecast_date
        and levels.model = bottom_models.model
    left join bottom_up
        on levels.forecast_date = bottom_up.forecast_date
        and levels.target_date = bottom_up.target_date
        and levels.model = bottom_up.model
        and levels.level = bottom_up.level
        and levels.level_key = bottom_up.level_key
    where bottom_up.units is null
        or abs(levels.units - bottom_up.units) > 1e-6 * greatest(1.0, abs(bottom_up.units))

)

select * from final

{% endtest %}
