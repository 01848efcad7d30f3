"""Running the dbt project in-process and summarising what it did.

dbt is invoked through ``dbtRunner`` in this Python process (never as a shell command): the
first call pays dbt's start-up, later calls cost well under a second. One ``dbt build`` builds
every model and runs every data test; its summary (models built, tests passed and failed, by
name) is what the validate stage and the run report read.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import sys
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from retailops.errors import TransformError
from retailops.warehouse.dbt_project import DBT_PROJECT_DIR, dbt_vars, release_duckdb

log = logging.getLogger(__name__)


def project_dir() -> Path:
    """The dbt project folder (see ``dbt_project.DBT_PROJECT_DIR``)."""
    return DBT_PROJECT_DIR


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


_IMPORTING: list[threading.Thread] = []

# The classes dbt checks against a JSON schema on every invocation that finds its parse saved
# (the project and the whole configuration, its flags and selectors, the profile and its DuckDB
# credentials, the on-run-start hook). dbt builds each schema on first use (mashumaro, pure
# Python: ~0.6 s of CPU for these, ~0.35 s of it ``Configuration``'s) and caches it for the
# process only (``functools.lru_cache``); ``_import_dbt`` keeps them in a file between
# processes instead (``_kept_file``).
_VALIDATED_CLASSES = (
    ("dbt.contracts.project", ("Project", "Configuration", "ProjectFlags", "PackageConfig",
                               "ProfileConfig")),
    ("dbt.contracts.selection", ("SelectorFile",)),
    ("dbt.artifacts.resources", ("Hook",)),
    ("dbt.adapters.duckdb.credentials", ("DuckDBCredentials",)),
)

# The distributions a class's JSON schema (its fields, and the builder) and a compiled
# template (dbt's Jinja environments and Jinja itself) are a function of.
_SCHEMA_SOURCES = ("dbt-core", "dbt-common", "dbt-adapters", "dbt-duckdb", "mashumaro",
                   "Jinja2")


def _kept_file(kind: str, suffix: str) -> Path:
    """Where start-up work is kept between processes (``json_schemas``, ``jinja_code``): dbt's
    target folder (as dbt resolves ``DBT_TARGET_PATH``), one file per set of installed versions
    and Python, so an upgrade of dbt, Jinja or mashumaro reads none of the old files."""
    from importlib.metadata import version

    versions = ";".join(f"{name}={version(name)}" for name in _SCHEMA_SOURCES)
    digest = hashlib.sha256(f"{versions};{sys.version}".encode()).hexdigest()[:16]
    target = Path(os.environ.get("DBT_TARGET_PATH") or "target")
    if not target.is_absolute():
        target = project_dir() / target
    return target / f"{kind}.{digest}{suffix}"


def _replace_whole(path: Path, data: bytes) -> None:
    """Write ``path`` whole (a staged file renamed over it: another process never reads half a
    file); a read-only image leaves it unwritten, and dbt does the work again next process."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staged = path.with_name(f".{path.name}.{os.getpid()}")
        staged.write_bytes(data)
        os.replace(staged, path)
    except OSError:
        pass


def _serve_schema(cls: type, schema: dict[str, Any]) -> None:
    """Make ``cls.json_schema()`` return ``schema``; a subclass still gets its own, built by dbt
    as before (the next class in its MRO answers for it)."""

    def json_schema(klass: type) -> dict[str, Any]:
        if klass is cls:
            return schema
        return super(cls, klass).json_schema()  # type: ignore[misc]

    cls.json_schema = classmethod(json_schema)  # type: ignore[attr-defined]


def warm_json_schemas(cache_file: Path | None = None) -> dict[str, str]:
    """The JSON schemas dbt validates an invocation's project and profile against: read from
    ``cache_file`` when it holds them all, else built by dbt (and written there for the next
    process). Returns how each class's schema was obtained (``cached`` or ``built``)."""
    import importlib

    classes = {f"{module}.{name}": getattr(importlib.import_module(module), name)
               for module, names in _VALIDATED_CLASSES for name in names}
    cache_file = cache_file or _kept_file("json_schemas", ".json")
    try:
        cached = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        cached = {}
    if isinstance(cached, dict) and set(classes) <= set(cached):
        for name, cls in classes.items():
            _serve_schema(cls, cached[name])
        return {name: "cached" for name in classes}
    built = {name: cls.json_schema() for name, cls in classes.items()}
    _replace_whole(cache_file, json.dumps(built).encode())
    return {name: "built" for name in classes}


