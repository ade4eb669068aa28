"""The events/ samples (``sam local invoke -e``) are valid for the functions they drive."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2, SQSEvent
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventV2Model, SqsModel
from bcpoller.config.body import parse_instance_body
from bcpoller.messages import QueueMessage, event_id

from tests.conftest import EVENTS_DIR, load_event

AUTHORIZATION = re.compile(r"User [^,\s]+, Organization [^,\s]+(, Element [^,\s]+)?")


def test_every_sample_is_covered_here() -> None:
    names = {path.name for path in EVENTS_DIR.glob("*.json")}
    assert names >= {
        "poll_schedule.json",
        "delivery_sqs_batch.json",
        "api_create_instance.json",
        "api_list_instances.json",
        "api_get_instance.json",
    }


def test_poll_schedule_is_the_schedule_input() -> None:
    event = load_event("poll_schedule.json")
    assert list(event) == ["instanceId"]
    assert isinstance(event["instanceId"], str) and event["instanceId"]


def test_sqs_batch_parses_and_carries_queue_messages() -> None:
    event = load_event("delivery_sqs_batch.json")
    model = SqsModel.model_validate(event)
    assert len(model.Records) == 2
    assert len({r.messageId for r in model.Records}) == 2
    for record, data in zip(model.Records, SQSEvent(event).records, strict=True):
        assert record.eventSource == "aws:sqs" and record.awsRegion in record.eventSourceARN
        assert int(record.attributes.ApproximateReceiveCount) >= 1
        assert isinstance(record.body, str)
        assert record.md5OfBody == hashlib.md5(record.body.encode()).hexdigest()
        message = QueueMessage.model_validate_json(record.body)
        assert data.json_body["eventId"] == message.event_id
        # The id and the callback body agree with the contract in bcpoller.messages.
        expected = event_id(message.instance_id, message.object_type, message.object_id, message.changed_at)
        assert message.event_id == expected
        assert message.body is not None
        callback = json.loads(message.body)["message"]
        assert callback["eventId"] == message.event_id
        assert callback["events"][0]["objectId"] == message.object_id
        assert callback["raw"][message.object_type][0]["id"] == int(message.object_id)


@pytest.mark.parametrize(
    ("name", "method", "path"),
    [
        ("api_create_instance.json", "POST", "/instances"),
        ("api_list_instances.json", "GET", "/instances"),
        ("api_get_instance.json", "GET", "/instances/"),
    ],
)
def test_api_requests_are_http_api_v2_payloads(name: str, method: str, path: str) -> None:
    event = load_event(name)
    model = APIGatewayProxyEventV2Model.model_validate(event)
    data = APIGatewayProxyEventV2(event)
    assert model.version == "2.0" and model.routeKey == "$default"
    assert data.request_context.http.method == method == model.requestContext.http.method
    assert data.raw_path.startswith(path) and data.raw_path == model.requestContext.http.path
    assert AUTHORIZATION.fullmatch(data.headers["authorization"])
    assert model.isBase64Encoded is False


def test_get_instance_names_the_scheduled_instance() -> None:
    path = load_event("api_get_instance.json")["rawPath"]
    assert path == f"/instances/{load_event('poll_schedule.json')['instanceId']}"


def test_create_instance_body_is_the_oauth_seed_with_a_token() -> None:
    data = APIGatewayProxyEventV2(load_event("api_create_instance.json"))
    body = parse_instance_body(data.json_body)
    cfg = body.configuration
    assert cfg.store_hash and cfg.access_token is not None
    assert cfg.oauth_api_key and cfg.events_enabled
    assert set(cfg.pollers) == {"orders", "products", "customers"}


def test_wake_samples_are_a_woken_poll_and_a_bigcommerce_hook() -> None:
    """events/poll_wake.json drives PollFunction's woken path; events/api_wake.json is
    BigCommerce's hook POST to the wake-up route (secret header, webhook payload)."""
    from bcpoller.poll.events import is_wake_event, parse_poll_event

    woken = load_event("poll_wake.json")
    assert parse_poll_event(woken) == load_event("poll_schedule.json")["instanceId"]
    assert is_wake_event(woken) and not is_wake_event(load_event("poll_schedule.json"))
    hook = load_event("api_wake.json")
    model = APIGatewayProxyEventV2Model.model_validate(hook)
    assert model.requestContext.http.method == "POST" and model.rawPath.startswith("/wake/")
    assert "authorization" not in hook["headers"] and hook["headers"]["x-bcpoller-wake-secret"]
    body = json.loads(hook["body"])
    assert set(body) == {"scope", "store_id", "data", "hash", "created_at", "producer"}
    assert set(body["data"]) == {"type", "id"}
