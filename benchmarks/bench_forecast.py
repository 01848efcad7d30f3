"""Forecast benchmarks: training time and peak memory per model, daily prediction, the backtest,
and the backtest's accuracy against the issue's targets.

    .venv/bin/python benchmarks/bench_forecast.py [--days 365] [--scale 1.0] [--runs 3]
        [--workdir data/bench_forecast] [--models seasonal_naive,intermittent,lightgbm]
        [--origins 4] [--step-days 7] [--refit-every 1] [--skip-backtest]

1. Lands ``--days`` days from 2024-07-01 (``kedro run --pipelines ingest``; reused when the
   workdir holds them) and builds and publishes the marts (``transform,validate,publish``; skipped
   when the serving file exists).
2. Per model, in a fresh process (so its peak memory is its own): loads the history from the
   marts the way the forecast stage does (timed apart), fits on it (target <= 5 min, <= 4 GB;
   the model chooses its training rows from the history it is given), then predicts the 14 days
   after the last day ``--runs`` times (target <= 15 s; median reported).
2b. The predict-only day from the models the training children stored: the stage's lookback
   read, then each model's prediction (medians of ``--runs``, CPU beside wall; LightGBM both
   through LightGBM's predictor and from its compiled trees, the stage's default, with whether
   the two forecasts are identical); then the whole
   forecast step as the daily run runs it (``kedro run --pipelines forecast`` for the last day:
   a first run trains and stores whatever model is not stored and fresh, or is a warm-up not
   counted, then ``--runs`` predict-only runs, each timed, with where its time went; dbt's
   target and log folders are the workdir's, ``dbt-target-conf``); ``--skip-step`` leaves it out.
3. The backtest, in a fresh process: ``--origins`` origins ``--step-days`` apart, each model
   refit every ``--refit-every`` origins, scored against observed sales and true demand; prints
   its time, peak memory and, against true demand, each model's WAPE ratio to the oracle at
   store x product x day (target <= 1.08) and store x category x day (<= 1.25) and its bias
   (within +-3%). The scored cells (every model's forecast beside the observed sales and the
   true demand, per origin x store x product x day) are left in ``<workdir>/backtest_panel.parquet``
   for breakdowns.

The machine's 2 cores are shared with other work: times are single measurements unless said.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
PROJECT_ROOT = Path(__file__).resolve().parents[1]
KEDRO = str(Path(sys.executable).with_name("kedro"))
FIRST_DAY = date(2024, 7, 1)
# The benchmark project's conf (lake, warehouse, serving file and reports under one folder).
from bench_transform import write_conf  # noqa: E402 - benchmarks/ is the script's folder

TARGETS = {"train_seconds": 300, "train_peak_gb": 4.0, "predict_seconds": 15,
           "store_product_ratio": 1.08, "store_category_ratio": 1.25, "bias": 0.03}


def kedro(conf: Path, *args: str, check: bool = True, project: Path = PROJECT_ROOT,
          env: dict[str, str] | None = None) -> tuple[float, str]:
    """Seconds taken, and the one-line error of a failed run ('' when it succeeded). ``project``:
    the Kedro project run (its own ``src/`` first on the path), this one by default."""
    started = time.perf_counter()
    done = subprocess.run([KEDRO, "run", "--conf-source", str(conf), *args], cwd=project,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, **(env or {})})
    error = ""
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        error = next((line for line in lines if line.startswith("retailops: error")),
                     lines[-1] if lines else f"exit {done.returncode}")
        if check:
            raise SystemExit(f"kedro run {' '.join(args)} failed: {error}")
    return time.perf_counter() - started, error


def model_params(models: list[str] | None = None) -> dict:
    """The forecast stage's parameters (conf/base/parameters_forecast.yml), so the benchmark
    measures the configured models (e.g. intermittent as TSB, not the class default)."""
    import yaml

    params = yaml.safe_load((PROJECT_ROOT / "conf" / "base" / "parameters_forecast.yml")
                            .read_text())["forecast"]
    return {**params, "models": models} if models else params


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2  # KiB on Linux


def cpu_seconds() -> float:
    """CPU time of this process so far (user + system): on shared cores the wall time says how
    busy the machine was, the CPU time what the work cost."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- child processes -----------------------------------------------------------------------------

