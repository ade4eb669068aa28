"""Redrive of one instance's dead-lettered events (issue 17), on moto's server: the API
route, the DLQ, the dead-letter counter status shows, and delivery once per event."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import boto3
import pytest
from bcpoller.adapters import aws
from bcpoller.adapters.instance_table import InstanceTable
from bcpoller.delivery.policy import MAX_ATTEMPTS

from local.store import SimulatedStore
from local.template_resources import StackResources
from tests.integration import test_api_instances as base
from tests.integration.delivery_support import Pipeline, Receiver, Reply, make_message
from tests.integration.test_api_instances import call, new_org, oauth_seed

# The instances API's fixtures: the handler on moto's server and the simulated store.
api, store, public_dns = base.api, base.store, base.public_dns


@pytest.fixture
def pipeline(stack: StackResources) -> Iterator[Pipeline]:
    p = Pipeline(stack)
    yield p
    p.close()


def create_instance(
    api: ModuleType, org: dict[str, str], shared_dir: Path, store: SimulatedStore, code: str
) -> str:
    body = oauth_seed(shared_dir, store)
    body["configuration"]["oauth.code"] = code  # an install code is good once
    status, created = call(api, "POST", "/instances", org["authorization"], body=body)
    assert status == 201, created
    return str(created["id"])


def dead_letter(pipeline: Pipeline, *messages: object) -> None:
    """Every message fails every attempt until delivery gives up (the DLQ)."""
    pipeline.send(*messages)  # type: ignore[arg-type]
    for _ in range(MAX_ATTEMPTS):
        batch, result = pipeline.step()
        retried = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        pipeline.fast_forward([m for m in batch if m["MessageId"] in retried])
    assert pipeline.queue_depth() == 0


def visible(sqs: object, url: str) -> int:
    attrs = boto3.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


def test_redrive_moves_only_this_instances_events_once_and_delivers_each_once(
    api: ModuleType,
    shared_dir: Path,
    store: SimulatedStore,
    stack: StackResources,
    pipeline: Pipeline,
) -> None:
    org, other = new_org("dlq"), new_org("other")
    mine = create_instance(api, org, shared_dir, store, "install-code-1")
    theirs = create_instance(api, other, shared_dir, store, "install-code-2")
    instances = InstanceTable(aws.table(stack.table_name))
    first, second, foreign = make_message(mine, "1"), make_message(mine, "2"), make_message(theirs, "3")
    with Receiver([Reply(503)]) as failing:
        for iid in (mine, theirs):
            instances.update_fields(iid, {"callbackUrl": failing.url})
        dead_letter(pipeline, first, second, foreign)
    assert pipeline.queue_depth(stack.dlq_url) == 3

    _, status = call(api, "GET", f"/instances/{mine}/status", org["authorization"])
    assert status["deadLettered"] == 2
    _, status = call(api, "GET", f"/instances/{theirs}/status", other["authorization"])
    assert status["deadLettered"] == 1
    # Another organization's instance is not found, like on every other route.
    code, error = call(api, "POST", f"/instances/{mine}/events/redrive", other["authorization"])
    assert code == 404, error

    with Receiver([Reply(200)]) as healed:
        instances.update_fields(mine, {"callbackUrl": healed.url})
        # One of them is sent again from the page first, and delivered.
        code, _ = call(api, "POST", f"/instances/{mine}/events/{first.event_id}/retry", org["authorization"])
        assert code == 202
        pipeline.step()
        assert healed.bodies() == [first.body.encode()]  # type: ignore[union-attr]

        code, moved = call(api, "POST", f"/instances/{mine}/events/redrive", org["authorization"])
        assert code == 200, moved
        assert moved == {"instanceId": mine, "moved": 2, "left": 0, "scanned": 3, "complete": True}
        # The other instance's message stays in the DLQ, visible again at once.
        assert visible(None, stack.dlq_url) == 1
        foreign_left = boto3.client("sqs").receive_message(QueueUrl=stack.dlq_url, VisibilityTimeout=0)
        assert json.loads(foreign_left["Messages"][0]["Body"])["instanceId"] == theirs

        # Both copies go through delivery: the delivered one is dropped, the other sent.
        _, result = pipeline.step()
        assert result == {"batchItemFailures": []}
        assert sorted(healed.bodies()) == sorted([first.body.encode(), second.body.encode()])  # type: ignore[union-attr]

        # Idempotent: nothing of this instance is left to move.
        code, again = call(api, "POST", f"/instances/{mine}/events/redrive", org["authorization"])
        assert code == 200 and (again["moved"], again["left"], again["complete"]) == (0, 0, True)
        assert pipeline.queue_depth() == 0

    _, status = call(api, "GET", f"/instances/{mine}/status", org["authorization"])
    assert status["deadLettered"] == 0
    _, status = call(api, "GET", f"/instances/{theirs}/status", other["authorization"])
    assert status["deadLettered"] == 1
    log = pipeline.app.runtime.event_log
    assert {log.get(mine, m.event_id)["status"] for m in (first, second)} == {"delivered"}


def test_the_operator_command_redrives_every_instance_and_names_missing_settings(
    stack: StackResources,
    pipeline: Pipeline,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bcpoller.api import admin
    from bcpoller.settings import reset_settings

    from tests.integration.delivery_support import make_instance

    with Receiver([Reply(503)]) as failing:
        a, b = make_instance(stack, failing.url), make_instance(stack, failing.url)
        dead_letter(pipeline, make_message(a, "1"), make_message(b, "2"))
    capsys.readouterr()  # the delivery's log lines
    assert admin.main(["redrive", "--instance", a]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "instanceId": a,
        "moved": 1,
        "left": 0,
        "scanned": 2,
        "complete": True,
    }
    assert admin.main(["redrive"]) == 0
    assert json.loads(capsys.readouterr().out) == {"moved": 1}
    assert pipeline.queue_depth(stack.dlq_url) == 0 and pipeline.queue_depth() == 2

    monkeypatch.setenv("DLQ_URL", "")
    reset_settings()
    assert admin.main(["redrive"]) == 2
    assert "DLQ_URL" in capsys.readouterr().err
