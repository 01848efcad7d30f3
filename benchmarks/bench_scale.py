"""The scale curve: a year of the chain at several scales, each step timed with its peak memory.

    .venv/bin/python benchmarks/bench_scale.py [--scales 1,4,16] [--days 365]
        [--workdir-prefix /tmp/F-scale] [--daily-runs 3] [--steps ingest,build,...]
    .venv/bin/python benchmarks/bench_scale.py --table [--plot docs/img/scale_curve.svg]

Issue 13's "bigger chain over a long history": at scale 16 over 365 days (~290M sale lines,
~20 GB of CSV) — ingest, a full build, a daily run at the end, the report and a forecast
prediction; targets: full build <= 15 min, daily run <= 1.5x the scale-1 daily run, peak
memory <= 6 GB.

For each scale S, in ``<prefix><S>`` (its own lake, warehouse, serving file, reports, dbt
target and MLflow store; ``conf/`` is a copy of the project's with those paths), each step is
``kedro run`` as a new process, timed, with its peak memory:

1. **ingest**: ``--pipelines ingest --params start_date=2024-07-01,end_date=<day 365>``;
2. **build**: ``--pipelines transform,validate`` over the same window into an empty warehouse
   (the full dbt build, then the whole window reconciled and validated);
3. **forecast**: ``--pipelines forecast`` (the models trained on the year, then the 14-day
   prediction written; ``--forecast-models`` picks the models);
4. **publish**: ``--pipelines publish`` (the readers' serving file);
5. **report**: ``--pipelines report`` (the executive summary page over the serving file);
6. **daily**: ``--pipelines daily --tags ingest,transform,validate --params run_date=D`` on
   each next day nobody has landed yet, as ``bench_daily.py`` times it (dbt's saved parse
   primed first, as a deployment ships it). The daily runs alternate between the scales, run
   after run, so the machine's load hits each alike; the figure is the median. With
   ``--baseline REF`` that commit's daily run alternates with today's on the same workdirs
   (A/B: each version's ratio, measured side by side).

Peak memory: a small wrapper process starts the step and samples the resident memory of the
whole process tree (the step and its children: ingest simulates ahead in a child process)
every 0.1 s from /proc; it also reports ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` (the largest
single process, exact). Results go to ``<prefix><S>/scale.json``; a step already recorded
there is not run again unless ``--redo`` names it. ``--table`` gathers every scale's record,
prints the table and (with ``--plot``) draws time and peak memory against sale lines.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
KEDRO = str(Path(sys.executable).with_name("kedro"))
FIRST_DAY = date(2024, 7, 1)
STEPS = ("ingest", "build", "forecast", "publish", "report", "questions", "daily")
TARGETS = {"build": 15 * 60, "peak_mb": 6 * 1024, "daily_ratio": 1.5}

# Each step runs under measure_run.py: wall seconds, the peak of the whole process tree's
# resident memory and getrusage's largest single descendant.
MEASURE = str(Path(__file__).with_name("measure_run.py"))


def workdir(prefix: str, scale: float) -> Path:
    return Path(f"{prefix}{scale:g}").resolve()


def _env(root: Path) -> dict[str, str]:
    from bench_daily import LOGGING

    (root / "bench_logging.yml").write_text(LOGGING)
    return {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1",
            "KEDRO_LOGGING_CONFIG": str(root / "bench_logging.yml"),
            "DBT_TARGET_PATH": str(root / "dbt-target"), "DBT_LOG_PATH": str(root / "dbt-logs")}


def write_conf(root: Path, scale: float, models: list[str]) -> Path:
    """The project's conf with this workdir's paths and scale (bench_transform's), the
    forecast's MLflow store in the workdir and its models ``models`` (``--params`` cannot
    carry a list: Kedro splits it on commas)."""
    from bench_transform import write_conf as transform_conf

    conf = transform_conf(root, scale)
    forecast = conf / "base" / "parameters_forecast.yml"
    text = forecast.read_text()
    for old, new in (("sqlite:///data/mlflow/mlflow.db", f"sqlite:///{root / 'mlflow.db'}"),
                     ("models: [seasonal_naive, intermittent, lightgbm]",
                      f"models: [{', '.join(models)}]")):
        if old not in text:
            raise SystemExit(f"{forecast}: no '{old}'; update bench_scale.py")
        text = text.replace(old, new)
    forecast.write_text(text)
    return conf


def run_step(root: Path, name: str, *args: str, command: list[str] | None = None,
             project: Path = PROJECT_ROOT, env: dict[str, str] | None = None) -> dict:
    """``kedro run`` (or ``command``) as a new process: seconds, peak memory; its log (its
    output) kept in the workdir. ``project``/``env``: another version's exported project
    (``--baseline``) run on the same workdir."""
    (root / "logs").mkdir(exist_ok=True)
    log = root / "logs" / f"{name}.log"
    # DuckDB's spill folder beside the warehouse (its peak size: the full build's limit at
    # scale 16, docs/scale.md finding 8).
    spill = root / "warehouse" / "retailops.duckdb.tmp"
    command = [sys.executable, MEASURE, str(log), "--spill", str(spill), "--",
               *(command or [KEDRO, "run", "--conf-source", str(root / "conf"), *args])]
    done = subprocess.run(command, cwd=project, env=env or _env(root), capture_output=True,
                          text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["load"] = os.getloadavg()[0]
    if result["rc"] != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise SystemExit(f"{root.name}: step {name} (kedro run {' '.join(args)}) failed "
                         f"({result['rc']}):\n{tail}")
    return result


def time_questions(serving: Path) -> None:
    """Each RetailOps Metabase question on the readers' serving file, its filters unset (as a
    dashboard first opens: Metabase writes ``1 = 1`` for an unset field filter, so the whole
    history is read). Prints one JSON line: seconds and rows per question."""
    import re

    import duckdb
    import yaml

    from retailops.dashboards.metabase.spec import MARTS_TOKEN

    questions = yaml.safe_load((PROJECT_ROOT / "conf" / "base" / "metabase" / "dashboards.yml")
                               .read_text())["questions"]
    found = {}
    with duckdb.connect(str(serving), read_only=True) as con:
        for key, question in questions.items():
            if "favorita." in question["sql"] or "forecast_accuracy" in question["sql"]:
                continue  # the Favorita study's and the backtest's tables: not in this run
            sql = re.sub(r"\{\{\s*\w+\s*\}\}", "1 = 1",
                         question["sql"].replace(MARTS_TOKEN, "marts"))
            started = time.perf_counter()
            rows = len(con.execute(sql).fetchall())
            found[key] = {"seconds": time.perf_counter() - started, "rows": rows}
    print(json.dumps(found))


def lake_volume(lake: Path, last: date) -> dict:
    """Sale lines and CSV bytes landed from the first day to ``last`` (from the manifests)."""
    lines, days = 0, 0
    for manifest in (lake / "metadata" / "manifests" / "sales").glob("dt=*/manifest.json"):
        if date.fromisoformat(manifest.parent.name[3:]) <= last:
            lines += json.loads(manifest.read_text())["rows"]
            days += 1
    csv_bytes = sum(p.stat().st_size for p in (lake / "raw").rglob("*.csv")
                    if not p.parent.name.startswith("dt=")
                    or date.fromisoformat(p.parent.name[3:]) <= last)
    return {"sale_lines": lines, "days": days, "csv_bytes": csv_bytes}


def landing_trend(log: Path, span: int = 30) -> dict:
    """Seconds per landed day from the ingest log (the dataset's "in X s simulated and
    written" lines): the median of the first and of the last ``span`` days landed by the run,
    so a landing that slows as history grows shows (the scale-16 year's first landing went
    from ~8 s to ~35 s a day while the machine's load rose; counted file work is flat, see
    tests/ingest/test_landing_flat_in_history.py)."""
    import re

    seconds = [float(m.group(1)) for m in re.finditer(r" landed [^\n]* in ([\d.]+) s simulated",
                                                       log.read_text(errors="replace"))]
    if not seconds:
        return {}
    return {"days_landed": len(seconds),
            "day_seconds_first": statistics.median(seconds[:span]),
            "day_seconds_last": statistics.median(seconds[-span:])}


def _last_landed(lake: Path) -> date:
    return max(date.fromisoformat(p.name[3:])
               for p in (lake / "metadata" / "manifests" / "sales").glob("dt=*"))


def load_record(root: Path) -> dict:
    path = root / "scale.json"
    return json.loads(path.read_text()) if path.exists() else {}


def save_record(root: Path, record: dict) -> None:
    (root / "scale.json").write_text(json.dumps(record, indent=2))


def _say(root: Path, step: str, result: dict, extra: str = "") -> None:
    print(f"{root.name}: {step:<9} {result['seconds']:8.1f} s ({result.get('cpu_seconds', 0):,.0f}"
          f" s CPU), peak {result['peak_tree_mb']:7,.0f} MB (largest process "
          f"{result['peak_single_mb']:,.0f} MB), spill peak {result.get('peak_spill_mb', 0):,.0f} MB,"
          f" load {result['load']:.1f}{extra}", flush=True)


def prepare_scale(scale: float, args: argparse.Namespace) -> None:
    """Ingest, full build, forecast, publish, report for one scale (steps already recorded
    are skipped)."""
    root = workdir(args.workdir_prefix, scale)
    root.mkdir(parents=True, exist_ok=True)
    record = load_record(root)
    if record.get("days", args.days) != args.days:
        raise SystemExit(f"{root} holds {record['days']} days, not {args.days}; use another "
                         "--workdir-prefix")
    record.update(scale=scale, days=args.days)
    record.setdefault("steps", {})
    write_conf(root, scale, args.forecast_models)
    last = FIRST_DAY + timedelta(days=args.days - 1)
    window = f"start_date={FIRST_DAY},end_date={last}"
    commands = {
        "ingest": ("--pipelines", "ingest", "--params", window),
        "build": ("--pipelines", "transform,validate", "--params", window),
        "forecast": ("--pipelines", "forecast"),
        "publish": ("--pipelines", "publish"),
        "report": ("--pipelines", "report"),
        "questions": (),
    }
    for step, command in commands.items():
        if step not in args.steps or (step in record["steps"] and step not in args.redo):
            continue
        if step == "build":  # a full build: an empty warehouse and no build state
            shutil.rmtree(root / "warehouse", ignore_errors=True)
            shutil.rmtree(root / "lake" / "curated", ignore_errors=True)
            shutil.rmtree(root / "lake" / "metadata" / "dbt", ignore_errors=True)
        if step == "questions":
            result = run_step(root, step, command=[
                sys.executable, __file__, "--questions", str(root / "warehouse" / "serving.duckdb")])
            result["questions"] = json.loads(
                (root / "logs" / "questions.log").read_text().strip().splitlines()[-1])
        else:
            result = run_step(root, step, *command)
        if step == "ingest":
            result.update(lake_volume(root / "lake", last))
            result.update(landing_trend(root / "logs" / "ingest.log"))
        if step == "forecast":
            result["models"] = list(args.forecast_models)
        record["steps"][step] = result
        save_record(root, record)
        _say(root, step, result)


def daily_runs(scales: list[float], args: argparse.Namespace) -> None:
    """``--daily-runs`` new days per scale, alternating between the scales (or between the
    workdirs ``--daily-workdirs`` names)."""
    from bench_daily import PARSE

    roots = ([Path(p).resolve() for p in args.daily_workdirs.split(",")] if args.daily_workdirs
             else [workdir(args.workdir_prefix, s) for s in scales])
    for root in roots:
        record = load_record(root)
        # "built_elsewhere": a workdir copied from another benchmark's built one (its conf
        # rewritten with --conf-only), e.g. bench_daily's scale-1 year, to run beside.
        if "build" not in record.get("steps", {}) and not record.get("built_elsewhere"):
            raise SystemExit(f"{root}: no full build recorded; run the build step first")
        # dbt's saved parse primed as a deployment ships it (bench_daily.py's reason).
        subprocess.run([sys.executable, "-c", PARSE, str(root)], env=_env(root), check=True,
                       cwd=PROJECT_ROOT, capture_output=True)
    # --baseline REF: that commit's daily run too, on the same workdirs, alternating with
    # today's (bench_daily.py's export: its own dbt target and log folders); the first round
    # of each version is a warm-up, recorded with "warm_up" and left out of the medians.
    versions = [("today", PROJECT_ROOT, None)]
    if args.baseline:
        from bench_daily import baseline
        exported = {root: baseline(root, args.baseline, _env(root)) for root in roots}
        versions.insert(0, (args.baseline, None, exported))
    for round_number in range(args.daily_runs + (1 if args.baseline else 0)):
        for code, project, exported in versions:
            for root in roots:
                if exported:
                    project, env = exported[root]
                else:
                    env = None
                record = load_record(root)
                day = (_last_landed(root / "lake") + timedelta(days=1)).isoformat()
                result = run_step(root, f"daily-{day}", "--pipelines", "daily", "--tags",
                                  "ingest,transform,validate", "--params", f"run_date={day}",
                                  project=project, env=env)
                result["day"] = day
                result["sale_lines"] = _sale_lines(root / "lake", day)
                result["round"] = round_number
                if args.baseline:
                    result["code"] = code
                    result["warm_up"] = round_number == 0
                record["steps"].setdefault("daily_runs", []).append(result)
                save_record(root, record)
                _say(root, f"daily {day} ({code})" if args.baseline else f"daily {day}",
                     result, f", {result['sale_lines']:,} sale lines")
    if args.baseline:
        print(baseline_comparison(roots, args.baseline, args.daily_runs))
    else:
        print(round_ratios(roots, "today", args.daily_runs))


def _sale_lines(lake: Path, day: str) -> int:
    manifest = lake / "metadata" / "manifests" / "sales" / f"dt={day}" / "manifest.json"
    return json.loads(manifest.read_text())["rows"]


def round_ratios(roots: list[Path], code: str, runs: int) -> str:
    """The last workdir's daily run over the first's, round by round (each round runs every
    workdir once, one after the other): their median, how many meet the target, and whether
    each pair ran the same calendar day (workdirs built over the same window run the same day
    each round: a Saturday at one scale against a Tuesday at the other differs by ~1.6x in
    sale lines)."""
    def counted(root: Path) -> dict[int, dict]:
        runs_here = [r for r in load_record(root)["steps"]["daily_runs"]
                     if r.get("code", "today") == code and not r.get("warm_up")
                     and "round" in r][-runs:]
        return {r["round"]: r for r in runs_here}
    first, last = counted(roots[0]), counted(roots[-1])
    pairs = [(first[n], last[n]) for n in sorted(set(first) & set(last))]
    if not pairs:
        return f"{code}: no rounds to pair"
    ratios = [b["seconds"] / a["seconds"] for a, b in pairs]
    same_day = sum(a["day"] == b["day"] for a, b in pairs)
    target = TARGETS["daily_ratio"]
    return (f"{code}: per round {roots[-1].name} / {roots[0].name}: median "
            f"{statistics.median(ratios):.3f}x, mean {statistics.mean(ratios):.3f}x, "
            f"{sum(r <= target for r in ratios)} of {len(ratios)} rounds <= {target}x, "
            f"{same_day} of {len(pairs)} pairs on the same day")


def baseline_comparison(roots: list[Path], ref: str, runs: int) -> str:
    """Per version: the median daily run at each workdir and their ratio (last workdir over
    the first), over this invocation's counted rounds."""
    lines = []
    for code in (ref, "today"):
        medians = []
        for root in roots:
            counted = [r for r in load_record(root)["steps"]["daily_runs"]
                       if r.get("code") == code and not r.get("warm_up")][-runs:]
            medians.append((statistics.median(r["seconds"] for r in counted),
                            statistics.median(r["cpu_seconds"] for r in counted)))
        (first, first_cpu), (last, last_cpu) = medians[0], medians[-1]
        lines.append(f"{code}: {roots[-1].name} {last:.2f} s ({last_cpu:.1f} s CPU) vs "
                     f"{roots[0].name} {first:.2f} s ({first_cpu:.1f} s CPU): "
                     f"{last / first:.2f}x (medians of {runs} alternating rounds)")
        lines.append("  " + round_ratios(roots, code, runs))
    return "\n".join(lines)


# --- the table and the plot ----------------------------------------------------------------

def gather(prefix: str) -> list[dict]:
    """Every workdir's record, with the lake's volume (a workdir whose lake was landed
    elsewhere, without an ingest step, is measured now)."""
    records = []
    paths = [path for one in prefix.split(",")
             for path in sorted(Path(one).parent.glob(Path(one).name + "*/scale.json"))]
    for path in paths:
        record = json.loads(path.read_text())
        if not record.get("steps"):
            continue
        if "ingest" in record["steps"]:
            record["volume"] = record["steps"]["ingest"]
        else:
            record["volume"] = lake_volume(path.parent / "lake",
                                           FIRST_DAY + timedelta(days=record["days"] - 1))
        records.append(record)
    return sorted(records, key=lambda r: (r["volume"]["sale_lines"]))


def summarise(record: dict) -> dict:
    steps = record["steps"]
    row = {"scale": record["scale"], "days": record["days"], "variant": record.get("variant", ""),
           # The scale-1 row (its variant) whose daily runs alternated with this row's.
           "daily_base": record.get("daily_base"),
           "sale_lines": record["volume"]["sale_lines"],
           "csv_gb": record["volume"]["csv_bytes"] / 1e9}
    for step in STEPS[:-1]:
        if step in steps:
            row[step] = steps[step]["seconds"]
            row[f"{step}_mb"] = steps[step]["peak_tree_mb"]
            if steps[step].get("peak_spill_mb"):  # DuckDB's spill folder, MB (not memory)
                row[f"spill_{step}"] = steps[step]["peak_spill_mb"]
    # Today's code only: a --baseline run's other version and both versions' warm-ups are
    # kept in the record for the comparison, not for the table.
    dailies = [d for d in steps.get("daily_runs", [])
               if d.get("code", "today") == "today" and not d.get("warm_up")]
    if dailies:
        row["daily"] = statistics.median(d["seconds"] for d in dailies)
        row["daily_mb"] = max(d["peak_tree_mb"] for d in dailies)
        row["daily_n"] = len(dailies)
    row["peak_mb"] = max(v for k, v in row.items() if k.endswith("_mb"))
    return row


def table(rows: list[dict]) -> str:
    def base_of(row: dict) -> dict | None:
        return next((r for r in rows if r["scale"] == 1 and "daily" in r and
                     (row.get("daily_base") is None or r["variant"] == row["daily_base"])), None)

    head = ("| scale | sale lines | CSV | ingest | full build | forecast | publish | report "
            "| Metabase questions | daily run (median) | daily / scale 1 | peak memory (step) |")
    lines = [head.replace("| scale |", "| scale × days |"), "|" + "---|" * (head.count("|") - 1)]

    def cell(row: dict, step: str) -> str:
        if step not in row:
            return "—"
        spill = (f", {row['spill_' + step] / 1024:.1f} GiB spilled"
                 if row.get(f"spill_{step}", 0) >= 100 else "")
        return f"{row[step]:,.0f} s / {row[step + '_mb'] / 1024:.1f} GiB{spill}"

    for row in rows:
        base = base_of(row)
        ratio = f"{row['daily'] / base['daily']:.2f}×" if base and "daily" in row else "—"
        peak_step = max((k for k in row if k.endswith("_mb") and k != "peak_mb"),
                        key=lambda k: row[k])
        daily = (f"{row['daily']:.1f} s / {row['daily_mb'] / 1024:.1f} GiB ({row['daily_n']} runs)"
                 if "daily" in row else "—")
        variant = f" ({row['variant']})" if row["variant"] else ""
        lines.append(f"| {row['scale']:g} × {row['days']}{variant} | {row['sale_lines'] / 1e6:,.1f}M | "
                     f"{row['csv_gb']:.1f} GB | {cell(row, 'ingest')} | {cell(row, 'build')} | "
                     f"{cell(row, 'forecast')} | {cell(row, 'publish')} | {cell(row, 'report')} | "
                     f"{cell(row, 'questions')} | "
                     f"{daily} | {ratio} | {row['peak_mb'] / 1024:.1f} GiB "
                     f"({peak_step[:-3]}) |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    """Two panels, log-log: seconds and peak GB per step against sale lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    plt.rcParams["svg.hashsalt"] = "retailops"  # stable element ids: the file diffs cleanly
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    # A row measured before a fix (its "variant" says "before") is drawn as a lone cross.
    before = [r for r in rows if "before" in r["variant"]]
    for row in before:
        left.plot([row["sale_lines"]], [row["build"]], "rx", label="build, " + row["variant"])
        right.plot([row["sale_lines"]], [row["build_mb"] / 1024], "rx",
                   label="build, " + row["variant"])
    for step in ("ingest", "build", "forecast", "report", "daily"):
        have = [r for r in rows if step in r and not (step == "build" and r in before)]
        if not have:
            continue
        xs = [r["sale_lines"] for r in have]
        left.plot(xs, [r[step] for r in have], marker="o", label=step)
        right.plot(xs, [r[step + "_mb"] / 1024 for r in have], marker="o", label=step)
    rows = [r for r in rows if r not in before]
    xs = [r["sale_lines"] for r in rows]
    for row in rows:  # which scale and history each point is
        right.annotate(f"scale {row['scale']:g}, {row['days']} d", (row["sale_lines"],
                       row["peak_mb"] / 1024), xytext=(0, 8), textcoords="offset points",
                       fontsize=7, ha="center", color="dimgrey")
    if len(rows) > 1:  # a line proportional to the data, through the first build
        first = next((r for r in rows if "build" in r), None)
        if first:
            left.plot(xs, [first["build"] * x / first["sale_lines"] for x in xs], "k:",
                      label="linear (from the smallest build)")
    left.axhline(TARGETS["build"], color="grey", lw=0.8, ls="--")
    left.annotate("full-build target 15 min", (xs[0], TARGETS["build"]), fontsize=8,
                  va="bottom")
    right.axhline(TARGETS["peak_mb"] / 1024, color="grey", lw=0.8, ls="--")
    right.annotate("peak target 6 GB", (xs[0], TARGETS["peak_mb"] / 1024), fontsize=8,
                   va="bottom")
    for axis, label in ((left, "seconds (new kedro process)"), (right, "peak resident memory, GiB")):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("sale lines in the lake (scale × days of history)")
        axis.set_ylabel(label)
        axis.grid(True, which="both", lw=0.3)
        axis.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    left.legend(fontsize=7)
    if before:
        right.legend(handles=right.get_lines()[:len(before)], fontsize=7, loc="lower right")
    scales = ", ".join(f"{r['scale']:g}" for r in rows)
    fig.suptitle(f"RetailOps scale curve (scales {scales}; new kedro process per step, "
                 "shared 2-core machine)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="svg", metadata={"Date": None})
    fig.savefig(path.with_suffix(".png"), dpi=80) if os.environ.get("BENCH_SCALE_PNG") else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="1,4,16")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--workdir-prefix", default="/tmp/F-scale",
                        help="with --table, a comma list of prefixes may be given")
    parser.add_argument("--steps", default=",".join(STEPS))
    parser.add_argument("--redo", default="", help="steps to run again though recorded")
    parser.add_argument("--daily-runs", type=int, default=3)
    parser.add_argument("--daily-workdirs", default="",
                        help="comma list of built workdirs to alternate the daily runs between")
    parser.add_argument("--baseline", help="with the daily step: a git commit whose daily "
                        "run alternates with today's on the same workdirs")
    parser.add_argument("--forecast-models", default="seasonal_naive,intermittent")
    parser.add_argument("--conf-only", type=Path, help="write this workdir's conf (for "
                        "--scales' first scale) and record it as built elsewhere (a copied, "
                        "built workdir to run daily runs in), then exit")
    parser.add_argument("--trend", type=Path, help="print the per-day landing trend of an "
                        "ingest log and exit")
    parser.add_argument("--questions", type=Path, help=argparse.SUPPRESS)  # the child's file
    parser.add_argument("--table", action="store_true", help="print the recorded table")
    parser.add_argument("--plot", type=Path, help="with --table: write the SVG plot here")
    parser.add_argument("--json", type=Path, help="with --table: write the rows as JSON here")
    parser.add_argument("--rows", type=Path, help="with --table: rows an earlier --json wrote "
                        "(docs/img/scale_curve.json), kept for the work folders no longer on "
                        "disk; a row measured again (same scale, days, variant) is replaced")
    args = parser.parse_args()
    if args.trend:
        print(json.dumps(landing_trend(args.trend)))
        return
    if args.questions:
        sys.path.insert(0, str(PROJECT_ROOT / "src"))
        time_questions(args.questions)
        return
    args.steps = set(args.steps.split(","))
    args.redo = set(filter(None, args.redo.split(",")))
    args.forecast_models = args.forecast_models.split(",")
    if args.table:
        rows = [summarise(r) for r in gather(args.workdir_prefix)]
        if args.rows and args.rows.exists():
            seen = {(r["scale"], r["days"], r["variant"]) for r in rows}
            rows += [r for r in json.loads(args.rows.read_text())
                     if (r["scale"], r["days"], r["variant"]) not in seen]
            rows.sort(key=lambda r: r["sale_lines"])
        print(table(rows))
        if args.json:
            args.json.write_text(json.dumps(rows, indent=2))
        if args.plot:
            plot(rows, args.plot)
            print(f"plot: {args.plot}")
        return
    scales = [float(s) for s in args.scales.split(",")]
    if args.conf_only:
        root = args.conf_only.resolve()
        write_conf(root, scales[0], args.forecast_models)
        record = load_record(root)
        record.update(scale=scales[0], days=args.days, built_elsewhere=True)
        record.setdefault("steps", {})
        save_record(root, record)
        print(f"{root}: conf written for scale {scales[0]:g}, recorded as built elsewhere")
        return
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f} (shared)",
          flush=True)
    for scale in scales if not args.daily_workdirs else []:
        prepare_scale(scale, args)
    if "daily" in args.steps:
        daily_runs(scales, args)


if __name__ == "__main__":
    main()
