"""dbt on the second core: ``kedro run`` forks a worker that imports dbt while the run starts,
and the run's ``dbt build`` (and the forecast's ``dbt test``) runs there, in-process in the
worker through ``dbtRunner`` as before (``retailops.warehouse.dbt``, "a worker process").

- In this process (dbt's invocation replaced by a fake, inherited by the fork): the command runs
  in another process, with the parent's environment and working folder at call time; its
  summary comes back; an exception comes back as itself; the worker is reaped when stopped;
  only a process that allowed it (``kedro run``) forks, never with another thread alive.
- Which runs start it: those whose pipelines hold a stage that runs dbt.
- A real daily run as a new process: the worker builds, and the run's dbt summary (models and
  tests, by name and status) is the one a run without the worker records.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from retailops.warehouse import dbt
from tests.conftest import run_kedro
from tests.platform_fixture import make_project


# A process with threads must not fork (dbt refuses to, and so does ``start_worker``), and the
# suite's own process may hold other tests' threads (moto's server, DuckDB's, a watcher). So the
# tests that fork from this process run again in a new interpreter, where pytest's is the only
# thread: ``test_the_fork_tests_pass_in_a_process_with_one_thread`` runs them there; in the
# suite's process they are skipped, never counted as passed.
FRESH_PROCESS = "RETAILOPS_DBT_WORKER_FORK_TESTS"
FORK_TESTS = ("test_a_build_runs_in_the_worker_with_the_callers_environment",
              "test_an_exception_in_the_worker_is_raised_in_the_caller",
              "test_a_stopped_worker_is_reaped_and_dbt_runs_here_again",
              "test_kedro_run_forks_the_worker_for_its_own_run_only")
forks_here = pytest.mark.skipif(
    os.environ.get(FRESH_PROCESS) != "1",
    reason="forks from this process: run by test_the_fork_tests_pass_in_a_process_with_one_thread")


@pytest.mark.skipif(os.environ.get(FRESH_PROCESS) == "1", reason="the fresh process itself")
def test_the_fork_tests_pass_in_a_process_with_one_thread(tmp_path):
    root = Path(__file__).resolve().parents[2]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         f"--basetemp={tmp_path / 'fresh'}", str(Path(__file__).resolve()),
         "-k", " or ".join(FORK_TESTS)],
        cwd=root, env={**os.environ, FRESH_PROCESS: "1"}, capture_output=True, text=True,
        timeout=600)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    assert f"{len(FORK_TESTS)} passed" in run.stdout, run.stdout[-2000:]


@pytest.fixture
def worker(monkeypatch):
    """A worker forked from this test process, dbt's import and invocation faked."""
    calls = []

    def fake_invoke(args, target, env=None, manifest=None):
        if "--raise" in args:
            raise ValueError("the fake dbt refused")
        seen = {"pid": os.getpid(), "probe": os.environ.get("RETAILOPS_TEST_PROBE"),
                "cwd": os.getcwd(), "env": env, "target": target, "args": args}
        calls.append(seen)  # in the worker: the parent's list stays empty
        return SimpleNamespace(result=SimpleNamespace(results=[]), success=False,
                               exception=RuntimeError(json.dumps(seen)))

    monkeypatch.setattr(dbt, "_import_dbt", lambda: None)
    monkeypatch.setattr(dbt, "invoke", fake_invoke)
    monkeypatch.setattr(dbt, "_WORKER_ALLOWED", [True])
    monkeypatch.setattr(dbt, "_WORKER", [])
    monkeypatch.delenv("RETAILOPS_DBT_WORKER", raising=False)
    assert threading.active_count() == 1
    assert dbt.start_worker()
    yield calls
    dbt.stop_worker()


@forks_here
def test_a_build_runs_in_the_worker_with_the_callers_environment(worker, tmp_path,
                                                                   monkeypatch):
    pid = dbt._WORKER[0].pid
    # Set after the fork: the worker must see the caller's environment at call time.
    monkeypatch.setenv("RETAILOPS_TEST_PROBE", "set-after-fork")
    monkeypatch.chdir(tmp_path)
    summary = dbt.build(str(tmp_path / "lake"), "duckdb", run_date="2024-07-02",
                        rebuild_days=["2024-07-02"], selector="daily")
    seen = json.loads(summary["error"])
    assert seen["pid"] == pid != os.getpid()
    assert seen["probe"] == "set-after-fork" and seen["cwd"] == str(tmp_path)
    assert seen["env"] == {"RETAILOPS_RUN_DATE": "2024-07-02",
                           "RETAILOPS_REBUILD_DAYS": "2024-07-02"}
    assert seen["target"] == "duckdb" and seen["args"][0] == "build"
    assert summary["success"] is False and summary["run_date"] == "2024-07-02"
    assert worker == []  # the fake ran in the worker, not here
    # The worker serves the run's later calls too (the forecast's tests).
    tested = dbt.run_forecast_tests(str(tmp_path / "lake"), "duckdb", "2024-07-02")
    assert json.loads(tested["error"])["pid"] == pid
    assert json.loads(tested["error"])["args"][:2] == ["test", "--no-write-json"]


