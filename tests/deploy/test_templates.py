"""The CloudFormation templates: cfn-lint, the stack graph, and what the contract asks of them."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.deploy.cfn_render import (ACCOUNT, CFN_DIR, REGION, REPO, TEMPLATES, Renderer,
                                     iam_policies, template)
from tests.deploy.conftest import tool

DEPLOY_SH = REPO / "deploy" / "deploy.sh"
BUCKET = "retailops-lake-123456789012-eu-west-1"


def cfn_lint(*paths: Path) -> list[dict]:
    out = subprocess.run([tool("cfn-lint"), "--format", "json", *map(str, paths)],
                         capture_output=True, text=True, timeout=300)
    assert out.stdout.strip(), out.stderr
    return json.loads(out.stdout)


def test_there_is_one_template_per_concern():
    names = [path.stem for path in TEMPLATES]
    assert names == ["01-lake", "02-catalog", "03-notifications", "04-registry", "05-iam",
                     "06-compute", "07-orchestration", "08-monitoring"]


def test_cfn_lint_reports_no_errors_on_any_template():
    matches = cfn_lint(*TEMPLATES)
    errors = [m for m in matches if m["Level"] == "Error"]
    assert errors == [], "\n".join(
        f"{m['Filename']}:{m['Location']['Start']['LineNumber']} {m['Rule']['Id']} {m['Message']}"
        for m in errors)


def test_cfn_lint_would_catch_a_broken_template(tmp_path: Path):
    broken = (CFN_DIR / "06-compute.yaml").read_text().replace(
        "NetworkMode: awsvpc", "NetworkMode: awsvpcc")
    path = tmp_path / "broken.yaml"
    path.write_text(broken)
    assert any(m["Level"] == "Error" for m in cfn_lint(path))


def deploy_order() -> list[tuple[str, dict[str, str]]]:
    """(template file, parameter overrides) for each deploy_stack line of deploy.sh, in order."""
    calls = []
    lines = DEPLOY_SH.read_text().replace("\\\n", " ").splitlines()
    for line in lines:
        if not line.lstrip().startswith("deploy_stack "):
            continue  # only the calls: other lines may be prose (here-documents) or code
        words = shlex.split(line, comments=True)
        if words[:1] == ["deploy_stack"]:
            overrides = dict(w.split("=", 1) for w in words[3:])
            calls.append((words[2], overrides))
    return calls


def exports_and_imports(name: str) -> tuple[set[str], set[str]]:
    tmpl = template(name)
    renderer = Renderer(tmpl)
    exports = {renderer.render(o["Export"]["Name"]) for o in tmpl.get("Outputs", {}).values()
               if "Export" in o}
    imports: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            if set(node) == {"Fn::ImportValue"}:
                imports.add(renderer.render(node["Fn::ImportValue"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(tmpl["Resources"])
    return exports, imports


def test_deploy_script_deploys_every_template_once():
    assert sorted(t for t, _ in deploy_order()) == [p.name for p in TEMPLATES]


def test_every_import_is_exported_by_a_stack_deployed_before_it():
    exported_so_far: set[str] = set()
    for name, _ in deploy_order():
        exports, imports = exports_and_imports(name)
        missing = imports - exported_so_far
        assert not missing, f"{name} imports {sorted(missing)} before any stack exports them"
        exported_so_far |= exports


def test_deploy_script_passes_known_parameters_and_every_required_one():
    for name, overrides in deploy_order():
        params = template(name).get("Parameters", {})
        unknown = set(overrides) - set(params)
        assert not unknown, f"deploy.sh passes {sorted(unknown)} that {name} does not declare"
        required = {k for k, v in params.items() if "Default" not in v}
        assert required <= set(overrides), f"{name} needs {sorted(required - set(overrides))}"


def test_lake_bucket_is_versioned_encrypted_private_and_tls_only():
    tmpl = template("01-lake.yaml")
    lake = tmpl["Resources"]["LakeBucket"]
    props = lake["Properties"]
    assert lake["DeletionPolicy"] == "Retain"
    assert props["VersioningConfiguration"]["Status"] == "Enabled"
    sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert len(props["PublicAccessBlockConfiguration"]) == 4
    policy = Renderer(tmpl).render(tmpl["Resources"]["LakeBucketPolicy"]["Properties"]["PolicyDocument"])
    deny = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} and s["Action"] == "s3:*"
               and f"arn:aws:s3:::{BUCKET}/*" in s["Resource"] for s in deny)


def test_lake_lifecycle_moves_raw_after_30_days_and_curated_after_90():
    tmpl = template("01-lake.yaml")
    renderer = Renderer(tmpl)
    rules = {r["Prefix"]: r for r in tmpl["Resources"]["LakeBucket"]["Properties"]
             ["LifecycleConfiguration"]["Rules"] if "Prefix" in r}
    for prefix, days in {"raw/": "30", "curated/": "90"}.items():
        (transition,) = rules[prefix]["Transitions"]
        assert transition["StorageClass"] == "STANDARD_IA"
        assert renderer.render(transition["TransitionInDays"]) == days


RAW_COLUMNS = {
    "products": "product_id product_name category subcategory brand unit_cost list_price supplier_id is_perishable",
    "stores": "store_id store_name city region store_type cluster size_sqft opened_date",
    "suppliers": "supplier_id supplier_name country lead_time on_time_rate",
    # The sales file ends with dt; the table takes dt from the partition instead.
    "sales": "sale_id sold_at store_id product_id quantity unit_price discount_pct",
    "inventory": "snapshot_date store_id product_id quantity_on_hand quantity_on_order reorder_point",
    "shipments": "shipment_id line_number supplier_id store_id product_id order_date expected_date "
                 "received_date quantity_ordered quantity_received",
    "promotions": "published_date product_id start_date end_date discount_pct",
}


def glue_tables() -> dict[str, dict]:
    tmpl = template("02-catalog.yaml")
    renderer = Renderer(tmpl)
    return {r["Properties"]["TableInput"]["Name"]: renderer.render(r["Properties"])
            for r in tmpl["Resources"].values() if r["Type"] == "AWS::Glue::Table"}


@pytest.mark.parametrize("prefix, expected", [
    ("retailops", {"retailops_raw", "retailops_staging", "retailops_marts"}),
    ("retailops-dev", {"retailops_dev_raw", "retailops_dev_staging", "retailops_dev_marts"}),
])
def test_glue_databases_are_raw_staging_and_marts_named_from_the_prefix(prefix: str, expected: set[str]):
    tmpl = template("02-catalog.yaml")
    renderer = Renderer(tmpl, {"Prefix": prefix})
    names = {renderer.render(r["Properties"]["DatabaseInput"]["Name"])
             for r in tmpl["Resources"].values() if r["Type"] == "AWS::Glue::Database"}
    assert names == expected
    exported = {k: renderer.render(o["Value"]) for k, o in tmpl["Outputs"].items()}
    assert exported["DatabasePrefix"] == prefix.replace("-", "_")
    assert {exported[f"{layer}DatabaseName"] for layer in ("Raw", "Staging", "Marts")} == expected


# --- two deployments side by side ------------------------------------------------------------

# *Name properties that are not a resource's own name: labels, and references to something
# else (the metric an alarm watches, the database a table lies in: counted as database.table).
NOT_IDENTITIES = {"DisplayName", "MetricName", "DatabaseName"}


def physical_names(prefix: str) -> dict[str, set[str]]:
    """Every name a deployment with this prefix claims in an account and region, by kind:
    resources' own names (each top-level ``*Name`` property, a task family, a Glue database or
    ``database.table``), export names, and the CloudWatch metrics its metric filters write."""
    found: dict[str, set[str]] = {}

    def add(kind: str, value) -> None:
        found.setdefault(kind, set()).add(json.dumps(value, sort_keys=True))

    for path in TEMPLATES:
        tmpl = template(path.name)
        renderer = Renderer(tmpl, {"Prefix": prefix})
        for logical, resource in tmpl["Resources"].items():
            kind, props = resource["Type"], resource.get("Properties", {})
            if kind == "AWS::Glue::Table":
                add(kind, f"{renderer.render(props['DatabaseName'])}.{props['TableInput']['Name']}")
                continue
            if kind == "AWS::Glue::Database":
                add(kind, renderer.render(props["DatabaseInput"]["Name"]))
            if kind == "AWS::Logs::MetricFilter":
                for metric in renderer.render(props["MetricTransformations"]):
                    add("CloudWatch metric", [metric["MetricNamespace"], metric["MetricName"],
                                              metric.get("Dimensions")])
                continue  # its LogGroupName names the group it reads, not a resource of its own
            for key, value in props.items():
                if (key.endswith("Name") or key == "Family") and key not in NOT_IDENTITIES:
                    add(f"{kind}.{key}", renderer.render(value))
        for output in tmpl.get("Outputs", {}).values():
            if "Export" in output:
                add("export", renderer.render(output["Export"]["Name"]))
    return found


def test_two_deployments_share_no_physical_name():
    dev, prod = physical_names("retailops-dev"), physical_names("retailops-prod")
    assert set(dev) == set(prod)
    # The kinds the brief names must all be there (a template change that drops a name from
    # the walk would otherwise make this test vacuous).
    assert {"AWS::S3::Bucket.BucketName", "AWS::Glue::Database", "AWS::Glue::Table",
            "AWS::Athena::WorkGroup.Name", "AWS::ECS::Cluster.ClusterName",
            "AWS::ECS::TaskDefinition.Family", "AWS::Logs::LogGroup.LogGroupName",
            "AWS::StepFunctions::StateMachine.StateMachineName",
            "AWS::ECR::Repository.RepositoryName", "AWS::SNS::Topic.TopicName", "export"} <= set(dev)
    shared = {kind: sorted(dev[kind] & prod[kind]) for kind in dev if dev[kind] & prod[kind]}
    assert shared == {}, f"names two deployments would both claim: {shared}"


def test_the_physical_names_follow_the_python_naming_rule():
    """retailops.deployment derives a laptop run's names from the lake bucket: it must name
    what the templates create."""
    from retailops.deployment import deployment_names

    names = deployment_names("retailops-dev", ACCOUNT, REGION)
    found = physical_names("retailops-dev")
    buckets = {json.loads(b) for b in found["AWS::S3::Bucket.BucketName"]}
    assert {names["lake_bucket"], names["athena_results_bucket"], names["access_log_bucket"]} == buckets
    assert {json.loads(d) for d in found["AWS::Glue::Database"]} == set(names["databases"].values())
    assert {json.loads(w) for w in found["AWS::Athena::WorkGroup.Name"]} == {names["workgroup"]}


def test_iam_grants_only_the_deployments_own_glue_databases():
    for prefix in ("retailops-dev", "retailops"):
        glue = prefix.replace("-", "_")
        tmpl = template("05-iam.yaml")
        renderer = Renderer(tmpl, {"Prefix": prefix})
        text = json.dumps([renderer.render(r["Properties"]) for r in tmpl["Resources"].values()])
        databases = set(re.findall(r":(?:database|table)/([a-z0-9_]+)", text))
        assert databases == {f"{glue}_raw", f"{glue}_staging", f"{glue}_marts"}, databases


@pytest.mark.parametrize("table", sorted(RAW_COLUMNS))
def test_raw_table_reads_the_contract_columns_as_strings_with_opencsvserde(table: str):
    props = glue_tables()[table]
    assert props["DatabaseName"] == "retailops_raw"
    table_input = props["TableInput"]
    sd = table_input["StorageDescriptor"]
    assert [c["Name"] for c in sd["Columns"]] == RAW_COLUMNS[table].split()
    assert {c["Type"] for c in sd["Columns"]} == {"string"}
    assert sd["SerdeInfo"]["SerializationLibrary"] == "org.apache.hadoop.hive.serde2.OpenCSVSerde"
    assert sd["SerdeInfo"]["Parameters"] == {"separatorChar": ",", "quoteChar": '"', "escapeChar": "\\"}
    assert table_input["Parameters"]["skip.header.line.count"] == "1"
    assert sd["Location"] == f"s3://{BUCKET}/raw/{table}/"


@pytest.mark.parametrize("table", ["sales", "inventory", "shipments", "promotions"])
def test_fact_table_projects_dt_daily_from_2024_07_01_to_now(table: str):
    table_input = glue_tables()[table]["TableInput"]
    assert table_input["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
    params = table_input["Parameters"]
    assert params["projection.enabled"] == "true"
    assert params["projection.dt.type"] == "date"
    assert params["projection.dt.range"] == "2024-07-01,NOW"
    assert params["projection.dt.format"] == "yyyy-MM-dd"
    assert params["storage.location.template"] == f"s3://{BUCKET}/raw/{table}/dt=${{dt}}/"


def test_manifests_table_reads_the_manifest_json_per_table_and_day():
    table_input = glue_tables()["manifests"]["TableInput"]
    params = table_input["Parameters"]
    assert [k["Name"] for k in table_input["PartitionKeys"]] == ["table_name", "dt"]
    assert params["projection.table_name.type"] == "enum"
    assert params["projection.table_name.values"] == "sales,inventory,shipments,promotions"
    assert params["projection.dt.range"] == "2024-07-01,NOW"
    assert params["storage.location.template"] == (
        f"s3://{BUCKET}/metadata/manifests/${{table_name}}/dt=${{dt}}/")
    sd = table_input["StorageDescriptor"]
    assert sd["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    columns = {c["Name"]: c["Type"] for c in sd["Columns"]}
    assert columns == {"manifest_table": "string", "manifest_dt": "string", "rows": "bigint",
                       "sha256": "string", "written_at": "string", "generator_version": "string"}
    mapping = sd["SerdeInfo"]["Parameters"]
    # A truncated manifest reads as nulls (stg_manifests leaves it out) instead of failing
    # every query that touches the manifests.
    assert mapping == {"mapping.manifest_table": "table", "mapping.manifest_dt": "dt",
                       "ignore.malformed.json": "true"}


def test_defect_tables_read_the_ledger_columns():
    tables = glue_tables()
    expected = "defect_dt table_name defect_type record_key column_name recorded_value true_value".split()
    daily = tables["defects"]["TableInput"]
    assert [c["Name"] for c in daily["StorageDescriptor"]["Columns"]] == expected
    assert daily["Parameters"]["storage.location.template"] == f"s3://{BUCKET}/metadata/defects/dt=${{dt}}/"
    dims = tables["dimension_defects"]["TableInput"]
    assert [c["Name"] for c in dims["StorageDescriptor"]["Columns"]] == expected
    assert dims["StorageDescriptor"]["Location"] == f"s3://{BUCKET}/metadata/defects/dimensions/"


def test_workgroup_enforces_its_result_location_sse_s3_and_metrics():
    tmpl = template("02-catalog.yaml")
    config = Renderer(tmpl).render(tmpl["Resources"]["WorkGroup"]["Properties"])["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["PublishCloudWatchMetricsEnabled"] is True
    assert config["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"] == "SSE_S3"
    assert config["ResultConfiguration"]["OutputLocation"] == (
        "s3://retailops-athena-results-123456789012-eu-west-1/results/")


FARGATE_SIZES = {"256": {512, 1024, 2048}, "512": set(range(1024, 4097, 1024)),
                 "1024": set(range(2048, 8193, 1024)), "2048": set(range(4096, 16385, 1024)),
                 "4096": set(range(8192, 30721, 1024))}


def test_task_definition_is_fargate_with_a_valid_size_and_sets_no_deployment_name():
    tmpl = template("06-compute.yaml")
    props = Renderer(tmpl).render(tmpl["Resources"]["TaskDefinition"]["Properties"])
    assert props["RequiresCompatibilities"] == ["FARGATE"] and props["NetworkMode"] == "awsvpc"
    assert int(props["Memory"]) in FARGATE_SIZES[props["Cpu"]]
    (container,) = props["ContainerDefinitions"]
    # The image carries the deployment's names (dbt was parsed with them at build time): a
    # value set here could only disagree with that parse.
    from retailops.deployment import VARIABLES

    env = {e["Name"] for e in container.get("Environment", [])}
    assert not env & {*VARIABLES, "AWS_REGION", "AWS_DEFAULT_REGION", "RETAILOPS_DBT_TARGET"}, env
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    # Every pair the stack's Rules allow is a real Fargate size.
    rule = tmpl["Rules"]["ValidFargateSize"]["Assertions"][0]["Assert"]["Fn::Or"]
    for branch in rule:
        cpu = branch["Fn::And"][0]["Fn::Equals"][1]
        memories = branch["Fn::And"][1]["Fn::Contains"][0]
        assert {int(m) for m in memories} <= FARGATE_SIZES[cpu], cpu


def test_log_groups_keep_logs_for_a_bounded_time():
    for name in ["06-compute.yaml", "07-orchestration.yaml"]:
        tmpl = template(name)
        groups = [r for r in tmpl["Resources"].values() if r["Type"] == "AWS::Logs::LogGroup"]
        assert groups and all("RetentionInDays" in g["Properties"] for g in groups)


def test_schedule_runs_daily_at_0600_utc_and_targets_the_state_machine():
    rule = template("07-orchestration.yaml")["Resources"]["DailySchedule"]["Properties"]
    assert rule["ScheduleExpression"] == "cron(0 6 * * ? *)"
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Ref": "DailyRun"}
    assert "Input" not in target and "InputTransformer" not in target, "the event (with time) must pass through"


def test_failure_topic_has_the_email_subscription_and_the_alarms_notify_it():
    # Which alarm covers which failure (and that none mails a failed execution twice):
    # tests/deploy/test_orchestration_alarms.py.
    notifications = template("03-notifications.yaml")["Resources"]
    sub = notifications["FailureEmailSubscription"]["Properties"]
    assert sub["Protocol"] == "email" and sub["Endpoint"] == {"Ref": "AlertEmail"}
    alarms = {name: r["Properties"] for name, r in template("08-monitoring.yaml")["Resources"].items()
              if r["Type"] in ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm")}
    notifying = {name for name, a in alarms.items() if a.get("AlarmActions")}
    assert notifying and all(alarms[name]["AlarmActions"] == [
        {"Fn::ImportValue": {"Fn::Sub": "${Prefix}-FailureTopicArn"}}] for name in notifying)


def test_dashboard_shows_executions_task_failures_and_recent_errors():
    tmpl = template("08-monitoring.yaml")
    body = json.loads(Renderer(tmpl).render(tmpl["Resources"]["Dashboard"]["Properties"]["DashboardBody"]))
    widgets = body["widgets"]
    metrics = json.dumps([w["properties"].get("metrics") for w in widgets if w["type"] == "metric"])
    assert "ExecutionsFailed" in metrics and "ServiceIntegrationsFailed" in metrics
    (logs,) = [w for w in widgets if w["type"] == "log"]
    assert re.match(r"SOURCE '/ecs/retailops-daily' \|", logs["properties"]["query"])


def test_step_functions_may_tag_the_tasks_it_runs_because_the_task_definition_propagates_tags():
    # deploy.sh tags every stack, and the task definition passes its tags on to each task, so
    # RunTask creates a tagged resource and is authorised as ecs:TagResource as well.
    statements = [s for name, doc in iam_policies(template("05-iam.yaml")).items()
                  if name.startswith("StateMachineRole/")
                  for s in doc["Statement"]]
    tagging = [s for s in statements if "ecs:TagResource" in (
        s["Action"] if isinstance(s["Action"], list) else [s["Action"]])]
    assert tagging, "the Step Functions role cannot tag the tasks RunTask creates"
    assert all(s["Condition"]["StringEquals"]["ecs:CreateAction"] == "RunTask" for s in tagging)
    assert all(":task/" in s["Resource"] for s in tagging)


def test_deploy_script_builds_the_image_for_the_task_definitions_architecture():
    compute = template("06-compute.yaml")["Resources"]
    task_definition = next(r for r in compute.values() if r["Type"] == "AWS::ECS::TaskDefinition")
    architecture = task_definition["Properties"]["RuntimePlatform"]["CpuArchitecture"]
    platform = {"X86_64": "linux/amd64", "ARM64": "linux/arm64"}[architecture]
    build = next(line for line in DEPLOY_SH.read_text().splitlines()
                 if line.strip().startswith("docker build"))
    assert f"--platform {platform}" in build


def test_the_build_context_holds_only_what_the_dockerfile_copies():
    import fnmatch

    rules = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]

    def sent(path: str) -> bool:
        """Docker's rule: the last matching pattern wins; `!` re-includes."""
        included = True
        for rule in rules:
            negated, pattern = rule.startswith("!"), rule.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
                included = negated
        return included

    dockerfile = (REPO / "deploy" / "ecs" / "Dockerfile").read_text()
    sources = [w for line in dockerfile.splitlines() if line.startswith(("COPY ", "ADD "))
               for w in line.split()[1:-1] if not w.startswith("--")]
    for source in sources:
        example = source.replace("*", "0.1.0") if "*" in source else source
        assert sent(example), f".dockerignore leaves out {source}, which the Dockerfile copies"
    for private in (".venv/bin/python", ".git/HEAD", "data/lake/raw/sales/x.csv",
                    "dbt_athena/target/manifest.json", "tests/conftest.py"):
        assert not sent(private), f"{private} would be sent to the Docker build context"
