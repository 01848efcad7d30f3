"""Harness for the operator journeys: throwaway Kedro projects, real ``kedro`` processes, and the
invariant's comparison against one clean full build of the same days.

The invariant (issue 10): any sequence of daily runs, backfills, re-runs, repairs and crashes
over a set of days leaves the same raw zone and the same marts, frame for frame, as one clean
full build of those days. "The same raw zone" is: every file under ``raw/`` byte for byte (stray
files included), every manifest's fields except ``written_at``, the defect ledger and the
simulation's ground truth byte for byte, and the lake's configuration record except its
timestamps. Simulation checkpoints, dbt summaries and run reports are not compared. "The same
marts" is: every mart under ``<lake>/curated/`` and every table of the warehouse's ``marts``
schema, sorted by all its columns.

Every journey runs at a tiny scale over a short window so that a ``kedro`` process costs a few
seconds; the reference build is made once per session and shared.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import textwrap
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import run_kedro
from tests.platform_fixture import make_project

# The window every scenario works in: four days at a scale where a day is a few hundred lines.
FIRST_DAY = date(2024, 7, 1)
WINDOW_DAYS = 4
SCALE = "0.01"


def day(k: int) -> str:
    """The k-th day of the window (1-based), as the command line spells it."""
    return (FIRST_DAY + timedelta(days=k - 1)).isoformat()


LAST_DAY = day(WINDOW_DAYS)

# Files of the lake that are compared as bytes / as JSON fields, by prefix. Checkpoints
# (metadata/state), run reports (metadata/runs) and the dbt summary (metadata/dbt) are not.
BYTE_ZONES = ("raw/", "metadata/defects/", "metadata/truth/")
MANIFESTS = "metadata/manifests/"
LAKE_RECORD = "metadata/lake.json"


@dataclass
class Project:
    """One throwaway Kedro project folder (conf, lake, warehouse) and what was run in it."""

    root: Path
    conf: Path
    lake: Path
    warehouse: Path
    transcript: list[str] = field(default_factory=list)

    @classmethod
    def create(cls, root: Path) -> "Project":
        conf, lake = make_project(root)
        return cls(root, conf, lake, root / "warehouse" / "retailops.duckdb")

    # -- running kedro ------------------------------------------------------------------------
    def kedro(self, pipelines: str, params: dict[str, str] | None = None,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """``kedro run --pipelines <pipelines> --params ...`` as a separate process."""
        all_params = {"scale": SCALE, **(params or {})}
        spelled = ",".join(f"{k}={v}" for k, v in all_params.items())
        args = ["run", "--conf-source", str(self.conf), "--pipelines", pipelines,
                "--params", spelled]
        proc = run_kedro(*args, env=env, timeout=600)
        self.transcript.append(f"kedro run --pipelines {pipelines} --params {spelled}"
                               f"{' [crash injected]' if env else ''} -> exit {proc.returncode}")
        return proc

    def ok(self, proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
        """The run must have succeeded; otherwise fail with its error and what ran before."""
        if proc.returncode != 0:
            raise AssertionError(
                f"expected success, got exit {proc.returncode}\n{self.history()}\n"
                f"{output_tail(proc)}")
        return proc

    def daily(self, k: int, **params: str) -> subprocess.CompletedProcess:
        return self.kedro("daily", {"run_date": day(k), **params})

    def ingest(self, first: int, last: int, **params: str) -> subprocess.CompletedProcess:
        return self.kedro("ingest", {"start_date": day(first), "end_date": day(last), **params})

    def build(self, first: int, last: int) -> subprocess.CompletedProcess:
        """A clean full build of days first..last in one process (land, then dbt)."""
        return self.kedro("ingest,transform", {"start_date": day(first), "end_date": day(last)})

    def transform(self, **params: str) -> subprocess.CompletedProcess:
        return self.kedro("transform", params)

    def history(self) -> str:
        return "runs so far:\n  " + "\n  ".join(self.transcript or ["(none)"])

    # -- the lake ----------------------------------------------------------------------------
    def raw_file(self, table: str, k: int) -> Path:
        return self.lake / "raw" / table / f"dt={day(k)}" / f"{table}.csv"


def output_tail(proc: subprocess.CompletedProcess, chars: int = 3000) -> str:
    """The end of what a run printed (Kedro logs to stdout, our one-line errors to stderr)."""
    return (f"--- stdout (tail) ---\n{proc.stdout[-chars:]}\n"
            f"--- stderr (tail) ---\n{proc.stderr[-chars:]}")


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    """The single ``retailops: error:`` line a refused run prints (no traceback)."""
    assert proc.returncode != 0, f"expected a failure, got exit 0\n{output_tail(proc, 800)}"
    assert "Traceback" not in proc.stdout + proc.stderr, f"a traceback instead of one line:\n{output_tail(proc)}"
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("retailops: error:")]
    assert len(lines) == 1, (f"expected exactly one 'retailops: error:' line, got {len(lines)}:\n"
                             f"{output_tail(proc)}")
    return lines[0]


# -- crash injection ---------------------------------------------------------------------------
# Loaded by the kedro subprocess through PYTHONPATH, never by production code: when a lake write
# targets a path starting with RETAILOPS_TEST_KILL_AT, half of the bytes go to a temporary file
# beside the destination (exactly where Lake.write_bytes stages its writes) and the process is
# SIGKILLed, as an OOM killer or a stopped container would do in the middle of a write.
_SITECUSTOMIZE = textwrap.dedent('''
    import os

    _TARGET = os.environ.get("RETAILOPS_TEST_KILL_AT")
    if _TARGET:
        import signal
        import tempfile

        from retailops.lake import storage

        _real_write_bytes = storage.Lake.write_bytes

        def _write_bytes_then_die(self, relative, data, *args, **kwargs):
            if str(relative).startswith(_TARGET):
                if not isinstance(data, (bytes, bytearray, memoryview)):
                    data = b"".join(data)  # pieces (a landed day's CSV as encoded)
                folder = os.path.dirname(self.url(relative))
                os.makedirs(folder, exist_ok=True)
                fd, _tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".part")
                os.write(fd, bytes(data[: max(1, len(data) // 2)]))
                os.fsync(fd)
                os.kill(os.getpid(), signal.SIGKILL)
            return _real_write_bytes(self, relative, data, *args, **kwargs)

        storage.Lake.write_bytes = _write_bytes_then_die
''')


def crash_env(folder: Path, kill_at: str) -> dict[str, str]:
    """Environment for a kedro process that is killed mid-write of the first lake path
    starting with ``kill_at`` (lake-relative, e.g. ``raw/sales/dt=2024-07-03``)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    pythonpath = os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH")) if p)
    return {"PYTHONPATH": pythonpath, "RETAILOPS_TEST_KILL_AT": kill_at}