# --- Jinja's compiled templates, kept between processes ---------------------------------------
# dbt compiles every macro and node template it renders from a string (``from_string``), so
# Jinja's own bytecode cache, which serves loaders only, never applies: each process parses and
# compiles the same ~240 templates again (~0.25 s of a daily build's CPU). The code objects are
# kept here as Jinja's bytecode cache keeps them (marshal), keyed by the template's source and
# everything about the environment that shapes the generated code.
_TEMPLATE_CODE: dict[str, Any] = {}
_TEMPLATES_USED: set[str] = set()
_TEMPLATES_COMPILED: set[str] = set()
_TEMPLATES_FILE: list[Path] = []


def _qualified(thing: Any) -> str | None:
    return None if thing is None else f"{thing.__module__}.{thing.__qualname__}"


def _template_key(environment: Any, source: str, name: str | None, filename: str | None,
                  defer_init: bool) -> str:
    shape = (type(environment).__module__, type(environment).__qualname__,
             sorted(environment.extensions), environment.optimized, environment.is_async,
             environment.autoescape if isinstance(environment.autoescape, bool) else "callable",
             environment.block_start_string, environment.block_end_string,
             environment.variable_start_string, environment.variable_end_string,
             environment.comment_start_string, environment.comment_end_string,
             environment.line_statement_prefix, environment.line_comment_prefix,
             environment.trim_blocks, environment.lstrip_blocks, environment.newline_sequence,
             environment.keep_trailing_newline, _qualified(environment.code_generator_class),
             _qualified(environment.finalize))
    return hashlib.sha256(repr((shape, name, filename, defer_init, source)).encode()).hexdigest()


def _keep_compiled_templates(cache_file: Path) -> None:
    """Serve ``MacroFuzzEnvironment.compile`` (dbt's Jinja environments) from ``cache_file``;
    ``save_compiled_templates`` writes back what this process compiled."""
    import marshal

    import dbt_common.clients.jinja as dbt_jinja

    try:
        kept = marshal.loads(cache_file.read_bytes())
        _TEMPLATE_CODE.update(kept if isinstance(kept, dict) else {})
    except (OSError, ValueError, EOFError, TypeError):
        pass
    _TEMPLATES_FILE[:] = [cache_file]
    environment = dbt_jinja.MacroFuzzEnvironment
    if getattr(environment.compile, "retailops_cached", False):
        return
    compile_template = environment.compile

    def compile(self: Any, source: Any, name: str | None = None, filename: str | None = None,
                raw: bool = False, defer_init: bool = False) -> Any:
        # Raw Python source, a parsed tree, or dbt's macro debugging (which writes the source
        # where tracebacks find it): Jinja compiles as usual.
        if raw or not isinstance(source, str) or dbt_jinja.MACRO_DEBUGGING:
            return compile_template(self, source, name, filename, raw, defer_init)
        key = _template_key(self, source, name, filename, defer_init)
        code = _TEMPLATE_CODE.get(key)
        if code is None:
            code = compile_template(self, source, name, filename, raw, defer_init)
            _TEMPLATE_CODE[key] = code
            _TEMPLATES_COMPILED.add(key)
        _TEMPLATES_USED.add(key)
        return code

    compile.retailops_cached = True  # type: ignore[attr-defined]
    environment.compile = compile


def save_compiled_templates() -> None:
    """When this process compiled a template the file did not hold, write the templates it
    used (only those: the file does not grow with templates no run uses any more)."""
    import marshal

    if not _TEMPLATES_FILE or not _TEMPLATES_COMPILED:
        return
    used = {key: _TEMPLATE_CODE[key] for key in list(_TEMPLATES_USED)}
    _TEMPLATES_COMPILED.clear()
    _replace_whole(_TEMPLATES_FILE[0], marshal.dumps(used))


def _flag_source() -> str:
    """dbt-common's ``BehaviorFlagRendered._default_source`` (the module that declared a
    behaviour flag without naming its source: the first caller outside dbt-common's
    ``behavior_flags``) without ``inspect.stack()``, which reads the source lines of every frame
    of the stack for each flag (~0.1 s of an invocation's CPU). Same frames, same answer."""
    frame = sys._getframe(1)
    while frame is not None:
        # Code compiled from a string (``<template>``: Jinja, ``<string>``) has no module:
        # ``getmodule`` would rescan every loaded module to say so.
        if not frame.f_code.co_filename.startswith("<"):
            module = inspect.getmodule(frame)
            if module is not None and module.__name__ != "dbt_common.behavior_flags":
                return module.__name__
        frame = frame.f_back
    return "Unknown"


