"""The Deliverer's decisions with fake adapters (no I/O)."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bcpoller.delivery.deliverer import IN_PROGRESS_RETRY_SECONDS, Deliverer, Disposition
from bcpoller.delivery.event_log import Claimed
from bcpoller.delivery.policy import MAX_ATTEMPTS, AttemptResult
from bcpoller.delivery.ports import Claim
from bcpoller.instances import StoredInstance
from bcpoller.messages import QueueMessage
from bcpoller.security.ssrf import UnsafeUrlError

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SECRETS = {"event.notification.signature.key": "k", "signingSecret": "whsec_a2V5a2V5a2V5a2V5"}


class FakeInstances:
    def __init__(self, instance: StoredInstance | None) -> None:
        self.instance = instance
        self.gets = 0
        self.turned_off: list[tuple[str, str]] = []

    def get(self, instance_id: str) -> StoredInstance | None:
        self.gets += 1
        return self.instance

    def secrets(self, instance: StoredInstance) -> dict[str, Any]:
        self.decrypted = getattr(self, "decrypted", 0) + 1
        return dict(SECRETS)

    def cached_secrets(self, instance: StoredInstance) -> dict[str, Any] | None:
        # Cold until the first decrypt, as KmsCrypto's per-process cache.
        return dict(SECRETS) if getattr(self, "decrypted", 0) else None

    def turn_off_notifications(self, instance_id: str, reason: str) -> None:
        self.turned_off.append((instance_id, reason))


class FakeLog:
    def __init__(self, claim: Claim = Claim.NEW, *, first: bool = True) -> None:
        self.claim_result = claim
        self.first = first
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.counted: list[dict[tuple[str, str], dict[str, int]]] = []

    def claim(self, message: QueueMessage, **kw: Any) -> Claimed:
        self.calls.append(("claim", kw))
        entry = {"eventId": message.event_id} if self.claim_result is Claim.NEW else None
        first = self.claim_result is Claim.NEW and self.first
        return Claimed(self.claim_result, message.instance_id, message.event_id, "c", entry, first=first)

    def write_entry(self, claimed: Claimed) -> None:
        self.calls.append(("entry", {}))

    def finish_attempt(self, instance_id: str, event_id: str, **kw: Any) -> None:
        self.calls.append(("finish", kw))

    def add_counts(self, counts: dict[tuple[str, str], dict[str, int]]) -> None:
        self.counted.append(counts)

    dead_letters: list[tuple[str, int]] = []

    def add_dead_letters(self, instance_id: str, n: int) -> int:
        self.dead_letters = [*self.dead_letters, (instance_id, n)]
        return len(self.dead_letters)

    def kinds(self) -> list[str]:
        """The claim first; the entry is written while the POST runs, so in any order."""
        kinds = [kind for kind, _ in self.calls]
        return kinds[:1] + sorted(kinds[1:])

    def last(self) -> tuple[str, dict[str, Any]]:
        """The outcome (the last write but the entry's)."""
        return [call for call in self.calls if call[0] != "entry"][-1]


class FakeSender:
    def __init__(self, result: AttemptResult | Exception) -> None:
        self.result = result
        self.posts: list[tuple[str, bytes, dict[str, str]]] = []
        self.timeouts: list[float | None] = []

    async def post(
        self, url: str, body: bytes, headers: dict[str, str], *, timeout: float | None = None
    ) -> AttemptResult:
        self.posts.append((url, body, headers))
        self.timeouts.append(timeout)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


class FakeQueue:
    def __init__(self, *, dlq_fails: bool = False) -> None:
        self.visibility: list[int] = []
        self.dlq: list[tuple[str, str]] = []
        self.dlq_fails = dlq_fails

    def change_visibility(self, receipt_handle: str, seconds: int) -> None:
        self.visibility.append(seconds)

    def send_to_dlq(self, message_body: str, reason: str) -> None:
        if self.dlq_fails:
            raise RuntimeError("SQS is down")
        self.dlq.append((message_body, reason))


class FakeBlobs:
    def load_body(self, instance_id: str, body_ref: str) -> str:
        raise LookupError(f"bodyRef: item {body_ref} is missing")


class FakeMetrics:
    def __init__(self) -> None:
        self.values: dict[str, list[float]] = {}

    def add_metric(self, name: str, unit: Any, value: float) -> None:
        self.values.setdefault(name, []).append(value)


def instance(**changes: Any) -> StoredInstance:
    data: dict[str, Any] = {
        "instanceId": "i-1",
        "orgId": "o-1",
        "eventsEnabled": True,
        "createdDate": NOW,
        "storeCreatedAt": NOW,
        "callbackUrl": "https://hooks.example.com/in",
    }
    data.update(changes)
    return StoredInstance.model_validate(data)


def message(**changes: Any) -> QueueMessage:
    data: dict[str, Any] = {
        "instanceId": "i-1",
        "eventId": "e-1",
        "eventType": "UPDATED",
        "objectType": "orders",
        "objectId": "1",
        "changedAt": NOW - timedelta(seconds=30),
        "emittedAt": NOW - timedelta(seconds=10),
        "body": '{"message":{}}',
    }
    data.update(changes)
    return QueueMessage.model_validate(data)


class Rig:
    def __init__(
        self,
        result: AttemptResult | Exception | None = None,
        *,
        inst: StoredInstance | None = None,
        claim: Claim = Claim.NEW,
        guard_error: str | None = None,
        dlq_fails: bool = False,
        no_instance: bool = False,
    ) -> None:
        self.instances = FakeInstances(None if no_instance else (inst or instance()))
        self.log = FakeLog(claim)
        self.sender = FakeSender(result or AttemptResult(200, 12))
        self.queue = FakeQueue(dlq_fails=dlq_fails)
        self.metrics = FakeMetrics()
        self.guarded: list[str] = []

        def guard(url: str) -> None:
            self.guarded.append(url)
            if guard_error:
                raise UnsafeUrlError(guard_error)

        self.deliverer = Deliverer(
            instances=self.instances,
            event_log=self.log,  # type: ignore[arg-type]
            blobs=FakeBlobs(),
            sender=self.sender,
            queue=self.queue,  # type: ignore[arg-type]
            url_guard=guard,
            metrics=self.metrics,
            clock=lambda: NOW,
            rng=random.Random(7),
        )

    def run(self, msg: QueueMessage | None = None, attempt: int = 1) -> Disposition:
        return asyncio.run(
            self.deliverer.deliver(msg or message(), receive_count=attempt, receipt_handle="rh")
        )


def test_delivered_claims_logs_and_counts() -> None:
    rig = Rig()
    assert rig.run() is Disposition.DONE
    # The first claim's outcome is written with its log entry: no separate entry write.
    assert rig.log.kinds() == ["claim", "finish"]
    assert rig.log.last()[1]["claimed"].first is True
    # The claim lapses with the invocation (30 s left by default).
    assert rig.log.calls[0][1]["lease_until"] == NOW + timedelta(seconds=30)
    assert rig.log.calls[0][1]["first_attempt"] is True
    assert rig.guarded == ["https://hooks.example.com/in"]
    _, body, headers = rig.sender.posts[0]
    assert body == b'{"message":{}}' and headers["Elements-Webhook-Id"] == "e-1"
    assert "webhook-signature" in headers and headers["Elements-Webhook-Signature"].startswith("sha256=")
    kind, kw = rig.log.last()
    assert kind == "finish" and kw["status"] == "delivered" and kw["attempt"]["statusCode"] == 200
    assert rig.metrics.values["Delivered"] == [1]
    assert rig.metrics.values["EndToEndAge"] == [30.0]
    assert rig.metrics.values["AttemptLatency"] == [12]
    asyncio.run(rig.deliverer.flush_counts())
    assert rig.log.counted == [{("i-1", "2026-11-28T12"): {"delivered": 1, "failed": 0}}]


def test_retryable_failure_releases_and_schedules_the_next_attempt() -> None:
    rig = Rig(AttemptResult(503, 5, "HTTP 503"))
    assert rig.run(attempt=3) is Disposition.RETRY
    assert rig.log.kinds() == ["claim", "finish"]
    assert len(rig.queue.visibility) == 1 and 1620 <= rig.queue.visibility[0] <= 1980
    _, kw = rig.log.last()
    assert kw["status"] == "retrying"
    assert kw["next_attempt_at"] == NOW + timedelta(seconds=rig.queue.visibility[0])
    assert rig.metrics.values["Retried"] == [1]


def test_last_attempt_goes_to_the_dlq_and_fails() -> None:
    rig = Rig(AttemptResult(None, 15000, "timed out after 15 s", retryable_error=True))
    msg = message()
    assert rig.run(msg, attempt=MAX_ATTEMPTS) is Disposition.DONE
    assert rig.queue.visibility == []
    assert rig.queue.dlq == [(msg.to_json(), f"gave up after {MAX_ATTEMPTS} attempts: timed out after 15 s")]
    _, kw = rig.log.last()
    assert kw["status"] == "failed" and kw["reason"].startswith("gave up")
    assert rig.metrics.values["Failed"] == [1]
    assert rig.log.dead_letters == [("i-1", 1)]  # status's deadLettered


def test_a_failure_that_does_not_reach_the_dlq_is_not_counted_dead() -> None:
    rig = Rig(AttemptResult(400, 5, "HTTP 400"))
    assert rig.run() is Disposition.DONE
    assert rig.queue.dlq == [] and rig.log.dead_letters == []


def test_dlq_failure_keeps_the_message() -> None:
    rig = Rig(AttemptResult(500, 5, "HTTP 500"), dlq_fails=True)
    with pytest.raises(RuntimeError, match="SQS is down"):
        rig.run(attempt=MAX_ATTEMPTS)
    assert all(kw.get("status") != "failed" for _, kw in rig.log.calls)


def test_410_turns_notifications_off() -> None:
    rig = Rig(AttemptResult(410, 5, "HTTP 410"))
    assert rig.run() is Disposition.DONE
    assert rig.instances.turned_off and rig.instances.turned_off[0][0] == "i-1"
    assert rig.log.last()[1]["status"] == "failed"


@pytest.mark.parametrize("code", [400, 401, 404, 302])
def test_other_4xx_and_3xx_fail_at_once(code: int) -> None:
    rig = Rig(AttemptResult(code, 5, f"HTTP {code}"))
    assert rig.run(attempt=2) is Disposition.DONE
    assert rig.queue.visibility == [] and rig.queue.dlq == []
    assert rig.log.last()[1]["status"] == "failed"


def test_already_delivered_is_not_posted() -> None:
    rig = Rig(claim=Claim.DONE)
    assert rig.run() is Disposition.DONE
    assert rig.sender.posts == []
    assert rig.log.kinds() == ["claim"]
    assert rig.metrics.values["Duplicate"] == [1]


def test_in_progress_elsewhere_comes_back_later() -> None:
    rig = Rig(claim=Claim.IN_PROGRESS)
    assert rig.run() is Disposition.RETRY
    assert rig.sender.posts == [] and rig.log.kinds() == ["claim"]
    assert rig.queue.visibility == [IN_PROGRESS_RETRY_SECONDS]


def test_an_unexpected_sender_error_is_a_recorded_attempt_with_its_reason() -> None:
    """Nothing on the delivery path leaves an event "delivering": a failure nobody
    foresaw is recorded like any other, and retried on the schedule."""
    rig = Rig(RuntimeError("bug at https://hooks.example/x?token=secret"))
    assert rig.run(attempt=2) is Disposition.RETRY
    assert rig.log.kinds() == ["claim", "finish"]
    _, kw = rig.log.last()
    assert kw["status"] == "retrying"
    assert "RuntimeError" in kw["attempt"]["error"] and "secret" not in kw["attempt"]["error"]
    assert len(rig.queue.visibility) == 1


def test_a_later_claim_writes_a_missing_entry_while_posting() -> None:
    rig = Rig()
    rig.log.first = False
    assert rig.run(attempt=2) is Disposition.DONE
    assert rig.log.kinds() == ["claim", "entry", "finish"]


def test_unsafe_url_fails_without_a_post() -> None:
    rig = Rig(guard_error="host 'x' resolves to 10.0.0.1, which is a private address")
    assert rig.run() is Disposition.DONE
    assert rig.sender.posts == []
    kw = rig.log.last()[1]
    assert kw["status"] == "failed" and kw["reason"].startswith("callback URL refused: host")


@pytest.mark.parametrize(
    ("rig", "reason"),
    [
        (Rig(no_instance=True), "instance not found"),
        (Rig(inst=instance(eventsEnabled=False)), "notifications are off"),
        (Rig(inst=instance(eventsEnabled=False, notificationsDisabledReason="410")), "(410)"),
        (Rig(inst=instance(callbackUrl=None)), "no callback URL"),
    ],
)
def test_undeliverable_events_fail_with_a_reason(rig: Rig, reason: str) -> None:
    assert rig.run() is Disposition.DONE
    assert rig.sender.posts == []
    kind, kw = rig.log.last()
    assert kind == "finish" and kw["status"] == "failed" and kw["attempt"] is None and reason in kw["reason"]


def test_missing_blob_fails_with_a_reason() -> None:
    rig = Rig()
    assert rig.run(message(body=None, bodyRef="BLOB#e-1")) is Disposition.DONE
    assert rig.sender.posts == []
    assert "event body unavailable" in rig.log.last()[1]["reason"]


def test_one_instance_lookup_per_invocation() -> None:
    rig = Rig()

    async def batch() -> None:
        await asyncio.gather(
            *[
                rig.deliverer.deliver(message(eventId=f"e-{i}"), receive_count=1, receipt_handle="r")
                for i in range(5)
            ]
        )

        await rig.deliverer.flush_counts()

    asyncio.run(batch())
    assert rig.instances.gets == 1
    assert len(rig.sender.posts) == 5
    # One counter write for the batch, not one per event.
    assert rig.log.counted == [{("i-1", "2026-11-28T12"): {"delivered": 5, "failed": 0}}]


def test_counters_are_written_once_the_last_outcome_is_known() -> None:
    rig = Rig()

    async def batch() -> list[dict[tuple[str, str], dict[str, int]]]:
        rig.deliverer.expect(2)
        await asyncio.gather(
            *[
                rig.deliverer.deliver(message(eventId=f"e-{i}"), receive_count=1, receipt_handle="r")
                for i in range(2)
            ]
        )
        await asyncio.sleep(0.05)  # the counter write runs beside the last outcome write
        written = list(rig.log.counted)
        await rig.deliverer.flush_counts()  # nothing left: no second write
        return written

    assert asyncio.run(batch()) == [{("i-1", "2026-11-28T12"): {"delivered": 2, "failed": 0}}]
    assert len(rig.log.counted) == 1


def test_the_instance_deadline_bounds_its_post() -> None:
    default = Rig()
    default.run()
    own = Rig(inst=instance(configuration={"event.notification.timeout_seconds": "22"}))
    own.run()
    # None lets the sender use the stack's DELIVERY_TIMEOUT_SECONDS.
    assert default.sender.timeouts == [None]
    assert own.sender.timeouts == [22]


def test_a_warm_container_signs_with_its_cached_secrets() -> None:
    rig = Rig()
    rig.run()
    rig.run(message(eventId="e-2"))
    # Decrypted once (the cold record), then read from the container's cache.
    assert rig.instances.decrypted == 1  # type: ignore[attr-defined]
    assert all("webhook-signature" in headers for _, _, headers in rig.sender.posts)


def test_a_refusals_response_head_is_kept_with_its_outcome_a_success_keeps_none() -> None:
    refused = Rig(AttemptResult(503, 5, "HTTP 503", response_head="busy, come back later"))
    refused.run(attempt=1)
    assert refused.log.last()[1]["response"] == "busy, come back later"
    failed = Rig(AttemptResult(400, 5, "HTTP 400", response_head="missing field"))
    failed.run()
    assert failed.log.last()[1]["response"] == "missing field"
    delivered = Rig(AttemptResult(200, 5, response_head="ok"))
    delivered.run()
    assert delivered.log.last()[1].get("response") is None
