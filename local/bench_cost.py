"""What one instance costs a month, from measured polls and public us-east-1 prices.

    python -m local.bench_cost [--polls 15] [--store-latency-ms 0]   (make bench ARGS=cost)

Real polls of one instance with three resources (orders, products, customers): the
real PollFunction handler against moto's server and the simulated store over HTTP, at
the default log level (INFO). Per poll it measures what AWS bills:

- DynamoDB: requests (botocore hooks on the handler's own clients), read units from the
  bytes of the items each read returned (1 RRU per 4 KB, strongly consistent), write
  units from the size of each written item read back after the write (1 WRU per KB,
  twice when the item is projected into gsi1);
- SQS send requests, KMS requests, store requests (the store's own counter);
- log bytes (everything the handler writes to stdout/stderr: what CloudWatch ingests);
- handler time: wall and CPU (this thread's CPU time) milliseconds.

Lambda duration at a memory size is modelled as: the measured wait (wall - CPU) plus
the measured CPU time divided by the CPU share Lambda gives that size (memory / 1,769 MB,
one vCPU at 1,769 MB), taking this machine's core as one Lambda vCPU. The latency of
the real BigCommerce API cannot be measured here (no network); ``--store-latency-ms``
adds an assumed round trip per store request, and a sensitivity line shows its price.

A quiet store's polls read and change nothing; the busy store has one change a minute,
so a poll every N minutes finds N changes (in orders). Events' delivery is not in these
figures (DeliveryFunction, `make bench ARGS=delivery`). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

POLLS_PER_MONTH_AT_1_MIN = 43_200  # 30 days
INTERVALS = (1, 5, 15)
MEMORY_SIZES = (128, 256, 512)
FULL_VCPU_MB = 1769

# Public on-demand list prices, us-east-1 (arm64 Lambda), free tiers left out.
PRICES = {
    "scheduler_invocation": 1.00 / 1e6,  # EventBridge Scheduler, per invocation
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second": 0.0000133334,  # arm64
    "dynamodb_rru": 0.125 / 1e6,  # on-demand read request unit
    "dynamodb_wru": 0.625 / 1e6,  # on-demand write request unit
    "sqs_request": 0.40 / 1e6,  # standard queue, per 64 KB chunk
    "kms_request": 0.03 / 1e4,
    "logs_gb": 0.50,  # CloudWatch Logs ingestion (standard class)
}


@dataclass
class PollCost:
    """What one poll did, as AWS would bill it."""

    label: str
    read_requests: int = 0
    read_units: float = 0.0
    read_bytes: int = 0
    write_requests: int = 0
    write_units: int = 0
    write_detail: list[str] = field(default_factory=list)
    sqs_requests: int = 0
    kms_requests: int = 0
    store_requests: int = 0
    time_requests: int = 0  # /v2/time
    log_bytes: int = 0
    wall_ms: float = 0.0
    cpu_ms: float = 0.0
    events: int = 0

    def lambda_ms(self, memory_mb: int, store_latency_ms: float) -> float:
        share = min(memory_mb / FULL_VCPU_MB, 1.0)
        wait = max(self.wall_ms - self.cpu_ms, 0.0) + self.store_requests * store_latency_ms
        return wait + self.cpu_ms / share

    def describe(self) -> str:
        return (
            f"DynamoDB {self.read_requests} read request(s) = {self.read_units:g} RRU "
            f"({self.read_bytes:,} bytes), {self.write_requests} write(s) = {self.write_units} WRU"
            + (f" [{'; '.join(self.write_detail)}]" if self.write_detail else "")
            + f"; SQS {self.sqs_requests}; KMS {self.kms_requests}; store {self.store_requests} request(s)"
            + f" (/v2/time {self.time_requests}); log {self.log_bytes} bytes;"
            + f" handler {self.wall_ms:.0f} ms wall, {self.cpu_ms:.0f} ms CPU; {self.events} events"
        )


def median_cost(label: str, costs: list[PollCost]) -> PollCost:
    def med(get: Callable[[PollCost], float]) -> float:
        return float(statistics.median(get(c) for c in costs))

    first = costs[0]
    return PollCost(
        label=label,
        read_requests=int(med(lambda c: c.read_requests)),
        read_units=med(lambda c: c.read_units),
        read_bytes=int(med(lambda c: c.read_bytes)),
        write_requests=int(med(lambda c: c.write_requests)),
        write_units=int(med(lambda c: c.write_units)),
        write_detail=first.write_detail,
        sqs_requests=int(med(lambda c: c.sqs_requests)),
        kms_requests=int(med(lambda c: c.kms_requests)),
        store_requests=int(med(lambda c: c.store_requests)),
        time_requests=int(med(lambda c: c.time_requests)),
        log_bytes=int(med(lambda c: c.log_bytes)),
        wall_ms=med(lambda c: c.wall_ms),
        cpu_ms=med(lambda c: c.cpu_ms),
        events=int(med(lambda c: c.events)),
    )


class SizedWrites:
    """The handler's table adapter, observed: after each write the written item is read
    back (on a client of its own, not counted) and its size kept."""

    def __init__(self, inner: Any, raw_table: Any) -> None:
        self.inner = inner
        self._raw = raw_table
        self.written: list[tuple[str, int, bool]] = []  # (item sk, bytes, in gsi1)

    def _sized(self, instance_id: str, sk: str) -> None:
        from bcpoller import keys
        from boto3.dynamodb.types import TypeSerializer

        from local.dynamo_size import item_size

        item = self._raw.get_item(Key={keys.PK: keys.instance_pk(instance_id), keys.SK: sk}).get("Item") or {}
        serializer = TypeSerializer()
        typed: dict[str, dict[str, Any]] = {k: dict(serializer.serialize(v)) for k, v in item.items()}
        self.written.append((sk, item_size(typed), keys.GSI1_PK in item))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def take_lease(self, instance_id: str, **kwargs: Any) -> str | None:
        from bcpoller import keys

        refused: str | None = self.inner.take_lease(instance_id, **kwargs)
        if refused is None:
            self._sized(instance_id, keys.POLL_STATUS)
        return refused

    def release(self, instance_id: str, **kwargs: Any) -> None:
        from bcpoller import keys

        self.inner.release(instance_id, **kwargs)
        self._sized(instance_id, keys.POLL_STATUS)

    def record(self, instance_id: str, **kwargs: Any) -> None:
        from bcpoller import keys

        self.inner.record(instance_id, **kwargs)
        self._sized(instance_id, keys.POLL_STATUS)

    def mark_auth_failed(self, instance_id: str, **kwargs: Any) -> None:
        from bcpoller import keys

        self.inner.mark_auth_failed(instance_id, **kwargs)
        self._sized(instance_id, keys.META)

    def checkpoint(self, instance_id: str, state: Any, **kwargs: Any) -> Any:
        from bcpoller import keys

        written = self.inner.checkpoint(instance_id, state, **kwargs)
        self._sized(instance_id, keys.cursor_sk(state.resource))
        return written

    def put_blob(self, instance_id: str, event_id: str, *args: Any, **kwargs: Any) -> None:
        from bcpoller import keys

        self.inner.put_blob(instance_id, event_id, *args, **kwargs)
        self._sized(instance_id, keys.blob_sk(event_id))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.bench_cost", description=__doc__)
    parser.add_argument("--polls", type=int, default=15, help="quiet polls measured (the median is used)")
    parser.add_argument(
        "--store-latency-ms",
        type=float,
        default=0.0,
        help="assumed BigCommerce round trip added per store request (not measurable here)",
    )
    parser.add_argument(
        "--memory", type=int, default=None, help="PollFunction memory (default: template.yaml)"
    )
    args, _ = parser.parse_known_args(argv)

    from local.bench_env import set_bench_environment

    set_bench_environment(POWERTOOLS_SERVICE_NAME="poll", POWERTOOLS_LOG_LEVEL="INFO")
    os.environ["POWERTOOLS_LOG_LEVEL"] = "INFO"  # the default level is the one billed

    import boto3
    from bcpoller.adapters import aws
    from bcpoller.settings import reset_settings

    from local.moto_server import running_moto
    from local.poll_harness import (
        CUSTOMERS_URL,
        PRODUCTS_URL,
        CallCounter,
        captured_output,
        create_instance,
        drain_queue,
        load_poll_handler,
        poller,
        schedule_event,
    )
    from local.runtime import LambdaContext, function_spec
    from local.store import SimulatedStore
    from local.template_resources import create_stack_resources

    memory_mb = args.memory or function_spec("poll").memory_mb
    pollers = {"orders": poller(), "products": poller(PRODUCTS_URL), "customers": poller(CUSTOMERS_URL)}
    with running_moto() as moto, SimulatedStore(seed=7, records_per_resource=25, quota=100_000) as store:
        resources = create_stack_resources(moto.url)
        os.environ.update(resources.function_environment())
        os.environ["POWERTOOLS_LOG_LEVEL"] = "INFO"
        os.environ["LOCAL_MODE"] = "true"
        os.environ["BC_API_BASE_URL"] = store.url
        reset_settings()
        aws.reset_clients()
        handler = load_poll_handler()
        raw_table = boto3.resource("dynamodb", endpoint_url=moto.url).Table(resources.table_name)
        sized = SizedWrites(handler.deps.state, raw_table)
        handler.deps.state = sized
        counter = CallCounter().install()

        spec = function_spec("poll")  # parsed once: the handler alone is timed below

        def measure(label: str, instance_id: str) -> PollCost:
            counter.reset()
            sized.written.clear()
            before = dict(store.stats_requests)
            event = schedule_event(instance_id)
            context = LambdaContext(
                function_name=spec.arn.rsplit(":", 1)[-1],
                invoked_function_arn=spec.arn,
                memory_limit_in_mb=memory_mb,
                timeout_s=spec.timeout_s,
            )
            started, cpu = time.perf_counter(), time.thread_time()
            with captured_output("poll") as output:
                result = handler.lambda_handler(event, context)
            cpu_ms = (time.thread_time() - cpu) * 1000.0
            wall_ms = (time.perf_counter() - started) * 1000.0
            calls = counter.calls
            reads = [c for c in counter.dynamo if not c.is_write]
            writes = [c for c in counter.dynamo if c.is_write]
            units = [-(-size // 1024) * (2 if indexed else 1) for _, size, indexed in sized.written]
            after = dict(store.stats_requests)
            return PollCost(
                label=label,
                read_requests=len(reads),
                read_units=sum(c.read_units() for c in reads),
                read_bytes=sum(c.read_bytes() for c in reads),
                write_requests=len(writes),
                write_units=sum(units),
                write_detail=[
                    f"{sk} {size:,} B = {u} WRU"
                    for (sk, size, _), u in zip(sized.written, units, strict=True)
                ],
                sqs_requests=sum(n for k, n in calls.items() if k.startswith("sqs:")),
                kms_requests=sum(n for k, n in calls.items() if k.startswith("kms:")),
                store_requests=sum(after.values()) - sum(before.values()),
                time_requests=after.get("GET /v2/time", 0) - before.get("GET /v2/time", 0),
                log_bytes=len(output.getvalue().encode()),
                wall_ms=wall_ms,
                cpu_ms=cpu_ms,
                events=sum(int(r.get("eventsEmitted", 0)) for r in result.get("resources", {}).values()),
            )

        origin = store.now() - timedelta(minutes=5)
        quiet_id = create_instance(store, pollers, created=origin)
        for name in pollers:
            store.create(name)  # one change each: every resource has its cursor item
        cold = measure("cold", quiet_id)
        measure("settle", quiet_id)
        quiet = median_cost("quiet", [measure(f"quiet {i}", quiet_id) for i in range(args.polls)])
        # The same resources with the deletion sweep on (our extension): its first polls run
        # the baseline sweeps, then, until a sweep is due, a quiet poll must cost the same.
        swept = {name: {**p, "deletions": {"everyMinutes": 60}} for name, p in pollers.items()}
        swept_id = create_instance(store, swept, created=origin)
        measure("sweep baseline", swept_id)
        measure("settle", swept_id)
        quiet_swept = median_cost(
            "quiet, deletions on", [measure(f"quiet swept {i}", swept_id) for i in range(args.polls)]
        )
        handler.deps.heartbeat_s = 0.0  # the next quiet poll is one whose heartbeat is due
        heartbeat = measure("heartbeat", quiet_id)
        handler.deps.heartbeat_s = get_heartbeat_s()

        busy: dict[int, PollCost] = {}
        rss_before = _peak_rss_mb()
        for minutes in INTERVALS:
            # One change a minute: a poll every N minutes finds N changed orders.
            runs = []
            for _ in range(3):
                store.bulk("orders", minutes, start=store.now(), per_second=minutes)
                runs.append(measure(f"busy {minutes}", quiet_id))
                drain_queue()
            busy[minutes] = median_cost(f"{minutes} changes", runs)
        big_id = create_instance(store, {"orders": poller()}, created=store.now() - timedelta(minutes=1))
        measure("warm", big_id)
        store.bulk("orders", 250, start=store.now(), per_second=250)
        page = measure("250", big_id)
        drain_queue()
        wake = _measure_wakeup(store, pollers, measure, counter, raw_table, origin)
        peak_mb = _peak_rss_mb()
        counter.uninstall()
        cold_cpu_s, floor_mb = import_footprint()

    _report(
        memory_mb=memory_mb,
        latency=args.store_latency_ms,
        cold=cold,
        quiet=quiet,
        quiet_swept=quiet_swept,
        heartbeat=heartbeat,
        busy=busy,
        page=page,
        rss=(rss_before, peak_mb),
        polls=args.polls,
        cold_start=(cold_cpu_s, floor_mb),
    )
    print()
    for line in wake:
        print(line)
    return 0


def _measure_wakeup(
    store: Any,
    pollers: dict[str, Any],
    measure: Callable[[str, str], PollCost],
    counter: Any,
    raw_table: Any,
    origin: Any,
) -> list[str]:
    """What wake-up (event.poller.wakeup) adds: a quiet poll with it on (hook check not
    due, and due: every 15 minutes), one wake-up request at the route, and the woken
    poll's own bookkeeping (its poll is a normal poll, measured above)."""
    from types import SimpleNamespace

    from bcpoller.adapters import aws
    from bcpoller.adapters.instance_table import InstanceTable
    from bcpoller.adapters.kms_crypto import KmsCrypto
    from bcpoller.adapters.store_hooks import StoreHooks
    from bcpoller.adapters.wake_table import WakeTable
    from bcpoller.instances import WAKE_SECRET
    from bcpoller.settings import get_settings
    from bcpoller.wakeup.coalesce import WakeService, run_woken
    from bcpoller.wakeup.manager import Wakeup, wake_url

    from local.dynamo_size import item_size
    from local.poll_harness import create_instance

    settings = get_settings()
    wake_id = create_instance(store, pollers, created=origin, extra_config={"event.poller.wakeup": True})
    crypto = KmsCrypto(aws.client("kms"), settings.kms_key_id)
    instances = InstanceTable(aws.table(settings.table_name))
    instance = instances.get(wake_id, consistent=True)
    secrets = {**crypto.decrypt(instance.secrets, wake_id), WAKE_SECRET: "bench-wake-secret"}
    instances.update_fields(wake_id, {"secrets": crypto.encrypt(secrets, wake_id)})
    table = WakeTable(aws.table(settings.table_name))
    manager = Wakeup(
        records=table,
        open_hooks=lambda cfg: StoreHooks(cfg, api_base_url=store.url, allow_loopback=True),
    )
    full = instance.full_configuration(secrets)
    manager.switch_on(
        wake_id, full, instance.resources, "bench-wake-secret", wake_url("https://api.example", wake_id)
    )
    measure("settle", wake_id)
    quiet = median_cost("wake quiet", [measure(f"wake quiet {i}", wake_id) for i in range(5)])
    table.record_hooks(wake_id, {"hooks": [], "checkedAt": "2000-01-01T00:00:00+00:00"})
    due = measure("hook check", wake_id)

    def writes_and_reads() -> tuple[int, int]:
        ops = counter.dynamo
        return sum(1 for c in ops if c.is_write), sum(1 for c in ops if not c.is_write)

    counter.reset()
    started: list[str] = []
    WakeService(state=table, trigger=started.append).wake(wake_id, "bench-wake-secret")
    route = writes_and_reads()
    counter.reset()
    run_woken(wake_id, table, lambda: SimpleNamespace(status="ok", reason=None), remaining_ms=lambda: 100_000)
    runner = writes_and_reads()
    key = {"pk": f"INST#{wake_id}", "sk": "META#POLL"}
    from boto3.dynamodb.types import TypeSerializer

    item = raw_table.get_item(Key=key, ConsistentRead=True).get("Item") or {}
    typed: dict[str, dict[str, Any]] = {k: dict(TypeSerializer().serialize(v)) for k, v in item.items()}
    size = item_size(typed)
    return [
        "Wake-up (event.poller.wakeup: true; make bench ARGS=wakeup for latency)",
        f"  quiet poll, wake-up on (hook check not due): {quiet.describe()}",
        f"  quiet poll, wake-up on, hook check due (every 15 min): {due.describe()}",
        f"  one hook at the route: {route[0]} write(s), {route[1]} read(s) (DynamoDB; plus one API"
        f" request and, for the first hook of a run only, one async PollFunction invoke)",
        f"  a woken poll's bookkeeping besides its poll: {runner[0]} write(s), {runner[1]} read(s)",
        f"  the last-poll item with wake-up on: {size:,} bytes (each of these writes is"
        f" {-(-size // 1024)} WRU)",
    ]


