"""One run date rule everywhere: the scheduled run, the entrypoint's default and the validation.

The scheduled run's commands come from moto's Step Functions interpreter running the real
definition (tests/deploy/test_state_machine.py explains the stand-ins); each command goes
through the real entrypoint; one of them then runs for real (a local lake at a tiny scale) and
the validate stage's own run report says which days it validated.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path

from tests.deploy.cfn_render import REPO
from tests.deploy.test_state_machine import SCHEDULED_EVENT, STEPS, Harness
from tests.platform_fixture import make_project

ENTRYPOINT = REPO / "deploy" / "ecs" / "entrypoint.py"


def entrypoint(*args: str, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("RETAILOPS_", "AWS_"))}
    return subprocess.run([sys.executable, str(ENTRYPOINT), *args], cwd=REPO,
                          env={**base, "KEDRO_DISABLE_TELEMETRY": "1", **env},
                          capture_output=True, text=True, timeout=timeout)


def test_the_scheduled_run_the_entrypoint_default_and_the_validated_day_are_the_same_day(
        moto_url: str, tmp_path: Path):
    # The 06:00 UTC run of 2024-07-04 processes 2024-07-03, the last complete day.
    event = {**SCHEDULED_EVENT, "time": "2024-07-04T06:00:00Z"}
    expected = "2024-07-03"
    harness = Harness(moto_url)
    result = harness.run(harness.definition(), event)
    assert result["status"] == "SUCCEEDED", result
    commands = {step: result["output"]["requests"][step]["Overrides"]["ContainerOverrides"][0]["Command"]
                for step in STEPS}

    # 1. Each step's container command, through the real entrypoint: one day for all three.
    for step, command in commands.items():
        out = entrypoint(*command, "--dry-run", env={"RETAILOPS_LAKE_BUCKET": "lake"})
        assert out.returncode == 0, out.stderr
        params = f"run_date={expected}" + (
            ",forecast.when_history_short=skip" if step == "Forecast" else "")
        assert out.stdout.split()[-2:] == ["--params", params], step

    # 2. The entrypoint's default (no date given) at the moment the schedule fires.
    sys.path.insert(0, str(ENTRYPOINT.parent))
    try:
        import entrypoint as module
    finally:
        sys.path.pop(0)
    moment = datetime(2024, 7, 4, 6, 0, tzinfo=timezone.utc)
    assert module.resolve_run(now=moment).last == date.fromisoformat(expected)
    assert module.parse_run_date(None, today=moment.date()) == date.fromisoformat(expected)

    # 3. Through Kedro on a local lake (ingest, transform and validate in one process here:
    #    the same parameters, one start-up). First the backfill form of the state machine's
    #    input: the range lands and is validated as exactly that range.
    project = tmp_path / "project"
    conf, lake = make_project(project)
    env = {"RETAILOPS_KEDRO_ENV": "local", "RETAILOPS_CONF_SOURCE": str(conf),
           "RETAILOPS_PROJECT_DIR": str(project), "RETAILOPS_EXTRA_PARAMS": "scale=0.01"}
    pipelines = ",".join(command[1] for command in commands.values())
    assert pipelines == "ingest,transform,validate,forecast"
    out = entrypoint("--pipelines", pipelines, "--date-range", "2024-07-01..2024-07-02", env=env)
    assert out.returncode == 0, out.stderr[-4000:]
    report_file = lake / "metadata" / "runs" / "validation" / "latest.json"
    assert json.loads(report_file.read_text())["window"] == {"first": "2024-07-01",
                                                             "last": "2024-07-02"}
    # Then the scheduled run's command: it lands its one day and validates the week up to it.
    out = entrypoint("--pipelines", pipelines, *commands["Validate"][2:], env=env)
    assert out.returncode == 0, out.stderr[-4000:]
    landed = sorted(p.name for p in (lake / "raw" / "sales").iterdir())
    assert landed == ["dt=2024-07-01", "dt=2024-07-02", f"dt={expected}"]
    report = json.loads(report_file.read_text())
    assert report["ok"] is True, report.get("failures")
    # max(first landed day, D - 6)..D: the lake starts on 2024-07-01.
    assert report["window"] == {"first": "2024-07-01", "last": expected}
