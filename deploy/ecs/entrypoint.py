"""Container entrypoint of the RetailOps daily task: ``entrypoint.py [RUN_DATE]``.

Validates the run date (default: yesterday, UTC), then replaces itself with
``python -m retailops --env aws --pipelines daily --params run_date=RUN_DATE`` (the project's
``__main__`` is Kedro's ``run`` command). It runs the same way outside the image, from the
project folder, which is how the test suite exercises it against a local S3 emulator.

Environment (all optional except the bucket when the Kedro env is ``aws``):
- ``RETAILOPS_LAKE_BUCKET``: the lake bucket; conf/aws builds ``s3://<bucket>`` from it.
- ``RETAILOPS_PIPELINES``: comma-separated pipelines to run instead of ``daily``.
- ``RETAILOPS_EXTRA_PARAMS``: extra ``key=value`` params, comma-separated (``scale=0.02``).
- ``RETAILOPS_KEDRO_ENV``: the Kedro environment (default ``aws``).
- ``RETAILOPS_CONF_SOURCE``: Kedro ``--conf-source`` (the image points it at the packaged conf).
- ``RETAILOPS_PROJECT_DIR``: folder to run from (default: the current one).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta, timezone

DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
PIPELINES_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(,[a-z][a-z0-9_]*)*$")
PARAM_KEY_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class EntrypointError(ValueError):
    """A bad argument or environment variable; printed as one line, exit status 2."""


def parse_run_date(text: str | None, today: date | None = None) -> date:
    """The run date from ``YYYY-MM-DD``, or yesterday (UTC) when none is given."""
    if text is None or text == "":
        current = today or datetime.now(timezone.utc).date()
        return current - timedelta(days=1)
    if not DATE_PATTERN.match(text):
        raise EntrypointError(f"run date {text!r} is not in the form YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise EntrypointError(f"run date {text!r} is not a real calendar date ({exc})") from None


def parse_extra_params(text: str) -> list[str]:
    """``a=1,b.c=x`` as a list of ``key=value`` items; ``run_date`` belongs to the argument."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not PARAM_KEY_PATTERN.match(key) or value == "":
            raise EntrypointError(
                f"RETAILOPS_EXTRA_PARAMS item {item!r} is not key=value"
            )
        if key == "run_date":
            raise EntrypointError(
                "RETAILOPS_EXTRA_PARAMS must not set run_date: pass the date as the argument"
            )
    return items


def kedro_command(run_date: date, environ: Mapping[str, str]) -> list[str]:
    """The ``python -m retailops ...`` command line for this run date and environment."""
    kedro_env = environ.get("RETAILOPS_KEDRO_ENV", "aws") or "aws"
    pipelines = environ.get("RETAILOPS_PIPELINES", "daily") or "daily"
    if not PIPELINES_PATTERN.match(pipelines):
        raise EntrypointError(f"RETAILOPS_PIPELINES {pipelines!r} is not a comma-separated list of names")
    if kedro_env == "aws" and not environ.get("RETAILOPS_LAKE_BUCKET"):
        raise EntrypointError("RETAILOPS_LAKE_BUCKET is not set: the aws environment needs the lake bucket")
    params = [f"run_date={run_date.isoformat()}", *parse_extra_params(environ.get("RETAILOPS_EXTRA_PARAMS", ""))]
    command = [sys.executable, "-m", "retailops", "--env", kedro_env, "--pipelines", pipelines,
               "--params", ",".join(params)]
    conf_source = environ.get("RETAILOPS_CONF_SOURCE")
    if conf_source:
        command += ["--conf-source", conf_source]
    return command


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="entrypoint.py",
        description="Run the RetailOps daily pipeline for one day (default: yesterday, UTC).",
    )
    parser.add_argument("run_date", nargs="?", help="the day to run, YYYY-MM-DD")
    args = parser.parse_args(argv)
    try:
        run_date = parse_run_date(args.run_date)
        command = kedro_command(run_date, os.environ)
        project_dir = os.environ.get("RETAILOPS_PROJECT_DIR")
        if project_dir:
            os.chdir(project_dir)
    except (EntrypointError, OSError) as exc:
        print(f"retailops entrypoint: error: {exc}", file=sys.stderr)
        return 2
    print(f"retailops entrypoint: run date {run_date.isoformat()}: {' '.join(command[1:])}",
          file=sys.stderr, flush=True)
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
    # exec, not a child: the task's stop signal and exit status reach Kedro directly.
    os.execv(command[0], command)
    return 0  # pragma: no cover - execv does not return


if __name__ == "__main__":
    sys.exit(main())
