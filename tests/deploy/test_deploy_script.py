"""deploy.sh run for real with stand-ins for aws, docker and kedro that record their calls."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

from tests.deploy.cfn_render import REPO

STUB = """#!/usr/bin/env python3
import json, os, sys
with open(os.environ["CALL_LOG"], "a") as log:
    log.write(json.dumps([os.path.basename(sys.argv[0]), *sys.argv[1:]]) + "\\n")
args = sys.argv[1:]
if "--password-stdin" in args:
    assert sys.stdin.read().strip() == "token"
if args[:2] == ["cloudformation", "describe-stacks"]:
    query = args[args.index("--query") + 1]
    # The outputs the templates give a stack <prefix>-<name>.
    prefix = args[args.index("--stack-name") + 1].rsplit("-", 1)[0]
    outputs = {"RepositoryUri": f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/{prefix}",
               "StateMachineArn": f"arn:aws:states:eu-west-1:123456789012:stateMachine:{prefix}-daily",
               "PipelineRoleArn": "arn:aws:iam::123456789012:role/pipeline",
               "LakeBucketName": f"{prefix}-lake-123456789012-eu-west-1",
               "AthenaResultsBucketName": f"{prefix}-athena-results-123456789012-eu-west-1",
               "WorkGroupName": prefix,
               "DatabasePrefix": prefix.replace("-", "_")}
    # An output the stack lacks prints as None, as the aws CLI's text output does.
    print(next((v for k, v in outputs.items() if f"'{k}'" in query), "None"))
elif args[:2] == ["ecr", "describe-images"]:
    sys.exit(254)  # not pushed yet
elif args[:2] == ["ecr", "get-login-password"]:
    print("token")