def _open(root: Path):
    from retailops.forecast.data import WarehouseMarts, history_window, load_context, load_history
    from retailops.lake.storage import Lake
    from retailops.warehouse.engines import make_warehouse

    # The readers' serving file when published, else the warehouse file transform built (the
    # same marts; a window whose validation fails is never published).
    serving = root / "warehouse" / "serving.duckdb"
    path = serving if serving.exists() else root / "warehouse" / "retailops.duckdb"
    warehouse = make_warehouse("duckdb", path=str(path))
    reader = WarehouseMarts(warehouse)
    context = load_context(reader)
    return Lake(str(root / "lake")), reader, context, history_window, load_history


def child_train(root: Path, model: str, days: int, runs: int) -> dict:
    from retailops.forecast.models import forecasters
    from retailops.lake.promotions import read_plan

    started = time.perf_counter()
    lake, reader, context, history_window, load_history = _open(root)
    first, last = history_window(reader, days)
    history = load_history(reader, first, last, context)
    load_seconds = time.perf_counter() - started
    # Stock-out marks once, as the forecast stage does (run.gather_inputs): models given a
    # marked history do not mark it again at every predict.
    from retailops.forecast.censoring import mark_censoring

    started = time.perf_counter()
    history = mark_censoring(history)
    censoring_seconds = time.perf_counter() - started
    after_load = peak_gb()
    plan = read_plan(lake, last)
    forecaster = forecasters(model_params([model]))[model]
    started, cpu = time.perf_counter(), cpu_seconds()
    fitted = forecaster.fit(history, plan, context)
    fit_seconds, fit_cpu = time.perf_counter() - started, cpu_seconds() - cpu
    # Kept for the predict-only child (a day whose models are stored and fresh).
    import pickle

    (root / "models").mkdir(exist_ok=True)
    (root / "models" / f"{model}.pkl").write_bytes(pickle.dumps(fitted, protocol=5))
    predict = []
    for _ in range(runs):
        started = time.perf_counter()
        forecast = fitted.predict(history, last, 14, plan, context)
        predict.append(time.perf_counter() - started)
    return {"model": model, "history_rows": len(history), "history_days": (last - first).days + 1,
            "load_seconds": load_seconds, "censoring_seconds": censoring_seconds,
            "fit_seconds": fit_seconds, "fit_cpu_seconds": fit_cpu,
            "training": getattr(fitted, "training", {}),
            "predict_seconds": statistics.median(predict), "predict_runs": runs,
            "forecast_rows": len(forecast), "peak_gb_after_load": after_load,
            "peak_gb": peak_gb()}


