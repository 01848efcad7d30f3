"""Read the CloudFormation templates and render what the offline linters need.

CloudFormation resolves intrinsic functions only in an account; here they are resolved against
a fixed fake account so the IAM policies and the state machine definition can be linted and run.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml

REPO = Path(__file__).resolve().parents[2]
CFN_DIR = REPO / "deploy" / "cfn"
TEMPLATES = sorted(CFN_DIR.glob("*.yaml"))

ACCOUNT = "123456789012"
REGION = "eu-west-1"
PREFIX = "retailops"
PSEUDO = {"AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": "aws",
          "AWS::StackName": "retailops-test", "AWS::URLSuffix": "amazonaws.com"}


def plain(node: Any) -> Any:
    """cfn-lint's decoded nodes as plain dicts, lists and strings."""
    if isinstance(node, dict):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    return node


def load_template(path: Path) -> dict[str, Any]:
    return plain(cfn_yaml.load(str(path)))


def template(name: str) -> dict[str, Any]:
    return load_template(CFN_DIR / name)


def fake_import(name: str) -> str:
    """A plausible value for an export of another RetailOps stack, ``<prefix>-<Key>``: the
    value the exporting template gives it for that prefix (export keys hold no ``-``)."""
    prefix, key = name.rsplit("-", 1)
    return _fake_export(prefix, key)


def _fake_export(prefix: str, key: str) -> str:
    glue = prefix.replace("-", "_")
    values = {
        "LakeBucketName": f"{prefix}-lake-{ACCOUNT}-{REGION}",
        "LakeBucketArn": f"arn:aws:s3:::{prefix}-lake-{ACCOUNT}-{REGION}",
        "AthenaResultsBucketName": f"{prefix}-athena-results-{ACCOUNT}-{REGION}",
        "AthenaResultsBucketArn": f"arn:aws:s3:::{prefix}-athena-results-{ACCOUNT}-{REGION}",
        "RepositoryArn": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{prefix}",
        "RepositoryUri": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{prefix}",
        "FailureTopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:{prefix}-run-failed",
        "SuccessTopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:{prefix}-run-succeeded",
        "TopicKeyArn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "ClusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{prefix}",
        "TaskDefinitionFamily": f"{prefix}-daily",
        "ContainerName": "pipeline",
        "TaskSecurityGroupId": "sg-0123456789abcdef0",
        "WorkGroupName": prefix,
        "TaskLogGroupName": f"/ecs/{prefix}-daily",
        "StateMachineArn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{prefix}-daily",
        "DatabasePrefix": glue,
        "RawDatabaseName": f"{glue}_raw",
        "StagingDatabaseName": f"{glue}_staging",
        "MartsDatabaseName": f"{glue}_marts",
    }
    if key.endswith("RoleArn"):
        return f"arn:aws:iam::{ACCOUNT}:role/{prefix}-{key.removesuffix('RoleArn').lower()}"
    return values.get(key, f"fake-{key}")


class Renderer:
    """Resolves Ref, Sub, GetAtt, ImportValue, Join and If with parameter defaults."""

    def __init__(self, tmpl: dict[str, Any], parameters: dict[str, str] | None = None):
        self.tmpl = tmpl
        # Parameters without a default get a recognisable test value (e.g. the operator user).
        self.params = {k: str(v.get("Default", f"test-{k.lower()}"))
                       for k, v in tmpl.get("Parameters", {}).items()}
        self.params.update(parameters or {})

    def ref(self, name: str) -> str:
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.params:
            return self.params[name]
        resource = self.tmpl["Resources"][name]
        if resource["Type"] == "AWS::S3::Bucket":
            return self.render(resource["Properties"]["BucketName"])
        if resource["Type"] == "AWS::Glue::Database":
            return self.render(resource["Properties"]["DatabaseInput"]["Name"])
        if resource["Type"] == "AWS::IAM::ManagedPolicy":
            return f"arn:aws:iam::{ACCOUNT}:policy/{name}"
        return f"fake-ref-{name}"

    def condition(self, name: str) -> bool:
        return bool(self.render(self.tmpl["Conditions"][name]))

    def render(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.render(v) for v in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, value), = node.items()
            if key == "Ref":
                return NO_VALUE if value == "AWS::NoValue" else self.ref(value)
            if key == "Fn::GetAtt":
                resource, attribute = value if isinstance(value, list) else value.split(".", 1)
                kind = self.tmpl["Resources"][resource]["Type"]
                if attribute == "Arn" and kind == "AWS::IAM::Role":
                    return f"arn:aws:iam::{ACCOUNT}:role/{resource}"
                if attribute == "Arn" and kind == "AWS::S3::Bucket":
                    return f"arn:aws:s3:::{self.ref(resource)}"
                return f"arn:aws:fake:{REGION}:{ACCOUNT}:{resource}/{attribute}"
            if key == "Fn::ImportValue":
                return fake_import(self.render(value))
            if key == "Fn::Join":
                return self.render(value[0]).join(self.render(value[1]))
            if key == "Fn::Split":
                return self.render(value[1]).split(self.render(value[0]))
            if key == "Fn::Sub":
                text, extra = (value, {}) if isinstance(value, str) else (value[0], value[1])
                local = {k: self.render(v) for k, v in extra.items()}
                return self.substitute(text, local)
            if key == "Fn::If":
                branch = value[1] if self.condition(value[0]) else value[2]
                return self.render(branch)
            if key == "Fn::Equals":
                return self.render(value[0]) == self.render(value[1])
            if key == "Fn::Not":
                return not self.render(value[0])
        rendered = {k: self.render(v) for k, v in node.items()}
        return {k: v for k, v in rendered.items() if v is not NO_VALUE}

    def substitute(self, text: str, local: dict[str, str]) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in local:
                return local[name]
            if "." in name:
                return self.render({"Fn::GetAtt": name.split(".", 1)})
            return self.ref(name)
        return re.sub(r"\$\{([^}]+)\}", one, text)


NO_VALUE = object()


def iam_policies(tmpl: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every identity policy document of a template, rendered, keyed by resource and name."""
    renderer = Renderer(tmpl)
    found: dict[str, dict[str, Any]] = {}
    for name, resource in tmpl.get("Resources", {}).items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Glue::Database":
            return self.render(resource["Properties"]["DatabaseInput"]["Name"])
        if resource["Type"] == "AWS::IAM::ManagedPolicy":
            found[name] = renderer.render(props["PolicyDocument"])
        elif resource["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                found[f"{name}/{policy['PolicyName']}"] = renderer.render(policy["PolicyDocument"])
    return found


def trust_policies(tmpl: dict[str, Any]) -> dict[str, dict[str, Any]]:
    renderer = Renderer(tmpl)
    return {name: renderer.render(r["Properties"]["AssumeRolePolicyDocument"])
            for name, r in tmpl["Resources"].items() if r["Type"] == "AWS::IAM::Role"}


def state_machine_definition(substitutions: dict[str, str]) -> dict[str, Any]:
    """The state machine's Definition with DefinitionSubstitutions applied, as Step Functions does."""
    machine = template("07-orchestration.yaml")["Resources"]["DailyRun"]["Properties"]
    declared = set(machine["DefinitionSubstitutions"])
    missing = declared - set(substitutions)
    assert not missing, f"no test value for substitutions {sorted(missing)}"

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {walk(k): walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, str):
            return re.sub(r"\$\{(\w+)\}", lambda m: substitutions[m.group(1)]
                          if m.group(1) in declared else m.group(0), node)
        return node

    return walk(machine["Definition"])
