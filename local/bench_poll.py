"""Poll engine benchmark: events/s of one poll of N changed orders, and the AWS calls
(DynamoDB, SQS, KMS) per poll for a quiet store and a busy one.

    python -m local.bench_poll [--changes 10000] [--per-second 25] [--busy 250]

Everything real over HTTP: moto's server (table, queues, key from template.yaml), the
simulated store, and functions/poll/app.py invoked with the schedule's event. AWS calls
are counted with botocore's before-call hook on the handler's own clients. Figures are
printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from datetime import timedelta
from typing import Any

COLD = "cold (first poll of this process: KMS decrypt not cached yet)"


def _line(label: str, calls: Counter[str], extra: str = "") -> None:
    from local.poll_harness import by_service

    services = by_service(calls)
    total = ", ".join(f"{svc} {services.get(svc, 0)}" for svc in ("dynamodb", "sqs", "kms"))
    detail = ", ".join(f"{k} {v}" for k, v in sorted(calls.items()))
    print(f"  {label:<44} {total}{extra}")
    print(f"  {'':<44} ({detail})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.bench_poll", description=__doc__)
    parser.add_argument("--changes", type=int, default=10_000, help="changed orders for the events/s figure")
    parser.add_argument("--per-second", type=int, default=25, help="how many of them share each second")
    parser.add_argument("--busy", type=int, default=250, help="changed orders for the busy-poll call count")
    args, _ = parser.parse_known_args(argv)

    from local.bench_env import set_bench_environment

    set_bench_environment()

    from bcpoller.adapters import aws
    from bcpoller.settings import reset_settings

    from local.moto_server import running_moto
    from local.poll_harness import (
        CallCounter,
        QueueConsumer,
        create_instance,
        drain_queue,
        invoke_poll,
        load_poll_handler,
        poller,
    )
    from local.store import SimulatedStore
    from local.template_resources import create_stack_resources

    store_server = SimulatedStore(seed=5, records_per_resource=0, quota=100_000)
    with running_moto() as moto, store_server as store:
        resources = create_stack_resources(moto.url)
        os.environ.update(resources.function_environment())
        os.environ["LOCAL_MODE"] = "true"
        os.environ["BC_API_BASE_URL"] = store.url
        reset_settings()
        aws.reset_clients()
        handler = load_poll_handler()
        counter = CallCounter().install()
        pollers = {"orders": poller(), "products": poller(_products())}

        def poll(instance_id: str, timeout_s: float = 900) -> tuple[dict[str, Any], Counter[str], float]:
            counter.reset()
            started = time.perf_counter()
            result = invoke_poll(handler, instance_id, timeout_s=timeout_s)
            return result, counter.reset(), time.perf_counter() - started

        print(f"AWS calls per poll (instance with 2 resources: orders, products; moto {moto.url})")
        quiet_id = create_instance(store, pollers)
        _, cold, _ = poll(quiet_id)
        _line("quiet store, " + COLD, cold)
        _, warm, seconds = poll(quiet_id)
        _line("quiet store (0 changes), warm", warm, f"   [{seconds * 1000:.0f} ms]")

        origin = store.now() - timedelta(minutes=30)
        busy_id = create_instance(store, pollers, created=origin)
        poll(busy_id)  # warm this instance's KMS cache entry
        store.bulk("orders", args.busy, start=origin + timedelta(seconds=1), per_second=args.per_second)
        result, busy, seconds = poll(busy_id)
        emitted = result["resources"]["orders"]["eventsEmitted"]
        label = f"busy store ({args.busy} changed orders), warm"
        _line(label, busy, f"   [{emitted} events, {seconds:.2f} s]")

        print(f"\nOne poll of {args.changes} changed orders ({args.per_second} per second of store time)")
        # Its own origin, after the busy orders: only the bulk below is new to it.
        big_origin = store.now() - timedelta(minutes=10)
        big_id = create_instance(store, {"orders": poller()}, created=big_origin)
        # A twin over the same changes, polled with EventsQueue replaced by a list in memory:
        # the poll's own cost without SQS is measured, not subtracted.
        twin_id = create_instance(store, {"orders": poller()}, created=big_origin)
        poll(big_id)
        poll(twin_id)
        drain_queue()  # the quiet/busy polls' events: the consumer below counts only this poll's
        built = time.perf_counter()
        first = big_origin + timedelta(seconds=1)
        store.bulk("orders", args.changes, start=first, per_second=args.per_second)
        print(f"  store filled in {time.perf_counter() - built:.1f} s")
        # A consumer drains EventsQueue meanwhile, as DeliveryFunction would (and moto's SQS
        # slows down with every message left stored in a queue).
        timed = TimedQueue(handler.deps.queue)
        handler.deps.queue = timed
        with QueueConsumer() as consumer:
            result, calls, seconds = poll(big_id, timeout_s=3600)
        handler.deps.queue = timed.inner
        orders = result["resources"]["orders"]
        distinct = len({m["eventId"] for m in consumer.messages})
        print(
            f"  status {result['status']}: {orders['eventsEmitted']} events emitted, "
            f"{len(consumer.messages)} received from EventsQueue ({distinct} distinct eventIds), "
            f"{orders['requests']} store requests, {orders['checkpoints']} checkpoints"
        )
        print(f"  {seconds:.1f} s  ->  {orders['eventsEmitted'] / seconds:,.0f} events/s end to end on moto")
        print(f"  of which {timed.seconds:.1f} s waiting on SQS SendMessageBatch (timed around each call)")
        memory = MemoryQueue()
        handler.deps.queue = memory
        try:
            twin, _, twin_s = poll(twin_id, timeout_s=3600)
        finally:
            handler.deps.queue = timed.inner
        emitted = twin["resources"]["orders"]["eventsEmitted"]
        print(
            f"  the same poll with EventsQueue replaced by a list in memory (store reads, dedup, bodies, "
            f"checkpoints on moto): {twin_s:.1f} s for {emitted} events ({memory.sent} queued)  ->  "
            f"{emitted / twin_s:,.0f} events/s without the queue"
        )
        _line(f"busy store ({args.changes} changed orders)", calls)
        load = os.getloadavg()
        print(f"  (machine load average while measuring: {load[0]:.1f} on {os.cpu_count()} CPUs)")
        counter.uninstall()
    return 0


class TimedQueue:
    """The handler's EventsQueue writer, timed: moto's SQS slows down with every message a
    queue holds, so its share of a big poll is reported apart."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.seconds = 0.0

    def send(self, bodies: Any) -> None:
        started = time.perf_counter()
        try:
            self.inner.send(bodies)
        finally:
            self.seconds += time.perf_counter() - started


class MemoryQueue:
    """EventsQueue stand-in that keeps nothing but a count (the twin poll's queue)."""

    def __init__(self) -> None:
        self.sent = 0

    def send(self, bodies: Any) -> None:
        self.sent += len(list(bodies))


def _products() -> str:
    from local.poll_harness import PRODUCTS_URL

    return PRODUCTS_URL


if __name__ == "__main__":
    raise SystemExit(main())
