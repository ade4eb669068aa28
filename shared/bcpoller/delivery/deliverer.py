"""Deliver one queued event: claim it, sign, POST, record the outcome, decide what next.

Per event delivered at its first attempt: the claim (one conditional PutItem of the
small event item) and the outcome, written with the body in the log entry (one
PutItem); the batch's delivered/failed counts go to the instance's counters in one write
per instance, as the last outcome is known.

Blocking adapters (DynamoDB, SQS, KMS, DNS) run in worker threads so that the records
of a batch are delivered concurrently on one event loop.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from aws_lambda_powertools import Logger

from bcpoller.delivery.event_log import Claimed, EventLog, Tally, log_time
from bcpoller.delivery.policy import (
    TIMEOUT_KEY,
    AttemptResult,
    Outcome,
    classify,
    is_last_attempt,
    parse_timeout_seconds,
    retry_delay_seconds,
)
from bcpoller.delivery.ports import Blobs, Claim, Instances, MetricsSink, Queue, Sender
from bcpoller.delivery.signing import callback_headers, previous_signing
from bcpoller.instances import SIGNING_SECRET, StoredInstance
from bcpoller.messages import QueueMessage
from bcpoller.security.ssrf import UnsafeUrlError

logger = Logger(child=True)

SIGNATURE_KEY = "event.notification.signature.key"
# Another invocation holds the event (a duplicate message): look again after its own
# attempt has certainly ended (the Lambda timeout is 30 s).
IN_PROGRESS_RETRY_SECONDS = 45


class Disposition(StrEnum):
    DONE = "done"  # delete the message (delivered, failed for good, or moved to the DLQ)
    RETRY = "retry"  # keep it: its visibility was set to the next attempt's time


class RetryLater(Exception):
    """Raised by the batch record handler so that Powertools reports the item as failed."""


class NoopMetrics:
    def add_metric(self, name: str, unit: Any, value: float) -> None:
        return None


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Deliverer:
    def __init__(
        self,
        *,
        instances: Instances,
        event_log: EventLog,
        blobs: Blobs,
        sender: Sender,
        queue: Queue,
        url_guard: Callable[[str], None],
        metrics: MetricsSink | None = None,
        seconds_per_minute: float = 60.0,
        remaining_ms: Callable[[], int] = lambda: 30_000,
        clock: Callable[[], datetime] = _utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self._instances = instances
        self._log = event_log
        self._blobs = blobs
        self._sender = sender
        self._queue = queue
        self._guard = url_guard
        self._metrics = metrics or NoopMetrics()
        self._spm = seconds_per_minute
        self._remaining_ms = remaining_ms
        self._clock = clock
        self._rng = rng
        self._tally = Tally()
        # Records of the batch whose outcome is not known yet; at 0 the counters are
        # written while the last outcome writes are still on their way.
        self._pending = 0
        self._flush: asyncio.Future[None] | None = None
        # One lookup per instance per invocation, shared by the batch's concurrent records.
        self._instance_tasks: dict[str, asyncio.Task[StoredInstance | None]] = {}

    def expect(self, records: int) -> None:
        """The batch has this many records (see flush_counts)."""
        self._pending = records

    def _settled(self) -> None:
        self._pending -= 1
        if self._pending == 0 and self._flush is None:
            self._flush = asyncio.ensure_future(self._write_counts())

    async def deliver(self, message: QueueMessage, *, receive_count: int, receipt_handle: str) -> Disposition:
        settled = [False]

        def settle() -> None:
            if not settled[0]:
                settled[0] = True
                self._settled()

        try:
            return await self._deliver(message, receive_count, receipt_handle, settle)
        finally:
            settle()

    async def _deliver(
        self, message: QueueMessage, receive_count: int, receipt_handle: str, settle: Callable[[], None]
    ) -> Disposition:
        event_id, instance_id = message.event_id, message.instance_id
        started = self._clock()
        # The claim lapses when this invocation ends: a crash mid-POST frees the event
        # for the message's next receive instead of blocking it.
        lease_until = started + timedelta(milliseconds=max(1_000, self._remaining_ms()))
        # Both at once: the instance (once per batch) and the claim on the event item.
        instance, claimed = await asyncio.gather(
            self._instance(instance_id),
            asyncio.to_thread(
                self._log.claim,
                message,
                now=started,
                lease_until=lease_until,
                first_attempt=receive_count == 1,
            ),
        )
        if claimed.claim is Claim.DONE:
            logger.info("duplicate of a delivered event: not sent again", extra={"eventId": event_id})
            self._metrics.add_metric("Duplicate", "Count", 1)
            return Disposition.DONE
        if claimed.claim is Claim.IN_PROGRESS:
            delay = max(1, round(IN_PROGRESS_RETRY_SECONDS * self._spm / 60.0))
            await asyncio.to_thread(self._queue.change_visibility, receipt_handle, delay)
            return Disposition.RETRY

        # A later claim's missing log entry goes out while the POST does (the first
        # claim's is written with its outcome).
        entry: asyncio.Future[None] | None = None
        if claimed.entry is not None and not claimed.first:
            entry = asyncio.ensure_future(asyncio.to_thread(self._log.write_entry, claimed))
        try:
            reason = _why_not_deliverable(instance)
            body: str | None = message.body
            if reason is None and body is None:
                try:
                    body = await asyncio.to_thread(self._blobs.load_body, instance_id, message.body_ref or "")
                except (LookupError, ValueError) as exc:
                    reason = f"event body unavailable: {exc}"
            if reason is not None or instance is None or body is None:
                return await self._fail_undeliverable(
                    message, reason or "instance not found", claimed, settle
                )
            result = await self._attempt(message, instance, body)
            return await self._conclude(
                message, claimed, result, started, receive_count, receipt_handle, settle
            )
        finally:
            if entry is not None:
                await _settle(entry, event_id)

    async def flush_counts(self) -> None:
        """The batch's outcomes into the hourly counters: one atomic ADD per instance and
        hour, started as soon as the last record's outcome is known (expect()), so it runs
        beside the last outcome writes; this waits for it and writes what is left."""
        if self._flush is not None:
            await self._flush
        await self._write_counts()

    async def _write_counts(self) -> None:
        # Counting is best effort: a failure here must not send the batch again.
        counts = self._tally.take()
        if not counts:
            return
        try:
            await asyncio.to_thread(self._log.add_counts, counts)
        except Exception as exc:
            logger.warning("status counters not updated", extra={"error": type(exc).__name__})

    async def _attempt(self, message: QueueMessage, instance: StoredInstance, body: str) -> AttemptResult:
        # Warm containers have them decrypted: no worker-thread hop (and GIL hand-off) per event.
        secrets = self._instances.cached_secrets(instance)
        if secrets is None:
            secrets = await asyncio.to_thread(self._instances.secrets, instance)
        url = instance.callback_url or ""
        try:
            # Scheme and literal addresses here; the connection itself resolves the host
            # and judges the address it connects to (see adapters.callback_sender).
            self._guard(url)
        except UnsafeUrlError as exc:
            return AttemptResult(status_code=None, latency_ms=0, error=f"callback URL refused: {exc}"[:300])
        previous_secret, previous_until = previous_signing(secrets)
        headers = callback_headers(
            event_id=message.event_id,
            body=body,
            signature_key=secrets.get(SIGNATURE_KEY) or None,
            signing_secret=secrets.get(SIGNING_SECRET) or None,
            previous_secret=previous_secret,
            previous_until=previous_until,
        )
        try:
            return await self._sender.post(url, body.encode(), headers, timeout=_timeout_of(instance))
        except Exception as exc:
            # Whatever the sender did not foresee still ends as a recorded attempt with its
            # reason (and the retry schedule), never as an event left "delivering".
            logger.exception("callback POST failed unexpectedly", extra={"eventId": message.event_id})
            reason = f"could not send ({type(exc).__name__}: {_scrub(str(exc))})"
            return AttemptResult(status_code=None, latency_ms=0, error=reason[:300], retryable_error=True)

    async def _conclude(
        self,
        message: QueueMessage,
        claimed: Claimed,
        result: AttemptResult,
        started: datetime,
        receive_count: int,
        receipt_handle: str,
        settle: Callable[[], None],
    ) -> Disposition:
        event_id, instance_id = message.event_id, message.instance_id
        outcome = classify(result)
        attempt = {
            "at": log_time(started),
            "statusCode": result.status_code,
            "latencyMs": result.latency_ms,
            "error": result.error,
        }
        # A refusal's answer (first 2 KB): what the receiver said is how to fix it. One
        # per event (the latest), so retries do not pile bodies up in the item.
        response = result.response_head if outcome is not Outcome.DELIVERED else None
        self._metrics.add_metric("AttemptLatency", "Milliseconds", result.latency_ms)
        log_extra = {"eventId": event_id, "instanceId": instance_id, "attempt": receive_count}
        if outcome is Outcome.DELIVERED:
            now = self._clock()
            self._tally.add(instance_id, now, "delivered")
            settle()
            await asyncio.to_thread(
                self._log.finish_attempt,
                instance_id,
                event_id,
                status="delivered",
                attempt=attempt,
                now=now,
                claimed=claimed,
            )
            self._metrics.add_metric("Delivered", "Count", 1)
            self._metrics.add_metric(
                "EndToEndAge", "Seconds", max(0.0, (now - message.changed_at).total_seconds())
            )
            logger.info("delivered", extra={**log_extra, "statusCode": result.status_code})
            return Disposition.DONE

        if outcome is Outcome.RETRY and not is_last_attempt(receive_count):
            delay = retry_delay_seconds(
                receive_count, seconds_per_minute=self._spm, retry_after=result.retry_after, rng=self._rng
            )
            now = self._clock()
            # Independent writes: the outcome (which releases the claim) and the visibility.
            await asyncio.gather(
                asyncio.to_thread(
                    self._log.finish_attempt,
                    instance_id,
                    event_id,
                    status="retrying",
                    attempt=attempt,
                    now=now,
                    next_attempt_at=now + timedelta(seconds=delay),
                    claimed=claimed,
                    response=response,
                ),
                asyncio.to_thread(self._queue.change_visibility, receipt_handle, delay),
            )
            self._metrics.add_metric("Retried", "Count", 1)
            logger.info("will retry", extra={**log_extra, "delaySeconds": delay, "error": result.error})
            return Disposition.RETRY

        if outcome is Outcome.RETRY:
            reason = f"gave up after {receive_count} attempts: {result.error}"
            # The DLQ first: if that fails the message stays on the queue, never lost.
            await asyncio.to_thread(self._queue.send_to_dlq, message.to_json(), reason)
            await self._count_dead_letter(instance_id)
        elif outcome is Outcome.GONE:
            reason = "callback answered 410 Gone: notifications turned off"
            await asyncio.to_thread(self._instances.turn_off_notifications, instance_id, reason)
        else:
            reason = result.error or f"HTTP {result.status_code}"
        now = self._clock()
        self._tally.add(instance_id, now, "failed")
        settle()
        await asyncio.to_thread(
            self._log.finish_attempt,
            instance_id,
            event_id,
            status="failed",
            attempt=attempt,
            now=now,
            reason=reason,
            claimed=claimed,
            response=response,
        )
        self._metrics.add_metric("Failed", "Count", 1)
        logger.warning("failed", extra={**log_extra, "reason": reason})
        return Disposition.DONE

    async def _count_dead_letter(self, instance_id: str) -> None:
        """The instance's dead-letter counter (status and the page show it). Best effort,
        like the hourly counters: the message is in the DLQ already, and a redrive that
        reads the whole DLQ sets the counter right again."""
        try:
            await asyncio.to_thread(self._log.add_dead_letters, instance_id, 1)
        except Exception as exc:
            logger.warning("dead-letter counter not updated", extra={"error": type(exc).__name__})

    async def _fail_undeliverable(
        self, message: QueueMessage, reason: str, claimed: Claimed, settle: Callable[[], None]
    ) -> Disposition:
        now = self._clock()
        self._tally.add(message.instance_id, now, "failed")
        settle()
        await asyncio.to_thread(
            self._log.finish_attempt,
            message.instance_id,
            message.event_id,
            status="failed",
            attempt=None,
            now=now,
            reason=reason,
            claimed=claimed,
        )
        self._metrics.add_metric("Failed", "Count", 1)
        logger.warning("not deliverable", extra={"eventId": message.event_id, "reason": reason})
        return Disposition.DONE

    async def _instance(self, instance_id: str) -> StoredInstance | None:
        task = self._instance_tasks.get(instance_id)
        if task is None:
            task = asyncio.ensure_future(asyncio.to_thread(self._instances.get, instance_id))
            self._instance_tasks[instance_id] = task
        return await asyncio.shield(task)


async def _settle(entry: asyncio.Future[None], event_id: str) -> None:
    """Wait for the log entry write; its failure leaves the event out of the listing (the
    event item, and so the delivery's outcome, is kept), so it is reported, not raised."""
    try:
        await asyncio.shield(entry)
    except Exception as exc:
        logger.warning(
            "event log entry not written", extra={"eventId": event_id, "error": type(exc).__name__}
        )


def _why_not_deliverable(instance: StoredInstance | None) -> str | None:
    if instance is None:
        return "instance not found (deleted?)"
    if not instance.events_enabled:
        why = instance.notifications_disabled_reason
        return (
            f"notifications are off for this instance ({why})"
            if why
            else "notifications are off for this instance"
        )
    if not instance.callback_url:
        return "instance has no callback URL"
    return None


def _scrub(text: str) -> str:
    """An exception's text without a URL's query or credentials (it is stored and shown)."""
    return re.sub(r"(https?://)[^\s'\"]*", r"\1…", text)[:200]


def _timeout_of(instance: StoredInstance) -> int | None:
    """The instance's POST deadline (validated when it was stored), None for the default."""
    try:
        return parse_timeout_seconds(instance.configuration.get(TIMEOUT_KEY))
    except ValueError:
        return None