"""


OPERATOR = "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_DataOps_*"


def copy_of_deploy_sh(tmp_path: Path) -> Path:
    """deploy.sh works from its repository root; a copy keeps the real dist/ untouched."""
    shutil.copytree(REPO / "deploy", tmp_path / "repo" / "deploy")
    return tmp_path / "repo" / "deploy" / "deploy.sh"


def make_stubs(folder: Path) -> None:
    for name in ("aws", "docker", "kedro"):
        path = folder / name
        path.write_text(STUB)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_deploy_script_deploys_in_order_builds_the_image_and_prints_how_to_run(tmp_path: Path):
    make_stubs(tmp_path)
    log = tmp_path / "calls.jsonl"
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "CALL_LOG": str(log),
           "KEDRO": str(tmp_path / "kedro"), "ALERT_EMAIL": "ops@example.com",
           "OPERATOR_PRINCIPAL_ARN": OPERATOR, "VPC_ID": "vpc-0123", "SUBNET_IDS": "subnet-0aaa,subnet-0bbb",
           "AWS_REGION": "eu-west-1", "IMAGE_TAG": "abc123def456"}
    out = subprocess.run(["bash", str(copy_of_deploy_sh(tmp_path))], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    stacks = [c[c.index("--stack-name") + 1] for c in calls if c[1:3] == ["cloudformation", "deploy"]]
    assert stacks == [f"retailops-{n}" for n in ("lake", "catalog", "notifications", "registry", "iam",
                                                  "compute", "orchestration", "monitoring")]
    order = [" ".join(c[:3]) for c in calls]
    image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/retailops:abc123def456"
    assert ["kedro", "package"] in calls
    assert ["docker", "push", image] in calls
    build = next(c for c in calls if c[:2] == ["docker", "build"])
    assert build[-1] == "." and "deploy/ecs/Dockerfile" in build and image in build
    # The image exists before the stack whose task definition points at it.
    first_compute = next(i for i, c in enumerate(calls) if "retailops-compute" in c)
    assert calls.index(["docker", "push", image]) < first_compute
    assert order.index("kedro package") < calls.index(build)
    compute = calls[first_compute]
    assert "ImageTag=abc123def456" in compute and "VpcId=vpc-0123" in compute
    orchestration = next(c for c in calls if "retailops-orchestration" in c)
    assert "SubnetIds=subnet-0aaa,subnet-0bbb" in orchestration
    assert "aws stepfunctions start-execution --state-machine-arn " \
           "arn:aws:states:eu-west-1:123456789012:stateMachine:retailops-daily" in out.stdout
    assert '{"run_date": "2024-07-01"}' in out.stdout
    assert '{"start_date": "2024-07-01", "end_date": "<yesterday>"}' in out.stdout
    assert "RETAILOPS_LAKE_BUCKET=retailops-lake-123456789012-eu-west-1 " in out.stdout


def test_deploy_script_refuses_to_start_without_its_settings(tmp_path: Path):
    make_stubs(tmp_path)
    env = {k: v for k, v in os.environ.items()
           if k not in {"ALERT_EMAIL", "OPERATOR_PRINCIPAL_ARN", "VPC_ID", "SUBNET_IDS"}}
    env.update(PATH=f"{tmp_path}:{os.environ['PATH']}", CALL_LOG=str(tmp_path / "calls.jsonl"))
    out = subprocess.run(["bash", str(copy_of_deploy_sh(tmp_path))], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and "ALERT_EMAIL is not set" in out.stderr
    assert not (tmp_path / "calls.jsonl").exists(), "nothing may be deployed without the settings"


def run_deploy(tmp_path: Path, stubs: bool = True,
               **settings: str) -> tuple[subprocess.CompletedProcess, list[list[str]]]:
    if stubs:
        make_stubs(tmp_path)
    log = tmp_path / "calls.jsonl"
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "CALL_LOG": str(log),
           "KEDRO": str(tmp_path / "kedro"), "ALERT_EMAIL": "ops@example.com",
           "OPERATOR_PRINCIPAL_ARN": OPERATOR, "VPC_ID": "vpc-0123",
           "SUBNET_IDS": "subnet-0aaa,subnet-0bbb", "AWS_REGION": "eu-west-1",
           "IMAGE_TAG": "abc123def456", **settings}
    out = subprocess.run(["bash", str(copy_of_deploy_sh(tmp_path))], env=env, capture_output=True,
                         text=True, timeout=60)
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return out, calls


def build_args(calls: list[list[str]]) -> dict[str, str]:
    build = next(c for c in calls if c[:2] == ["docker", "build"])
    return dict(build[i + 1].split("=", 1) for i, word in enumerate(build) if word == "--build-arg")


def test_the_image_is_built_for_its_deployment_with_the_names_a_laptop_run_derives(tmp_path: Path):
    out, calls = run_deploy(tmp_path, PREFIX="retailops-dev")
    assert out.returncode == 0, out.stderr
    args = build_args(calls)
    assert args == {
        "RETAILOPS_PREFIX": "retailops-dev",
        "RETAILOPS_LAKE_BUCKET": "retailops-dev-lake-123456789012-eu-west-1",
        "RETAILOPS_ATHENA_WORK_GROUP": "retailops-dev",
        "RETAILOPS_ATHENA_SCHEMA": "retailops_dev",
        "RETAILOPS_ATHENA_S3_STAGING_DIR": "s3://retailops-dev-athena-results-123456789012-eu-west-1/results/",
        "RETAILOPS_ATHENA_S3_DATA_DIR": "s3://retailops-dev-lake-123456789012-eu-west-1/curated/_dbt_tmp/",
        "RETAILOPS_AWS_REGION": "eu-west-1",
    }
    # A laptop run that sets only the bucket addresses the same deployment as the image.
    from retailops.deployment import athena_environment

    assert athena_environment({"RETAILOPS_LAKE_BUCKET": args["RETAILOPS_LAKE_BUCKET"]}) == args
    # Every build arg is declared by the Dockerfile, and every one it declares is passed.
    dockerfile = (REPO / "deploy" / "ecs" / "Dockerfile").read_text()
    assert set(re.findall(r"^ARG (\w+)", dockerfile, re.M)) == set(args)


def test_an_sso_role_operator_needs_no_mfa_flag_and_an_iam_user_does(tmp_path: Path):
    def iam_call(principal: str, folder: Path) -> list[str]:
        folder.mkdir()
        out, calls = run_deploy(folder, OPERATOR_PRINCIPAL_ARN=principal)
        assert out.returncode == 0, out.stderr
        return next(c for c in calls if "retailops-iam" in c)

    role = iam_call(OPERATOR, tmp_path / "role")
    assert f"OperatorPrincipalArn={OPERATOR}" in role and "RequireMfaForOperator=false" in role
    user = iam_call("arn:aws:iam::123456789012:user/alice", tmp_path / "user")
    assert "RequireMfaForOperator=true" in user


def test_a_missing_stack_output_stops_the_deploy_before_the_image_is_built(tmp_path: Path):
    make_stubs(tmp_path)
    # A stand-in whose catalog stack has no DatabasePrefix output (an older stack).
    stub = (tmp_path / "aws").read_text().replace('"DatabasePrefix": prefix.replace("-", "_")', '"Nothing": ""')
    (tmp_path / "aws").write_text(stub)
    out, calls = run_deploy(tmp_path, stubs=False)
    assert out.returncode == 2
    assert "no DatabasePrefix output on stack retailops-catalog" in out.stderr
    assert not [c for c in calls if c[:2] == ["docker", "build"]]
