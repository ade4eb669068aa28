"""Store requests per poll under bulk changes, against the floor, with lost and duplicated
changes checked against the store's own change log.

    python -m local.bench_requests [--seed 14] [--page-size 250]

A fixed scenario of 10 rounds over orders (v2), products and customers (v3): ties of
270-520 records stamped in one second, 300 updates in one second while another writer
changes records during the read (and the store clock ticks under it), and quiet rounds.
Each round moves the simulated store's clock (a manual clock: the store's second is
the scenario's, not the machine's) a minute ahead, writes, and invokes the real
PollFunction (moto's server for DynamoDB/SQS/KMS, the simulated store over HTTP).

Per round and in total it prints the store requests the polls made against the floor
(per resource, ceil(n/250) + 1 where n is the records changed in the round: the pages
the changes fill, plus one answer that says there is no more), records read, events
emitted, changes lost and duplicated. ``/v2/time`` (the store clock, one per poll) is
counted apart and left out of the floor. A change is owed when it was a record's
state at a poll's start and stayed so to the poll's end (or is a record's final state);
it is lost when no event carries it, and duplicated when more than one event does.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

RESOURCES = ("orders", "products", "customers")
PATHS = {"orders": "GET /v2/orders", "products": "GET /v3/catalog/products", "customers": "GET /v3/customers"}
TIME_PATH = "GET /v2/time"
ROUND_S = 60  # store seconds between polls
WRITE_LEAD_S = 20  # the round's bulk lands this long before its poll


@dataclass
class Round:
    """What lands before a round's poll (per resource: ties created or updated in one
    second, or changes spread over seconds), and what lands during it."""

    label: str
    creates_tie: dict[str, int] = field(default_factory=dict)
    updates_tie: dict[str, int] = field(default_factory=dict)
    spread: dict[str, int] = field(default_factory=dict)
    during: dict[str, int] = field(default_factory=dict)  # changes while the poll reads


SCENARIO = (
    Round("ties", creates_tie={"orders": 520, "customers": 300}, updates_tie={"products": 270}),
    Round("quiet"),
    Round(
        "300 updates in 1 s + concurrent",
        updates_tie={"orders": 300, "customers": 400},
        spread={"products": 50},
        during={"orders": 60, "products": 20, "customers": 20},
    ),
    Round("quiet"),
    Round("ties", creates_tie={"products": 520}, spread={"orders": 40, "customers": 10}),
    Round(
        "300 updates in 1 s + concurrent",
        updates_tie={"orders": 300},
        during={"orders": 40, "products": 40, "customers": 40},
    ),
    Round("quiet"),
    Round("ties", creates_tie={"customers": 270}, updates_tie={"orders": 350}, spread={"products": 30}),
    Round(
        "mixed + concurrent", spread={"orders": 60, "products": 60, "customers": 60}, during={"orders": 30}
    ),
    Round("quiet"),
)


class ManualClock:
    """The store's clock, moved by the scenario (and by the concurrent writer)."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def set(self, moment: datetime) -> None:
        with self._lock:
            self.now = moment

    def tick(self, seconds: float = 1) -> None:
        with self._lock:
            self.now += timedelta(seconds=seconds)


def _pollers() -> dict[str, dict[str, Any]]:
    from bcpoller.config.catalog import CATALOG

    return {name: CATALOG[name].default_poller() for name in RESOURCES}


