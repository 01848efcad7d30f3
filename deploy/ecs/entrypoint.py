"""Container entrypoint of the RetailOps tasks: one image, one Kedro pipeline per step.

    entrypoint.py [--pipelines NAMES] [--dry-run]
                  [RUN_DATE | --run-date D | --scheduled-time T | --date-range A..B]

It resolves which days the run covers, then replaces itself with
``python -m retailops --env aws --pipelines NAMES --params ...`` (the project's ``__main__`` is
Kedro's ``run`` command). The state machine starts it four times per execution, as the Ingest,
Transform, Validate and Forecast steps (``--pipelines ingest``, ``transform``, ``validate``,
``forecast``). The forecast stage forecasts from the run's day (a backfill: its last day).

**The run date rule, the only one in the project:** a run started at moment M processes the
last complete UTC day before M, ``M's UTC date - 1 day``. The 06:00 UTC schedule on day D passes
its event's time (``--scheduled-time 2024-07-02T06:00:00Z``) and runs D - 1; with no date at
all the entrypoint applies the same rule to the current time. Passing the event's time rather
than letting each task read the clock keeps the steps on the same day even when a retry
carries a step past midnight (the four steps share one day). (Step Functions' intrinsic functions have no date arithmetic,
which is why the rule lives here and not in the state machine.)

Which days, and the Kedro parameters each form becomes:
- one day D (``RUN_DATE``, ``--run-date D``, ``--scheduled-time T``, or nothing):
  ``run_date=D``. Ingest lands D, transform rebuilds what changed, validate checks
  ``max(first landed day, D - 6)..D``.
- a backfill ``--date-range A..B``: ``start_date=A,end_date=B`` (no ``run_date``). Ingest lands
  the whole range in one task, transform builds it in one task (a full build: the first
  backfill has nothing built yet), validate checks exactly ``A..B``.

It runs the same way outside the image, from the project folder, which is how the test suite
exercises it against a local S3 emulator.

Environment (all optional except the bucket when the Kedro env is ``aws``):
- ``RETAILOPS_LAKE_BUCKET``: the lake bucket; conf/aws builds ``s3://<bucket>`` from it.
- ``RETAILOPS_PIPELINES``: comma-separated pipelines when ``--pipelines`` is not given
  (default ``daily``: all the stages in one task, for a laptop or a manual task).
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
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
PIPELINES_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(,[a-z][a-z0-9_]*)*$")
PARAM_KEY_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
# Parameters the run's days own: set through the arguments, never through the environment.
DAY_PARAMS = {"run_date", "start_date", "end_date"}
# A scheduled forecast must not fail the day on a young lake: with too little history the
# stage logs one line and writes nothing (retailops.daily_run; RETAILOPS_EXTRA_PARAMS may say
# otherwise).
SCHEDULED_FORECAST_PARAM = "forecast.when_history_short=skip"


class EntrypointError(ValueError):
    """A bad argument or environment variable; printed as one line, exit status 2."""


@dataclass(frozen=True)
class Run:
    """The days a run covers: one day (``first == last``, kind ``day``) or a backfill range."""

    kind: str
    first: date
    last: date
    why: str

    def kedro_params(self) -> list[str]:
        if self.kind == "day":
            return [f"run_date={self.last.isoformat()}"]
        return [f"start_date={self.first.isoformat()}", f"end_date={self.last.isoformat()}"]

    def describe(self) -> str:
        if self.kind == "day":
            return f"run date {self.last.isoformat()} ({self.why})"
        return (f"backfill {self.first.isoformat()}..{self.last.isoformat()} "
                f"({(self.last - self.first).days + 1} days)")


def run_date_for(moment: datetime) -> date:
    """The run date rule: the last complete UTC day before ``moment`` (its UTC date - 1)."""
    if moment.tzinfo is None:
        raise EntrypointError(f"time {moment.isoformat()} has no time zone (expected e.g. ...Z)")
    return moment.astimezone(timezone.utc).date() - timedelta(days=1)


def parse_day(text: str, what: str = "run date") -> date:
    """A ``YYYY-MM-DD`` calendar date."""
    if not DATE_PATTERN.match(text):
        raise EntrypointError(f"{what} {text!r} is not in the form YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise EntrypointError(f"{what} {text!r} is not a real calendar date ({exc})") from None


def parse_run_date(text: str | None, today: date | None = None) -> date:
    """The run date from ``YYYY-MM-DD``, or by the run date rule (yesterday, UTC) when none."""
    if text is None or text == "":
        if today is None:
            return run_date_for(datetime.now(timezone.utc))
        return run_date_for(datetime(today.year, today.month, today.day, tzinfo=timezone.utc))
    return parse_day(text)


def parse_scheduled_time(text: str) -> date:
    """The run date of a scheduled event whose ``time`` is ``text`` (ISO 8601 with a zone)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise EntrypointError(
            f"scheduled time {text!r} is not an ISO 8601 time such as 2024-07-02T06:00:00Z") from None
    return run_date_for(moment)


def parse_date_range(text: str) -> tuple[date, date]:
    """``START..END`` (both inclusive, START <= END)."""
    first, sep, last = text.partition("..")
    if not sep:
        raise EntrypointError(f"date range {text!r} is not in the form YYYY-MM-DD..YYYY-MM-DD")
    start, end = parse_day(first, "range start"), parse_day(last, "range end")
    if start > end:
        raise EntrypointError(f"date range {text!r} starts after it ends")
    return start, end


