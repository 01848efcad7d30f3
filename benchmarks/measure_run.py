"""Run one command as a child and measure it: wall seconds, CPU seconds, the sampled peak of the
resident memory of its whole process tree (DuckDB, a simulating child, dbt's threads all count),
getrusage's largest single descendant and, optionally, the peak size of a folder (DuckDB's spill
files). The benchmarks start it as a new process per measured step, so getrusage sees only that
step:

    python benchmarks/measure_run.py LOG [--spill DIR] [--stamp] -- COMMAND...

The child's output goes to LOG (each line prefixed with the seconds since the start with
``--stamp``); one JSON line on stdout carries the figures and the child's exit status.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time

PAGE = os.sysconf("SC_PAGE_SIZE")


def tree_rss(root: int) -> int:
    """Resident bytes of ``root`` and every descendant, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except (OSError, IndexError):
            continue
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/statm") as handle:
                total += int(handle.read().split()[1]) * PAGE
        except OSError:
            pass
        todo.extend(children.get(pid, []))
    return total


def folder_size(path: str) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log")
    parser.add_argument("--spill", help="a folder whose peak size is reported (peak_spill_mb)")
    parser.add_argument("--stamp", action="store_true", help="prefix each logged line with its time")
    argv = sys.argv[1:]
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        parser.error("no command to run (give it after --)")
    split = argv.index("--")
    args, command = parser.parse_args(argv[:split]), argv[split + 1:]

    start = time.perf_counter()
    with open(args.log, "w") as log:
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, errors="replace")

        def copy() -> None:
            for line in child.stdout:
                log.write(f"{time.perf_counter() - start:9.1f} {line}" if args.stamp else line)

        reader = threading.Thread(target=copy, daemon=True)
        reader.start()
        peak = spill = 0
        while child.poll() is None:
            peak = max(peak, tree_rss(child.pid))
            if args.spill:
                spill = max(spill, folder_size(args.spill))
            time.sleep(0.1)
        reader.join(5)
    elapsed = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    single = usage.ru_maxrss * 1024
    # System time and minor page faults too: a new process's first touch of its memory is
    # system time, and on this VM ~4 us a page (docs/scale.md, finding 20).
    print(json.dumps({"seconds": elapsed, "cpu_seconds": usage.ru_utime + usage.ru_stime,
                      "sys_seconds": usage.ru_stime, "minflt": usage.ru_minflt,
                      "peak_tree_mb": max(peak, single) / 2**20, "peak_single_mb": single / 2**20,
                      "peak_spill_mb": spill / 2**20, "rc": child.returncode}))


if __name__ == "__main__":
    main()
