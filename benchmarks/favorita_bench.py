"""Benchmark: the ``favorita`` pipeline over a Favorita-shaped download, by default the full size.

    KEDRO_DISABLE_TELEMETRY=1 .venv/bin/python benchmarks/favorita_bench.py \
        [--rows N] [--runs K] [--workdir DIR] [--memory-limit 1GB] [--threads 2]

Writes the download once (``retailops.favorita.synthetic``: 125,497,040 train rows by default,
with the release's shapes and counts; outside the timing, reused when ``--workdir`` already
holds it), then runs ``kedro run --pipelines favorita`` K times, each as a fresh process, and
prints per run and as the median: wall time, CPU time (user + system: the fairer figure on a
shared machine), the peak resident memory of the whole process tree
(sampled every 0.1 s, and never below the largest single process's ``getrusage`` peak), the
peak size of DuckDB's spill folder, and the seconds from one node's start to the next. The
Kaggle task node is switched off unless ``--kaggle`` (it has its own benchmark and target).

At the release's size every file has the release's row count, so the run checks the download
as ``expect_release=full``; smaller downloads run as ``sample``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
RELEASE_TRAIN_ROWS = 125_497_040

# Each run goes under measure_run.py: wall and CPU time, peak RSS of the child's whole process
# tree, the peak size of DuckDB's spill folder, and the child's log lines with their times.
MEASURE = str(Path(__file__).with_name("measure_run.py"))

_NODE_LINE = re.compile(r"^\s*([\d.]+) .*Running node: (\w+)")


def node_seconds(log: Path, total: float) -> list[tuple[str, float]]:
    """(node, seconds) from the times at which Kedro logged each node's start."""
    starts = []
    for line in log.read_text().splitlines():
        match = _NODE_LINE.match(line)
        if match:
            starts.append((match.group(2), float(match.group(1))))
    ends = [at for _, at in starts[1:]] + [total]
    return [(name, end - at) for (name, at), end in zip(starts, ends)]


def run_once(
    data_dir: Path, out_dir: Path, log: Path, mode: str, memory_limit: str, threads: int, kaggle: bool = False
) -> dict:
    """One ``kedro run --pipelines favorita`` in a fresh process, measured by the wrapper."""
    shutil.rmtree(out_dir, ignore_errors=True)
    spill_dir = out_dir / ".duckdb_tmp"  # DuckDB's spill folder: favorita.duckdb.temp_directory's default
    spill_dir.mkdir(parents=True)
    kedro = str(Path(sys.executable).with_name("kedro"))
    params = (
        f"favorita.data_dir={data_dir},favorita.out_dir={out_dir},favorita.reports_dir={out_dir / 'reports'},"
        f"favorita.expect_release={mode},favorita.duckdb.memory_limit={memory_limit},"
        f"favorita.duckdb.threads={threads},favorita.kaggle_task.enabled={str(kaggle).lower()}"
    )
    command = [
        sys.executable, MEASURE, str(log), "--spill", str(spill_dir), "--stamp", "--",
        kedro, "run", "--pipelines", "favorita", "--params", params,
    ]
    env = dict(os.environ, KEDRO_DISABLE_TELEMETRY="1")
    done = subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout)
    if result["rc"] != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise SystemExit(f"pipeline failed (log: {log}):\n{tail}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=RELEASE_TRAIN_ROWS)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None, help="keep files here (default: a temp folder)")
    parser.add_argument("--memory-limit", default="1GB", help="DuckDB memory_limit (favorita.duckdb.memory_limit)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--kaggle", action="store_true",
        help="also run the Kaggle task node (off by default: benchmarks/favorita_kaggle_bench.py measures it)",
    )
    arguments = parser.parse_args()
    sys.path.insert(0, str(PROJECT / "src"))
    from retailops.favorita.synthetic import write_download

    workdir = arguments.workdir or Path(tempfile.mkdtemp(prefix="favorita_bench_"))
    data_dir, out_dir = workdir / "download", workdir / "out"
    marker = data_dir / "written.json"
    start = time.perf_counter()
    if marker.exists() and json.loads(marker.read_text())["rows"] == arguments.rows:
        origin = "reused"
    else:
        marker.unlink(missing_ok=True)
        write_download(data_dir, arguments.rows)
        origin = f"written in {time.perf_counter() - start:.0f} s"
        marker.write_text(json.dumps({"rows": arguments.rows}))
    mode = "full" if arguments.rows == RELEASE_TRAIN_ROWS else "sample"
    train_bytes = (data_dir / "train.csv").stat().st_size
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.machine()}")
    print(f"download: {data_dir} (train.csv {arguments.rows:,} rows, {train_bytes / 1e9:.2f} GB, {origin}); "
          f"expect_release={mode}; DuckDB memory_limit={arguments.memory_limit}, threads={arguments.threads}; "
          f"Kaggle task {'on' if arguments.kaggle else 'off'}")
    runs = []
    for index in range(arguments.runs):
        log = workdir / f"run-{index + 1}.log"
        before = os.getloadavg()[0]
        result = run_once(data_dir, out_dir, log, mode, arguments.memory_limit, arguments.threads, arguments.kaggle)
        result["load"] = (before, os.getloadavg()[0])
        runs.append(result)
        print(
            f"run {index + 1}: {result['seconds']:.1f} s wall, {result['cpu_seconds']:.0f} s CPU, peak RSS (process tree) {result['peak_tree_mb']:,.0f} MB, "
            f"largest process {result['peak_single_mb']:,.0f} MB, DuckDB spill peak {result['peak_spill_mb']:,.0f} MB; "
            f"load average {result['load'][0]:.1f} before, {result['load'][1]:.1f} after"
        )
        for name, seconds in node_seconds(log, result["seconds"]):
            print(f"    {seconds:8.1f} s  {name}")
    summary = json.loads((out_dir / "clean" / "train_summary.json").read_text())
    print(
        f"median of {len(runs)} run(s): {statistics.median(r['seconds'] for r in runs):.1f} s, "
        f"peak RSS {statistics.median(r['peak_tree_mb'] for r in runs):,.0f} MB "
        f"(max {max(r['peak_tree_mb'] for r in runs):,.0f} MB); train rows {summary['rows']:,}; "
        f"load average at start {load[0]:.1f}"
    )
    if arguments.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
