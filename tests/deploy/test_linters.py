"""checkov, parliament, hadolint, statelint and shellcheck over the deployment code."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import parliament
import pytest

from tests.deploy.cfn_render import (REPO, TEMPLATES, fake_import, iam_policies,
                                     state_machine_definition, template)
from tests.deploy.conftest import DOCKERFILE, lint_tool, tool

STATE_MACHINE_SUBSTITUTIONS = {
    "ClusterArn": fake_import("retailops-ClusterArn"),
    "TaskDefinitionFamily": "retailops-daily",
    "ContainerName": "pipeline",
    "SecurityGroupId": "sg-0123456789abcdef0",
    "SubnetIds": "subnet-0aaa,subnet-0bbb",
    "AssignPublicIp": "ENABLED",
    "LakeBucketName": fake_import("retailops-LakeBucketName"),
    "FailureTopicArn": fake_import("retailops-FailureTopicArn"),
    "SuccessTopicArn": fake_import("retailops-SuccessTopicArn"),
}


# --- checkov -------------------------------------------------------------------------------

def test_checkov_scanned_every_template_and_the_dockerfile(checkov_results):
    scanned = set()
    for report in checkov_results:
        for check in report["results"]["passed_checks"] + report["results"]["failed_checks"]:
            scanned.add(Path(check["file_path"]).name)
    # 08-monitoring holds only an alarm, a dashboard and a metric filter: no checkov check exists
    # for those types, so it yields no result (its parse is covered by parsing_errors below).
    assert scanned >= {p.name for p in TEMPLATES if p.stem != "08-monitoring"} | {"Dockerfile"}
    assert {r["check_type"] for r in checkov_results} == {"cloudformation", "dockerfile"}
    assert all(r["summary"]["parsing_errors"] == 0 for r in checkov_results)


def test_checkov_finds_no_failed_check(checkov_results):
    failed = [f"{c['check_id']} {c['resource']} ({Path(c['file_path']).name}): {c['check_name']}"
              for report in checkov_results for c in report["results"]["failed_checks"]]
    assert failed == []


def test_every_checkov_suppression_says_why(checkov_results):
    skipped = [c for report in checkov_results for c in report["results"]["skipped_checks"]]
    assert skipped, "expected the documented suppressions to be reported as skipped"
    for check in skipped:
        reason = (check.get("check_result") or {}).get("suppress_comment", "")
        assert len(reason.strip()) > 20, f"{check['check_id']} on {check['resource']} has no reason"


# --- parliament on the rendered IAM policies ------------------------------------------------

def rendered_policies() -> dict[str, dict]:
    return iam_policies(template("05-iam.yaml"))


# The community auditors flag sensitive actions by nature; these two are needed and reviewed.
EXPECTED_COMMUNITY_FINDINGS = {
    # ECS must log in to ECR to pull the image; the action has no resource-level permission.
    "ExecutionRole/pull-image-and-write-logs": {("CREDENTIALS_EXPOSURE", "ecr:getauthorizationtoken")},
    # PassRole is limited to the two task roles and ecs-tasks; the log resource policy is how
    # Step Functions delivers its execution log to CloudWatch Logs.
    "StateMachineRole/run-validate-notify": {("PERMISSIONS_MANAGEMENT_ACTIONS", "iam:passrole"),
                                             ("PERMISSIONS_MANAGEMENT_ACTIONS", "logs:putresourcepolicy")},
}


@pytest.mark.parametrize("name", sorted(rendered_policies()))
def test_parliament_finds_nothing_in_the_iam_policy(name: str):
    document = json.dumps(rendered_policies()[name])
    policy = parliament.analyze_policy_string(document)
    assert [f"{f.issue}: {f.detail} at {f.location}" for f in policy.findings] == []
    community = parliament.analyze_policy_string(document, include_community_auditors=True)
    found = {(f.issue, action) for f in community.findings
             for action in (f.location.get("actions") or [None])}
    assert found == EXPECTED_COMMUNITY_FINDINGS.get(name, set())


def test_parliament_would_catch_a_wrong_action_or_resource():
    document = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObjectt", "Resource": "arn:aws:s3:::bucket/*"},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket"}]}
    issues = {f.issue for f in parliament.analyze_policy_string(json.dumps(document)).findings}
    assert {"UNKNOWN_ACTION", "RESOURCE_MISMATCH"} <= issues


def test_only_actions_without_resource_level_permissions_use_a_wildcard_resource():
    allowed_on_star = {"ecr:GetAuthorizationToken", "logs:CreateLogDelivery", "logs:GetLogDelivery",
                       "logs:UpdateLogDelivery", "logs:DeleteLogDelivery", "logs:ListLogDeliveries",
                       "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
                       "logs:DescribeLogGroups"}
    for name, document in rendered_policies().items():
        for statement in document["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert not any("*" in a for a in actions), f"{name}: wildcard action {actions}"
            if statement["Resource"] == "*":
                assert set(actions) <= allowed_on_star, f"{name}: {actions} on Resource *"


def test_state_machine_may_pass_only_the_two_task_roles_to_ecs_only():
    statements = rendered_policies()["StateMachineRole/run-validate-notify"]["Statement"]
    (pass_role,) = [s for s in statements if s["Action"] == "iam:PassRole"]
    assert sorted(pass_role["Resource"]) == ["arn:aws:iam::123456789012:role/ExecutionRole",
                                             "arn:aws:iam::123456789012:role/TaskRole"]
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
    (run_task,) = [s for s in statements if s["Action"] == "ecs:RunTask"]
    assert run_task["Resource"].endswith(":task-definition/retailops-daily:*")
    (events,) = [s for s in statements if "events:PutRule" in s["Action"]]
    assert events["Resource"].endswith(":rule/StepFunctionsGetEventsForECSTaskRule")


def test_raw_partitions_cannot_be_deleted_by_the_pipeline():
    statements = rendered_policies()["LakeAccessPolicy"]["Statement"]
    for statement in statements:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if "s3:DeleteObject" in statement["Action"]:
            assert not any("/raw/" in r for r in resources)


SSO_ROLE = "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_DataOps_*"


@pytest.mark.parametrize("mfa", ["true", "false"])
def test_pipeline_role_is_assumable_only_by_the_operator_principal(mfa: str):
    """The account is the principal and the operator's ARN (an SSO role works, wildcards
    allowed) the condition: an IAM user principal fails in accounts without IAM users."""
    from tests.deploy.cfn_render import Renderer

    tmpl = template("05-iam.yaml")
    renderer = Renderer(tmpl, {"OperatorPrincipalArn": SSO_ROLE, "RequireMfaForOperator": mfa})
    (statement,) = renderer.render(
        tmpl["Resources"]["PipelineRole"]["Properties"]["AssumeRolePolicyDocument"])["Statement"]
    assert statement["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert statement["Action"] == "sts:AssumeRole"
    expected = {"ArnLike": {"aws:PrincipalArn": SSO_ROLE}}
    if mfa == "true":
        expected["Bool"] = {"aws:MultiFactorAuthPresent": "true"}
    assert statement["Condition"] == expected
    pattern = re.compile(tmpl["Parameters"]["OperatorPrincipalArn"]["AllowedPattern"])
    assert pattern.match(SSO_ROLE) and pattern.match("arn:aws:iam::123456789012:user/alice")
    assert not pattern.match("alice") and not pattern.match("arn:aws:iam::123456789012:root")


# --- the Dockerfile -------------------------------------------------------------------------

def test_hadolint_finds_nothing_in_the_dockerfile():
    out = subprocess.run([tool("hadolint"), "--no-color", str(DOCKERFILE)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_hadolint_would_catch_a_bad_dockerfile(tmp_path: Path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /tmp && pip install requests\n")
    out = subprocess.run([tool("hadolint"), "--no-color", str(bad)], capture_output=True, text=True)
    assert out.returncode != 0 and "DL3007" in out.stdout


def test_image_is_slim_non_root_telemetry_free_and_takes_the_run_date():
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim", text, re.M)
    (user,) = re.findall(r"^USER (\S+)", text, re.M)
    assert user.split(":")[0] not in {"root", "0"}
    assert "KEDRO_DISABLE_TELEMETRY=1" in text
    # dbt is parsed at build time by the same call a run makes (target athena).
    assert "RUN python -m retailops.deployment parse-dbt" in text
    assert re.search(r'^ENTRYPOINT \["python", "/app/entrypoint.py"\]', text, re.M)
    assert "COPY deploy/ecs/entrypoint.py /app/entrypoint.py" in text
    for source in re.findall(r"^COPY (\S+) ", text, re.M):
        if not source.startswith("dist/"):  # dist/ is what `kedro package` writes
            assert (REPO / source).exists(), f"COPY source {source} does not exist"


# --- the state machine and the deploy script ------------------------------------------------

def test_statelint_accepts_the_definition_with_substitutions_applied(tmp_path: Path):
    path = tmp_path / "definition.json"
    definition = state_machine_definition(STATE_MACHINE_SUBSTITUTIONS)
    path.write_text(json.dumps(definition))
    assert "${" not in path.read_text()
    out = subprocess.run([tool("statelint"), str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_statelint_would_catch_a_dangling_transition(tmp_path: Path):
    definition = state_machine_definition(STATE_MACHINE_SUBSTITUTIONS)
    definition["States"]["Ingest"]["Next"] = "Nowhere"
    path = tmp_path / "definition.json"
    path.write_text(json.dumps(definition))
    out = subprocess.run([tool("statelint"), str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "Nowhere" in out.stdout


def test_shellcheck_finds_nothing_in_deploy_sh():
    out = subprocess.run([lint_tool("shellcheck"), str(REPO / "deploy" / "deploy.sh")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