def _import_dbt() -> None:
    """Import dbt and do the process-wide work of its first invocation: the modules a build
    loads, the JSON schemas of the classes it validates (kept between processes), and
    ``inspect``'s table of modules (dbt-core's adapter asks ``inspect`` for the module creating
    each behaviour flag; the first call maps every loaded module to its file). Each result is
    what dbt would compute itself; nothing here touches the project or the warehouse."""
    try:
        import dbt.cli.main  # noqa: F401
        import dbt.task.build  # noqa: F401
        from dbt_common.behavior_flags import BehaviorFlagRendered

        warm_json_schemas()
        _keep_compiled_templates(_kept_file("jinja_code", ".marshal"))
        BehaviorFlagRendered._default_source = staticmethod(_flag_source)
        inspect.getmodule(sys._getframe())
    except Exception:  # pragma: no cover - invoke() imports again and reports it
        pass


# --- the order the worker's dbt runs ready nodes in -------------------------------------------
# dbt hands each node to its thread pool the moment its parents are done, and the pool runs
# them first come, first served; dbt's own priority (the node's depth in the graph) only orders
# nodes that wait in dbt's queue at the same time. So on a scale-16 daily build
# ``fct_daily_sales``, the longest node left, waited 0.2-0.45 s behind side nodes handed over
# before it, while the other thread sat idle at the end (docs/scale.md, finding 15). In the
# worker, dbt hands a node over only when a thread is free, and the node it picks then is the
# one with the longest path of work still behind it, in seconds each node took in the last
# build that ran it (``node_seconds``, kept in dbt's target folder): the critical path first,
# as a list scheduler does. Which nodes run, their SQL and their results are dbt's as before;
# only the order of ready nodes changes.
_NODE_SECONDS: dict[str, float] = {}


def _remaining_seconds(graph: Any, seconds: dict[str, float]) -> dict[str, float]:
    """For each node of a DAG, the longest path of recorded seconds from it to the end of the
    graph, its own included (an unrecorded node counts 0)."""
    import networkx as nx

    remaining: dict[str, float] = {}
    for node in reversed(list(nx.topological_sort(graph))):
        after = max((remaining[child] for child in graph.successors(node)), default=0.0)
        remaining[node] = seconds.get(node, 0.0) + after
    return remaining


def _schedule_critical_path_first() -> None:
    """Patch dbt's queue and task in this process (the worker) as described above."""
    from dbt.graph.queue import GraphQueue
    from dbt.task.runnable import GraphRunnableTask

    if getattr(GraphQueue._get_scores, "retailops_critical_path", False):
        return
    by_depth = GraphQueue._get_scores

    def _get_scores(self: Any, graph: Any) -> dict[str, Any]:
        depth = by_depth(self, graph)
        remaining = _remaining_seconds(graph, _NODE_SECONDS)
        # dbt's queue pops the lowest score: the longest path first, then dbt's own order.
        return {node: (-remaining[node], depth[node]) for node in graph.nodes}

    _get_scores.retailops_critical_path = True  # type: ignore[attr-defined]
    GraphQueue._get_scores = _get_scores
    run_queue = GraphRunnableTask.run_queue

    def run_queue_when_free(self: Any, pool: Any) -> None:
        free = threading.Semaphore(max(1, int(self.config.threads or 1)))
        handle = self.handle_job_queue

        def handle_when_free(pool: Any, callback: Any) -> None:
            free.acquire()  # before the queue picks: it picks among what is ready by then

            def done(result: Any) -> None:
                try:
                    callback(result)
                finally:
                    free.release()

            handle(pool, done)

        self.handle_job_queue = handle_when_free
        try:
            return run_queue(self, pool)
        finally:
            del self.handle_job_queue

    GraphRunnableTask.run_queue = run_queue_when_free


def _load_node_seconds() -> None:
    try:
        kept = json.loads(_kept_file("node_seconds", ".json").read_text())
    except (OSError, ValueError):
        kept = {}
    _NODE_SECONDS.clear()
    if isinstance(kept, dict):
        _NODE_SECONDS.update({k: float(v) for k, v in kept.items()
                              if isinstance(v, (int, float))})


def _keep_node_seconds(summary: dict[str, Any]) -> None:
    """Record the seconds each node of this command took, for the next build's order."""
    ran = {entry["unique_id"]: entry["seconds"] for entry in summary["models"] + summary["tests"]
           if entry.get("status") in ("success", "pass", "fail", "warn")}
    if ran:
        _NODE_SECONDS.update(ran)
        _replace_whole(_kept_file("node_seconds", ".json"),
                       json.dumps(_NODE_SECONDS, sort_keys=True).encode())


