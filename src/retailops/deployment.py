"""The names of one AWS deployment, and the environment a run with ``--env aws`` needs.

Every physical name of a deployment derives from its ``Prefix`` (the CloudFormation parameter,
e.g. ``retailops-dev``), by the rules the templates in ``deploy/cfn/`` apply:

- buckets ``<prefix>-lake-<account>-<region>`` and ``<prefix>-athena-results-<account>-<region>``;
- Glue databases ``<prefix with - as _>_raw``, ``_staging``, ``_marts`` (Glue allows no ``-``);
- the Athena workgroup ``<prefix>``.

``athena_environment`` turns what a caller set into the complete set of ``RETAILOPS_*``
variables that ``conf/aws`` and dbt's ``athena`` profile read. The container image has them all
(deploy.sh bakes them in at build time). A laptop usually sets only ``RETAILOPS_LAKE_BUCKET``:
the prefix, account and region are read back from the bucket's name. When that cannot be done
the run stops with one line naming the variable to set; it never falls back to Athena's
``primary`` workgroup, which the deployment's IAM policy does not grant.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from kedro.framework.hooks import hook_impl

from retailops.errors import RetailOpsError

PREFIX_PATTERN = re.compile(r"^[a-z][a-z0-9-]{2,20}$")  # the templates' AllowedPattern
LAKE_BUCKET_PATTERN = re.compile(
    r"^(?P<prefix>[a-z][a-z0-9-]{2,20})-lake-(?P<account>\d{12})-(?P<region>[a-z]{2}(?:-[a-z]+)+-\d)$")

# The variables, one spelling each (conf/aws, dbt_athena/profiles.yml, deploy/ecs/Dockerfile).
PREFIX = "RETAILOPS_PREFIX"
LAKE_BUCKET = "RETAILOPS_LAKE_BUCKET"
WORK_GROUP = "RETAILOPS_ATHENA_WORK_GROUP"
SCHEMA = "RETAILOPS_ATHENA_SCHEMA"
STAGING_DIR = "RETAILOPS_ATHENA_S3_STAGING_DIR"
DATA_DIR = "RETAILOPS_ATHENA_S3_DATA_DIR"
REGION = "RETAILOPS_AWS_REGION"
VARIABLES = (PREFIX, LAKE_BUCKET, WORK_GROUP, SCHEMA, STAGING_DIR, DATA_DIR, REGION)


class DeploymentConfigError(RetailOpsError):
    """A run with ``--env aws`` cannot tell which deployment (bucket, workgroup, databases) to use."""


def database_prefix(prefix: str) -> str:
    """The Glue databases' prefix: ``retailops-dev`` -> ``retailops_dev``."""
    return prefix.replace("-", "_")


def deployment_names(prefix: str, account: str, region: str) -> dict[str, Any]:
    """Every name the templates give a deployment, by their rules."""
    if not PREFIX_PATTERN.match(prefix):
        raise DeploymentConfigError(
            f"prefix {prefix!r} is not a deployment prefix (lower-case letters, digits and -, "
            "3 to 21 characters, starting with a letter)")
    glue = database_prefix(prefix)
    return {
        "prefix": prefix,
        "lake_bucket": f"{prefix}-lake-{account}-{region}",
        "athena_results_bucket": f"{prefix}-athena-results-{account}-{region}",
        "access_log_bucket": f"{prefix}-access-logs-{account}-{region}",
        "database_prefix": glue,
        "databases": {layer: f"{glue}_{layer}" for layer in ("raw", "staging", "marts")},
        "workgroup": prefix,
        "region": region,
        "account": account,
    }