def child_predict(root: Path, days: int, runs: int) -> dict:
    """A day that only predicts: the stored models (saved by the training children), the
    stage's lookback (``run.predict_days`` of the default models, ~140 days) read from the
    marts, each model's prediction timed ``runs`` times. Side by side in this one process:
    the floor (the bare DuckDB read of the lookback's two facts), and each model's prediction
    from the whole ``days`` history, which must give the same forecast."""
    import pickle

    import numpy as np

    from retailops.forecast.censoring import mark_censoring
    from retailops.forecast.run import predict_days
    from retailops.lake.promotions import read_plan

    lake, reader, context, history_window, load_history = _open(root)
    lookback = predict_days(model_params())
    first, last = history_window(reader, lookback)
    floor = []
    for _ in range(runs):
        started = time.perf_counter()
        sales = reader.read("fct_daily_sales", ("store_id", "product_id", "quantity",
                            "gross_revenue", "discount_amount", "sale_date"),
                            "sale_date", first, last)
        counts = reader.read("fct_inventory_snapshots", ("store_id", "product_id",
                             "quantity_on_hand", "snapshot_date"), "snapshot_date", first, last)
        floor.append(time.perf_counter() - started)
    del sales, counts
    load, cpu = [], cpu_seconds()
    for _ in range(runs):
        started = time.perf_counter()
        history = mark_censoring(load_history(reader, first, last, context))
        load.append(time.perf_counter() - started)
    load_cpu = (cpu_seconds() - cpu) / runs
    plan = read_plan(lake, last)
    out = {"lookback_days": lookback, "history_rows": len(history),
           "floor_seconds": statistics.median(floor), "floor_runs": floor,
           "load_seconds": statistics.median(load), "load_runs": load,
           "load_cpu_seconds": load_cpu, "models": {}}
    fitted = {m: pickle.loads(p.read_bytes()) for m in ("seasonal_naive", "intermittent",
              "lightgbm") if (p := root / "models" / f"{m}.pkl").exists()}
    short = {}
    for name, model in fitted.items():
        times, cpu = [], cpu_seconds()
        for _ in range(runs):
            started = time.perf_counter()
            short[name] = model.predict(history, last, 14, plan, context)
            times.append(time.perf_counter() - started)
        out["models"][name] = {"predict_seconds": statistics.median(times), "runs": times,
                               "cpu_seconds": (cpu_seconds() - cpu) / runs}
    compiled = fitted.get("lightgbm")
    if compiled is not None and hasattr(compiled, "use_compiled"):
        # The same model predicting from its trees compiled (the stage's default,
        # forecast.compiled_trees), the object kept under the workdir as the stage keeps it
        # beside the stored version: compiled by the first run, loaded after.
        class FolderCache:
            def get(self, key):
                path = root / "models" / f"lightgbm-compiled-{key}"
                return path.read_bytes() if path.exists() else None

            def put(self, key, data):
                (root / "models" / f"lightgbm-compiled-{key}").write_bytes(data)

        started, cpu = time.perf_counter(), cpu_seconds()
        compiled.use_compiled(FolderCache())
        ready = {"seconds": time.perf_counter() - started, "cpu_seconds": cpu_seconds() - cpu}
        times, cpu = [], cpu_seconds()
        for _ in range(runs):
            started = time.perf_counter()
            forecast = compiled.predict(history, last, 14, plan, context)
            times.append(time.perf_counter() - started)
        same = all(np.array_equal(forecast[c].to_numpy(), short["lightgbm"][c].to_numpy())
                   for c in ("units", "units_p10", "units_p90"))
        out["lightgbm_compiled"] = {"predict_seconds": statistics.median(times), "runs": times,
                                    "cpu_seconds": (cpu_seconds() - cpu) / runs,
                                    "compile_or_load": ready, "identical": bool(same),
                                    "in_use": getattr(compiled, "_compiled", None) is not None}
        compiled._compiled = None  # the full-history check below: LightGBM's own predictor
    out["peak_gb_lookback"] = peak_gb()
    del history
    full_first, _ = history_window(reader, days)
    history = mark_censoring(load_history(reader, full_first, last, context))
    for name, model in fitted.items():
        started = time.perf_counter()
        whole = model.predict(history, last, 14, plan, context)
        same = (whole.drop(columns=["units", "units_p10", "units_p90"])
                .equals(short[name].drop(columns=["units", "units_p10", "units_p90"]))
                and all(np.array_equal(whole[c].to_numpy(), short[name][c].to_numpy())
                        for c in ("units", "units_p10", "units_p90")))
        out["models"][name].update(
            full_history_predict_seconds=time.perf_counter() - started,
            identical_to_full_history=bool(same),
            max_abs_difference=float(np.abs(whole["units"].to_numpy()
                                            - short[name]["units"].to_numpy()).max()))
    out["full_history_days"] = (last - full_first).days + 1
    out["peak_gb"] = peak_gb()
    return out


def step_env(conf: Path) -> dict[str, str]:
    """dbt's target and log folders of the step runs with ``conf``: beside it in the workdir,
    one pair per conf (per compared copy), as a deployment has one project and one target
    folder. In the shared work tree's ``dbt_athena/target`` anyone's dbt call with other vars
    or another profile would make the step re-parse the whole project (seconds)."""
    return {"DBT_TARGET_PATH": str(conf.parent / f"dbt-target-{conf.name}"),
            "DBT_LOG_PATH": str(conf.parent / f"dbt-logs-{conf.name}")}


