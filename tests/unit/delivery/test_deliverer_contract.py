"""The Deliverer against fakes that check what they are given, as DynamoDB, SQS, KMS and
CloudWatch would: the right event and instance, a real (aware) clock reading, the receipt
handle SQS issued, a unit CloudWatch accepts. Each test pins an outcome a user or an
operator sees: the reason stored in the event log, the next attempt's time, the counters,
the headers sent, the warning that says what was not written."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aws_lambda_powertools.metrics import MetricUnit
from bcpoller.delivery.deliverer import IN_PROGRESS_RETRY_SECONDS, Deliverer, Disposition
from bcpoller.delivery.event_log import Claimed
from bcpoller.delivery.policy import MAX_ATTEMPTS, AttemptResult, retry_delay_seconds
from bcpoller.delivery.ports import Claim
from bcpoller.instances import StoredInstance
from bcpoller.messages import QueueMessage
from bcpoller.security.ssrf import UnsafeUrlError

from tests.unit.delivery.test_deliverer import instance, message

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
HANDLE = "AQEB-receipt-handle-of-this-receive"
URL = "https://hooks.example.com/in"
SECRETS = {"event.notification.signature.key": "k", "signingSecret": "whsec_a2V5a2V5a2V5a2V5"}
CLOUDWATCH_UNITS = {unit.value for unit in MetricUnit}
# The same instance and message as the deliverer's other tests.


def _aware(value: Any, name: str) -> datetime:
    # DynamoDB items hold ISO UTC text: a naive or missing time would be stored wrong.
    assert isinstance(value, datetime) and value.tzinfo is not None, f"{name} must be an aware datetime"
    return value


class StrictInstances:
    def __init__(self, stored: StoredInstance | None, secrets: dict[str, Any] | None = None) -> None:
        self.stored = stored
        self.secret_values = dict(secrets or SECRETS)
        self.turned_off: list[tuple[str, str]] = []
        self.decrypted = 0

    def get(self, instance_id: str) -> StoredInstance | None:
        assert instance_id == "i-1", f"looked up {instance_id!r}"
        return self.stored

    def _check(self, inst: StoredInstance) -> None:
        # KMS decrypts under the instance's own encryption context: it needs the instance.
        assert inst is self.stored, "secrets asked for something else than the stored instance"

    def secrets(self, inst: StoredInstance) -> dict[str, Any]:
        self._check(inst)
        self.decrypted += 1
        return dict(self.secret_values)

    def cached_secrets(self, inst: StoredInstance) -> dict[str, Any] | None:
        self._check(inst)
        return dict(self.secret_values) if self.decrypted else None

    def turn_off_notifications(self, instance_id: str, reason: str) -> None:
        assert instance_id == "i-1"
        assert isinstance(reason, str) and reason
        self.turned_off.append((instance_id, reason))


class StrictLog:
    """The event log's calls, checked like the table would: a write for another event or
    without a time is refused; the outcome must name the claim it ends."""

    def __init__(self, claim: Claim = Claim.NEW, *, first: bool = True, clock: datetime | None = NOW) -> None:
        self.claim_result = claim
        self.first = first
        self.clock = clock  # what `now` must be (None: any aware time)
        self.claimed: Claimed | None = None
        self.claims: list[dict[str, Any]] = []
        self.entries: list[Claimed] = []
        self.outcomes: list[dict[str, Any]] = []
        self.counted: list[dict[tuple[str, str], dict[str, int]]] = []
        self.dead: list[tuple[str, int]] = []
        self.entry_fails = False
        self.counts_fail = False
        self.dead_fails = False
        self.counted_signal: Callable[[], None] | None = None

    def _now(self, value: Any) -> datetime:
        now = _aware(value, "now")
        if self.clock is not None:
            assert now == self.clock
        return now

    def claim(
        self, msg: QueueMessage, *, now: datetime, lease_until: datetime, first_attempt: bool
    ) -> Claimed:
        self._now(now)
        _aware(lease_until, "lease_until")
        self.claims.append({"now": now, "lease_until": lease_until, "first_attempt": first_attempt})
        new = self.claim_result is Claim.NEW
        entry = {"eventId": msg.event_id} if new else None
        self.claimed = Claimed(
            self.claim_result,
            msg.instance_id,
            msg.event_id,
            "2026-11-28T11:59:50Z",
            entry,
            first=new and self.first,
        )
        return self.claimed

    def write_entry(self, claimed: Claimed) -> None:
        assert claimed is self.claimed, "wrote an entry for another claim"
        if self.entry_fails:
            raise RuntimeError("ProvisionedThroughputExceededException")
        self.entries.append(claimed)

    def finish_attempt(
        self,
        instance_id: str,
        event_id: str,
        *,
        status: str,
        attempt: dict[str, Any] | None,
        now: datetime,
        next_attempt_at: datetime | None = None,
        reason: str | None = None,
        claimed: Claimed | None = None,
        response: str | None = None,
    ) -> None:
        assert self.claimed is not None
        assert (instance_id, event_id) == (self.claimed.instance_id, self.claimed.event_id)
        # Without its claim the first attempt's outcome misses its log entry and the
        # event item keeps its lease: the claim must come back.
        assert claimed is self.claimed, "the outcome does not name its claim"
        self._now(now)
        if next_attempt_at is not None:
            _aware(next_attempt_at, "next_attempt_at")
        self.outcomes.append(
            {
                "status": status,
                "attempt": attempt,
                "now": now,
                "next_attempt_at": next_attempt_at,
                "reason": reason,
                "response": response,
            }
        )

    def add_counts(self, counts: dict[tuple[str, str], dict[str, int]]) -> None:
        if self.counts_fail:
            raise RuntimeError("ThrottlingException")
        for instance_id, _hour in counts:
            assert instance_id == "i-1", f"counted for {instance_id!r}"
        self.counted.append(counts)
        if self.counted_signal:
            self.counted_signal()

    def add_dead_letters(self, instance_id: str, n: int) -> int:
        assert instance_id == "i-1"
        if self.dead_fails:
            raise RuntimeError("ThrottlingException")
        self.dead.append((instance_id, n))
        return len(self.dead)


class StrictQueue:
    """SQS takes only the receipt handle it gave, and a visibility of 0 s to 12 h."""

    def __init__(self) -> None:
        self.visibility: list[int] = []
        self.dlq: list[tuple[str, str]] = []

    def change_visibility(self, receipt_handle: str, seconds: int) -> None:
        assert receipt_handle == HANDLE, f"ReceiptHandleIsInvalid: {receipt_handle!r}"
        assert isinstance(seconds, int) and 0 <= seconds <= 43_200
        self.visibility.append(seconds)

    def send_to_dlq(self, message_body: str, reason: str) -> None:
        self.dlq.append((message_body, reason))


class StrictBlobs:
    def __init__(self, bodies: dict[tuple[str, str], str]) -> None:
        self.bodies = bodies

    def load_body(self, instance_id: str, body_ref: str) -> str:
        try:
            return self.bodies[(instance_id, body_ref)]
        except KeyError:
            raise LookupError(f"bodyRef: item {body_ref} is missing") from None


class StrictSender:
    def __init__(self, result: AttemptResult | Exception) -> None:
        self.result = result
        self.posts: list[tuple[str, bytes, dict[str, str]]] = []

    async def post(
        self, url: str, body: bytes, headers: dict[str, str], *, timeout: float | None = None
    ) -> AttemptResult:
        assert isinstance(url, str) and url.startswith("https://"), f"POST to {url!r}"
        self.posts.append((url, body, headers))
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


class CloudWatchMetrics:
    """Units as CloudWatch takes them (Powertools raises on any other; None is no unit)."""

    def __init__(self) -> None:
        self.values: dict[str, list[tuple[str, float]]] = {}

    def add_metric(self, name: str, unit: Any, value: float) -> None:
        assert unit in CLOUDWATCH_UNITS, f"{name}: unit {unit!r} is not a CloudWatch unit"
        assert isinstance(value, int | float) and not isinstance(value, bool)
        self.values.setdefault(name, []).append((unit, value))


class Rig:
    def __init__(
        self,
        result: AttemptResult | Exception | None = None,
        *,
        inst: StoredInstance | str | None = "default",
        claim: Claim = Claim.NEW,
        guard_error: str | None = None,
        secrets: dict[str, Any] | None = None,
        bodies: dict[tuple[str, str], str] | None = None,
        clock: Callable[[], datetime] | None = lambda: NOW,
        remaining_ms: int = 30_000,
        seconds_per_minute: float = 60.0,
        rng: random.Random | None = None,
    ) -> None:
        stored = instance() if inst == "default" else inst
        assert not isinstance(stored, str)
        self.instances = StrictInstances(stored, secrets)
        self.log = StrictLog(claim, clock=NOW if clock is not None else None)
        self.sender = StrictSender(result or AttemptResult(200, 12))
        self.queue = StrictQueue()
        self.metrics = CloudWatchMetrics()

        def guard(url: str) -> None:
            if guard_error:
                raise UnsafeUrlError(guard_error)

        extra: dict[str, Any] = {} if clock is None else {"clock": clock}
        self.deliverer = Deliverer(
            instances=self.instances,
            event_log=self.log,  # type: ignore[arg-type]
            blobs=StrictBlobs(bodies or {}),
            sender=self.sender,
            queue=self.queue,  # type: ignore[arg-type]
            url_guard=guard,
            metrics=self.metrics,
            seconds_per_minute=seconds_per_minute,
            remaining_ms=lambda: remaining_ms,
            rng=rng if rng is not None else random.Random(7),
            **extra,
        )

    def run(self, msg: QueueMessage | None = None, attempt: int = 1) -> Disposition:
        return asyncio.run(self.deliver(msg, attempt))

    async def deliver(self, msg: QueueMessage | None = None, attempt: int = 1) -> Disposition:
        return await self.deliverer.deliver(msg or message(), receive_count=attempt, receipt_handle=HANDLE)

    def outcome(self) -> dict[str, Any]:
        assert len(self.log.outcomes) == 1, self.log.outcomes
        return self.log.outcomes[0]

    def units(self) -> dict[str, str]:
        return {name: values[0][0] for name, values in self.metrics.values.items()}


def records(caplog: pytest.LogCaptureFixture, level: int = logging.INFO) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.name.endswith("bcpoller.delivery.deliverer") and r.levelno >= level
    ]


# -- what the event log records --------------------------------------------------------


def test_a_delivery_records_the_attempt_with_its_time_status_and_latency() -> None:
    rig = Rig(AttemptResult(204, 87))
    assert rig.run() is Disposition.DONE
    done = rig.outcome()
    assert done["status"] == "delivered" and done["now"] == NOW
    assert done["attempt"] == {
        "at": "2026-11-28T12:00:00.000Z",
        "statusCode": 204,
        "latencyMs": 87,
        "error": None,
    }
    assert rig.log.claims == [{"now": NOW, "lease_until": NOW + timedelta(seconds=30), "first_attempt": True}]
    assert rig.sender.posts[0][0] == URL


def test_without_a_clock_the_deliverer_reads_utc() -> None:
    """The default clock is UTC: event log times are compared with and stored as UTC."""
    before = datetime.now(UTC)
    rig = Rig(clock=None)
    rig.run()
    assert before <= rig.outcome()["now"] <= datetime.now(UTC)


def test_the_claim_lasts_at_least_a_second_even_at_the_end_of_the_invocation() -> None:
    rig = Rig(remaining_ms=200)
    rig.run()
    assert rig.log.claims[0]["lease_until"] == NOW + timedelta(seconds=1)
    later = Rig(remaining_ms=1_500)
    later.run(attempt=2)
    assert later.log.claims[0] == {
        "now": NOW,
        "lease_until": NOW + timedelta(seconds=1.5),
        "first_attempt": False,
    }


@pytest.mark.parametrize(
    ("inst", "reason"),
    [
        (None, "instance not found (deleted?)"),
        (instance(eventsEnabled=False), "notifications are off for this instance"),
        (
            instance(eventsEnabled=False, notificationsDisabledReason="callback answered 410"),
            "notifications are off for this instance (callback answered 410)",
        ),
        (instance(callbackUrl=None), "instance has no callback URL"),
    ],
)
def test_the_reason_an_event_cannot_be_delivered_is_stored_as_it_is_shown(
    inst: StoredInstance | None, reason: str
) -> None:
    rig = Rig(inst=inst)
    assert rig.run() is Disposition.DONE
    assert rig.sender.posts == []
    done = rig.outcome()
    assert done == {
        "status": "failed",
        "attempt": None,
        "now": NOW,
        "next_attempt_at": None,
        "reason": reason,
        "response": None,
    }
    assert rig.units() == {"Failed": "Count"} and rig.metrics.values["Failed"] == [("Count", 1)]
    asyncio.run(rig.deliverer.flush_counts())
    assert rig.log.counted == [{("i-1", "2026-11-28T12"): {"delivered": 0, "failed": 1}}]


def test_a_body_kept_in_the_table_is_loaded_by_its_reference_and_sent() -> None:
    body = '{"message":{"raw":"' + "x" * 300_000 + '"}}'
    rig = Rig(bodies={("i-1", "BLOB#e-1"): body})
    assert rig.run(message(body=None, bodyRef="BLOB#e-1")) is Disposition.DONE
    assert rig.sender.posts[0][1] == body.encode()
    assert rig.outcome()["status"] == "delivered"


def test_a_missing_body_fails_with_the_tables_answer() -> None:
    rig = Rig()
    rig.run(message(body=None, bodyRef="BLOB#e-9"))
    assert rig.outcome()["reason"] == "event body unavailable: bodyRef: item BLOB#e-9 is missing"


def test_a_refused_callback_url_is_an_attempt_without_latency_and_a_bounded_reason() -> None:
    rig = Rig(guard_error="host resolves to 10.0.0.1, a private address; " + "y" * 500)
    rig.run()
    done = rig.outcome()
    assert done["attempt"]["latencyMs"] == 0 and done["attempt"]["statusCode"] is None
    assert done["reason"].startswith("callback URL refused: host resolves to 10.0.0.1")
    assert len(done["reason"]) == 300


class _AnExceptionWhoseClassNameIsLongEnoughToPushTheStoredReasonPastItsBoundOfThreeHundredCharacters(
    Exception
):
    pass


def test_an_unforeseen_send_error_is_stored_scrubbed_and_bounded() -> None:
    rig = Rig(RuntimeError("connect to https://hooks.example/x?token=secret failed"))
    assert rig.run(attempt=2) is Disposition.RETRY
    done = rig.outcome()
    assert done["attempt"]["error"] == "could not send (RuntimeError: connect to https://… failed)"
    assert done["attempt"]["latencyMs"] == 0
    # At most 200 characters of the exception's text, and 300 of the whole reason.
    long_text = Rig(RuntimeError("z" * 1_000))
    long_text.run(attempt=2)
    assert long_text.outcome()["attempt"]["error"] == "could not send (RuntimeError: " + "z" * 200 + ")"
    long_name = Rig(
        _AnExceptionWhoseClassNameIsLongEnoughToPushTheStoredReasonPastItsBoundOfThreeHundredCharacters(
            "w" * 400
        )
    )
    long_name.run(attempt=2)
    assert len(long_name.outcome()["attempt"]["error"]) == 300


def test_410_turns_notifications_off_and_says_so_in_the_log() -> None:
    rig = Rig(AttemptResult(410, 5, "HTTP 410", response_head="gone for good"))
    assert rig.run() is Disposition.DONE
    reason = "callback answered 410 Gone: notifications turned off"
    assert rig.instances.turned_off == [("i-1", reason)]
    done = rig.outcome()
    assert done["status"] == "failed" and done["reason"] == reason and done["response"] == "gone for good"
    assert rig.queue.visibility == [] and rig.queue.dlq == []
    asyncio.run(rig.deliverer.flush_counts())
    assert rig.log.counted == [{("i-1", "2026-11-28T12"): {"delivered": 0, "failed": 1}}]


def test_a_refusal_is_stored_with_its_status_and_no_retry() -> None:
    rig = Rig(AttemptResult(422, 9, "HTTP 422", response_head="missing field"))
    rig.run(attempt=3)
    done = rig.outcome()
    assert done["reason"] == "HTTP 422" and done["response"] == "missing field"
    assert done["attempt"] == {
        "at": "2026-11-28T12:00:00.000Z",
        "statusCode": 422,
        "latencyMs": 9,
        "error": "HTTP 422",
    }
    assert rig.units() == {"AttemptLatency": "Milliseconds", "Failed": "Count"}


# -- the retry schedule ---------------------------------------------------------------


def test_the_next_attempt_follows_the_schedule_with_the_deliverers_own_jitter() -> None:
    rig = Rig(AttemptResult(503, 5, "HTTP 503"), rng=random.Random(11))
    assert rig.run(attempt=2) is Disposition.RETRY
    expected = retry_delay_seconds(2, rng=random.Random(11))
    assert rig.queue.visibility == [expected]
    done = rig.outcome()
    assert done["status"] == "retrying" and done["next_attempt_at"] == NOW + timedelta(seconds=expected)
    assert done["reason"] is None and done["attempt"]["error"] == "HTTP 503"
    assert rig.units() == {"AttemptLatency": "Milliseconds", "Retried": "Count"}


def test_a_retry_after_longer_than_the_schedule_is_honoured() -> None:
    rig = Rig(AttemptResult(429, 5, "HTTP 429", retry_after="3600"))
    rig.run(attempt=1)  # the schedule says ~5 s
    assert rig.queue.visibility == [3600]
    assert rig.outcome()["next_attempt_at"] == NOW + timedelta(hours=1)


def test_a_fast_clock_scales_the_schedule_and_the_in_progress_wait() -> None:
    """The local stack runs a minute in a second: 30 min after attempt 3 becomes ~30 s."""
    rig = Rig(AttemptResult(500, 5, "HTTP 500"), seconds_per_minute=1.0)
    rig.run(attempt=3)
    assert 27 <= rig.queue.visibility[0] <= 33
    busy = Rig(claim=Claim.IN_PROGRESS, seconds_per_minute=1.0)
    assert busy.run() is Disposition.RETRY
    # 45 s scaled is under a second: SQS still gets a whole second, never 0 (at once).
    assert busy.queue.visibility == [1]
    normal = Rig(claim=Claim.IN_PROGRESS)
    normal.run()
    assert normal.queue.visibility == [IN_PROGRESS_RETRY_SECONDS]


def test_the_last_attempt_goes_to_the_dlq_and_counts_one_dead_letter() -> None:
    rig = Rig(AttemptResult(502, 5, "HTTP 502"))
    msg = message()
    assert rig.run(msg, attempt=MAX_ATTEMPTS) is Disposition.DONE
    reason = f"gave up after {MAX_ATTEMPTS} attempts: HTTP 502"
    assert rig.queue.dlq == [(msg.to_json(), reason)]
    assert rig.log.dead == [("i-1", 1)]
    assert rig.outcome()["reason"] == reason


def test_a_dead_letter_counter_that_cannot_be_written_does_not_resend(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig(AttemptResult(502, 5, "HTTP 502"))
    rig.log.dead_fails = True
    with caplog.at_level(logging.INFO):
        assert rig.run(attempt=MAX_ATTEMPTS) is Disposition.DONE
    assert rig.outcome()["status"] == "failed" and len(rig.queue.dlq) == 1
    warned = [r for r in records(caplog, logging.WARNING) if getattr(r, "error", None) == "RuntimeError"]
    assert len(warned) == 1


# -- duplicates and claims --------------------------------------------------------------


def test_a_duplicate_is_counted_once_and_not_sent(caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig(claim=Claim.DONE)
    with caplog.at_level(logging.INFO):
        assert rig.run() is Disposition.DONE
    assert rig.sender.posts == [] and rig.log.outcomes == [] and rig.queue.visibility == []
    assert rig.metrics.values == {"Duplicate": [("Count", 1)]}
    (line,) = records(caplog)
    assert line.levelno == logging.INFO and getattr(line, "eventId", None) == "e-1"


def test_a_later_claim_writes_its_entry_for_the_same_claim() -> None:
    rig = Rig()
    rig.log.first = False
    rig.run(attempt=2)
    assert rig.log.entries == [rig.log.claimed]
    assert rig.outcome()["status"] == "delivered"


def test_an_entry_that_cannot_be_written_is_reported_and_the_outcome_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig()
    rig.log.first = False
    rig.log.entry_fails = True
    with caplog.at_level(logging.INFO):
        assert rig.run(attempt=2) is Disposition.DONE
    assert rig.outcome()["status"] == "delivered"
    warned = records(caplog, logging.WARNING)
    assert [(getattr(r, "eventId", None), getattr(r, "error", None)) for r in warned] == [
        ("e-1", "RuntimeError")
    ]


@pytest.mark.parametrize(
    ("result", "attempt"),
    [
        (AttemptResult(200, 5), 1),
        (AttemptResult(200, 5), 2),  # a later claim: its entry is written beside the POST
        (AttemptResult(503, 5, "HTTP 503"), 2),
    ],
)
def test_a_normal_attempt_logs_one_line_with_its_event_and_no_warning(
    caplog: pytest.LogCaptureFixture, result: AttemptResult, attempt: int
) -> None:
    rig = Rig(result)
    rig.log.first = attempt == 1
    with caplog.at_level(logging.INFO):
        rig.run(attempt=attempt)
    (line,) = records(caplog)
    assert line.levelno == logging.INFO
    assert (
        getattr(line, "eventId", None),
        getattr(line, "instanceId", None),
        getattr(line, "attempt", None),
    ) == (
        "e-1",
        "i-1",
        attempt,
    )
    # What an operator searches the logs for: the answer, or the wait and its cause.
    if result.status_code == 200:
        assert getattr(line, "statusCode", None) == 200
    else:
        assert getattr(line, "error", None) == result.error
        assert getattr(line, "delaySeconds", None) == rig.queue.visibility[0]


def test_an_unforeseen_send_error_is_logged_with_its_event_and_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig(RuntimeError("boom"))
    with caplog.at_level(logging.INFO):
        rig.run(attempt=2)
    errors = records(caplog, logging.ERROR)
    assert len(errors) == 1 and getattr(errors[0], "eventId", None) == "e-1"
    assert errors[0].exc_info is not None


def test_a_failure_logs_one_warning_with_its_reason(caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig(AttemptResult(400, 5, "HTTP 400"))
    with caplog.at_level(logging.INFO):
        rig.run()
    (line,) = records(caplog)
    assert line.levelno == logging.WARNING
    assert (getattr(line, "eventId", None), getattr(line, "reason", None)) == ("e-1", "HTTP 400")
    undeliverable = Rig(inst=None)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        undeliverable.run()
    (line,) = records(caplog)
    assert (getattr(line, "eventId", None), getattr(line, "reason", None)) == (
        "e-1",
        "instance not found (deleted?)",
    )


# -- signing ------------------------------------------------------------------------------


def test_during_a_rotation_both_secrets_sign() -> None:
    until = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    rotating = {
        **SECRETS,
        "previousSigningSecret": "whsec_b2xkb2xkb2xkb2xk",
        "previousSigningSecretUntil": until,
    }
    rig = Rig(secrets=rotating)
    rig.run()
    signatures = rig.sender.posts[0][2]["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)


# -- the counters ------------------------------------------------------------------------


def test_counters_are_written_once_when_the_last_of_the_batchs_outcomes_is_known() -> None:
    rig = Rig()

    async def batch() -> list[int]:
        arrived = asyncio.Event()
        loop = asyncio.get_running_loop()

        def signal() -> None:
            loop.call_soon_threadsafe(arrived.set)

        rig.log.counted_signal = signal
        rig.deliverer.expect(3)
        seen = []
        for n in range(2):
            await rig.deliver(message(eventId=f"e-{n}"))
            seen.append(len(rig.log.counted))
        await rig.deliver(message(eventId="e-2"))
        # The third outcome starts the write by itself (no flush_counts yet): an
        # event-driven wait with a generous deadline.
        await asyncio.wait_for(arrived.wait(), timeout=10)
        seen.append(len(rig.log.counted))
        await rig.deliverer.flush_counts()  # nothing left to write
        return seen

    assert asyncio.run(batch()) == [0, 0, 1]
    assert rig.log.counted == [{("i-1", "2026-11-28T12"): {"delivered": 3, "failed": 0}}]


def test_counters_that_cannot_be_written_do_not_fail_the_batch(caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig()
    rig.log.counts_fail = True
    with caplog.at_level(logging.INFO):
        rig.run()
        asyncio.run(rig.deliverer.flush_counts())
    assert rig.outcome()["status"] == "delivered"
    warned = records(caplog, logging.WARNING)
    assert [getattr(r, "error", None) for r in warned] == ["RuntimeError"]


def test_delivered_metrics_carry_cloudwatch_units_and_a_non_negative_age() -> None:
    rig = Rig(AttemptResult(200, 40))
    # Stamped by a store clock ahead of ours: the age is 0, never negative.
    rig.run(message(changedAt=NOW + timedelta(seconds=20)))
    assert rig.metrics.values == {
        "AttemptLatency": [("Milliseconds", 40)],
        "Delivered": [("Count", 1)],
        "EndToEndAge": [("Seconds", 0.0)],
    }
