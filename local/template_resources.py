"""Create the stack's stateful resources on an AWS endpoint (moto server) from
template.yaml's own definitions, so local and deployed resources cannot drift.

Only what the functions talk to is made: the table, the queues (with the DLQ redrive),
the KMS key and the schedule group. Intrinsics are resolved for the few forms the
template uses on those resources (!Ref, !GetAtt, !Sub with ${AWS::StackName}).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import boto3
import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that keeps CloudFormation short-form tags as {"Fn::X": value}."""


def _tag_constructor(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag_constructor)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    with path.open() as fh:
        return yaml.load(fh, Loader=_CfnLoader)


@dataclass(frozen=True)
class StackResources:
    """Names and URLs the functions need, as template.yaml would give them."""

    table_name: str
    events_queue_url: str
    dlq_url: str
    kms_key_id: str
    schedule_group_name: str
    scheduler_role_arn: str
    poll_function_arn: str
    region: str
    endpoint_url: str

    def function_environment(self) -> dict[str, str]:
        """The environment template.yaml gives the functions, pointed at these resources."""
        tpl = load_template()
        env: dict[str, str] = {}
        params = {k: str(v.get("Default", "")) for k, v in tpl.get("Parameters", {}).items()}
        for key, value in tpl["Globals"]["Function"]["Environment"]["Variables"].items():
            resolved = resolve_default(value, params, tpl.get("Conditions", {}))
            if resolved is not None:
                env[key] = resolved
        env.update(
            TABLE_NAME=self.table_name,
            EVENTS_QUEUE_URL=self.events_queue_url,
            DLQ_URL=self.dlq_url,
            KMS_KEY_ID=self.kms_key_id,
            SCHEDULE_GROUP_NAME=self.schedule_group_name,
            SCHEDULER_ROLE_ARN=self.scheduler_role_arn,
            POLL_FUNCTION_ARN=self.poll_function_arn,
            AWS_ENDPOINT_URL=self.endpoint_url,
            AWS_DEFAULT_REGION=self.region,
            AWS_REGION=self.region,
            # No X-Ray daemon here: Powertools must neither load the SDK nor seek a segment.
            POWERTOOLS_TRACE_DISABLED="true",
        )
        return env

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def _resources_of(tpl: dict[str, Any], cfn_type: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in tpl["Resources"].items() if res["Type"] == cfn_type}


def create_stack_resources(
    endpoint_url: str,
    *,
    stack_name: str | None = None,
    region: str = "us-east-1",
    template_path: Path = TEMPLATE,
) -> StackResources:
    """Make the table, queues, key and schedule group on ``endpoint_url``."""
    stack = stack_name or f"bcpoll-{uuid.uuid4().hex[:8]}"
    tpl = load_template(template_path)
    kw: dict[str, Any] = {"endpoint_url": endpoint_url, "region_name": region}
    ddb, kms = boto3.client("dynamodb", **kw), boto3.client("kms", **kw)
    sqs: Any = boto3.client("sqs", **kw)
    scheduler = boto3.client("scheduler", **kw)

    ((table_logical, table_res),) = _resources_of(tpl, "AWS::DynamoDB::Table").items()
    props = table_res["Properties"]
    table_name = f"{stack}-{table_logical}"
    create: dict[str, Any] = {
        "TableName": table_name,
        "BillingMode": props["BillingMode"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
    }
    if props.get("GlobalSecondaryIndexes"):
        create["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    ddb.create_table(**create)
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        ddb.update_time_to_live(TableName=table_name, TimeToLiveSpecification=ttl)

    queues = _resources_of(tpl, "AWS::SQS::Queue")
    urls: dict[str, str] = {}
    arns: dict[str, str] = {}
    # Queues without a redrive policy first: the others point at them.
    for logical in sorted(queues, key=lambda n: "RedrivePolicy" in queues[n].get("Properties", {})):
        qprops = queues[logical].get("Properties", {})
        attrs: dict[str, Any] = {}
        for key in ("VisibilityTimeout", "MessageRetentionPeriod"):
            if key in qprops:
                attrs[key] = str(qprops[key])
        redrive = qprops.get("RedrivePolicy")
        if redrive:
            target = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
            attrs["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": arns[target], "maxReceiveCount": int(redrive["maxReceiveCount"])}
            )
        url = sqs.create_queue(QueueName=f"{stack}-{logical}", Attributes=attrs)["QueueUrl"]
        urls[logical] = url
        arns[logical] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]

    ((key_logical, key_res),) = _resources_of(tpl, "AWS::KMS::Key").items()
    key_id = kms.create_key(Description=key_res["Properties"].get("Description", key_logical))["KeyMetadata"][
        "KeyId"
    ]

    if not _resources_of(tpl, "AWS::Scheduler::ScheduleGroup"):
        raise ValueError("template.yaml has no AWS::Scheduler::ScheduleGroup")
    group_name = f"{stack}-polls"
    scheduler.create_schedule_group(Name=group_name)

    account = "123456789012"
    return StackResources(
        table_name=table_name,
        events_queue_url=urls["EventsQueue"],
        dlq_url=urls["EventsDLQ"],
        kms_key_id=key_id,
        schedule_group_name=group_name,
        scheduler_role_arn=f"arn:aws:iam::{account}:role/{stack}-SchedulerRole",
        poll_function_arn=f"arn:aws:lambda:{region}:{account}:function:{stack}-PollFunction",
        region=region,
        endpoint_url=endpoint_url,
    )


def resolve_default(value: Any, params: dict[str, str], conditions: dict[str, Any]) -> str | None:
    """A template value as the stack's parameter defaults make it: a literal, a Ref to a
    parameter, or an Fn::If on an Fn::Equals condition of those; None for anything else
    (a resource's Ref or attribute, which the local resources supply)."""
    if not isinstance(value, dict):
        return str(value)
    if "Ref" in value:
        return params.get(value["Ref"])
    if "Fn::If" in value:
        name, when_true, when_false = value["Fn::If"]
        return resolve_default(
            when_true if _condition(conditions.get(name), params) else when_false, params, conditions
        )
    return None


def _condition(spec: Any, params: dict[str, str]) -> bool:
    if not isinstance(spec, dict) or "Fn::Equals" not in spec:
        raise ValueError(f"template condition {spec!r}: only Fn::Equals is understood locally")
    left, right = (resolve_default(side, params, {}) for side in spec["Fn::Equals"])
    return left == right
