"""Project hooks: check every run parameter before any node touches the lake."""

from __future__ import annotations

from typing import Any

from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl

from retailops.errors import InvalidParameterError


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


class RetailOpsHooks:
    """Hooks registered in ``settings.py``."""

    def __init__(self) -> None:
        self._context: KedroContext | None = None

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        self._context = context

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        """Refuse unknown parameters and bad dates before the first node runs."""
        runtime = run_params.get("runtime_params") or {}
        if runtime and self._context is not None:
            loader = self._context.config_loader
            saved = loader.runtime_params
            try:
                loader.runtime_params = {}
                declared = loader["parameters"]
            finally:
                loader.runtime_params = saved
            unknown = unknown_parameters(runtime, declared)
            if unknown:
                raise InvalidParameterError(
                    f"unknown parameter(s) {', '.join(unknown)} (declared in conf/*/parameters*.yml)")
        if self._context is not None and "resolve_ingest_window" in {n.name for n in pipeline.nodes}:
            from retailops.pipelines.ingest.nodes import resolve_window, simulation_config

            params = self._context.params
            resolve_window(params.get("start_date"), params.get("end_date"), params.get("run_date"))
            simulation_config(params.get("seed"), params.get("scale"), params.get("simulation"))