def athena_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The ``RETAILOPS_*`` variables of an ``--env aws`` run: those set win, the rest derived.

    Raises ``DeploymentConfigError`` naming the variable to set when a value can be neither
    read nor derived."""
    env = os.environ if environ is None else environ
    given = {name: env[name].strip() for name in VARIABLES if env.get(name, "").strip()}
    bucket = given.get(LAKE_BUCKET)
    if not bucket:
        raise DeploymentConfigError(
            f"{LAKE_BUCKET} is not set: the aws environment needs the deployment's lake bucket "
            "(the LakeBucketName output of the <prefix>-lake stack)")
    parsed = LAKE_BUCKET_PATTERN.match(bucket)
    prefix = given.get(PREFIX) or (parsed.group("prefix") if parsed else None)
    region = (given.get(REGION) or (parsed.group("region") if parsed else None)
              or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"))

    def missing(name: str, derivable_from: str) -> DeploymentConfigError:
        return DeploymentConfigError(
            f"{name} is not set and cannot be derived: the lake bucket {bucket!r} is not named "
            f"<prefix>-lake-<account>-<region> as deploy/cfn/01-lake.yaml names it; set "
            f"{derivable_from}")

    if prefix is not None and not PREFIX_PATTERN.match(prefix):
        raise DeploymentConfigError(f"{PREFIX} {prefix!r} is not a deployment prefix "
                                    "(lower-case letters, digits and -, 3 to 21 characters)")
    result = dict(given)
    if WORK_GROUP not in result:
        if prefix is None:
            raise missing(WORK_GROUP, f"{PREFIX} (the deployment's Prefix) or {WORK_GROUP}")
        result[WORK_GROUP] = prefix
    if SCHEMA not in result:
        if prefix is None:
            raise missing(SCHEMA, f"{PREFIX} (the deployment's Prefix) or {SCHEMA}")
        result[SCHEMA] = database_prefix(prefix)
    if STAGING_DIR not in result:
        if not parsed:
            raise missing(STAGING_DIR, f"{STAGING_DIR} (s3://<AthenaResultsBucketName>/results/)")
        names = deployment_names(prefix or parsed.group("prefix"), parsed.group("account"),
                                 parsed.group("region"))
        result[STAGING_DIR] = f"s3://{names['athena_results_bucket']}/results/"
    if DATA_DIR not in result:
        result[DATA_DIR] = f"s3://{bucket}/curated/_dbt_tmp/"
    if REGION not in result:
        if region is None:
            raise missing(REGION, f"{REGION} or AWS_REGION")
        result[REGION] = region
    if prefix is not None:
        result.setdefault(PREFIX, prefix)
    return result


class DeploymentHooks:
    """Completes the environment of an ``--env aws`` run before the catalog or dbt read it
    (registered in ``settings.py``); other environments are left alone."""

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        if getattr(context, "env", None) != "aws":
            return
        for name, value in athena_environment().items():
            if not os.environ.get(name, "").strip():
                os.environ[name] = value


def parse_dbt(environ: Mapping[str, str] | None = None) -> None:
    """Parse the dbt project for this deployment, as the image build does.

    The same call as a run's ``dbt build`` (``retailops.warehouse.dbt.invoke``: target
    ``athena``, the vars ``dbt_vars`` gives for the lake), with the deployment's variables set,
    so dbt's saved parse (``target/partial_parse.msgpack``) matches every run of the image:
    the vars, the profile and the variables it reads are equal, and the per-day values
    (``RETAILOPS_RUN_DATE``, ``RETAILOPS_REBUILD_DAYS``) are read only when a model runs.
    Not a fallback: every variable must be set (the Dockerfile passes them as build args)."""
    import json

    from retailops.warehouse import dbt
    from retailops.warehouse.dbt_project import dbt_vars

    env = dict(os.environ if environ is None else environ)
    absent = [name for name in VARIABLES if not env.get(name, "").strip()]
    if absent:
        raise DeploymentConfigError(f"cannot parse dbt for a deployment: {', '.join(absent)} not set")
    lake_root = f"s3://{env[LAKE_BUCKET]}"
    result = dbt.invoke(["parse", "--vars", json.dumps(dbt_vars(lake_root))], "athena")
    if not result.success:
        raise DeploymentConfigError(f"dbt parse failed for {lake_root}: {result.exception}")


def main(argv: list[str] | None = None) -> int:
    """``python -m retailops.deployment parse-dbt`` (the image build) or ``environment``
    (print the variables of an --env aws run, as ``export`` lines)."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    try:
        if args == ["parse-dbt"]:
            parse_dbt()
        elif args == ["environment"]:
            for name, value in sorted(athena_environment().items()):
                print(f"export {name}={value}")
        else:
            print("usage: python -m retailops.deployment parse-dbt|environment", file=sys.stderr)
            return 2
    except RetailOpsError as exc:
        print(f"retailops: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
