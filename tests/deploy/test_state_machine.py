"""The daily state machine's control flow, executed by moto's Step Functions interpreter.

moto cannot run ECS tasks or Athena queries, so a test rendering replaces those three states
with stand-ins and keeps everything else as written in 07-orchestration.yaml:
- RunDailyPipeline becomes a Pass state with the *same* Parameters (so the rendered container
  command, subnets and cluster can be asserted), or, for the retry test, an SNS publish to a
  topic that does not exist: its error (SNS.NotFoundException) plays ECS.AmazonECSException and
  is added to the first retrier, whose intervals shrink to 1 s.
- StartValidationQuery becomes a Pass with the same QueryString expression and a canned id.
- GetValidationResults becomes a Pass returning a canned Athena ResultSet.
The SNS publishes are real calls to moto's SNS; each topic fans out to an SQS queue that the
tests read.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from typing import Any

import boto3
import pytest

from tests.deploy.cfn_render import state_machine_definition, template
from tests.deploy.test_linters import STATE_MACHINE_SUBSTITUTIONS

ROLE = "arn:aws:iam::123456789012:role/retailops-statemachine"
SCHEDULED_EVENT = {
    "version": "0", "id": "5b4e0a8b-aaaa-bbbb-cccc-1234567890ab", "detail-type": "Scheduled Event",
    "source": "aws.events", "account": "123456789012", "time": "2024-07-02T06:00:00Z",
    "region": "eu-west-1", "resources": ["arn:aws:events:eu-west-1:123456789012:rule/retailops-daily-0600-utc"],
    "detail": {},
}
HEADER = {"Data": [{"VarCharValue": "latest_sale_date"}, {"VarCharValue": "recent_rows"},
                   {"VarCharValue": "run_date_rows"}]}


def result_rows(latest: str | None, recent: str, on_run_date: str) -> list[dict]:
    """Athena's GetQueryResults rows: a header, then one row (a NULL has no VarCharValue)."""
    values = [{"VarCharValue": latest} if latest is not None else {},
              {"VarCharValue": recent}, {"VarCharValue": on_run_date}]
    return [HEADER, {"Data": values}]


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

    def definition(self, rows: list[dict], ecs: str = "succeeds") -> dict[str, Any]:
        substitutions = {**STATE_MACHINE_SUBSTITUTIONS, "FailureTopicArn": self.topics["failed"],
                         "SuccessTopicArn": self.topics["succeeded"]}
        definition = state_machine_definition(substitutions)
        states = definition["States"]
        ecs_state = states["RunDailyPipeline"]
        if ecs == "succeeds":
            states["RunDailyPipeline"] = {"Type": "Pass", "Parameters": ecs_state["Parameters"],
                                          "ResultPath": "$.pipeline_request", "Next": ecs_state["Next"]}
        else:
            retry = copy.deepcopy(ecs_state["Retry"])
            retry[0]["ErrorEquals"].append("SNS.NotFoundException")
            for retrier in retry:
                retrier.update(IntervalSeconds=1, BackoffRate=1.0)
                retrier.pop("JitterStrategy", None)
            states["RunDailyPipeline"] = {
                "Type": "Task", "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {"TopicArn": self.missing_topic, "Message.$": "States.JsonToString($)"},
                "ResultPath": None, "Retry": retry, "Catch": ecs_state["Catch"], "Next": ecs_state["Next"]}
        query = states["StartValidationQuery"]
        states["StartValidationQuery"] = {
            "Type": "Pass", "ResultPath": query["ResultPath"], "Next": query["Next"],
            "Parameters": {"QueryExecutionId": "test-query-1",
                           "QueryString": query["Parameters"]["QueryString"],
                           "ExecutionParameters.$": query["Parameters"]["ExecutionParameters.$"],
                           "WorkGroup": query["Parameters"]["WorkGroup"]}}
        results = states["GetValidationResults"]
        states["GetValidationResults"] = {"Type": "Pass", "Result": {"ResultSet": {"Rows": rows}},
                                          "ResultPath": results["ResultPath"], "Next": results["Next"]}
        return definition

    def run(self, definition: dict[str, Any], execution_input: dict[str, Any]) -> dict[str, Any]:
        name = f"retailops-daily-{uuid.uuid4().hex[:8]}"
        machine = self.sfn.create_state_machine(name=name, definition=json.dumps(definition),
                                                roleArn=ROLE)["stateMachineArn"]
        execution = self.sfn.start_execution(stateMachineArn=machine,
                                             input=json.dumps(execution_input))["executionArn"]
        deadline = time.monotonic() + 60
        while True:
            described = self.sfn.describe_execution(executionArn=execution)
            if described["status"] != "RUNNING":
                break
            assert time.monotonic() < deadline, "execution still running after 60 s"
            time.sleep(0.2)
        events = self.sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
        return {"status": described["status"], "error": described.get("error"),
                "output": json.loads(described["output"]) if described.get("output") else None,
                "events": events}

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


def state_output(events: list[dict], state: str) -> dict:
    (event,) = [e for e in events if e["type"].endswith("StateExited")
                and e["stateExitedEventDetails"]["name"] == state]
    return json.loads(event["stateExitedEventDetails"]["output"])