def _state_at(log: list[dict[str, Any]]) -> dict[tuple[str, int], str | None]:
    """Each record's latest change (its date_modified) in ``log``; None once deleted."""
    state: dict[tuple[str, int], str | None] = {}
    for change in log:
        key = (change["resource"], int(change["id"]))
        state[key] = None if change["operation"] == "DELETED" else change["date_modified"]
    return state


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.bench_requests", description=__doc__)
    parser.add_argument("--seed", type=int, default=14, help="which records the rounds change")
    parser.add_argument("--page-size", type=int, default=250, help="pageSize of every poller (max 250)")
    args, _ = parser.parse_known_args(argv)

    from local.bench_env import set_bench_environment

    set_bench_environment()

    from bcpoller.adapters import aws
    from bcpoller.settings import reset_settings

    from local.moto_server import running_moto
    from local.poll_harness import (
        QueueConsumer,
        RecordingQueue,
        create_instance,
        invoke_poll,
        load_poll_handler,
    )
    from local.store import SimulatedStore
    from local.template_resources import create_stack_resources

    rng = random.Random(args.seed)
    start = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
    clock = ManualClock(start - timedelta(days=1))
    store_server = SimulatedStore(seed=args.seed, records_per_resource=0, quota=100_000, clock=clock)
    with running_moto() as moto, store_server as store:
        resources = create_stack_resources(moto.url)
        os.environ.update(resources.function_environment())
        os.environ["LOCAL_MODE"] = "true"
        os.environ["BC_API_BASE_URL"] = store.url
        # The figures, not every poll's summary and metrics.
        os.environ.update(POWERTOOLS_LOG_LEVEL="WARNING", POWERTOOLS_METRICS_DISABLED="true")
        reset_settings()
        aws.reset_clients()
        handler = load_poll_handler()
        sent = RecordingQueue(handler.deps.queue)
        handler.deps.queue = sent

        # Records that exist before the instance: the rounds update some of them.
        for name in RESOURCES:
            store.bulk(name, 800, start=clock() - timedelta(hours=2), per_second=40)
        clock.set(start)
        pollers = {name: {**p, "pageSize": args.page_size} for name, p in _pollers().items()}
        instance_id = create_instance(store, pollers)
        ids = {name: [int(c["id"]) for c in store.changes() if c["resource"] == name] for name in RESOURCES}
        before_instance = len(store.changes())
        since = start.strftime("%Y-%m-%dT%H:%M:%SZ")  # states older than the instance are not owed

        print(
            f"scenario: {len(SCENARIO)} rounds, {ROUND_S} s of store time apart, resources "
            f"{', '.join(RESOURCES)}, pageSize {args.page_size}, pollDelay 5 s (default), seed {args.seed}; "
            f"800 records of each resource exist before the instance"
        )
        print(
            f"{'round':<36} {'requests':>8} {'floor':>5} {'/v2/time':>8} {'read':>6} {'events':>6} "
            f"{'lost':>4} {'dup':>4}  status"
        )
        owed: set[tuple[str, int, str]] = set()
        rows: list[dict[str, Any]] = []
        log_end = len(store.changes())
        statuses: Counter[str] = Counter()
        with QueueConsumer():
            for number, plan in enumerate(SCENARIO, start=1):
                poll_at = start + timedelta(seconds=ROUND_S * number)
                clock.set(poll_at - timedelta(seconds=WRITE_LEAD_S))
                _write_round(store, plan, ids, rng, clock)
                clock.set(poll_at)
                before_stats = store.stats()["requests"]
                events_before = len(sent.bodies)
                log_start = len(store.changes())
                writer = _Writer(store, plan.during, ids, rng, clock)
                writer.start()
                result = invoke_poll(handler, instance_id, timeout_s=900)
                writer.join()
                log_now = store.changes()
                # Owed: each record's state at the poll's start that no write changed before it ended.
                changed_during = {(c["resource"], int(c["id"])) for c in log_now[log_start:]}
                owed_now = {
                    (res, oid, at)
                    for (res, oid), at in _state_at(log_now[:log_start]).items()
                    if at is not None and at >= since and (res, oid) not in changed_during
                }
                owed |= owed_now
                after_stats = store.stats()["requests"]
                delta = {k: after_stats.get(k, 0) - before_stats.get(k, 0) for k in after_stats}
                round_changes = log_now[log_end:]
                log_end = len(log_now)
                floor = sum(
                    math.ceil(len({c["id"] for c in round_changes if c["resource"] == r}) / 250) + 1
                    for r in RESOURCES
                )
                requests = sum(delta.get(PATHS[r], 0) for r in RESOURCES)
                row = {
                    "label": f"{number:>2} {plan.label}",
                    "requests": requests,
                    "floor": floor,
                    "time": delta.get(TIME_PATH, 0),
                    "read": sum(r["recordsRead"] for r in result["resources"].values()),
                    "events": len(sent.bodies) - events_before,
                    "status": result["status"],
                    "bodies": sent.bodies[events_before:],
                    "owed": owed_now,
                }
                statuses[result["status"]] += 1
                rows.append(row)
            # The final state of every record is owed too.
            for (res, oid), at in _state_at(store.changes()).items():
                if at is not None and at >= since:
                    owed.add((res, oid, at))

        events = [json.loads(b) for b in sent.bodies]
        emitted: Counter[tuple[str, int, str]] = Counter(
            (m["objectType"], int(m["objectId"]), m["changedAt"]) for m in events
        )
        happened = {(c["resource"], int(c["id"]), c["date_modified"]) for c in store.changes()}
        seen: Counter[tuple[str, int, str]] = Counter()
        for row in rows:
            pairs = [
                (m["objectType"], int(m["objectId"]), m["changedAt"]) for m in map(json.loads, row["bodies"])
            ]
            row["dup"] = sum(1 for p in pairs if seen[p] > 0 or pairs.count(p) > 1)
            seen.update(pairs)
        lost = owed - set(emitted)
        duplicated = sum(n - 1 for n in emitted.values())
        phantom = len(set(emitted) - happened)
        first_kind_wrong = _first_kind_wrong(events, store.changes())
        for row in rows:
            row_lost = len(row["owed"] - set(emitted))
            print(
                f"{row['label']:<36} {row['requests']:>8} {row['floor']:>5} {row['time']:>8} "
                f"{row['read']:>6} {row['events']:>6} {row_lost:>4} {row['dup']:>4}  {row['status']}"
            )
        total_requests = sum(r["requests"] for r in rows)
        total_floor = sum(r["floor"] for r in rows)
        total_time = sum(r["time"] for r in rows)
        print(
            f"{'all rounds':<36} {total_requests:>8} {total_floor:>5} {total_time:>8} "
            f"{sum(r['read'] for r in rows):>6} {len(events):>6} {len(lost):>4} {duplicated:>4}"
        )
        print(
            f"changes in the store's log: {len(store.changes()) - before_instance} during the rounds "
            f"({len(happened)} distinct (record, second) pairs in all); owed {len(owed)}, "
            f"events for changes that never happened {phantom}, objects first announced other than "
            f"CREATED {first_kind_wrong}, polls {dict(statuses)}"
        )
        print(
            f"with /v2/time: requests {total_requests + total_time} "
            f"({(total_requests + total_time) / total_floor:.2f} x floor {total_floor})"
        )
        print(
            f"total: requests {total_requests} ({total_requests / total_floor:.2f} x floor {total_floor}), "
            f"lost {len(lost)}, duplicated {duplicated}"
        )
    return 0


