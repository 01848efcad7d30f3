#!/usr/bin/env bash
# Deploy RetailOps to one AWS account and region: the stacks in dependency order, the project
# image, then the compute, orchestration and monitoring stacks that use it.
#
#   ALERT_EMAIL=ops@example.com \
#   OPERATOR_PRINCIPAL_ARN=arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_DataOps_* \
#   VPC_ID=vpc-0123 SUBNET_IDS=subnet-0aaa,subnet-0bbb \
#   AWS_REGION=eu-west-1 deploy/deploy.sh
#
# Optional: PREFIX (retailops; every name of the deployment derives from it, so two prefixes
# are two independent deployments), SUCCESS_EMAIL, ASSIGN_PUBLIC_IP (ENABLED), SCHEDULE_STATE
# (ENABLED), REQUIRE_MFA (true for an IAM user ARN, false for a role: SSO sessions carry no MFA
# flag), TASK_CPU (1024), TASK_MEMORY (2048), IMAGE_TAG (git commit), KEDRO (kedro, or
# .venv/bin/kedro when present). Needs the aws CLI v2, docker and git.
set -euo pipefail

fail() { echo "deploy.sh: error: $*" >&2; exit 2; }
require() { [[ -n "${!1:-}" ]] || fail "$1 is not set ($2)"; }

require ALERT_EMAIL "address for failed-run notifications"
require OPERATOR_PRINCIPAL_ARN "ARN of the IAM user or role (SSO permission set role, wildcards allowed) that may assume the pipeline role"
require VPC_ID "VPC of the ECS task"
require SUBNET_IDS "comma-separated subnets of the ECS task"
require AWS_REGION "region to deploy to"

PREFIX="${PREFIX:-retailops}"
SUCCESS_EMAIL="${SUCCESS_EMAIL:-}"
ASSIGN_PUBLIC_IP="${ASSIGN_PUBLIC_IP:-ENABLED}"
SCHEDULE_STATE="${SCHEDULE_STATE:-ENABLED}"
if [[ "$OPERATOR_PRINCIPAL_ARN" == *":role/"* ]]; then REQUIRE_MFA="${REQUIRE_MFA:-false}"; else REQUIRE_MFA="${REQUIRE_MFA:-true}"; fi
TASK_CPU="${TASK_CPU:-1024}"
TASK_MEMORY="${TASK_MEMORY:-2048}"
export AWS_REGION AWS_DEFAULT_REGION="$AWS_REGION"
export KEDRO_DISABLE_TELEMETRY=1 DO_NOT_TRACK=1

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
if [[ -z "${KEDRO:-}" ]]; then
  if [[ -x .venv/bin/kedro ]]; then KEDRO=.venv/bin/kedro; else KEDRO=kedro; fi
fi

deploy_stack() {  # deploy_stack <name> <template> [Key=Value ...]
  local name="$1" template="$2"
  shift 2
  echo "==> stack ${PREFIX}-${name} (deploy/cfn/${template})"
  aws cloudformation deploy \
    --stack-name "${PREFIX}-${name}" \
    --template-file "deploy/cfn/${template}" \
    --capabilities CAPABILITY_IAM \
    --no-fail-on-empty-changeset \
    --tags "project=${PREFIX}" \
    --parameter-overrides "Prefix=${PREFIX}" "$@"
}

stack_output() {  # stack_output <name> <output key>: fails when the stack has no such output
  local value
  value="$(aws cloudformation describe-stacks --stack-name "${PREFIX}-$1" \
    --query "Stacks[0].Outputs[?OutputKey=='$2'].OutputValue" --output text)"
  [[ -n "$value" && "$value" != "None" ]] || fail "no $2 output on stack ${PREFIX}-$1"
  echo "$value"
}

# 1. Foundations: nothing here depends on the image.
deploy_stack lake 01-lake.yaml
deploy_stack catalog 02-catalog.yaml
deploy_stack notifications 03-notifications.yaml "AlertEmail=${ALERT_EMAIL}" "SuccessEmail=${SUCCESS_EMAIL}"
deploy_stack registry 04-registry.yaml
deploy_stack iam 05-iam.yaml "OperatorPrincipalArn=${OPERATOR_PRINCIPAL_ARN}" "RequireMfaForOperator=${REQUIRE_MFA}"