def resolve_run(run_date: str | None = None, scheduled_time: str | None = None,
                date_range: str | None = None, now: datetime | None = None) -> Run:
    """The run's days from at most one of the three forms (none: the run date rule on now)."""
    given = [name for name, value in (("a run date", run_date), ("--scheduled-time", scheduled_time),
                                      ("--date-range", date_range)) if value not in (None, "")]
    if len(given) > 1:
        raise EntrypointError(f"give one of a run date, --scheduled-time or --date-range, not "
                              f"{' and '.join(given)}")
    if date_range:
        start, end = parse_date_range(date_range)
        return Run("range", start, end, "backfill")
    if scheduled_time:
        day = parse_scheduled_time(scheduled_time)
        return Run("day", day, day, f"the day before the scheduled time {scheduled_time}")
    if run_date:
        day = parse_day(run_date)
        return Run("day", day, day, "requested")
    day = run_date_for(now or datetime.now(timezone.utc))
    return Run("day", day, day, "no date given: yesterday, UTC")


def parse_extra_params(text: str) -> list[str]:
    """``a=1,b.c=x`` as a list of ``key=value`` items; the days belong to the arguments."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not PARAM_KEY_PATTERN.match(key) or value == "":
            raise EntrypointError(
                f"RETAILOPS_EXTRA_PARAMS item {item!r} is not key=value"
            )
        if key in DAY_PARAMS:
            raise EntrypointError(
                f"RETAILOPS_EXTRA_PARAMS must not set {key}: pass the days as arguments "
                "(a run date, --scheduled-time or --date-range)"
            )
    return items


def kedro_command(run: Run | date, environ: Mapping[str, str],
                  pipelines: str | None = None) -> list[str]:
    """The ``python -m retailops ...`` command line for this run and environment."""
    if isinstance(run, date):
        run = Run("day", run, run, "requested")
    kedro_env = environ.get("RETAILOPS_KEDRO_ENV", "aws") or "aws"
    pipelines = pipelines or environ.get("RETAILOPS_PIPELINES", "daily") or "daily"
    if not PIPELINES_PATTERN.match(pipelines):
        raise EntrypointError(f"pipelines {pipelines!r} is not a comma-separated list of names")
    if kedro_env == "aws" and not environ.get("RETAILOPS_LAKE_BUCKET"):
        raise EntrypointError("RETAILOPS_LAKE_BUCKET is not set: the aws environment needs the lake bucket")
    extra = parse_extra_params(environ.get("RETAILOPS_EXTRA_PARAMS", ""))
    params = [*run.kedro_params(), *extra]
    key = SCHEDULED_FORECAST_PARAM.split("=")[0]
    # (`daily` composes the forecast stage too; retailops.daily_run sets the same for it.)
    if ("forecast" in pipelines.split(",")
            and not any(item.split("=")[0] == key for item in extra)):
        params.append(SCHEDULED_FORECAST_PARAM)
    command = [sys.executable, "-m", "retailops", "--env", kedro_env, "--pipelines", pipelines,
               "--params", ",".join(params)]
    conf_source = environ.get("RETAILOPS_CONF_SOURCE")
    if conf_source:
        command += ["--conf-source", conf_source]
    return command


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="entrypoint.py",
        description="Run RetailOps Kedro pipelines for one day (default: yesterday, UTC) or a "
                    "backfill range.",
    )
    parser.add_argument("run_date", nargs="?", help="the day to run, YYYY-MM-DD")
    parser.add_argument("--run-date", dest="run_date_option", metavar="YYYY-MM-DD",
                        help="the day to run (same as the positional argument)")
    parser.add_argument("--scheduled-time", metavar="TIME",
                        help="a scheduled event's time (ISO 8601, e.g. 2024-07-02T06:00:00Z): "
                             "runs the UTC day before it")
    parser.add_argument("--date-range", metavar="START..END",
                        help="a backfill: every day from START to END, inclusive")
    parser.add_argument("--pipelines", metavar="NAMES",
                        help="comma-separated Kedro pipelines (default: $RETAILOPS_PIPELINES or daily)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the days and the Kedro command line, run nothing")
    args = parser.parse_args(argv)
    try:
        if args.run_date and args.run_date_option:
            raise EntrypointError("give the run date once (positional or --run-date)")
        run = resolve_run(args.run_date or args.run_date_option, args.scheduled_time,
                          args.date_range)
        command = kedro_command(run, os.environ, args.pipelines)
        project_dir = os.environ.get("RETAILOPS_PROJECT_DIR")
        if project_dir:
            os.chdir(project_dir)
    except (EntrypointError, OSError) as exc:
        print(f"retailops entrypoint: error: {exc}", file=sys.stderr)
        return 2
    print(f"retailops entrypoint: {run.describe()}: {' '.join(command[1:])}",
          file=sys.stderr, flush=True)
    if args.dry_run:
        print(" ".join(command[1:]))
        return 0
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
    # exec, not a child: the task's stop signal and exit status reach Kedro directly.
    os.execv(command[0], command)
    return 0  # pragma: no cover - execv does not return


if __name__ == "__main__":
    sys.exit(main())