def import_footprint() -> tuple[float, float]:
    """(CPU seconds, peak RSS MB) of a fresh process importing functions/poll/app.py:
    what a cold start costs before the first poll, and the memory floor."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    code = (
        "import json, resource, time\n"
        "t = time.process_time()\n"
        "import app\n"
        "print(json.dumps([time.process_time() - t,"
        " resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]))\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{root / 'shared'}{os.pathsep}{root / 'functions' / 'poll'}"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True, check=True
    )
    cpu_s, rss_mb = json.loads(out.stdout.strip().splitlines()[-1])
    return float(cpu_s), float(rss_mb)


def get_heartbeat_s() -> float:
    from bcpoller.settings import get_settings

    s = get_settings()
    return s.status_heartbeat_minutes * s.seconds_per_minute


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _money(value: float) -> str:
    return f"${value:.4f}" if value < 0.1 else f"${value:.3f}"


@dataclass
class Line:
    what: str
    inputs: str
    dollars: float


def month_lines(
    poll: PollCost, heartbeat: PollCost | None, minutes: int, memory_mb: int, latency: float
) -> Iterator[Line]:
    polls = POLLS_PER_MONTH_AT_1_MIN // minutes
    p = PRICES
    yield Line("scheduler", f"{polls:,} invocations x $1.00/M", polls * p["scheduler_invocation"])
    yield Line("lambda requests", f"{polls:,} x $0.20/M", polls * p["lambda_request"])
    ms = poll.lambda_ms(memory_mb, latency)
    gb_s = polls * ms / 1000.0 * memory_mb / 1024.0
    yield Line(
        "lambda duration",
        f"{polls:,} x {ms:.0f} ms at {memory_mb} MB = {gb_s:,.0f} GB-s x ${p['lambda_gb_second']}",
        gb_s * p["lambda_gb_second"],
    )
    rru = polls * poll.read_units
    yield Line("dynamodb reads", f"{polls:,} x {poll.read_units:g} RRU x $0.125/M", rru * p["dynamodb_rru"])
    wru = float(polls * poll.write_units)
    detail = f"{polls:,} x {poll.write_units} WRU"
    if heartbeat is not None:
        # A quiet poll reports once its report is a heartbeat old (15 min by default).
        every = max(1, -(-get_heartbeat_s() // (minutes * 60)))
        beats = polls / every
        wru += beats * heartbeat.write_units
        detail += f" + {beats:,.0f} heartbeat reports x {heartbeat.write_units} WRU"
    yield Line("dynamodb writes", f"{detail} x $0.625/M", wru * p["dynamodb_wru"])
    if poll.sqs_requests:
        yield Line(
            "sqs sends",
            f"{polls:,} x {poll.sqs_requests} x $0.40/M",
            polls * poll.sqs_requests * p["sqs_request"],
        )
    if poll.kms_requests:
        yield Line(
            "kms", f"{polls:,} x {poll.kms_requests} x $3/M", polls * poll.kms_requests * p["kms_request"]
        )
    log_gb = polls * poll.log_bytes / 1e9
    yield Line(
        "logs",
        f"{polls:,} x {poll.log_bytes} bytes = {log_gb * 1000:,.1f} MB x $0.50/GB",
        log_gb * p["logs_gb"],
    )


def _report(
    *,
    memory_mb: int,
    latency: float,
    cold: PollCost,
    quiet: PollCost,
    quiet_swept: PollCost,
    heartbeat: PollCost,
    busy: dict[int, PollCost],
    page: PollCost,
    rss: tuple[float, float],
    polls: int,
    cold_start: tuple[float, float],
) -> None:
    print("Measured (real handler, moto's server, simulated store; 3 resources: orders, products, customers)")
    print(f"  cold poll (first of the process):  {cold.describe()}")
    print(f"  quiet warm poll (median of {polls}): {quiet.describe()}")
    print(f"  quiet poll, deletions on, no sweep due: {quiet_swept.describe()}")
    print(f"  quiet poll reporting its heartbeat: {heartbeat.describe()}")
    for minutes, cost in busy.items():
        print(f"  poll finding {minutes} changed order(s):  {cost.describe()}")
    print(f"  poll finding 250 changed orders:   {page.describe()}")
    print(
        f"  memory: a fresh process importing the poll handler peaks at {cold_start[1]:.0f} MB"
        f" ({cold_start[0] * 1000:.0f} ms CPU); the busy polls grew this process from"
        f" {rss[0]:.0f} to {rss[1]:.0f} MB"
    )
    print(f"  load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    print(
        f"\nLambda memory (duration = wait + CPU / (memory / {FULL_VCPU_MB} MB);"
        f" store round trip {latency:g} ms)"
    )
    for size in MEMORY_SIZES:
        ms = quiet.lambda_ms(size, latency)
        busy_ms = page.lambda_ms(size, latency)
        total = sum(line.dollars for line in month_lines(quiet, heartbeat, 1, size, latency))
        init_s = cold_start[0] / min(size / FULL_VCPU_MB, 1.0)
        print(
            f"  {size:>4} MB: quiet poll {ms:6.0f} ms, 250-change poll {busy_ms:6.0f} ms,"
            f" cold-start imports {init_s:4.1f} s;"
            f" quiet store, 1 min refresh: {_money(total)} per instance-month"
        )
    extra_ms = 100.0 * quiet.store_requests
    extra = POLLS_PER_MONTH_AT_1_MIN * extra_ms / 1000.0 * memory_mb / 1024.0 * PRICES["lambda_gb_second"]
    print(
        f"  sensitivity: every 100 ms of BigCommerce round trip per request adds {extra_ms:.0f} ms to a"
        f" quiet poll = {_money(extra)} per instance-month at 1 min and {memory_mb} MB"
    )

    print(
        "\nPrices (us-east-1, public on-demand, free tiers left out): "
        + ", ".join(f"{k} ${v:.10g}" for k, v in PRICES.items())
    )
    headlines: list[str] = []
    for store_kind in ("quiet", "busy"):
        for minutes in INTERVALS:
            poll = quiet if store_kind == "quiet" else busy[minutes]
            name = "quiet store" if store_kind == "quiet" else "store with 1 change a minute"
            lines = list(
                month_lines(poll, heartbeat if store_kind == "quiet" else None, minutes, memory_mb, latency)
            )
            total = sum(line.dollars for line in lines)
            print(f"\n{name}, {minutes} min refresh ({memory_mb} MB):")
            for line in lines:
                print(f"  {line.what:<16} {line.inputs:<78} {_money(line.dollars)}")
            headlines.append(f"{name}, {minutes} min refresh: {_money(total)} per instance-month")
    print()
    for headline in headlines:
        print(headline)
    for label, cost in (("deletions off", quiet), ("deletions on, no sweep due", quiet_swept)):
        print(
            f"quiet poll, {label}: {cost.read_units:g} RRU, {cost.write_requests} writes,"
            f" {cost.store_requests} store requests"
        )


if __name__ == "__main__":
    raise SystemExit(main())