# -- the reference ---------------------------------------------------------------------------
_REFERENCES: dict[tuple, Project] = {}


def reference_build(factory: pytest.TempPathFactory, last: int = WINDOW_DAYS) -> Project:
    """One clean full build of days 1..last (``--pipelines ingest,transform``), once a session."""
    key = (FIRST_DAY, last, SCALE)
    if key not in _REFERENCES:
        project = Project.create(factory.mktemp("reference") / "project")
        project.ok(project.build(1, last))
        _REFERENCES[key] = project
    return _REFERENCES[key]


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return reference_build(tmp_path_factory)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project.create(tmp_path / "project")


# -- the comparison --------------------------------------------------------------------------
def _lake_files(lake: Path) -> dict[str, Path]:
    return {p.relative_to(lake).as_posix(): p for p in lake.rglob("*") if p.is_file()}


def _json_fields(path: Path, drop) -> dict | str:
    try:
        data = json.loads(path.read_bytes())
    except ValueError as exc:
        return f"<does not parse: {exc}>"
    if not isinstance(data, dict):
        return f"<not an object: {data!r}>"
    return {k: v for k, v in data.items() if not drop(k)}


def raw_zone_differences(got: Path, want: Path, days: list[str] | None = None) -> list[str]:
    """How the raw zone of lake ``got`` differs from lake ``want`` (empty when the same).

    With ``days``, only those days' partitions of ``want`` are expected (plus the dimensions).
    """
    def in_scope(rel: str) -> bool:
        zoned = rel.startswith(BYTE_ZONES + (MANIFESTS,)) or rel == LAKE_RECORD
        if not zoned:
            return False
        if days is None or "/dt=" not in rel:
            return True
        return any(f"/dt={d}/" in rel for d in days)

    g = {r: p for r, p in _lake_files(got).items() if in_scope(r)}
    w = {r: p for r, p in _lake_files(want).items() if in_scope(r)}
    problems = []
    for rel in sorted(set(w) - set(g)):
        problems.append(f"missing: {rel}")
    for rel in sorted(set(g) - set(w)):
        stray = rel.rsplit("/", 1)[-1].startswith(".tmp-")
        problems.append(f"extra: {rel}" + (" (a crashed write's temporary file, never cleaned up)"
                                           if stray else ""))
    for rel in sorted(set(g) & set(w)):
        if rel.startswith(MANIFESTS):
            a = _json_fields(g[rel], lambda k: k == "written_at")
            b = _json_fields(w[rel], lambda k: k == "written_at")
        elif rel == LAKE_RECORD:
            a = _json_fields(g[rel], lambda k: k.endswith("_at"))
            b = _json_fields(w[rel], lambda k: k.endswith("_at"))
        else:
            a, b = g[rel].read_bytes(), w[rel].read_bytes()
            if a != b:
                problems.append(f"bytes differ: {rel} ({len(a)} vs {len(b)} bytes, sha256 "
                                f"{hashlib.sha256(a).hexdigest()[:12]} vs "
                                f"{hashlib.sha256(b).hexdigest()[:12]})")
            continue
        if a != b:
            if isinstance(a, dict) and isinstance(b, dict):
                fields = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
                problems.append(f"fields differ: {rel}: " + ", ".join(
                    f"{k}={a.get(k)!r} vs {b.get(k)!r}" for k in fields))
            else:
                problems.append(f"differs: {rel}: {a!r} vs {b!r}")
    return problems