def import_in_background() -> None:
    """Start importing dbt (1-3 s) and warming its first invocation on a daemon thread, for a
    run that will build.

    The import then overlaps the nodes before the build (landing the day, planning, verifying
    its files), which spend much of their time in file I/O and C code. ``invoke`` waits for
    the thread before it imports dbt itself, so no module is imported by two threads at once.
    """
    if _IMPORTING or "dbt.cli.main" in sys.modules:
        return
    thread = threading.Thread(target=_import_dbt, name="retailops-import-dbt", daemon=True)
    _IMPORTING.append(thread)
    thread.start()


# --- dbt on the second core: a worker process ------------------------------------------------
# A thread that imports dbt (~3 s of CPU, pure Python) shares the GIL with the run's own start-up
# and first nodes, so on two cores the import mostly delays them. ``kedro run`` (``retailops.cli``)
# therefore forks a worker before Kedro starts its session when the pipelines asked for may run
# dbt (``worker_for``; the project hooks stop it when the run's filters leave no dbt node): the child imports dbt on the other core while the parent materializes its
# catalog and lands the day, then runs the run's ``dbt build`` / forecast ``dbt test`` when
# asked (``build`` and ``run_forecast_tests`` send it the command, the parent's environment and
# working folder) and sends back the summary. dbt is still the engine, in-process in the child
# through ``dbtRunner`` with the same arguments, target folder, log file, saved parse and kept
# start-up files; only the process differs. Any other dbt call (``dbt parse`` for lineage, the
# image's parse, tests) runs in the calling process as before.
_WORKER: list["_Worker"] = []
_WORKER_ALLOWED: list[bool] = []
# Imported before the fork: both processes need them (the run's nodes, and dbt-duckdb and dbt's
# clients), so the worker inherits them instead of importing them a second time (~0.2 s of CPU
# on a quiet machine; under load every CPU second of the run's processes is a wall second).
_SHARED_MODULES = ("numpy", "duckdb", "requests", "dateutil.tz")


class _Worker:
    """The parent's handle on the forked dbt worker (its pid and the two ends of the pipe)."""

    def __init__(self, pid: int, connection: Any) -> None:
        self.pid, self.connection = pid, connection
        self.served = False

    def stop(self) -> None:
        """End the worker and reap it. One that ran dbt sees the pipe close and exits after
        releasing what dbt holds (its semaphores); one still importing is killed."""
        import signal

        try:
            self.connection.close()
        except OSError:
            pass
        if not self.served:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


@contextmanager
def worker_for(start: bool) -> Iterator[None]:
    """Within: this process may fork a dbt worker, and forks it now when ``start``; the worker
    is stopped on the way out. ``kedro run`` only (``retailops.cli``): a notebook or a test
    session that opens Kedro sessions keeps dbt in its own process."""
    _WORKER_ALLOWED[:] = [True]
    try:
        if start:
            start_worker()
        yield
    finally:
        stop_worker()
        _WORKER_ALLOWED.clear()


def worker_running() -> bool:
    return bool(_WORKER)


def start_worker() -> bool:
    """Fork the dbt worker (see above) unless one runs, dbt is imported here already, this
    process is not in ``worker_for``, ``RETAILOPS_DBT_WORKER=0`` turns it off, or another
    thread is alive (forking a process with other threads can copy a lock they hold). Returns
    whether a worker runs."""
    if _WORKER:
        return True
    if (not _WORKER_ALLOWED or os.environ.get("RETAILOPS_DBT_WORKER", "1") == "0"
            or "dbt.cli.main" in sys.modules or _IMPORTING
            or threading.active_count() > 1 or not hasattr(os, "fork")):
        return False
    import atexit
    import importlib
    from multiprocessing.connection import Pipe

    for name in _SHARED_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:  # pragma: no cover - each process imports what it needs
            pass
    parent_end, child_end = Pipe()
    pid = os.fork()
    if pid == 0:  # the worker: never returns into the parent's code
        code = 0
        try:
            parent_end.close()
            _serve(child_end)
        except BaseException:  # noqa: BLE001 - the parent sees the pipe close
            code = 1
        finally:
            try:
                # What a normal exit of this process would release: the named semaphores
                # dbt's connection managers created (else the resource tracker reports them
                # as leaked). Not the parent's atexit handlers: they are the parent's.
                from multiprocessing import util

                util._exit_function()
            finally:
                os._exit(code)
    child_end.close()
    _WORKER.append(_Worker(pid, parent_end))
    atexit.register(stop_worker)
    log.info("dbt worker process %d started (dbt imports on the other core)", pid)
    return True


