"""Closed-loop replenishment study benchmark: the built-in periodic review against the
forecast-driven order-up-to policy over 13 weeks, at default scale unless told otherwise.

    .venv/bin/python benchmarks/bench_replenishment.py [--scale 1.0] [--forecaster intermittent]
        [--model TSB] [--every 14] [--warmup-weeks 26] [--weeks 13]
        [--levels 0.75,0.8,0.85,0.9,0.95] [--safety-stock empirical|intervals]
        [--calibration-origins 4] [--builtin-policy periodic_review] [--safety-factor 1.65]
        [--allocation cost|uniform] [--level-bounds 0.5,0.995] [--supply-risk]
        [--compare-uniform 0.95] [--criteria-weeks 8]
        [--cycle-periods 1.2 --perishable-cycle-periods 0.4 --cycle-packs 0]

The defaults are the study's (conf/base/parameters_replenishment.yml). Every built-in rule
(the chain's own, the rule before issue 15 and the rule from observed sales) runs from the same
state beside the forecast-driven levels. ``--criteria-weeks N`` instead lands each built-in rule
as the chain's own for N weeks and prints its lost demand and issue 15's promotion criteria.

Prints every policy run (lost units, fill rate, average inventory value at cost, days of cover,
orders, order and delivery lines), the issue's target verdict (>= 50% fewer lost units than the
built-in policy at no more average inventory value), the time of each part (warm-up replay,
fit, forecasts, simulation) and the peak resident memory, then the table as JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import sys
import time

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=20240701)
    parser.add_argument("--forecaster", default="intermittent",
                        help="a forecaster's name, or oracle: the bound fed the simulation's "
                             "true expected demand")
    parser.add_argument("--every", type=int, default=14, help="forecast every N days")
    parser.add_argument("--warmup-weeks", type=int, default=26)
    parser.add_argument("--weeks", type=int, default=13)
    parser.add_argument("--history-days", type=int, default=140)
    parser.add_argument("--levels", default="0.75,0.8,0.85,0.9,0.95")
    parser.add_argument("--headline", type=float, default=0.85)
    parser.add_argument("--safety-from-errors", action="store_true")
    parser.add_argument("--safety-stock", default="empirical", choices=["empirical", "intervals"])
    parser.add_argument("--calibration-origins", type=int, default=4)
    parser.add_argument("--builtin-policy", default="periodic_review",
                        help="the chain's own rule (simulation.builtin_policy: "
                             "periodic_review, periodic_review_before_issue_15 or "
                             "periodic_review_from_sales); the others are run too")
    parser.add_argument("--safety-factor", type=float, default=1.65,
                        help="the built-in rules' safety stock (simulation.safety_factor)")
    parser.add_argument("--allocation", default="cost", choices=["uniform", "cost"],
                        help="uniform: every cell at the level; cost: the uniform level's "
                             "safety stock value re-spent by lost units saved per unit of cost")
    parser.add_argument("--level-bounds", default="0.5,0.995",
                        help="each cell's service level under --allocation cost")
    parser.add_argument("--compare-uniform", default="",
                        help="uniform levels run too, side by side on the same demand")
    parser.add_argument("--supply-risk", action="store_true",
                        help="size the level on short deliveries and slips too")
    parser.add_argument("--cycle-periods", type=float, default=None,
                        help="the (R, s, S) structure: the level is a reorder point and a cell "
                             "at it is ordered up to it plus the forecast over this many review "
                             "periods and --cycle-packs case packs")
    parser.add_argument("--perishable-cycle-periods", type=float, default=None)
    parser.add_argument("--cycle-packs", type=float, default=1.0)
    parser.add_argument("--model", default="TSB",
                        help="the intermittent forecaster's statsforecast model")
    parser.add_argument("--criteria-weeks", type=int, default=0,
                        help="instead of the study: land each built-in rule as the chain's own "
                             "for N weeks from the first day and print its lost demand and "
                             "issue 15's two promotion criteria")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.criteria_weeks:
        return print_builtin_criteria(args)

    import pandas as pd

    from retailops.forecast.replenishment import (
        StudySettings,
        context_for_world,
        forecaster_for,
        run_study,
        target_verdict,
    )

    settings = StudySettings(seed=args.seed, scale=args.scale, warmup_weeks=args.warmup_weeks,
                             builtin_policy=args.builtin_policy,
                             safety_factor=args.safety_factor,
                             study_weeks=args.weeks, forecaster=args.forecaster,
                             forecast_every_days=args.every, history_days=args.history_days,
                             service_levels=tuple(float(x) for x in args.levels.split(",")),
                             headline_service_level=args.headline,
                             safety_from_forecast_errors=args.safety_from_errors,
                             safety_stock=args.safety_stock,
                             calibration_origins=args.calibration_origins,
                             allocation=args.allocation,
                             level_bounds=tuple(float(x) for x in args.level_bounds.split(",")),
                             supply_risk=args.supply_risk,
                             compare_uniform_levels=tuple(
                                 float(x) for x in args.compare_uniform.split(",") if x),
                             cycle_periods=args.cycle_periods,
                             perishable_cycle_periods=args.perishable_cycle_periods,
                             cycle_packs=args.cycle_packs,
                             forecast_params={"intermittent": {"model": args.model}})
    started = time.perf_counter()
    study = run_study(settings, forecaster_for, context_for_world)
    total = time.perf_counter() - started
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    columns = ["policy", "service_level", "allocation", "supply_risk", "cycle_periods",
               "reads_true_demand", "lost_units",
               "fill_rate", "avg_inventory_value", "days_of_cover", "orders", "order_lines", "delivery_lines",
               "lost_units_vs_builtin", "inventory_vs_builtin", "lost_units_vs_old_rule",
               "inventory_vs_old_rule", "lost_units_vs_sales_rule", "inventory_vs_sales_rule",
               "forecasts", "forecast_seconds",
               "simulation_seconds"]
    columns = [c for c in columns if c in study]
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(study[columns].to_string(index=False, float_format=lambda x: f"{x:,.3f}"))
    verdict = target_verdict(study)
    base = study.iloc[0]
    print(f"\nscale {settings.scale}, {base['stores']} stores x {base['products']} products, "
          f"{settings.start}..{settings.end}, forecaster {settings.forecaster} every "
          f"{settings.forecast_every_days} days; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores")
    print(f"warm-up replay {base['warmup_seconds']:.1f} s, fit {base['fit_seconds']:.1f} s, "
          f"calibration {base['calibration_seconds']:.1f} s, "
          f"total {total:.1f} s, peak memory {peak_gb:.2f} GB")
    print(f"target (>= 50% fewer lost units at no more inventory): {json.dumps(verdict)}")
    print(json.dumps({"settings": {"scale": settings.scale, "forecaster": settings.forecaster,
                                   "every": settings.forecast_every_days,
                                   "start": str(settings.start), "end": str(settings.end)},
                      "total_seconds": total, "peak_gb": peak_gb, "verdict": verdict,
                      "rows": study[columns].to_dict("records")}, default=str))
    return 0


def builtin_criteria(config, weeks: int) -> dict:
    """A chain landed under ``config``'s built-in rule from its first day for ``weeks`` weeks:
    the share of demand lost, and issue 15's criteria as tests/ingest/test_simulation_realism
    measures them: on store-days with a sale, a product's promoted days against its other days
    (units, median over products with both), and the lost share on promoted vs other days."""
    import numpy as np
    import pandas as pd

    from retailops.simulation import build_world, initial_state
    from retailops.simulation.engine import simulate_day

    world = build_world(config)
    state = initial_state(world)
    cost = np.tile(world.product_unit_cost, world.n_stores)
    product = np.arange(world.n_cells) % world.n_products
    units = {True: np.zeros(world.n_products), False: np.zeros(world.n_products)}
    store_days = {True: np.zeros(world.n_products), False: np.zeros(world.n_products)}
    demanded = {True: 0.0, False: 0.0}
    lost = {True: 0.0, False: 0.0}
    inventory = []
    for _ in range(7 * weeks):
        activity, state = simulate_day(world, state)
        sold, wanted = activity.sold_units, activity.demanded_units
        for promoted in (True, False):
            cells = (activity.on_promotion == promoted)
            with_sale = cells & (sold > 0)
            units[promoted] += np.bincount(product[with_sale], weights=sold[with_sale],
                                           minlength=world.n_products)
            store_days[promoted] += np.bincount(product[with_sale], minlength=world.n_products)
            demanded[promoted] += float(wanted[cells].sum())
            lost[promoted] += float((wanted - sold)[cells].sum())
        inventory.append(float(state.on_hand @ cost))
    both = (store_days[True] > 0) & (store_days[False] > 0)
    ratio = (units[True][both] / store_days[True][both]) / (units[False][both]
                                                            / store_days[False][both])
    share = {k: lost[k] / demanded[k] for k in (True, False)}
    return {"rule": config.builtin_policy, "scale": config.scale, "weeks": weeks,
            "lost_share": (lost[True] + lost[False]) / (demanded[True] + demanded[False]),
            "promoted_vs_other_store_days": float(pd.Series(ratio).median()),
            "products_compared": int(both.sum()),
            "lost_share_promoted": share[True], "lost_share_other": share[False],
            "lost_share_ratio": share[True] / share[False] if share[False] else float("nan"),
            "avg_inventory_value": float(np.mean(inventory))}


def print_builtin_criteria(args) -> int:
    from retailops.simulation import SimulationConfig
    from retailops.simulation.config import BUILTIN_POLICIES

    rows = []
    for rule in BUILTIN_POLICIES:
        started = time.perf_counter()
        row = builtin_criteria(SimulationConfig(seed=args.seed, scale=args.scale,
                                                safety_factor=args.safety_factor,
                                                builtin_policy=rule), args.criteria_weeks)
        row["seconds"] = time.perf_counter() - started
        rows.append(row)
        print(f"{rule}: lost {row['lost_share']:.2%} of demand; promoted store-days with a "
              f"sale sell {row['promoted_vs_other_store_days']:.2f}x the others (median of "
              f"{row['products_compared']} products; >= 1.3x); lost share promoted "
              f"{row['lost_share_promoted']:.2%} vs other {row['lost_share_other']:.2%} "
              f"({row['lost_share_ratio']:.2f}x; <= 1.3x); average inventory at cost "
              f"{row['avg_inventory_value']:,.0f}; {row['seconds']:.0f} s", flush=True)
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