def _sorted_frame(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame[sorted(frame.columns)]
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.CategoricalDtype):  # hive partition columns
            frame[col] = frame[col].astype(str)
    floats = [c for c in frame.columns if pd.api.types.is_float_dtype(frame[c])]
    keys = [c for c in frame.columns if c not in floats] + floats
    return frame.sort_values(keys, kind="mergesort", na_position="first").reset_index(drop=True)


def _frames_differ(name: str, a: pd.DataFrame, b: pd.DataFrame) -> str | None:
    if list(a.columns) != list(b.columns):
        return f"{name}: columns {list(a.columns)} vs {list(b.columns)}"
    if len(a) != len(b):
        return f"{name}: {len(a)} rows vs {len(b)} in the reference"
    a, b = _sorted_frame(a), _sorted_frame(b)
    try:
        # Sums of doubles may differ in the last bits with the order of aggregation; any
        # real difference (a row, a day, a price) is far above this tolerance.
        pd.testing.assert_frame_equal(a, b, check_dtype=True, check_exact=False, rtol=1e-9,
                                      atol=0)
    except AssertionError as exc:
        for col in a.columns:
            try:
                pd.testing.assert_series_equal(a[col], b[col], check_exact=False, rtol=1e-9,
                                               atol=0)
            except AssertionError:
                differs = ~((a[col] == b[col]) | (a[col].isna() & b[col].isna()))
                if pd.api.types.is_float_dtype(a[col]) and pd.api.types.is_float_dtype(b[col]):
                    differs &= ~((a[col] - b[col]).abs() <= 1e-9 * b[col].abs())
                rows = list(differs[differs].index)
                if rows:
                    first = rows[0]
                    return (f"{name}: column {col} differs in {len(rows)} of {len(a)} rows; "
                            f"first: {a.iloc[first].to_dict()} vs reference "
                            f"{b.iloc[first].to_dict()}")[:700]
        return f"{name}: {' '.join(str(exc).split())[:400]}"
    return None


def _curated_marts(lake: Path) -> dict[str, pd.DataFrame]:
    import pyarrow.dataset as ds

    root = lake / "curated"
    marts = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        files = sorted(str(p) for p in folder.rglob("*.parquet"))
        if not files:
            marts[folder.name] = pd.DataFrame()
            continue
        dataset = ds.dataset(files, format="parquet", partitioning="hive",
                             partition_base_dir=str(folder))
        marts[folder.name] = dataset.to_table().to_pandas()
    return marts


def _warehouse_marts(warehouse: Path) -> dict[str, pd.DataFrame]:
    import duckdb

    if not warehouse.exists():
        return {}
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        names = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts' "
            "order by 1").fetchall()]
        return {n: con.execute(f'select * from marts."{n}"').df() for n in names}
    finally:
        con.close()