def stop_worker() -> None:
    """End the worker (the run is over, or will not build)."""
    while _WORKER:
        _WORKER.pop().stop()


# A request to the worker is ``(kind, environment, cwd, args, target, env, command, duckdb_path)``.
_COMMAND, _PARSE_AHEAD = "command", "parse ahead"

# Variables the project reads only while models run (macros/run_vars.sql), never while it is
# parsed: a parse is the same whatever their values (tests/transform/test_daily_parse.py).
_RUN_TIME_VARIABLES = frozenset({"RETAILOPS_RUN_DATE", "RETAILOPS_REBUILD_DAYS"})


def _request(kind: str, args: list[str], target: str, env: dict[str, str], command: str,
             duckdb_path: str | None) -> tuple:
    """A request for the worker, with this process's environment and folder at call time."""
    return (kind, dict(os.environ), os.getcwd(), args, target, env, command, duckdb_path)


def _parse_inputs(environment: dict[str, str], cwd: str, args: list[str], target: str,
                  env: dict[str, str]) -> tuple:
    """What a parse of the project depends on in a request: the folder, the target, the
    ``--vars`` value, and dbt's and the project's environment variables (dbt's flags, the
    profile's values) except those read only at run time."""
    merged = {**environment, **env, "RETAILOPS_DBT_TARGET": target}
    variables = tuple(sorted((k, v) for k, v in merged.items()
                             if k.startswith(("DBT_", "RETAILOPS_"))
                             and k not in _RUN_TIME_VARIABLES))
    given = args[args.index("--vars") + 1] if "--vars" in args else None
    return cwd, target, given, variables


def _parsed(args: list[str], target: str, env: dict[str, str]) -> Any:
    """``dbt parse`` in this process: the manifest, or None when it did not parse (the
    command it was for parses again and reports the problem)."""
    from dbt.contracts.graph.manifest import Manifest

    result = invoke(args, target, env)
    return result.result if result.success and isinstance(result.result, Manifest) else None


def _serve(connection: Any) -> None:
    """The worker's loop: import dbt, then run each request the parent sends until it closes
    the pipe. A command's answer is ``("ok", summary)`` or ``("error", exception)``.

    A ``parse ahead`` request (``parse_ahead``: sent when the run starts, answered by nothing)
    parses the project while the parent lands the day, unless a command is already waiting
    (then that command parses, as it would have). The next command whose parse inputs are the
    same (``_parse_inputs``) runs on that manifest (``dbtRunner(manifest=...)``, dbt's own way
    to reuse a parse) instead of parsing again; the project's files do not change within a run.
    """
    _import_dbt()
    _schedule_critical_path_first()
    log.info("dbt worker: dbt imported (%.1f s of CPU)", time.process_time())
    ahead: tuple[tuple, Any] | None = None
    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):
            return
        kind, environment, cwd, args, target, env, command, duckdb_path = request
        inputs = _parse_inputs(environment, cwd, args, target, env)
        if kind == _PARSE_AHEAD and connection.poll(0):
            continue
        os.environ.clear()
        os.environ.update(environment)
        os.chdir(cwd)
        if kind == _PARSE_AHEAD:
            manifest = _parsed(args, target, env)
            ahead = None if manifest is None else (inputs, manifest)
            continue
        manifest = ahead[1] if ahead is not None and ahead[0] == inputs else None
        ahead = None
        _load_node_seconds()
        try:
            answer = ("ok", _summary(args, target, env, command, duckdb_path, manifest))
            _keep_node_seconds(answer[1])
        except Exception as exc:  # noqa: BLE001 - raised again in the parent
            answer = ("error", exc)
        try:
            connection.send(answer)
        except Exception:  # noqa: BLE001 - an exception that does not pickle
            connection.send(("error", TransformError(f"dbt {command}: {answer[1]!r}")))


def _summary(args: list[str], target: str, env: dict[str, str], command: str,
             duckdb_path: str | None, manifest: Any = None) -> dict[str, Any]:
    """One dbt command in this process, summarised (``broken_rules`` when a test failed)."""
    started = time.perf_counter()
    result = invoke(args, target, env, manifest=manifest)
    summary = summarise(result, time.perf_counter() - started, command)
    if summary["failed_tests"] and duckdb_path:
        summary["broken_rules"] = broken_rules(result, duckdb_path)
    return summary


