"""Exact event log queries (issue 20) on moto's server: the failed listing reads the sparse
failed index (every failed event, whatever the traffic around it), an object search finds
an object's events however old, and a token never belongs to another kind of listing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bcpoller import keys
from bcpoller.adapters import aws
from bcpoller.delivery.event_log import EventLog, EventLogError

from local.template_resources import StackResources
from tests.integration.delivery_support import Pipeline, make_message


@pytest.fixture
def pipeline(stack: StackResources) -> Iterator[Pipeline]:
    p = Pipeline(stack)
    yield p
    p.close()


def seed(log: EventLog, instance_id: str, count: int, *, base: datetime, failed: set[int]) -> list[str]:
    """``count`` events one second apart (object ids "0".."count-1"), delivered on the
    first attempt except those in ``failed``; the real claim/outcome writes."""
    ids = []
    for i in range(count):
        message = make_message(instance_id, str(i)).model_copy(
            update={"emitted_at": base + timedelta(seconds=i)}
        )
        claimed = log.claim(message, now=base, lease_until=base, first_attempt=True)
        bad = i in failed
        attempt = {
            "at": "x",
            "statusCode": 400 if bad else 200,
            "latencyMs": 5,
            "error": "HTTP 400" if bad else None,
        }
        log.finish_attempt(
            instance_id,
            message.event_id,
            status="failed" if bad else "delivered",
            attempt=attempt,
            now=base,
            claimed=claimed,
        )
        ids.append(message.event_id)
    return ids


def every_page(log: EventLog, instance_id: str, **kwargs: Any) -> tuple[list[dict[str, Any]], int]:
    found: list[dict[str, Any]] = []
    token = None
    calls = 0
    while True:
        page, token = log.list(instance_id, next_token=token, **kwargs)
        calls += 1
        found.extend(page)
        if token is None:
            return found, calls


def test_failed_listing_finds_every_failed_event_of_a_large_log_in_one_page(pipeline: Pipeline) -> None:
    log = pipeline.app.runtime.event_log
    base = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    failed = {3, 250, 611, 998}
    ids = seed(log, "inst-a", 1000, base=base, failed=failed)
    seed(log, "inst-b", 3, base=base, failed={0, 1, 2})  # another instance's never show

    page, token = log.list("inst-a", status="failed", limit=50)
    assert [e["eventId"] for e in page] == [ids[i] for i in sorted(failed, reverse=True)]
    assert token is None
    assert all(e["status"] == "failed" and e["attemptCount"] == 1 for e in page)
    assert all(e["attempts"][0]["statusCode"] == 400 for e in page)

    # Paged by the index's own token, in order, within since/until.
    window, calls = every_page(
        log,
        "inst-a",
        status="failed",
        limit=1,
        since=base + timedelta(seconds=4),
        until=base + timedelta(seconds=998),
    )
    assert [e["eventId"] for e in window] == [ids[998], ids[611], ids[250]]
    assert calls >= 3

    # A replayed event leaves the index (it is queued again), so does not list as failed.
    assert log.mark_queued("inst-a", ids[611], now=base + timedelta(hours=1))
    page, _ = log.list("inst-a", status="failed")
    assert ids[611] not in [e["eventId"] for e in page]
    assert len(page) == 3
    # ... and the replay reads the same index.
    replayable = [
        i["eventId"] for i in log.items_with_status("inst-a", status="failed", since=None, until=None)
    ]
    assert replayable == [ids[3], ids[250], ids[998]]


def test_delivered_events_never_enter_the_failed_index(pipeline: Pipeline) -> None:
    log = pipeline.app.runtime.event_log
    base = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    ids = seed(log, "inst-a", 4, base=base, failed={2})
    table = aws.table(pipeline.stack.table_name)
    for i, event_id in enumerate(ids):
        item = table.get_item(Key={keys.PK: keys.events_pk("inst-a"), keys.SK: keys.event_sk(event_id)})[
            "Item"
        ]
        assert (keys.GSI1_PK in item) == (i == 2), item
    entries = table.query(
        KeyConditionExpression="pk = :pk AND begins_with(sk, :log)",
        ExpressionAttributeValues={":pk": keys.events_pk("inst-a"), ":log": keys.LOG_PREFIX},
    )["Items"]
    assert entries and not any(keys.GSI1_PK in e for e in entries)  # never the body's item


def test_object_search_finds_an_event_older_than_the_newest_250(pipeline: Pipeline) -> None:
    log = pipeline.app.runtime.event_log
    base = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    ids = seed(log, "inst-a", 400, base=base, failed=set())

    found, _ = every_page(log, "inst-a", object_id="7")
    assert [e["eventId"] for e in found] == [ids[7]]
    assert found[0]["objectId"] == "7" and found[0]["status"] == "delivered"
    assert every_page(log, "inst-a", object_id="7", object_type="products")[0] == []
    assert every_page(log, "inst-a", object_id="nope")[0] == []
    # since/until and status narrow an object search too.
    assert every_page(log, "inst-a", object_id="7", since=base + timedelta(seconds=8))[0] == []
    assert every_page(log, "inst-a", object_id="7", status="failed")[0] == []


def test_object_search_hands_back_a_token_when_it_read_only_part_of_the_log(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bcpoller.delivery import event_log

    log = pipeline.app.runtime.event_log
    base = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    ids = seed(log, "inst-a", 30, base=base, failed=set())
    monkeypatch.setattr(event_log, "_OBJECT_READ", 4)
    monkeypatch.setattr(event_log, "_OBJECT_PAGES", 2)
    found, calls = every_page(log, "inst-a", object_id="29")
    assert [e["eventId"] for e in found] == [ids[29]]
    assert calls == 4  # 30 items, 8 read per call: the first calls' empty pages came with a token


def test_a_token_of_one_listing_is_refused_by_another(pipeline: Pipeline) -> None:
    log = pipeline.app.runtime.event_log
    base = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    seed(log, "inst-a", 5, base=base, failed={1, 2, 3})
    _, failed_token = log.list("inst-a", status="failed", limit=1)
    _, log_token = log.list("inst-a", limit=1)
    assert failed_token and log_token
    with pytest.raises(EventLogError, match="next_token: a token of another filter"):
        log.list("inst-a", next_token=failed_token)
    with pytest.raises(EventLogError, match="next_token: a token of another filter"):
        log.list("inst-a", status="failed", next_token=log_token)
    with pytest.raises(EventLogError, match="next_token: a token of another filter"):
        log.list("inst-a", object_id="1", next_token=log_token)


def test_a_refusals_answer_is_kept_once_on_the_event_item_not_in_the_entry(pipeline: Pipeline) -> None:
    log = pipeline.app.runtime.event_log
    base = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    message = make_message("inst-a", "5").model_copy(update={"emitted_at": base})
    claimed = log.claim(message, now=base, lease_until=base, first_attempt=True)
    attempt = {"at": "x", "statusCode": 503, "latencyMs": 5, "error": "HTTP 503"}
    log.finish_attempt(
        "inst-a",
        message.event_id,
        status="retrying",
        attempt=attempt,
        now=base,
        next_attempt_at=base + timedelta(minutes=1),
        claimed=claimed,
        response="busy: come back later",
    )
    got = log.get("inst-a", message.event_id)
    assert got is not None and got["lastResponse"] == "busy: come back later"
    assert got["attempts"] == [attempt]
    entry = log.store.get_entry("inst-a", claimed.created_at, message.event_id)
    assert entry is not None and "lastResponse" not in entry  # the entry (with the body) stays small
    listed, _ = log.list("inst-a")
    assert "lastResponse" not in listed[0]
