"""Project command line: Kedro's own ``run``, with RetailOps errors reported as one line.

A problem the user can fix (a bad date, an unreachable bucket, a failing data test) ends with
``retailops: error: <what and where>`` on stderr and a non-zero exit, not a traceback.
"""

from __future__ import annotations

import gc
import logging
import sys
from typing import Any

import click
from kedro.framework.cli.project import run as kedro_run

from retailops.errors import RetailOpsError


def find_user_error(exc: BaseException | None) -> RetailOpsError | None:
    """The RetailOpsError behind an exception, through Kedro's wrapping (cause/context chain)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, RetailOpsError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


class _QuietFailure(logging.Filter):
    """Drop Kedro's multi-line failure logs for errors we report ourselves in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and find_user_error(record.exc_info[1]):
            return False
        message = record.getMessage()
        return not (record.levelno >= logging.WARNING and (
            "failed with error" in message or "There are" in message and "nodes that have not run"
            in message or "You can resume the pipeline run" in message))


# ``kedro run`` is a batch process: it allocates millions of objects that live until it exits
# (the modules of Kedro, dbt, pandas and DuckDB, dbt's manifest, the catalog) and frees its data
# by reference counting. With Python's default thresholds (700, 10, 10) the cyclic collector ran
# ~820 times in a daily run (5 full collections) for 0.6-0.7 s of CPU; at these it runs ~10 times
# for ~0.2 s. Cycles are still collected. Only here: a notebook or a test session keeps the
# defaults.
RUN_GC_THRESHOLDS = (50_000, 20, 20)


def _run(**kwargs: Any) -> Any:
    from retailops.hooks import may_run_dbt
    from retailops.warehouse import dbt

    gc.set_threshold(*RUN_GC_THRESHOLDS)
    # A batch process: dbt runs in a worker process forked now, before Kedro starts its
    # session, when the pipelines asked for may run it; the worker imports dbt on the other
    # core meanwhile (warehouse/dbt.py, "a worker process").
    requested = ([kwargs["pipeline"]] if kwargs.get("pipeline")
                 else list(kwargs.get("pipelines") or []) or None)
    quiet = _QuietFailure()
    for handler in logging.getLogger().handlers:
        handler.addFilter(quiet)
    try:
        with dbt.worker_for(may_run_dbt(requested)):
            return kedro_run.callback(**kwargs)
    except Exception as exc:
        error = find_user_error(exc)
        if error is None:
            raise
        click.echo(f"retailops: error: {error}", err=True)
        sys.exit(error.exit_code)


@click.group(name="retailops")
def cli() -> None:
    """RetailOps project commands."""


run = click.Command(name="run", params=list(kedro_run.params), callback=_run,
                    help=kedro_run.help, short_help=kedro_run.short_help)
cli.add_command(run)
