"""EventsQueue writer: SendMessageBatch, ten messages (and at most 256 KiB) a call.

A page of 250 events is 25 calls; they go out concurrently (boto3 clients are
thread-safe), since a sequential round trip per ten events would cap a busy poll at a
few hundred events a second.

SQS can accept part of a batch and fail the rest; the failed entries are retried with
backoff, and if any still fail the whole send raises, so the poller does not move the
cursor over events that are not queued (the ones that were queued are re-sent with the
same eventId next time, which delivery deduplicates).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from bcpoller.poll.ports import QueueSendError

MAX_BATCH_ENTRIES = 10
MAX_BATCH_BYTES = 256 * 1024


class _SomeFailed(Exception):
    def __init__(self, failed: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(failed)} entries failed")
        self.failed = failed


class SqsEventQueue:
    def __init__(
        self,
        sqs_client: Any,
        queue_url: str,
        *,
        max_attempts: int = 5,
        sleep: Callable[[float], None] = time.sleep,
        concurrency: int = 4,
    ) -> None:
        self._sqs = sqs_client
        self._url = queue_url
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._concurrency = max(1, concurrency)

    def send(self, bodies: Sequence[str]) -> None:
        groups = list(batches(bodies))
        if len(groups) <= 1 or self._concurrency == 1:
            for batch in groups:
                self._send_batch(batch)
            return
        with ThreadPoolExecutor(max_workers=min(self._concurrency, len(groups))) as pool:
            # Every batch is attempted; the first failure is raised once all are done, so
            # the caller never checkpoints over an event that is not queued.
            futures = [pool.submit(self._send_batch, batch) for batch in groups]
            errors = [f.exception() for f in futures]
        for error in errors:
            if error is not None:
                raise error

    def _send_batch(self, batch: list[str]) -> None:
        pending = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(batch)]
        retrying = Retrying(
            stop=stop_after_attempt(self._max_attempts),
            wait=wait_exponential_jitter(initial=0.05, max=2.0, jitter=0.05),
            retry=retry_if_exception_type(_SomeFailed),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    failed = self._send_once(pending)
                    if failed:
                        ids = {f["Id"] for f in failed}
                        pending = [e for e in pending if e["Id"] in ids]
                        raise _SomeFailed(failed)
        except _SomeFailed as exc:
            codes = sorted({str(f.get("Code")) for f in exc.failed})
            raise QueueSendError(
                f"{len(exc.failed)} of {len(batch)} events could not be queued after "
                f"{self._max_attempts} attempts ({', '.join(codes)})"
            ) from None

    def _send_once(self, entries: list[dict[str, str]]) -> list[dict[str, Any]]:
        try:
            response = self._sqs.send_message_batch(QueueUrl=self._url, Entries=entries)
        except (BotoCoreError, ClientError) as exc:
            # botocore has already retried what it could; the poll stops at its last
            # checkpoint and the next tick re-sends these with the same eventIds.
            raise QueueSendError(f"SQS unavailable: {type(exc).__name__}: {exc}") from None
        failed: list[dict[str, Any]] = response.get("Failed") or []
        permanent = [f for f in failed if f.get("SenderFault")]
        if permanent:
            # Our own fault (too big, bad characters): retrying cannot help.
            first = permanent[0]
            raise QueueSendError(
                f"SQS refused {len(permanent)} events: {first.get('Code')}: {first.get('Message', '')}"
            )
        return failed


def batches(bodies: Sequence[str]) -> Iterator[list[str]]:
    """Groups of at most ten bodies and 256 KiB (SendMessageBatch's limits), in order."""
    batch: list[str] = []
    size = 0
    for body in bodies:
        n = len(body.encode())
        if batch and (len(batch) == MAX_BATCH_ENTRIES or size + n > MAX_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(body)
        size += n
    if batch:
        yield batch
