"""Benchmark: the ``favorita`` pipeline over a Favorita-shaped download with a 10M-row train.csv.

    KEDRO_DISABLE_TELEMETRY=1 .venv/bin/python benchmarks/favorita_bench.py [--rows N] [--runs K]

Writes the download once (``retailops.favorita.synthetic``, outside the timing), then runs
``kedro run --pipelines favorita`` K times as a fresh process each time and prints, per run and
as the median: wall time and the peak resident memory of the Kedro process (DuckDB runs inside
it, so its buffers count). Peak RSS comes from ``getrusage(RUSAGE_CHILDREN)`` in a small wrapper
process per run, which sees only that one run.
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
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]

# Runs one pipeline run as a child and reports that child's wall time and peak RSS.
_WRAPPER = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
elapsed = time.perf_counter() - start
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"seconds": elapsed, "peak_rss_mb": peak_kb / 1024, "rc": done.returncode,
                  "stderr_tail": done.stderr[-2000:]}))
"""


def run_once(data_dir: Path, out_dir: Path) -> dict:
    """One ``kedro run --pipelines favorita`` in a fresh process: seconds and peak RSS (MB)."""
    shutil.rmtree(out_dir, ignore_errors=True)
    kedro = str(Path(sys.executable).with_name("kedro"))
    # A generated download is not the Kaggle release: row counts are not compared (dates are).
    params = (
        f"favorita.data_dir={data_dir},favorita.out_dir={out_dir},favorita.reports_dir={out_dir / 'reports'},"
        "favorita.expect_release=sample"
    )
    command = [sys.executable, "-c", _WRAPPER, kedro, "run", "--pipelines", "favorita", "--params", params]
    env = dict(os.environ, KEDRO_DISABLE_TELEMETRY="1")
    result = json.loads(subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, text=True, check=True).stdout)
    if result["rc"] != 0:
        raise SystemExit(f"pipeline failed:\n{result['stderr_tail']}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None, help="keep files here (default: a temp folder)")
    arguments = parser.parse_args()
    sys.path.insert(0, str(PROJECT / "src"))
    from retailops.favorita.synthetic import write_download

    workdir = arguments.workdir or Path(tempfile.mkdtemp(prefix="favorita_bench_"))
    data_dir, out_dir = workdir / "download", workdir / "out"
    start = time.perf_counter()
    if (data_dir / "train.csv").exists():
        origin = "reused"
    else:
        write_download(data_dir, arguments.rows)
        origin = f"written in {time.perf_counter() - start:.1f} s"
    train_bytes = (data_dir / "train.csv").stat().st_size
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.machine()}")
    print(f"download: {data_dir} (train.csv {train_bytes / 1e6:,.0f} MB, {origin})")
    runs = []
    for index in range(arguments.runs):
        result = run_once(data_dir, out_dir)
        runs.append(result)
        print(f"run {index + 1}: {result['seconds']:.1f} s, peak RSS {result['peak_rss_mb']:,.0f} MB")
    summary = json.loads((out_dir / "clean" / "train_summary.json").read_text())
    print(
        f"median of {len(runs)} runs: {statistics.median(r['seconds'] for r in runs):.1f} s, "
        f"peak RSS {statistics.median(r['peak_rss_mb'] for r in runs):,.0f} MB "
        f"(max {max(r['peak_rss_mb'] for r in runs):,.0f} MB); train rows {summary['rows']:,}"
    )
    if arguments.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
