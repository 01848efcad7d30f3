"""Project hooks: check every run parameter before any node touches the lake.

``parameter_problems`` is the whole check (names, dates, seed and scale, flags); the hook only
collects the run's parameters and raises one line listing every problem it found. Two more
things keep a daily run short: dbt's import starts in the background once a run that builds is
known to be valid, and the garbage collector is frozen when the process exits (interpreter
shutdown would otherwise spend over a second collecting).
"""

from __future__ import annotations

import atexit
import gc
from typing import Any

from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl

from retailops.errors import InvalidParameterError
from retailops.warehouse import dbt

# Flags the project reads with bool(): a value like "maybe" would silently count as true.
# Every parameter declared with a boolean default is a flag too (see ``parameter_problems``).
FLAGS = ("overwrite", "dbt.full_refresh", "metabase.dry_run")


def _dotted_keys(params: dict[str, Any], prefix: str = "") -> set[str]:
    keys = set()
    for key, value in params.items():
        dotted = f"{prefix}{key}"
        keys.add(dotted)
        if isinstance(value, dict):
            keys |= _dotted_keys(value, dotted + ".")
    return keys


def unknown_parameters(runtime: dict[str, Any], declared: dict[str, Any]) -> list[str]:
    """Runtime parameters (``--params``) that no ``parameters*.yml`` declares.

    A declared mapping whose value is empty (``{}``/null) accepts any keys below it.
    """
    known = _dotted_keys(declared)
    open_ended = {k for k in known if _lookup(declared, k) in (None, {})}
    unknown = []
    for key in sorted(_dotted_keys(runtime)):
        value = _lookup(runtime, key)
        if isinstance(value, dict):
            continue
        if key in known or any(key.startswith(o + ".") for o in open_ended):
            continue
        unknown.append(key)
    return unknown


def _lookup(params: dict[str, Any], dotted: str) -> Any:
    value: Any = params
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _flag_keys(declared: dict[str, Any]) -> list[str]:
    declared_flags = {k for k in _dotted_keys(declared) if isinstance(_lookup(declared, k), bool)}
    return sorted(set(FLAGS) | declared_flags)


def parameter_problems(params: dict[str, Any],
                       declared: dict[str, Any] | None = None) -> list[str]:
    """Every problem with the run's parameters, one sentence each (empty when all is well).

    ``params`` are the merged parameters of the run; ``declared`` the configured ones (their
    boolean defaults mark the flags). YAML and ``--params`` turn true/false/yes/no/on/off into
    booleans already, so a flag must arrive as a boolean: anything else (1, "maybe", a quoted
    "false") is refused rather than read with bool().
    """
    from retailops.pipelines.ingest.nodes import resolve_window, simulation_config
    from retailops.simulation.config import last_supported_day

    problems: list[str] = []
    years_ahead = params.get("calendar_years_ahead", 1)
    try:
        last_supported_day(years_ahead)
    except InvalidParameterError as exc:
        problems.append(str(exc))
        years_ahead = None
    if years_ahead is not None:
        try:
            resolve_window(params.get("start_date"), params.get("end_date"),
                           params.get("run_date"), years_ahead)
        except InvalidParameterError as exc:
            problems.append(str(exc))
    if "seed" in params or "scale" in params or "simulation" in params:
        try:
            simulation_config(params.get("seed"), params.get("scale"), params.get("simulation"))
        except InvalidParameterError as exc:
            problems.append(str(exc))
    for key in _flag_keys(declared if declared is not None else params):
        head = key.split(".")[0]
        if head not in params:
            continue
        value = _lookup(params, key)
        if not isinstance(value, bool):
            problems.append(f"{key}={value!r} must be true or false")
    return problems


# The nodes that run dbt (``retailops.warehouse.dbt.build`` / ``run_forecast_tests``), and the
# stages that hold them: ``kedro run`` of a pipeline holding one starts dbt's worker process
# (``retailops.cli``); a run whose filters leave no such node stops it before the first node.
DBT_NODES = {"dbt_build", "check_forecast_marts"}
DBT_STAGES = {"transform", "forecast"}


def may_run_dbt(requested: list[str] | None) -> bool:
    """Whether the pipelines a run asked for (None: the default) hold a stage that runs dbt."""
    from retailops.pipeline_registry import COMPOSED

    stages: set[str] = set()
    for name in requested or ["__default__"]:
        stages.update(COMPOSED.get(name, (name,)))
    return bool(stages & DBT_STAGES)


# When the process ends, move every live object out of the garbage collector's reach: a run
# that imported dbt, pandas and DuckDB otherwise spends 1-1.5 s of interpreter shutdown
# collecting objects that disappear with the process anyway. At exit only, so a long-lived
# process (a notebook, a test session running many sessions) keeps collecting as usual.
atexit.register(gc.freeze)


class RetailOpsHooks:
    """Hooks registered in ``settings.py``."""

    def __init__(self) -> None:
        self._context: KedroContext | None = None

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        self._context = context

    @hook_impl
    def after_pipeline_run(self) -> None:
        dbt.stop_worker()

    @hook_impl
    def on_pipeline_error(self) -> None:
        dbt.stop_worker()

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        """Refuse unknown parameters, bad dates, seeds and flags before the first node runs."""
        if self._context is None:
            return
        loader = self._context.config_loader
        saved = loader.runtime_params
        try:
            loader.runtime_params = {}
            declared = loader["parameters"]
        finally:
            loader.runtime_params = saved
        runtime = run_params.get("runtime_params") or {}
        unknown = unknown_parameters(runtime, declared)
        if unknown:
            raise InvalidParameterError(
                f"unknown parameter(s) {', '.join(unknown)} (declared in conf/*/parameters*.yml)")
        # Checked for every pipeline: a bad value is wrong whichever stage reads it.
        problems = parameter_problems(self._context.params, declared)
        if problems:
            raise InvalidParameterError("; ".join(problems))
        names = {node.name for node in pipeline.nodes}
        if not names & DBT_NODES:
            dbt.stop_worker()  # filtered out (--tags, --nodes): nothing for it to do
        elif "dbt_build" in names and not dbt.worker_running():
            dbt.import_in_background()
        elif "dbt_build" in names:
            _parse_ahead(catalog, self._context.params)


def _parse_ahead(catalog: Any, params: dict[str, Any]) -> None:
    """The run will build: dbt's worker parses the project for that build while the day lands
    (``dbt.parse_ahead``), from what the ``dbt_build`` node will pass it: the lake's root, the
    warehouse's file, ``params:dbt``'s target and ``calendar_years_ahead``. Datasets of other
    kinds, or no such parameters: the build parses, as before."""
    from retailops.lake.datasets import LakeDataset
    from retailops.warehouse.datasets import WarehouseDataset
    from retailops.warehouse.engines import DuckDBWarehouse

    lake, warehouse = catalog.get("lake"), catalog.get("warehouse")
    target = (params.get("dbt") or {}).get("target")
    if not (isinstance(lake, LakeDataset) and isinstance(warehouse, WarehouseDataset) and target):
        return
    engine = warehouse.load()
    dbt.parse_ahead(lake.lake.root, target,
                    duckdb_path=engine.path if isinstance(engine, DuckDBWarehouse) else None,
                    calendar_years_ahead=params.get("calendar_years_ahead"))
