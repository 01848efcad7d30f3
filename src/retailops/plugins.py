"""What the installed Kedro plugins cost a command that does not use them.

kedro-mlflow plugs into Kedro through two entry points, and Kedro loads both eagerly: the
``kedro mlflow`` command group when it builds the CLI, and the session hook when it creates a
session (before ``DISABLE_HOOKS_FOR_PLUGINS`` unregisters it). The modules behind both import
mlflow, which takes 1.5–5 s on these machines and prints a warning on stderr -- on every
``kedro run``, an ingest or a one-line error included.

``defer_kedro_mlflow()`` (called from ``settings.py``, which Kedro imports before either is
loaded) puts stand-ins for those two modules in ``sys.modules``:

- the CLI module's ``commands`` group lists ``mlflow`` and loads the real group only when
  ``kedro mlflow ...`` runs or its help text is asked for;
- the hook module's ``mlflow_hook`` is an inert placeholder (the hook is disabled anyway; the
  forecast stage sets up tracking itself).

Any other attribute of either stand-in loads the real module in its place, so
``from kedro_mlflow.framework.hooks.mlflow_hook import MlflowHook`` keeps working.

Kedro itself has one such cost: every ``MemoryDataset`` (one per parameter, ~40 a run) infers
how to copy its data by importing pandas, numpy and ibis to ask whether the data is one of
their frames -- a run that uses none of them pays pandas' import (0.25 s) and, ibis not being
installed, a failed search of the whole path per parameter. ``copy_mode_from_loaded_modules()``
asks the same question of the modules already loaded: an object of a module's type cannot
exist before the module is imported, so the answer is the same.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

import click

CLI_MODULE = "kedro_mlflow.framework.cli.cli"
HOOK_MODULE = "kedro_mlflow.framework.hooks.mlflow_hook"


def _real_module(name: str) -> types.ModuleType:
    if isinstance(sys.modules.get(name), _DeferredModule):
        del sys.modules[name]
    return importlib.import_module(name)


class _DeferredCommands(click.Group):
    """kedro-mlflow's ``commands`` group, loaded when one of its commands is looked up."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return ["mlflow"]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name != "mlflow":
            return None
        return _real_module(CLI_MODULE).commands.get_command(ctx, cmd_name)


class _DisabledHook:
    """Stands in for kedro-mlflow's session hook: implements no hook, so it does nothing."""


class _DeferredModule(types.ModuleType):
    def __init__(self, name: str, placeholders: dict[str, Any]):
        super().__init__(name)
        self._placeholders = placeholders

    def __getattr__(self, name: str) -> Any:
        if name in self._placeholders:
            return self._placeholders[name]
        if name.startswith("__"):
            # inspect and the import system probe every module's dunders (__file__, __path__):
            # answering for the stand-in must not load the real module.
            raise AttributeError(name)
        return getattr(_real_module(self.__name__), name)


def defer_kedro_mlflow() -> None:
    """Let ``kedro`` start without importing mlflow (see the module docstring)."""
    if importlib.util.find_spec("kedro_mlflow") is None:
        return
    stand_ins = {CLI_MODULE: {"commands": _DeferredCommands(name="commands")},
                 HOOK_MODULE: {"mlflow_hook": _DisabledHook()}}
    for name, placeholders in stand_ins.items():
        if name not in sys.modules:
            sys.modules[name] = _DeferredModule(name, placeholders)


def _copy_mode(data: Any) -> str:
    """Kedro's ``_infer_copy_mode`` without importing anything (same answers)."""
    pd, np, ibis = (sys.modules.get(name) for name in ("pandas", "numpy", "ibis"))
    if (pd is not None and isinstance(data, pd.DataFrame)) or (
            np is not None and isinstance(data, np.ndarray)):
        return "copy"
    if type(data).__name__ == "DataFrame" or (ibis is not None and isinstance(data, ibis.Table)):
        return "assign"
    return "deepcopy"


def copy_mode_from_loaded_modules() -> None:
    """Let Kedro's ``MemoryDataset`` infer its copy mode without importing pandas (see the
    module docstring)."""
    from kedro.io import memory_dataset

    memory_dataset._infer_copy_mode = _copy_mode