# 2. The image, one per deployment: its names are build args, dbt is parsed with them at build
# time (the Dockerfile), and a run never re-parses. Tags are immutable in ECR (one repository
# per deployment), so a tag names one commit of a clean tree built for this deployment.
if [[ -z "${IMAGE_TAG:-}" ]]; then
  [[ -z "$(git status --porcelain)" ]] || fail "the work tree has uncommitted changes: commit them or set IMAGE_TAG"
  IMAGE_TAG="$(git rev-parse --short=12 HEAD)"
fi
repository_uri="$(stack_output registry RepositoryUri)"
lake_bucket="$(stack_output lake LakeBucketName)"
results_bucket="$(stack_output lake AthenaResultsBucketName)"
work_group="$(stack_output catalog WorkGroupName)"
database_prefix="$(stack_output catalog DatabasePrefix)"
image="${repository_uri}:${IMAGE_TAG}"
if aws ecr describe-images --repository-name "${repository_uri#*/}" --image-ids "imageTag=${IMAGE_TAG}" >/dev/null 2>&1; then
  echo "==> image ${image} already pushed"
else
  echo "==> kedro package"
  rm -f dist/retailops-*.whl dist/conf-retailops.tar.gz  # the Dockerfile copies exactly one of each
  "$KEDRO" package
  echo "==> docker build ${image}"
  # The task definition runs on X86_64: build for it whatever the laptop's architecture
  # (an arm64 image fails there with "exec format error").
  docker build --platform linux/amd64 --file deploy/ecs/Dockerfile --tag "$image" \
    --build-arg "RETAILOPS_PREFIX=${PREFIX}" \
    --build-arg "RETAILOPS_LAKE_BUCKET=${lake_bucket}" \
    --build-arg "RETAILOPS_ATHENA_WORK_GROUP=${work_group}" \
    --build-arg "RETAILOPS_ATHENA_SCHEMA=${database_prefix}" \
    --build-arg "RETAILOPS_ATHENA_S3_STAGING_DIR=s3://${results_bucket}/results/" \
    --build-arg "RETAILOPS_ATHENA_S3_DATA_DIR=s3://${lake_bucket}/curated/_dbt_tmp/" \
    --build-arg "RETAILOPS_AWS_REGION=${AWS_REGION}" \
    .
  aws ecr get-login-password | docker login --username AWS --password-stdin "${repository_uri%%/*}"
  docker push "$image"
fi

# 3. What runs the image, and when.
deploy_stack compute 06-compute.yaml "VpcId=${VPC_ID}" "ImageTag=${IMAGE_TAG}" \
  "TaskCpu=${TASK_CPU}" "TaskMemory=${TASK_MEMORY}"
deploy_stack orchestration 07-orchestration.yaml "SubnetIds=${SUBNET_IDS}" \
  "AssignPublicIp=${ASSIGN_PUBLIC_IP}" "ScheduleState=${SCHEDULE_STATE}"
deploy_stack monitoring 08-monitoring.yaml

state_machine_arn="$(stack_output orchestration StateMachineArn)"
pipeline_role_arn="$(stack_output iam PipelineRoleArn)"
cat <<MSG

RetailOps is deployed (image ${image}). The daily run starts at 06:00 UTC.
Confirm the subscription e-mail sent to ${ALERT_EMAIL}.

First backfill (one execution lands and builds the whole range; then enable the schedule if
it was deployed disabled):
  aws stepfunctions start-execution --state-machine-arn ${state_machine_arn} \\
    --name backfill-\$(date -u +%Y%m%dT%H%M%S) --input '{"start_date": "2024-07-01", "end_date": "<yesterday>"}'
Re-run one day by hand:
  aws stepfunctions start-execution --state-machine-arn ${state_machine_arn} \\
    --name manual-\$(date -u +%Y%m%dT%H%M%S) --input '{"run_date": "2024-07-01"}'

Run the project from a laptop against the lake (profile with role_arn = ${pipeline_role_arn};
the workgroup and Glue databases are derived from the bucket's name):
  RETAILOPS_LAKE_BUCKET=${lake_bucket} AWS_PROFILE=${PREFIX} kedro run --env aws --pipelines daily --params run_date=2024-07-01
Runbook (daily checks, a failed run, upgrades, teardown): docs/aws.md
MSG