def mart_differences(got: Project, want: Project) -> list[str]:
    problems = []
    for where, load, g_src, w_src in (("curated", _curated_marts, got.lake, want.lake),
                                      ("warehouse marts", _warehouse_marts, got.warehouse,
                                       want.warehouse)):
        g, w = load(g_src), load(w_src)
        if not w:
            problems.append(f"{where}: the reference has no marts (harness problem)")
        for name in sorted(set(w) - set(g)):
            problems.append(f"{where}: missing mart {name}")
        for name in sorted(set(g) - set(w)):
            problems.append(f"{where}: extra mart {name}")
        for name in sorted(set(g) & set(w)):
            diff = _frames_differ(f"{where}: {name}", g[name], w[name])
            if diff:
                problems.append(diff)
    return problems


def assert_same_as_reference(got: Project, want: Project) -> None:
    """The invariant: ``got`` holds the same raw zone and the same marts as ``want``."""
    problems = raw_zone_differences(got.lake, want.lake)
    problems += mart_differences(got, want)
    if problems:
        shown = problems[:25] + ([f"... and {len(problems) - 25} more"] if len(problems) > 25
                                 else [])
        raise AssertionError("not the same as a clean full build of the same days:\n  "
                             + "\n  ".join(shown) + "\n" + got.history())


def validation_verdicts(project: Project) -> list[tuple]:
    """The checks of the project's last validation report: name, expected, actual, verdict."""
    report = json.loads((project.lake / "metadata" / "runs" / "validation" / "latest.json")
                        .read_bytes())
    return [(c["name"], c["expected"], c["actual"], c["ok"]) for c in report["checks"]]


def _same_check(got: tuple, want: tuple) -> bool:
    """Name and verdict equal; expected and actual equal, floats to 1e-9 relative: the money
    checks' sums are float sums DuckDB adds in an order that varies between runs (their last
    digits differ between two runs of the same build), far below the check's own 1e-4."""
    if got[0] != want[0] or got[3] != want[3]:
        return False
    for a, b in zip(got[1:3], want[1:3]):
        if isinstance(a, float) or isinstance(b, float):
            if not (isinstance(a, (int, float)) and isinstance(b, (int, float))
                    and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)):
                return False
        elif a != b:
            return False
    return True


def assert_same_verdicts_as_reference(got: Project, want: Project, k: int,
                                      folder: Path) -> None:
    """The daily validation ``got`` just ran for day k says, check by check, what the same
    validation says on a copy of the clean full build, where nothing was kept from earlier
    runs (validation/kept.py: a day found clean is not read again while its inputs keep their
    fingerprints; after a repair, a stale kept result would show here)."""
    clean = Project.create(folder)
    shutil.copytree(want.lake, clean.lake, dirs_exist_ok=True)
    shutil.copytree(want.warehouse.parent, clean.warehouse.parent, dirs_exist_ok=True)
    if (clean.lake / "metadata" / "validation").exists():
        raise AssertionError("the reference holds kept validation results (harness problem)")
    clean.ok(clean.kedro("validate", {"run_date": day(k)}))
    got_checks, want_checks = validation_verdicts(got), validation_verdicts(clean)
    if not want_checks:
        raise AssertionError("the clean validation ran no checks (harness problem)")
    if len(got_checks) != len(want_checks) or not all(
            _same_check(g, w) for g, w in zip(got_checks, want_checks)):
        differ = [f"{g} != {w}" for g, w in zip(got_checks, want_checks)
                  if not _same_check(g, w)]
        if len(got_checks) != len(want_checks):
            differ.append(f"{len(got_checks)} checks != {len(want_checks)}")
        raise AssertionError("the daily validation's verdicts differ from a clean full "
                             "build's:\n  " + "\n  ".join(differ[:20]) + "\n" + got.history())


def snapshot(*folders: Path) -> dict[str, tuple[int, int, str]]:
    """Every file below the folders: (size, mtime in ns, sha256)."""
    out = {}
    for folder in folders:
        for p in sorted(folder.rglob("*")) if folder.exists() else []:
            if p.is_file():
                st = p.stat()
                out[str(p)] = (st.st_size, st.st_mtime_ns,
                               hashlib.sha256(p.read_bytes()).hexdigest())
    return out


def tamper_truncate(path: Path) -> None:
    """Drop the last line of a CSV, as a partial copy or a disk error would (size changes)."""
    data = path.read_bytes()
    cut = data.rstrip(b"\n").rfind(b"\n") + 1
    assert 0 < cut < len(data), f"cannot truncate {path}"
    path.write_bytes(data[:cut])