def _run_summarised(args: list[str], target: str, env: dict[str, str], command: str,
                    duckdb_path: str | None = None) -> dict[str, Any]:
    """``_summary`` in the worker when one runs (the parent's environment and working folder
    travel with the request), else here. ``seconds``: this call's, waiting included."""
    started = time.perf_counter()
    if _WORKER:
        worker = _WORKER[0]
        try:
            worker.served = True
            worker.connection.send(_request(_COMMAND, args, target, env, command, duckdb_path))
            status, value = worker.connection.recv()
        except (EOFError, OSError) as exc:
            stop_worker()
            raise TransformError(f"dbt {command}: the dbt worker process ended ({exc!r}); "
                                 "see dbt's log") from exc
        if status == "error":
            raise value
        summary = value
    else:
        summary = _summary(args, target, env, command, duckdb_path)
    summary["seconds"] = round(time.perf_counter() - started, 2)
    return summary


def _file_log_level() -> list[str]:
    """dbt's log file at info for a build or the forecast's tests: each node's result, every
    warning and error, not the SQL of every statement (debug: ~0.3 s of a daily build's CPU,
    written one record at a time through a rotating file handler). DBT_LOG_LEVEL_FILE=debug
    (dbt's own variable) keeps it all."""
    return [] if "DBT_LOG_LEVEL_FILE" in os.environ else ["--log-level-file", "info"]


# dbt's partial parsing re-parses a model when a macro it calls changes, but not a change to a
# macro reached through adapter.dispatch: a model whose config calls raw_landing_config kept the
# hooks of the old duckdb__raw_landing_config, with "Nothing changed, skipping partial parsing"
# (found when a hook added there never ran in a workdir parsed before the change). So the
# project's sources are fingerprinted beside each saved parse, and a parse saved from other
# sources is removed before dbt runs: that run parses the whole project once (seconds).
_SOURCE_FOLDERS = ("macros", "models", "tests")
_SOURCE_FILES = ("dbt_project.yml", "selectors.yml", "profiles.yml")
SOURCES_MARK = "retailops_sources.sha256"
_MARKS_CHECKED: set[Path] = set()


def source_files(directory: Path | None = None) -> list[Path]:
    """The dbt project's files a parse reads (models, macros, tests and the project's YAML)."""
    directory = directory or project_dir()
    paths = sorted(p for folder in _SOURCE_FOLDERS for p in (directory / folder).rglob("*")
                   if p.is_file())
    return paths + [directory / name for name in _SOURCE_FILES if (directory / name).is_file()]


def sources_fingerprint(directory: Path | None = None) -> str:
    """sha256 over the dbt project's sources (each file's path and bytes): what a parse reads."""
    directory = directory or project_dir()
    digest = hashlib.sha256()
    for path in source_files(directory):
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _target_path(args: list[str], env: dict[str, str] | None) -> Path:
    """The folder this dbt command keeps its parse in, as dbt resolves it."""
    if "--target-path" in args:
        value = args[args.index("--target-path") + 1]
    else:
        value = (env or {}).get("DBT_TARGET_PATH") or os.environ.get("DBT_TARGET_PATH") or "target"
    path = Path(value)
    return path if path.is_absolute() else project_dir() / path


def forget_parse_of_other_sources(target_path: Path) -> bool:
    """Remove the parse saved in ``target_path`` unless it was made from the project's current
    sources (``SOURCES_MARK``); returns whether one was removed. Checked once per folder and
    process: the sources do not change within a run. A read-only folder (an image) is left as
    it is: its parse was made from the sources baked beside it."""
    target_path = target_path.resolve()
    if target_path in _MARKS_CHECKED:
        return False
    _MARKS_CHECKED.add(target_path)
    current = sources_fingerprint()
    mark = target_path / SOURCES_MARK
    try:
        if mark.read_text().strip() == current:
            return False
    except OSError:
        pass
    saved = target_path / "partial_parse.msgpack"
    removed = False
    try:
        if saved.exists():
            saved.unlink()
            removed = True
            log.info("dbt: the saved parse in %s was made from other sources of the project: "
                     "parsing it whole", target_path)
    except OSError:
        return False
    _replace_whole(mark, f"{current}\n".encode())
    return removed


def invoke(args: list[str], target: str, env: dict[str, str] | None = None,
           manifest: Any = None) -> Any:
    """Run one dbt command in-process against the project; returns dbt's result object.
    ``manifest``: a parse of the project to run on (dbt then does not parse)."""
    for thread in _IMPORTING:
        thread.join()
    from dbt.cli.main import dbtRunner

    if manifest is None:
        forget_parse_of_other_sources(_target_path(args, env))
    directory = project_dir()
    # dbt's per-node log lines would drown the run's own log; our summary names what matters.
    full = ["--quiet", "--no-use-colors", *args, "--project-dir", str(directory),
            "--profiles-dir", str(directory), "--target", target]
    with _environment({"RETAILOPS_DBT_TARGET": target, **(env or {})}):
        try:
            return dbtRunner(manifest=manifest).invoke(full)
        finally:
            release_duckdb()
            save_compiled_templates()