@forks_here
def test_an_exception_in_the_worker_is_raised_in_the_caller(worker, tmp_path):
    with pytest.raises(ValueError, match="the fake dbt refused"):
        dbt._run_summarised(["build", "--raise"], "duckdb", {}, "build")
    # ... and the worker still serves.
    summary = dbt._run_summarised(["build"], "duckdb", {}, "build")
    assert json.loads(summary["error"])["pid"] == dbt._WORKER[0].pid


@forks_here
def test_a_stopped_worker_is_reaped_and_dbt_runs_here_again(worker, tmp_path):
    pid = dbt._WORKER[0].pid
    dbt.stop_worker()
    assert not dbt.worker_running()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped: not a zombie, not ours any more
    summary = dbt._run_summarised(["build"], "duckdb", {}, "build")
    assert json.loads(summary["error"])["pid"] == os.getpid()


def test_only_an_allowed_single_threaded_process_forks(monkeypatch):
    monkeypatch.setattr(dbt, "_import_dbt", lambda: None)
    monkeypatch.setattr(dbt, "_WORKER", [])
    monkeypatch.setattr(dbt, "_WORKER_ALLOWED", [])
    assert not dbt.start_worker()  # a test session or a notebook: dbt stays in-process
    monkeypatch.setattr(dbt, "_WORKER_ALLOWED", [True])
    monkeypatch.setenv("RETAILOPS_DBT_WORKER", "0")
    assert not dbt.start_worker()
    monkeypatch.delenv("RETAILOPS_DBT_WORKER")
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert not dbt.start_worker()
    finally:
        release.set()
        other.join()
    assert not dbt.worker_running()


@forks_here
def test_kedro_run_forks_the_worker_for_its_own_run_only(monkeypatch):
    from retailops import cli

    monkeypatch.setattr(dbt, "_import_dbt", lambda: None)
    monkeypatch.setattr(dbt, "_WORKER", [])
    monkeypatch.delenv("RETAILOPS_DBT_WORKER", raising=False)
    seen = []
    monkeypatch.setattr(cli.kedro_run, "callback", lambda **kwargs: seen.append(
        (kwargs["pipelines"], dbt.worker_running() and dbt._WORKER[0].pid)))
    import gc

    thresholds = gc.get_threshold()
    try:
        cli._run(pipelines=["daily"], pipeline=None)
        cli._run(pipelines=["ingest"], pipeline=None)
    finally:
        gc.set_threshold(*thresholds)  # _run sets kedro run's own
    assert seen[0][1] and seen[1] == (["ingest"], False)
    # Stopped and reaped when the run returns; this process may not fork one afterwards.
    with pytest.raises(ChildProcessError):
        os.waitpid(seen[0][1], os.WNOHANG)
    assert not dbt.worker_running() and not dbt.start_worker()


def test_runs_whose_pipelines_run_dbt_start_the_worker():
    from retailops.hooks import may_run_dbt

    for requested in (None, ["__default__"], ["daily"], ["transform"], ["forecast"],
                      ["ingest", "transform"]):
        assert may_run_dbt(requested), requested
    for requested in (["ingest"], ["validate"], ["publish", "report"]):
        assert not may_run_dbt(requested), requested


def _dbt_results(project, log: str) -> dict:
    """The run report's dbt section (without its times) and the run's one-line dbt summary."""
    report = json.loads((project / "data" / "lake" / "metadata" / "runs" / "validation"
                         / "latest.json").read_text())
    build = {k: v for k, v in report["dbt"].items() if k not in ("seconds", "finished_at")}
    line = next(line for line in log.splitlines() if "dbt build:" in line)
    return {"report": build, "line": line.split("dbt build:")[1].rsplit(" in ", 1)[0]}


def test_a_daily_run_builds_in_the_worker_as_it_did_in_process(tmp_path):
    results = {}
    for name, extra in (("worker", {}), ("in_process", {"RETAILOPS_DBT_WORKER": "0"})):
        project = tmp_path / name
        conf, _ = make_project(project)
        run = run_kedro("run", "--conf-source", str(conf), "--pipelines", "daily", "--tags",
                        "ingest,transform,validate", "--params",
                        "start_date=2024-07-01,end_date=2024-07-02,scale=0.01",
                        env={**extra, "DBT_TARGET_PATH": str(tmp_path / f"target-{name}"),
                             "DBT_LOG_PATH": str(tmp_path / f"logs-{name}")}, timeout=900)
        log = run.stderr + run.stdout
        assert run.returncode == 0, log[-4000:]
        assert ("dbt worker process" in log) == (name == "worker"), log[-4000:]
        assert "leaked" not in log  # dbt's semaphores released by the worker's exit
        assert "dbt build:" in log
        results[name] = _dbt_results(project, log)
        # dbt's own log file says the build ran, wherever it ran.
        assert "Finished running" in (tmp_path / f"logs-{name}" / "dbt.log").read_text()
    assert results["worker"] == results["in_process"]
    report = results["worker"]["report"]
    assert report["success"] and report["models_built"] > 0 and report["tests_passed"] > 0
