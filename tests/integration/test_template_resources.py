"""The local stack's resources come from template.yaml and behave like the deployed ones."""

from __future__ import annotations

import json

import boto3

from local.template_resources import StackResources, load_template


def test_resources_follow_the_template(stack: StackResources) -> None:
    tpl = load_template()
    ddb = boto3.client("dynamodb")
    table = ddb.describe_table(TableName=stack.table_name)["Table"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["gsi1"]
    ttl = ddb.describe_time_to_live(TableName=stack.table_name)["TimeToLiveDescription"]
    assert (
        ttl["AttributeName"]
        == tpl["Resources"]["Table"]["Properties"]["TimeToLiveSpecification"]["AttributeName"]
    )

    attrs = boto3.client("sqs").get_queue_attributes(QueueUrl=stack.events_queue_url, AttributeNames=["All"])[
        "Attributes"
    ]
    queue_props = tpl["Resources"]["EventsQueue"]["Properties"]
    assert int(attrs["VisibilityTimeout"]) == queue_props["VisibilityTimeout"]
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"].endswith("EventsDLQ")
    assert redrive["maxReceiveCount"] == queue_props["RedrivePolicy"]["maxReceiveCount"]


def test_function_environment_is_the_templates(stack: StackResources) -> None:
    env = stack.function_environment()
    tpl_vars = load_template()["Globals"]["Function"]["Environment"]["Variables"]
    assert set(tpl_vars) <= set(env)
    assert env["DEFAULT_REFRESH_MINUTES"] == "5"