def summarise(result: Any, seconds: float, command: str) -> dict[str, Any]:
    """Models built and tests passed/failed, by name, from a dbt result."""
    models, tests = [], []
    for item in getattr(result.result, "results", None) or []:
        node = item.node
        entry = {"name": node.name, "unique_id": node.unique_id,
                 "status": str(getattr(item.status, "value", item.status)),
                 "seconds": round(float(item.execution_time or 0.0), 3)}
        if node.resource_type == "test":
            entry["failures"] = int(item.failures or 0)
            entry["message"] = item.message
            tests.append(entry)
        elif node.resource_type in ("model", "seed", "snapshot"):
            entry["rows_affected"] = (item.adapter_response or {}).get("rows_affected")
            models.append(entry)
    failed_tests = [t["name"] for t in tests if t["status"] in ("fail", "error")]
    failed_models = [m["name"] for m in models if m["status"] == "error"]
    error = None
    if result.exception is not None:
        error = str(result.exception).strip().splitlines()[0] if str(result.exception) else repr(
            result.exception)
    return {
        "command": command,
        "success": bool(result.success),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(seconds, 2),
        "models": models,
        "models_built": sum(m["status"] == "success" for m in models),
        "failed_models": failed_models,
        "tests": tests,
        "tests_passed": sum(t["status"] == "pass" for t in tests),
        "tests_warned": sum(t["status"] == "warn" for t in tests),
        "failed_tests": failed_tests,
        "error": error,
    }


def rebuild_days_value(days: list[str] | None) -> str:
    """``RETAILOPS_REBUILD_DAYS`` for a set of days: a comma list, ``none`` for the empty set,
    ``all`` for no limit (a full build). Read by the ``rebuild_days`` macro."""
    if days is None:
        return "all"
    return ",".join(sorted(set(days))) or "none"


def _build_vars(lake_root: str, calendar_years_ahead: int | None) -> list[str]:
    # The days travel as environment variables: a changed --vars value makes dbt re-parse
    # the whole project (seconds), a changed env var only the few nodes that read it.
    return ["--vars", json.dumps(dbt_vars(lake_root, calendar_years_ahead=calendar_years_ahead))]


def _warehouse_env(duckdb_path: str | None) -> dict[str, str]:
    if not duckdb_path:
        return {}
    Path(duckdb_path).parent.mkdir(parents=True, exist_ok=True)
    return {"RETAILOPS_DUCKDB_PATH": str(Path(duckdb_path).resolve())}


def parse_ahead(lake_root: str, target: str, duckdb_path: str | None = None,
                calendar_years_ahead: int | None = None) -> bool:
    """Have dbt's worker parse the project now for this run's ``build`` (same lake, target,
    warehouse and calendar), while the run lands its day; returns whether a worker was asked.
    The build then skips its own parse (``_serve``); nothing else changes."""
    if not _WORKER:
        return False
    args = ["parse", "--no-write-json", *_build_vars(lake_root, calendar_years_ahead),
            *_file_log_level()]
    try:
        _WORKER[0].connection.send(_request(_PARSE_AHEAD, args, target,
                                            _warehouse_env(duckdb_path), "parse", None))
    except OSError:
        return False  # the worker is gone: the build says so
    return True


def build(lake_root: str, target: str, run_date: str | None = None,
          duckdb_path: str | None = None, select: str | None = None,
          selector: str | None = None, full_refresh: bool = False,
          rebuild_days: list[str] | None = None,
          calendar_years_ahead: int | None = None) -> dict[str, Any]:
    """``dbt build`` (models and tests) for the lake; returns the summary, failed or not.

    ``rebuild_days``: the days whose raw partitions and fact rows this build redoes (None:
    every day). ``selector`` names a selector of ``dbt_athena/selectors.yml`` (``daily``)."""
    # No manifest.json/run_results.json: the summary comes from the result object and lineage
    # from ``dbt parse``'s manifest; writing them costs 0.2-0.9 s a run. dbt still saves its
    # parse (partial_parse.msgpack), which is what the next run reuses.
    args = ["build", "--no-write-json", *_build_vars(lake_root, calendar_years_ahead)]
    if select:
        args += ["--select", select]
    if selector:
        args += ["--selector", selector]
    if full_refresh:
        args.append("--full-refresh")
    env = {"RETAILOPS_RUN_DATE": run_date or "",
           "RETAILOPS_REBUILD_DAYS": rebuild_days_value(rebuild_days),
           **_warehouse_env(duckdb_path)}
    summary = _run_summarised(args + _file_log_level(), target, env,
                              " ".join(args[:1] + args[4:]), duckdb_path)
    summary["run_date"] = run_date
    summary["rebuild_days"] = None if rebuild_days is None else sorted(set(rebuild_days))
    summary["selector"] = selector
    log.info("dbt build: %d model(s) built, %d test(s) passed, %d failed in %.1f s",
             summary["models_built"], summary["tests_passed"], len(summary["failed_tests"]),
             summary["seconds"])
    return summary