def _first_kind_wrong(events: list[dict[str, Any]], log: list[dict[str, Any]]) -> int:
    """Objects created while the instance existed whose first event is not CREATED."""
    created = {(c["resource"], int(c["id"])) for c in log if c["operation"] == "CREATED"}
    first: dict[tuple[str, int], str] = {}
    for m in events:
        first.setdefault((m["objectType"], int(m["objectId"])), m["eventType"])
    return sum(1 for key, kind in first.items() if key in created and kind != "CREATED" and _new(key, log))


def _new(key: tuple[str, int], log: list[dict[str, Any]]) -> bool:
    # Records bulk-created before the instance (the first 800 of each) are old to it.
    return key[1] >= {"orders": 100, "products": 77, "customers": 1}[key[0]] + 800


def _write_round(
    store: Any, plan: Round, ids: dict[str, list[int]], rng: random.Random, clock: ManualClock
) -> None:
    # Ties: every record of it stamped in the same second.
    for name, count in plan.creates_tie.items():
        ids[name] += store.bulk(name, count)
    for name, count in plan.updates_tie.items():
        for oid in rng.sample(ids[name], count):
            store.update(name, oid, {})
    # Spread: a few per second over the following seconds.
    for name, count in plan.spread.items():
        for i in range(count):
            when = clock() + timedelta(seconds=1 + i // 10)
            if rng.random() < 0.3:
                ids[name].append(int(store.create(name, {"date_modified": when.isoformat()})["id"]))
            else:
                store.update(name, rng.choice(ids[name]), {"date_modified": when.isoformat()})


class _Writer(threading.Thread):
    """Changes records while the poll reads, and moves the store clock a second ahead
    halfway through, so some land in the poll's own second and some after it."""

    def __init__(
        self,
        store: Any,
        during: dict[str, int],
        ids: dict[str, list[int]],
        rng: random.Random,
        clock: ManualClock,
    ) -> None:
        super().__init__(name="concurrent-writer", daemon=True)
        self.store, self.during, self.ids, self.clock = store, during, ids, clock
        self.plan = [(name, rng.random(), rng.random()) for name, n in during.items() for _ in range(n)]
        rng.shuffle(self.plan)

    def run(self) -> None:
        if not self.plan:
            return
        time.sleep(0.3)  # past the poll's start (lease, instance, store clock)
        for i, (name, pick, kind) in enumerate(self.plan):
            if i == len(self.plan) // 2:
                self.clock.tick(1)
            pool = self.ids[name]
            if kind < 0.25:
                pool.append(int(self.store.create(name, {})["id"]))
            else:
                self.store.update(name, pool[int(pick * len(pool))], {})
            time.sleep(0.01)


if __name__ == "__main__":
    raise SystemExit(main())
