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


def athena_environment(environ: Mapping[str, str] | None = None,
                       strict: bool = True) -> dict[str, str]:
    """The ``RETAILOPS_*`` variables of an ``--env aws`` run: those set win, the rest derived.

    Raises ``DeploymentConfigError`` naming the variable to set when a value can be neither
    read nor derived; with ``strict=False`` such values are left out instead."""
    values, problems = _derive(os.environ if environ is None else environ)
    if strict and problems:
        raise DeploymentConfigError(problems[0])
    return values


def _derive(env: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """(the variables known or derivable, one sentence per variable that is neither)."""
    values = {name: env[name].strip() for name in VARIABLES if env.get(name, "").strip()}
    bucket = values.get(LAKE_BUCKET)
    if not bucket:
        return values, [f"{LAKE_BUCKET} is not set: the aws environment needs the deployment's "
                        "lake bucket (the LakeBucketName output of the <prefix>-lake stack)"]
    parsed = LAKE_BUCKET_PATTERN.match(bucket)
    prefix = values.get(PREFIX) or (parsed.group("prefix") if parsed else None)
    if prefix is not None and not PREFIX_PATTERN.match(prefix):
        return values, [f"{PREFIX} {prefix!r} is not a deployment prefix (lower-case letters, "
                        "digits and -, 3 to 21 characters, starting with a letter)"]
    region = (parsed.group("region") if parsed else None) or env.get("AWS_REGION") \
        or env.get("AWS_DEFAULT_REGION")
    derived = {
        PREFIX: prefix,
        WORK_GROUP: prefix,
        SCHEMA: database_prefix(prefix) if prefix else None,
        STAGING_DIR: (f"s3://{parsed.group('prefix')}-athena-results-{parsed.group('account')}-"
                      f"{parsed.group('region')}/results/") if parsed else None,
        DATA_DIR: f"s3://{bucket}/curated/_dbt_tmp/",
        REGION: region,
    }
    how = {WORK_GROUP: f"{PREFIX} (the deployment's Prefix) or {WORK_GROUP}",
           SCHEMA: f"{PREFIX} (the deployment's Prefix) or {SCHEMA}",
           STAGING_DIR: f"{STAGING_DIR} (s3://<AthenaResultsBucketName>/results/)",
           REGION: f"{REGION} or AWS_REGION"}
    problems = []
    for name, value in derived.items():
        if name in values:
            continue
        if value is not None:
            values[name] = value
        elif name in how:
            problems.append(
                f"{name} is not set and cannot be derived: the lake bucket {bucket!r} is not "
                f"named <prefix>-lake-<account>-<region> as deploy/cfn/01-lake.yaml names it; "
                f"set {how[name]}")
    return values, problems


# Catalog entries that are the Athena warehouse: a pipeline reading one needs the
# deployment's workgroup and databases (ingest alone needs only the bucket).
WAREHOUSE_DATASETS = frozenset({"warehouse", "serving_warehouse"})


class DeploymentHooks:
    """Completes the environment of an ``--env aws`` run before the catalog or dbt read it,
    and stops a run that needs Athena when the deployment's names are unknown (registered in
    ``settings.py``); other environments are left alone."""

    def __init__(self) -> None:
        self._aws = False

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self._aws = getattr(context, "env", None) == "aws"
        if not self._aws:
            return
        for name, value in athena_environment(strict=False).items():
            if not os.environ.get(name, "").strip():
                os.environ[name] = value

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        """One line naming the variable to set, before a node runs, instead of a query in
        some other workgroup (Athena's ``primary``) or database."""
        del run_params, catalog
        if self._aws and WAREHOUSE_DATASETS & set(pipeline.datasets()):
            athena_environment()


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
    result = dbt.invoke(["parse", "--vars", json.dumps(dbt_vars(lake_root))], "athena",
                        env={name: env[name] for name in VARIABLES})
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