def kedro_step(conf: Path, last: date, project: Path = PROJECT_ROOT) -> dict:
    """One ``kedro run --pipelines forecast`` for ``last``: its wall and CPU seconds (the kedro
    process and what it waited for: the dbt tests), and the stage's own summary."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    seconds, _ = kedro(conf, "--pipelines", "forecast", "--params",
                       f"forecast.last_day={last.isoformat()}", project=project,
                       env=step_env(conf))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lake_root = Path(yaml_globals(conf)["lake_root"])
    summary = json.loads((lake_root / "metadata" / "runs" / "forecast" / "latest.json")
                         .read_text())
    return {"seconds": seconds, "cpu_seconds": cpu, "summary": summary, "load": load}


def yaml_globals(conf: Path) -> dict:
    import yaml

    return yaml.safe_load((conf / "base" / "globals.yml").read_text())


def store_trained_models(root: Path, last: date) -> list[str]:
    """Store the training children's models (``<workdir>/models``) in the benchmark lake as the
    stage stores a trained model, for ``last``, unless a version for that day is there: the
    stage then only predicts, as on a day whose models are stored and fresh (its own training
    run, with the calibration fortnight, is not what this measures). Returns those stored."""
    import pickle

    from retailops.forecast import artifacts
    from retailops.lake.storage import Lake

    lake = Lake(str(root / "lake"))
    stored = []
    for name in model_params()["models"]:
        newest = artifacts.latest(lake, name)
        if newest is not None and newest.last_training_day == last:
            continue
        model = pickle.loads((root / "models" / f"{name}.pkl").read_bytes())
        artifacts.save(lake, name, model, {
            "window": {"first_day": (last - timedelta(days=363)).isoformat(),
                       "last_day": last.isoformat(), "days": 364},
            "reason": "bench_forecast: the training child's model", "metrics": {}})
        stored.append(name)
    return stored


def measure_step(conf: Path, root: Path, last: date, runs: int) -> None:
    """The forecast step of a predict-only day (every model stored and fresh), ``runs`` times."""
    seeded = store_trained_models(root, last)
    if seeded:
        print(f"\n(stored the training children's {', '.join(seeded)} in the lake as "
              f"trained on {last})")
    first = kedro_step(conf, last)
    trained = [n for n, m in first["summary"]["models"].items() if m["trained"]]
    if trained:
        print(f"\nthe forecast step, training day ({', '.join(trained)} trained and stored): "
              f"{first['seconds']:.0f} s ({first['cpu_seconds']:.0f} s CPU)")
    else:  # a warm-up, not counted: dbt's first parse in the step's own target folder
        print(f"\nthe forecast step, warm-up (not counted): {first['seconds']:.1f} s")
    done = []
    while len(done) < runs:
        done.append(kedro_step(conf, last))
        again = [n for n, m in done[-1]["summary"]["models"].items() if m["trained"]]
        if again:
            raise SystemExit(f"the predict-only run trained {again}: not a predict-only day")
    wall = statistics.median(r["seconds"] for r in done)
    cpu = statistics.median(r["cpu_seconds"] for r in done)
    history = done[-1]["summary"]["history"]
    each = ", ".join(f"{r['seconds']:.1f}" for r in done)
    print(f"\nthe forecast step of a predict-only day (kedro run --pipelines forecast, "
          f"{history['days_asked']} days read; medians of {len(done)}): {wall:.1f} s wall, "
          f"{cpu:.1f} s CPU (runs: {each} s)")
    parts = {}
    for r in done:
        for part, value in r["summary"].get("seconds", {}).items():
            parts.setdefault(part, []).append(value)
        for name, m in r["summary"]["models"].items():
            parts.setdefault(f"predict {name}", []).append(m["metrics"].get("predict_seconds", 0))
    node = 0.0
    for part, values in parts.items():
        print(f"  {part:28} {statistics.median(values):6.1f} s")
        node += statistics.median(values) if not part.startswith("predict ") else 0.0
    print(f"  {'the rest':28} {wall - node:6.1f} s (kedro start and wiring, the dbt tests of "
          f"the forecast marts, tracking)")


def compare_step(conf: Path, last: date, runs: int, other: Path) -> None:
    """The predict-only forecast step of another copy of the project (e.g. ``git archive`` of
    an earlier commit) and of this one, run in turn ``runs`` times each over the same lake and
    stored models, so both see the same load: medians and their ratio."""
    import shutil

    # The other copy runs with its own conf (its parameters may be older), pointed at the same
    # lake, warehouse and MLflow store.
    other_conf = conf.parent / "conf-compared"
    if other_conf.exists():
        shutil.rmtree(other_conf)
    shutil.copytree(other / "conf", other_conf, ignore=shutil.ignore_patterns("local"))
    (other_conf / "local").mkdir()
    for name in ("globals.yml", "parameters_forecast.yml", "mlflow.yml"):
        shutil.copy(conf / "base" / name, other_conf / "base" / name)
    confs = {"other": other_conf, "this": conf}
    done: dict[str, list[dict]] = {"other": [], "this": []}
    for name, project in (("other", other), ("this", PROJECT_ROOT)):
        # A warm-up each, not counted: dbt's first parse in each copy's own target folder.
        kedro_step(confs[name], last, project)
    for _ in range(runs):
        for name, project in (("other", other), ("this", PROJECT_ROOT)):
            done[name].append(kedro_step(confs[name], last, project))
            if any(m["trained"] for m in done[name][-1]["summary"]["models"].values()):
                raise SystemExit("a compared run trained a model: not a predict-only day")
    print(f"\nthe predict-only forecast step, {other} against this project, in turn "
          f"(medians of {runs}):")
    medians = {}
    for name, rows in done.items():
        medians[name] = (statistics.median(r["seconds"] for r in rows),
                         statistics.median(r["cpu_seconds"] for r in rows))
        parts = {}
        for r in rows:
            for part, value in r["summary"].get("seconds", {}).items():
                parts.setdefault(part, []).append(value)
        walls = ", ".join(f"{r['seconds']:.1f}" for r in rows)
        loads = ", ".join(f"{r['load']:.0f}" for r in rows)
        where = ", ".join(f"{p} {statistics.median(v):.1f}" for p, v in parts.items())
        print(f"  {name:6} {medians[name][0]:6.1f} s wall, {medians[name][1]:5.1f} s CPU "
              f"(runs {walls} s at load {loads}); {where}")
    print(f"  ratio other/this: {medians['other'][0] / medians['this'][0]:.2f}x wall, "
          f"{medians['other'][1] / medians['this'][1]:.2f}x CPU")


def child_backtest(root: Path, models: list[str], origins: int, step_days: int,
                   refit_every: int, days: int) -> dict:
    from retailops.forecast import backtest as bt
    from retailops.forecast.models import forecasters
    from retailops.forecast.truth import read_truth
    from retailops.lake.promotions import read_plan

    started = time.perf_counter()
    lake, reader, context, history_window, load_history = _open(root)
    config = bt.BacktestConfig(origins=origins, step_days=step_days, horizon=14,
                               refit_every=refit_every)
    first, last = history_window(reader, days)
    history = load_history(reader, first, last, context)
    chosen = bt.backtest_origins(first, last, config)
    truth = read_truth(lake, chosen[0] + timedelta(days=1), last)
    load_seconds = time.perf_counter() - started
    started, cpu = time.perf_counter(), cpu_seconds()
    from retailops.forecast.censoring import mark_censoring

    # Every pair of the backtested models, averaged, is scored too.
    pairs = {f"{a}+{b}": [a, b] for i, a in enumerate(models) for b in models[i + 1:]}
    result = bt.run_backtest(history, truth, forecasters(model_params(models)),
                             lambda origin: read_plan(lake, origin), context,
                             context.category_of(), config, combinations=pairs,
                             prepare=lambda known: mark_censoring(known, copy=False))
    seconds = time.perf_counter() - started
    peak, cpu = peak_gb(), cpu_seconds() - cpu
    # The scored cells (every model's forecast beside observed sales and true demand), for
    # breakdowns by origin, category or day without re-running: written after the peak is read.
    panel, _ = result.scored.panel()
    panel.to_parquet(root / "backtest_panel.parquet", index=False)
    return {"models": models, "origins": [o.isoformat() for o in result.origins],
            "refit_every": refit_every, "load_seconds": load_seconds, "seconds": seconds,
            "cpu_seconds": cpu, "model_seconds": result.seconds,
            "missing": result.missing_forecasts, "peak_gb": peak,
            "panel": str(root / "backtest_panel.parquet"),
            "accuracy": result.accuracy.to_dict(orient="records")}


def run_child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], cwd=PROJECT_ROOT,
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(args[:2])} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- the report ------------------------------------------------------------------------------------

def print_accuracy(backtest: dict) -> None:
    import pandas as pd

    table = pd.DataFrame(backtest["accuracy"])
    truth = table[table["against"] == "true_demand"]
    print("\naccuracy against true demand (pooled over origins; ratio = WAPE / oracle's WAPE)")
    print(f"{'model':16} {'level':15} {'WAPE':>7} {'ratio':>6} {'MASE':>6} {'bias':>7}")
    for row in truth[truth["level"].isin(["store_product", "store_category", "chain"])] \
            .sort_values(["level", "model"]).itertuples():
        print(f"{row.model:16} {row.level:15} {row.wape:7.3f} {row.wape_ratio_to_oracle:6.2f} "
              f"{row.mase:6.2f} {row.bias:+7.1%}")
    observed = table[(table["against"] == "observed") & (table["level"] == "store_product")]
    print("\nagainst observed sales, store x product:")
    for row in observed.itertuples():
        print(f"{row.model:16} WAPE {row.wape:.3f} ({row.wape_ratio_to_oracle:.2f}x oracle), "
              f"bias {row.bias:+.1%}")
    print("\ntargets (best model; bias within +-3% against true demand):")
    models = [m for m in truth["model"].unique() if m != "oracle"]
    for model in models:
        mine = truth[truth["model"] == model].set_index("level")
        sp = mine.at["store_product", "wape_ratio_to_oracle"]
        sc = mine.at["store_category", "wape_ratio_to_oracle"]
        b = mine.at["store_product", "bias"]
        ok = (sp <= TARGETS["store_product_ratio"] and sc <= TARGETS["store_category_ratio"]
              and abs(b) <= TARGETS["bias"])
        print(f"  {model:16} {sp:.2f}x (<= 1.08)  {sc:.2f}x (<= 1.25)  bias {b:+.1%} "
              f"(+-3%)  {'MET' if ok else 'NOT MET'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", default=str(PROJECT_ROOT / "data" / "bench_forecast"))
    parser.add_argument("--models", default="seasonal_naive,intermittent,lightgbm")
    parser.add_argument("--origins", type=int, default=4)
    parser.add_argument("--step-days", type=int, default=7)
    parser.add_argument("--refit-every", type=int, default=1)
    parser.add_argument("--skip-backtest", action="store_true")
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--skip-predict", action="store_true",
                        help="skip the predict-only day (it reads the models the training "
                             "children stored under the workdir)")
    parser.add_argument("--skip-step", action="store_true",
                        help="skip the whole forecast step (kedro run --pipelines forecast) "
                             "of a predict-only day")
    parser.add_argument("--skip-landing", action="store_true",
                        help="use the workdir's lake and marts as they are (e.g. a lake of an "
                             "earlier generator, which ingest refuses to extend)")
    parser.add_argument("--compare-step-with", default=None,
                        help="another copy of the project (e.g. git archive of an earlier "
                             "commit): its predict-only forecast step and this one's, in turn")
    parser.add_argument("--child", nargs="*")
    args = parser.parse_args()
    root = Path(args.workdir).resolve()
    models = [m for m in args.models.split(",") if m]

    if args.child:
        kind, *rest = args.child
        if kind == "train":
            result = child_train(root, rest[0], args.days, args.runs)
        elif kind == "predict":
            result = child_predict(root, args.days, args.runs)
        else:
            result = child_backtest(root, models, args.origins, args.step_days,
                                    args.refit_every, args.days)
        print(json.dumps(result, default=str))
        return

    conf = write_conf(root, args.scale)
    # MLflow tracking of the step's trainings into the workdir, not the project's data/.
    for name in ("parameters_forecast.yml", "mlflow.yml"):
        path = conf / "base" / name
        path.write_text(path.read_text().replace("sqlite:///data/mlflow/mlflow.db",
                                                 f"sqlite:///{root / 'mlflow.db'}"))
    last = FIRST_DAY + timedelta(days=args.days - 1)
    window = f"start_date={FIRST_DAY.isoformat()},end_date={last.isoformat()}"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores (shared), "
          f"Python {platform.python_version()}")
    if args.skip_landing:
        print(f"the lake and marts under {root} used as they are (--skip-landing)")
    else:
        seconds, _ = kedro(conf, "--pipelines", "ingest", "--params", window)
        print(f"landed {args.days} day(s) at scale {args.scale} (or found them landed) in "
              f"{seconds:.0f} s")
    if not (root / "warehouse" / "retailops.duckdb").exists():
        seconds, _ = kedro(conf, "--pipelines", "transform", "--params", window)
        print(f"built the marts in {seconds:.0f} s")
        seconds, error = kedro(conf, "--pipelines", "validate,publish", "--params", window,
                               check=False)
        print(f"validated and published in {seconds:.0f} s" if not error else
              f"not published ({error}); the forecasts read the warehouse file")

    if not args.skip_training:
        print("\ntraining on the whole history, one process per model")
        for model in models:
            r = run_child("train", model, "--workdir", str(root), "--days", str(args.days),
                          "--runs", str(args.runs))
            print(f"  {model:16} history {r['history_rows']:,} rows ({r['history_days']} days) "
                  f"loaded in {r['load_seconds']:.0f} s (+{r.get('censoring_seconds', 0):.0f} s "
                  f"censoring marks); fit {r['fit_seconds']:.1f} s ({r['fit_cpu_seconds']:.0f} s "
                  f"CPU; {r['training'].get('rows', '-')} training rows) "
                  f"(target <= 300); daily prediction {r['predict_seconds']:.1f} s "
                  f"(median of {r['predict_runs']}, target <= 15); peak memory "
                  f"{r['peak_gb']:.2f} GB ({r['peak_gb_after_load']:.2f} GB after loading; "
                  f"target <= 4)")
    if not args.skip_predict:
        r = run_child("predict", "--workdir", str(root), "--days", str(args.days),
                      "--runs", str(args.runs))
        print(f"\ndaily prediction from stored models ({r['lookback_days']} days read, "
              f"{r['history_rows']:,} rows; medians of {args.runs}, target <= 15 s per model):")
        print(f"  floor: bare DuckDB read of the lookback's sales and counts "
              f"{r['floor_seconds']:.1f} s")
        print(f"  read + densify + stock-out marks {r['load_seconds']:.1f} s "
              f"({r['load_seconds'] / r['floor_seconds']:.1f}x the floor, "
              f"{r['load_cpu_seconds']:.1f} s CPU)")
        total = r["load_seconds"]
        for name, m in r["models"].items():
            total += m["predict_seconds"]
            print(f"  {name:16} predict {m['predict_seconds']:.1f} s ({m['cpu_seconds']:.1f} s "
                  f"CPU; {m['predict_seconds'] / r['floor_seconds']:.1f}x the floor); from the "
                  f"whole {r['full_history_days']} days {m['full_history_predict_seconds']:.1f} s, "
                  f"{'identical' if m['identical_to_full_history'] else 'DIFFERENT'} "
                  f"(max |diff| {m['max_abs_difference']:.2g})")
        c = r.get("lightgbm_compiled")
        if c:
            print(f"  lightgbm, trees compiled (the stage's default): predict "
                  f"{c['predict_seconds']:.1f} s ({c['cpu_seconds']:.1f} s CPU), "
                  f"{'identical to' if c['identical'] else 'DIFFERENT from'} LightGBM's predictor"
                  f"{'' if c['in_use'] else ' (NOT IN USE: fell back)'}; compiled or loaded in "
                  f"{c['compile_or_load']['seconds']:.1f} s "
                  f"({c['compile_or_load']['cpu_seconds']:.1f} s CPU)")
            total += c["predict_seconds"] - r["models"]["lightgbm"]["predict_seconds"]
        print(f"  the predict-only day: {total:.1f} s for the read and all models; peak memory "
              f"{r['peak_gb_lookback']:.2f} GB ({r['peak_gb']:.2f} GB with the full-history check)")
    if not args.skip_step:
        measure_step(conf, root, last, args.runs)
    if args.compare_step_with:
        compare_step(conf, last, args.runs, Path(args.compare_step_with).resolve())
    if not args.skip_backtest:
        r = run_child("backtest", "--workdir", str(root), "--days", str(args.days),
                      "--models", ",".join(models), "--origins", str(args.origins),
                      "--step-days", str(args.step_days), "--refit-every", str(args.refit_every))
        print(f"\nbacktest: {len(r['origins'])} origins {r['origins'][0]}..{r['origins'][-1]}, "
              f"refit every {r['refit_every']}: {r['seconds']:.0f} s ({r['cpu_seconds']:.0f} s CPU) "
              f"after {r['load_seconds']:.0f} s loading; peak memory {r['peak_gb']:.2f} GB")
        for model, t in r["model_seconds"].items():
            print(f"  {model:16} {t['fits']} fit(s) {t['fit']:.0f} s, predictions {t['predict']:.0f} s")
        if any(r["missing"].values()):
            print(f"  cells left unforecast (scored as 0): {r['missing']}")
        (root / "backtest_result.json").write_text(json.dumps(r, default=str))
        print_accuracy(r)


if __name__ == "__main__":
    main()
