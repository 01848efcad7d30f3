"""The daily state machine's control flow, executed by moto's Step Functions interpreter.

moto cannot run ECS tasks, so a test rendering replaces the four ECS steps (Ingest, Transform,
Validate, Forecast) with stand-ins and keeps everything else as written in 07-orchestration.yaml:
- a step that succeeds becomes a Pass state with the *same* Parameters (so the container
  command, subnets and cluster can be asserted) plus the timeout its ``TimeoutSecondsPath``
  resolves to;
- a step that fails becomes an SNS publish to a topic that does not exist, with the step's own
  Retry and Catch: its error (SNS.NotFoundException) plays a task that exited non-zero
  (``States.TaskFailed``), or, added to the launch retrier, ``ECS.AmazonECSException``; the
  retry intervals shrink to 1 s;
- a step that takes a while becomes a Wait state (the concurrency test).
The concurrency guard is the real ``aws-sdk:sfn:listExecutions`` call against moto's Step
Functions, with two translations for moto: it passes parameter names to boto3 unchanged (Step
Functions takes them PascalCase) and answers in boto3's camelCase (Step Functions answers
PascalCase), so the harness writes the same call and selection in camelCase.
``ReadValidationReport`` (``aws-sdk:s3:getObject``; moto's interpreter hands back the body as a
stream, not the string Step Functions returns) becomes a Pass holding the parsed report.
The SNS publishes are real calls to moto's SNS; each topic fans out to an SQS queue that the
tests read.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from datetime import date
from typing import Any

import boto3
import pytest

from retailops.validation.checks import Check
from retailops.validation.reconcile import run_report
from tests.deploy.cfn_render import state_machine_definition, template
from tests.deploy.test_linters import STATE_MACHINE_SUBSTITUTIONS

ROLE = "arn:aws:iam::123456789012:role/retailops-statemachine"
SCHEDULED_EVENT = {
    "version": "0", "id": "5b4e0a8b-aaaa-bbbb-cccc-1234567890ab", "detail-type": "Scheduled Event",
    "source": "aws.events", "account": "123456789012", "time": "2024-07-02T06:00:00Z",
    "region": "eu-west-1", "resources": ["arn:aws:events:eu-west-1:123456789012:rule/retailops-daily-0600-utc"],
    "detail": {},
}
STEPS = ("Ingest", "Transform", "Validate", "Forecast")
PIPELINES = ("ingest", "transform", "validate", "forecast")
LAKE = STATE_MACHINE_SUBSTITUTIONS["LakeBucketName"]


def machine_states() -> dict[str, Any]:
    return template("07-orchestration.yaml")["Resources"]["DailyRun"]["Properties"]["Definition"]["States"]


class Harness:
    """moto clients, the two topics with a queue each, and a way to run a rendering."""

    def __init__(self, endpoint: str):
        kwargs = {"endpoint_url": endpoint, "region_name": "eu-west-1",
                  "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        self.sfn = boto3.client("stepfunctions", **kwargs)
        self.sns = boto3.client("sns", **kwargs)
        self.sqs = boto3.client("sqs", **kwargs)
        suffix = uuid.uuid4().hex[:8]
        self.topics = {kind: self.sns.create_topic(Name=f"retailops-run-{kind}-{suffix}")["TopicArn"]
                       for kind in ("failed", "succeeded")}
        self.queues = {}
        for kind, topic in self.topics.items():
            url = self.sqs.create_queue(QueueName=f"retailops-{kind}-{suffix}")["QueueUrl"]
            arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
            self.queues[kind] = url
        self.missing_topic = f"arn:aws:sns:eu-west-1:123456789012:no-such-topic-{suffix}"

    def definition(self, fail: str | None = None, as_launch_error: bool = False,
                   slow: str | None = None, report: dict | None = None) -> dict[str, Any]:
        """The real definition with the ECS steps, the guard and the report read adapted."""
        substitutions = {**STATE_MACHINE_SUBSTITUTIONS, "FailureTopicArn": self.topics["failed"],
                         "SuccessTopicArn": self.topics["succeeded"]}
        definition = state_machine_definition(substitutions)
        states = definition["States"]
        for step in STEPS:
            task = states[step]
            if step == fail:
                retry = copy.deepcopy(task["Retry"])
                if as_launch_error:
                    retry[0]["ErrorEquals"].append("SNS.NotFoundException")
                for retrier in retry:
                    retrier.update(IntervalSeconds=1, BackoffRate=1.0)
                    retrier.pop("JitterStrategy", None)
                states[step] = {
                    "Type": "Task", "Resource": "arn:aws:states:::sns:publish",
                    "Parameters": {"TopicArn": self.missing_topic, "Message.$": "States.JsonToString($)"},
                    "ResultPath": None, "Retry": retry, "Catch": task["Catch"], "Next": task["Next"]}
            elif step == slow:
                states[step] = {"Type": "Wait", "Seconds": 4, "Next": task["Next"]}
            else:
                parameters = {**task["Parameters"], "TimeoutSeconds.$": task["TimeoutSecondsPath"]}
                states[step] = {"Type": "Pass", "Parameters": parameters,
                                "ResultPath": f"$.requests.{step}", "Next": task["Next"]}
        guard = states["GuardAgainstConcurrentRuns"]
        assert guard["Parameters"] == {"StateMachineArn.$": "$$.StateMachine.Id",
                                       "StatusFilter": "RUNNING", "MaxResults": 100}
        assert guard["ResultSelector"] == {"running.$": "$.Executions[*].ExecutionArn"}
        guard["Parameters"] = {"stateMachineArn.$": "$$.StateMachine.Id", "statusFilter": "RUNNING",
                               "maxResults": 100}
        guard["ResultSelector"] = {"running.$": "$.executions[*].executionArn"}
        read = states["ReadValidationReport"]
        assert read["Parameters"] == {"Bucket": LAKE, "Key": "metadata/runs/validation/latest.json"}
        assert read["ResultSelector"] == {"report.$": "States.StringToJson($.Body)"}
        # moto's ASL parser rejects exponent numbers (the checks' tolerance 1e-06) in a literal;
        # the state machine reads only generated_at, window and failures.
        report = {k: v for k, v in (report or {}).items() if k != "checks"}
        states["ReadValidationReport"] = {"Type": "Pass", "Result": {"report": report},
                                          "ResultPath": read["ResultPath"], "Next": read["Next"]}
        return definition

    def create(self, definition: dict[str, Any]) -> str:
        name = f"retailops-daily-{uuid.uuid4().hex[:8]}"
        return self.sfn.create_state_machine(name=name, definition=json.dumps(definition),
                                             roleArn=ROLE)["stateMachineArn"]

    def start(self, machine: str, execution_input: dict[str, Any]) -> str:
        return self.sfn.start_execution(stateMachineArn=machine, name=uuid.uuid4().hex,
                                        input=json.dumps(execution_input))["executionArn"]

    def wait(self, execution: str) -> dict[str, Any]:
        deadline = time.monotonic() + 90
        while True:
            described = self.sfn.describe_execution(executionArn=execution)
            if described["status"] != "RUNNING":
                break
            assert time.monotonic() < deadline, "execution still running after 90 s"
            time.sleep(0.2)
        events = self.sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
        return {"status": described["status"], "error": described.get("error"), "arn": execution,
                "output": json.loads(described["output"]) if described.get("output") else None,
                "events": events}

    def run(self, definition: dict[str, Any], execution_input: dict[str, Any]) -> dict[str, Any]:
        return self.wait(self.start(self.create(definition), execution_input))

    def messages(self, kind: str) -> list[dict[str, str]]:
        found = []
        while True:
            got = self.sqs.receive_message(QueueUrl=self.queues[kind], MaxNumberOfMessages=10,
                                           WaitTimeSeconds=0).get("Messages", [])
            if not got:
                return found
            for message in got:
                body = json.loads(message["Body"])
                found.append({"Subject": body.get("Subject", ""), "Message": body["Message"]})
                self.sqs.delete_message(QueueUrl=self.queues[kind], ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture()
def harness(moto_url: str) -> Harness:
    return Harness(moto_url)


def entered(events: list[dict], state: str) -> int:
    return sum(1 for e in events if e["type"].endswith("StateEntered")
               and e["stateEnteredEventDetails"]["name"] == state)


def state_order(events: list[dict]) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")]


def requests(result: dict[str, Any]) -> dict[str, dict]:
    return result["output"]["requests"]


def publishes_to(events: list[dict], topic: str) -> int:
    return sum(1 for e in events if e["type"] == "TaskScheduled"
               and e["taskScheduledEventDetails"]["resource"] == "publish"
               and topic in e["taskScheduledEventDetails"]["parameters"])


def test_scheduled_run_passes_its_time_to_each_step_then_reports_success(
        harness: Harness):
    result = harness.run(harness.definition(), SCHEDULED_EVENT)
    assert result["status"] == "SUCCEEDED", result
    order = state_order(result["events"])
    assert [s for s in order if s in (*STEPS, "GuardAgainstConcurrentRuns", "NotifySuccess")] == [
        "GuardAgainstConcurrentRuns", "Ingest", "Transform", "Validate", "Forecast",
        "NotifySuccess"]
    sent = requests(result)
    for step, pipeline in zip(STEPS, PIPELINES):
        request = sent[step]
        # The entrypoint turns the event's time into its run date (the UTC day before).
        assert request["Overrides"]["ContainerOverrides"] == [{"Name": "pipeline", "Command": [
            "--pipelines", pipeline, "--scheduled-time", "2024-07-02T06:00:00Z"]}], step
        assert request["TaskDefinition"] == "retailops-daily" and request["LaunchType"] == "FARGATE"
        assert request["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"] == [
            "subnet-0aaa", "subnet-0bbb"]
        assert request["PropagateTags"] == "TASK_DEFINITION"
    assert {step: sent[step]["TimeoutSeconds"] for step in STEPS} == {
        "Ingest": 1800, "Transform": 5400, "Validate": 1800, "Forecast": 3600}
    (success,) = harness.messages("succeeded")
    assert success["Subject"] == "RetailOps daily run succeeded"
    assert success["Message"] == (
        "RetailOps scheduled run of 2024-07-02T06:00:00Z (run date = the UTC day before) succeeded "
        "(schedule run): Ingest, Transform, Validate and Forecast passed. Run report: "
        f"s3://{LAKE}/metadata/runs/validation/latest.json")
    assert harness.messages("failed") == []


def test_a_backfill_range_is_one_ingest_task_and_one_transform_task(harness: Harness):
    result = harness.run(harness.definition(), {"start_date": "2024-07-01", "end_date": "2026-11-29"})
    assert result["status"] == "SUCCEEDED", result
    assert [entered(result["events"], step) for step in STEPS] == [1, 1, 1, 1]
    sent = requests(result)
    for step, pipeline in zip(STEPS, PIPELINES):
        assert sent[step]["Overrides"]["ContainerOverrides"][0]["Command"] == [
            "--pipelines", pipeline, "--date-range", "2024-07-01..2026-11-29"]
    # A range gets the long timeouts: ~880 days land and build in one task each.
    assert sent["Ingest"]["TimeoutSeconds"] >= 4 * 3600
    assert sent["Transform"]["TimeoutSeconds"] >= 4 * 3600
    (success,) = harness.messages("succeeded")
    assert success["Message"].startswith("RetailOps backfill 2024-07-01..2026-11-29 succeeded (manual run)")


def test_a_single_run_date_still_works_and_wins_over_the_event_time(harness: Harness):
    result = harness.run(harness.definition(), {"run_date": "2024-08-15", "time": "2024-09-01T06:00:00Z"})
    assert result["status"] == "SUCCEEDED", result
    sent = requests(result)
    assert [sent[step]["Overrides"]["ContainerOverrides"][0]["Command"][2:] for step in STEPS] == [
        ["--run-date", "2024-08-15"]] * 4
    assert entered(result["events"], "UseRequestedRunDate") == 1
    assert entered(result["events"], "UseScheduledTime") == 0
    (success,) = harness.messages("succeeded")
    assert success["Message"].startswith("RetailOps run for 2024-08-15 succeeded (manual run)")


@pytest.mark.parametrize("step, attempts, later", [
    # Ingest and Transform are idempotent: a task that exited non-zero runs once more.
    ("Ingest", 2, ["Transform", "Validate", "Forecast"]),
    ("Transform", 2, ["Validate", "Forecast"]),
    # A forecast date is replaced whole when written again.
    ("Forecast", 2, []),
])
def test_a_failed_step_is_retried_by_its_own_rule_and_named_in_the_one_failure_email(
        harness: Harness, step: str, attempts: int, later: list[str]):
    retriers = machine_states()[step]["Retry"]
    assert [r["MaxAttempts"] for r in retriers if r["ErrorEquals"] == ["States.TaskFailed"]] == [
        attempts - 1]
    result = harness.run(harness.definition(fail=step), SCHEDULED_EVENT)
    assert result["status"] == "FAILED" and result["error"] == "RetailOps.RunFailed"
    assert publishes_to(result["events"], harness.missing_topic) == attempts
    assert all(entered(result["events"], s) == 0 for s in later), later
    assert entered(result["events"], "NotifySuccess") == 0
    (failure,) = harness.messages("failed")
    assert failure["Subject"] == "RetailOps daily run FAILED"
    assert failure["Message"].startswith(
        "RetailOps scheduled run of 2024-07-02T06:00:00Z (run date = the UTC day before) failed in "
        f"step {step} (Kedro pipeline {step.lower()}")
    assert "Error: SNS.NotFoundException." in failure["Message"]
    assert result["arn"] in failure["Message"]
    if step == "Forecast":  # the day's data is good: the e-mail says only the forecast is missing
        assert "The day's data was landed, built and validated; only its forecast is missing" in (
            failure["Message"])
    assert harness.messages("succeeded") == []


def test_a_task_that_cannot_start_is_retried_with_backoff_then_reported(harness: Harness):
    (launch, *_) = machine_states()["Ingest"]["Retry"]
    assert "ECS.AmazonECSException" in launch["ErrorEquals"]
    assert launch["BackoffRate"] >= 2 and launch["IntervalSeconds"] >= 30
    result = harness.run(harness.definition(fail="Ingest", as_launch_error=True), SCHEDULED_EVENT)
    assert result["status"] == "FAILED"
    assert publishes_to(result["events"], harness.missing_topic) == 1 + launch["MaxAttempts"]
    assert entered(result["events"], "Transform") == 0
    (failure,) = harness.messages("failed")
    assert "failed in step Ingest" in failure["Message"]


def test_a_failed_validation_is_not_retried_and_its_email_carries_the_reports_numbers(harness: Harness):
    # The report as the Kedro validate stage writes it (its own function), with a day whose
    # mart rows disagree with the manifests.
    checks = [Check("day_present_2024-07-01", 1, 1, "the run date landed"),
              Check("mart_rows_match_manifests", 51234, 50871, "fct_daily_sales vs manifests",
                    problems=("2024-07-01: manifests 51234, mart 50871",))]
    report = run_report(checks, {"success": True}, date(2024, 6, 25), date(2024, 7, 1), "athena")
    assert not report["ok"]
    result = harness.run(harness.definition(fail="Validate", report=report), SCHEDULED_EVENT)
    assert result["status"] == "FAILED"
    assert publishes_to(result["events"], harness.missing_topic) == 1
    assert entered(result["events"], "ReadValidationReport") == 1
    assert entered(result["events"], "Forecast") == 0  # no forecast from unvalidated marts
    (failure,) = harness.messages("failed")
    message = failure["Message"]
    assert "failed in step Validate (Kedro pipeline validate)" in message
    assert f"Run report (generated {report['generated_at']}, window 2024-06-25..2024-07-01)" in message
    assert ("mart_rows_match_manifests: expected 51234, got 50871 "
            "(2024-07-01: manifests 51234, mart 50871)") in message
    assert "day_present" not in message  # only the failed checks
    assert harness.messages("succeeded") == []


def test_an_input_without_days_is_reported_and_runs_nothing(harness: Harness):
    result = harness.run(harness.definition(), {"detail": {}, "run_date": 20240701})
    assert result["status"] == "FAILED"
    assert all(entered(result["events"], s) == 0 for s in (*STEPS, "GuardAgainstConcurrentRuns"))
    (failure,) = harness.messages("failed")
    assert "failed in step ResolveRunInput. Error: RetailOps.UnusableInput." in failure["Message"]
    assert '"run_date":20240701' in failure["Message"]


def test_a_second_execution_stops_before_touching_the_lake_while_one_is_running(harness: Harness):
    machine = harness.create(harness.definition(slow="Ingest"))
    first = harness.start(machine, SCHEDULED_EVENT)
    deadline = time.monotonic() + 30
    while not entered(harness.sfn.get_execution_history(executionArn=first)["events"], "Ingest"):
        assert time.monotonic() < deadline, "the first execution never reached Ingest"
        time.sleep(0.2)
    second = harness.wait(harness.start(machine, {"start_date": "2024-07-01", "end_date": "2024-07-31"}))
    assert second["status"] == "FAILED"
    assert all(entered(second["events"], s) == 0 for s in STEPS)
    assert entered(second["events"], "DescribeConcurrentRun") == 1
    assert harness.wait(first)["status"] == "SUCCEEDED"
    messages = harness.messages("failed")
    assert len(messages) == 1
    assert messages[0]["Message"].startswith(
        "RetailOps backfill 2024-07-01..2024-07-31 failed in step Guard (one execution at a time). "
        f"Error: RetailOps.ConcurrentRun. Cause: Another execution of this state machine is running ({first})")
    # Once the first one has finished, the next execution runs.
    third = harness.wait(harness.start(machine, {"run_date": "2024-07-05"}))
    assert third["status"] == "SUCCEEDED"
    assert entered(third["events"], "Validate") == 1