def test_scheduled_run_takes_the_date_from_the_event_time_and_reports_success(harness: Harness):
    result = harness.run(harness.definition(result_rows("2024-07-02", "51234", "50871")), SCHEDULED_EVENT)
    assert result["status"] == "SUCCEEDED", result
    request = state_output(result["events"], "RunDailyPipeline")["pipeline_request"]
    assert request["Overrides"]["ContainerOverrides"] == [{"Name": "pipeline", "Command": ["2024-07-02"]}]
    assert request["TaskDefinition"] == "retailops-daily" and request["LaunchType"] == "FARGATE"
    network = request["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["Subnets"] == ["subnet-0aaa", "subnet-0bbb"]
    query = state_output(result["events"], "StartValidationQuery")["validation_query"]
    assert query["QueryString"].startswith(
        "SELECT max(sale_date) AS latest_sale_date, count(*) AS recent_rows,")
    assert "FROM retailops_marts.fct_daily_sales WHERE sale_date >= current_date - interval '7' day" in (
        " ".join(query["QueryString"].split()))
    assert query["QueryString"].count("?") == 2
    assert query["ExecutionParameters"] == ["20240702", "20240702"]
    assert query["WorkGroup"] == "retailops"
    (success,) = harness.messages("succeeded")
    assert success["Subject"] == "RetailOps daily run succeeded"
    assert success["Message"] == (
        "RetailOps daily run for 2024-07-02 succeeded (schedule run). fct_daily_sales: 50871 rows "
        "on the run date, 51234 rows in the last 7 days, latest sale date 2024-07-02.")
    assert harness.messages("failed") == []


def test_backfill_run_date_wins_over_the_event_time(harness: Harness):
    execution_input = {"run_date": "2024-08-15", "time": "2024-09-01T06:00:00Z"}
    result = harness.run(harness.definition(result_rows("2024-09-01", "350000", "49000")), execution_input)
    assert result["status"] == "SUCCEEDED", result
    request = state_output(result["events"], "RunDailyPipeline")["pipeline_request"]
    assert request["Overrides"]["ContainerOverrides"][0]["Command"] == ["2024-08-15"]
    assert entered(result["events"], "UseRequestedRunDate") == 1
    assert entered(result["events"], "UseScheduledRunDate") == 0
    (success,) = harness.messages("succeeded")
    assert "for 2024-08-15 succeeded (manual run)" in success["Message"]


def test_a_failing_task_launch_is_retried_with_backoff_then_reported(harness: Harness):
    (launch_retrier, *_) = template("07-orchestration.yaml")["Resources"]["DailyRun"]["Properties"][
        "Definition"]["States"]["RunDailyPipeline"]["Retry"]
    assert "ECS.AmazonECSException" in launch_retrier["ErrorEquals"]
    assert launch_retrier["BackoffRate"] >= 2 and launch_retrier["IntervalSeconds"] >= 30
    attempts = 1 + launch_retrier["MaxAttempts"]

    result = harness.run(harness.definition(result_rows("2024-07-02", "1", "1"), ecs="fails"), SCHEDULED_EVENT)
    assert result["status"] == "FAILED"
    assert result["error"] == "RetailOps.RunFailed"
    scheduled = [e for e in result["events"] if e["type"] == "TaskScheduled"
                 and e["taskScheduledEventDetails"]["resource"] == "publish"
                 and harness.missing_topic in e["taskScheduledEventDetails"]["parameters"]]
    assert len(scheduled) == attempts
    assert entered(result["events"], "StartValidationQuery") == 0
    (failure,) = harness.messages("failed")
    assert failure["Subject"] == "RetailOps daily run FAILED"
    assert failure["Message"].startswith("RetailOps daily run failed. Error: SNS.NotFoundException.")
    assert '"run_date":"2024-07-02"' in failure["Message"]
    assert harness.messages("succeeded") == []


@pytest.mark.parametrize("rows, why", [
    (result_rows("2024-07-01", "48000", "0"), "the run date has no rows"),
    (result_rows(None, "0", "0"), "the mart is empty"),
    ([HEADER], "Athena returned no data row"),
])
def test_validation_fails_the_run_when_its_numbers_are_wrong(harness: Harness, rows, why):
    result = harness.run(harness.definition(rows), SCHEDULED_EVENT)
    assert result["status"] == "FAILED", why
    assert entered(result["events"], "DescribeValidationFailure") == 1, why
    (failure,) = harness.messages("failed")
    assert "Error: RetailOps.ValidationFailed." in failure["Message"], why
    assert "no rows for run date 2024-07-02" in failure["Message"], why
    assert harness.messages("succeeded") == []


def test_an_input_without_any_date_is_reported_and_runs_nothing(harness: Harness):
    result = harness.run(harness.definition(result_rows("2024-07-02", "1", "1")), {"detail": {}})
    assert result["status"] == "FAILED"
    assert entered(result["events"], "RunDailyPipeline") == 0
    (failure,) = harness.messages("failed")
    assert "Error: RetailOps.MissingRunDate." in failure["Message"]