def broken_rules(result: Any, duckdb_path: str) -> dict[str, dict[str, int]]:
    """For each failed ``row_rules`` test, the rules its failing rows break and how many rows
    break each (the test's own ``failed_rules`` column), read from the warehouse after the build.

    One test per model holds all its row rules (tests/generic/row_rules.sql), so the test's
    name alone ("stg_sales_rules") does not tell an operator what is wrong with the data; this
    does. Best effort: a test whose SQL cannot be re-run here is named without its rules.
    """
    import duckdb

    found: dict[str, dict[str, int]] = {}
    failed = [item for item in getattr(result.result, "results", None) or []
              if item.node.resource_type == "test"
              and str(getattr(item.status, "value", item.status)) == "fail"
              and getattr(getattr(item.node, "test_metadata", None), "name", None) == "row_rules"
              and getattr(item.node, "compiled_code", None)]
    if not failed:
        return found
    try:
        connection = duckdb.connect(str(duckdb_path), read_only=True)
    except duckdb.Error:
        return found
    try:
        for item in failed:
            try:
                rows = connection.execute(
                    "select rule, count(*) from (select unnest(string_split(failed_rules, ', '))"
                    f" as rule from ({item.node.compiled_code}) failing) group by rule"
                    " order by count(*) desc, rule").fetchall()
            except duckdb.Error:
                continue
            found[item.node.name] = {str(rule).strip(): int(n) for rule, n in rows}
    finally:
        connection.close()
    return found


def raise_for_failures(summary: dict[str, Any], what: str = "dbt build") -> None:
    """Turn a failed build (or test) into one line that names what failed."""
    if summary["success"]:
        return
    parts = []
    if summary["failed_models"]:
        parts.append(f"model(s) failed: {', '.join(summary['failed_models'])}")
    if summary["failed_tests"]:
        rules = summary.get("broken_rules") or {}
        names = [name + (" (" + ", ".join(f"{rule}: {n} row{'s' * (n != 1)}"
                                          for rule, n in list(rules[name].items())[:4]) + ")"
                         if rules.get(name) else "")
                 for name in summary["failed_tests"]]
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        parts.append(f"{len(names)} data test(s) failed: {shown}")
    if not parts:
        parts.append(summary.get("error") or "dbt reported a failure")
    raise TransformError(f"{what} failed: " + "; ".join(parts))


# The dbt source over the marts the forecast stage writes (dbt_athena/models/forecast/).
FORECAST_SELECTION = "source:forecast+"


def run_forecast_tests(lake_root: str, target: str, forecast_date: str,
                  duckdb_path: str | None = None) -> dict[str, Any]:
    """``dbt test --select source:forecast+`` over one forecast date's partitions; returns the
    summary, failed or not.

    The project's default selector leaves these tests out of every build (the transform runs
    before the forecast exists); the forecast stage runs them after writing a date. The date
    travels as the rebuild days, so each test reads that date's partition only.
    """
    args = ["test", "--no-write-json", "--vars", json.dumps(dbt_vars(lake_root)),
            "--select", FORECAST_SELECTION]
    env = {"RETAILOPS_RUN_DATE": "", "RETAILOPS_REBUILD_DAYS": rebuild_days_value([forecast_date])}
    if duckdb_path:
        env["RETAILOPS_DUCKDB_PATH"] = str(Path(duckdb_path).resolve())
    summary = _run_summarised(args + _file_log_level(), target, env,
                              "test --select " + FORECAST_SELECTION)
    summary["forecast_date"] = forecast_date
    log.info("dbt test of the forecast for %s: %d test(s) passed, %d failed in %.1f s",
             forecast_date, summary["tests_passed"], len(summary["failed_tests"]),
             summary["seconds"])
    return summary
