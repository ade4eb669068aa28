"""Wake-up (issue 18): change -> sink latency with BigCommerce hooks waking the poller.

    python -m local.bench wakeup [-- --minute 60 --changes 60 --burst 1000]

Starts ``python -m local.stack --no-demo --minute M`` (real-minute schedules by default:
an instance refreshing every minute is polled every 60 s) on free ports, and runs:

1. wake-up on and wake-up off side by side: two instances (1-minute refresh), one with
   ``event.poller.wakeup: true`` polling products, one without polling customers; the
   store creates ``--changes`` records of each, 1-4 s apart. Prints change -> sink p50,
   p99 and max per instance, and whether every change arrived exactly once.
2. hooks dropped: the store drops every hook POST (``/_admin/webhooks {"drop": true}``);
   an instance with wake-up on (customers) gets 10 changes: the scheduled poll still
   delivers each, only later.
3. a burst: ``--burst`` orders created at once (one hook POST each) for an instance with
   wake-up on; prints the hook POSTs and how long the API took to answer them all (the
   store's counters sampled every 0.25 s, apart from the sink's wait), the woken polls
   that followed and how their invocations ended (from the runtime's log), and that
   every order arrived exactly once.

Figures are printed, never asserted; the exit status is 0 unless the stack failed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from local.moto_server import free_port
from local.store.webhooks import SENDERS

ROOT = Path(__file__).resolve().parent.parent


def _pct(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def _start(tmp: Path, minute: float) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    state_file = tmp / "stack.json"
    argv = [sys.executable, "-m", "local.stack", "--no-demo", "--minute", str(minute)]
    argv += ["--state-file", str(state_file), "--delivery-workers", "4"]
    for flag in ("--api-port", "--store-port", "--sink-port", "--moto-port"):
        argv += [flag, str(free_port())]
    out = (tmp / "stack.out").open("wb")
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if state_file.exists():
            state = json.loads(state_file.read_text())
            if state.get("authorization"):
                return proc, state
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"the stack did not come up: {(tmp / 'stack.out').read_text()[-2000:]}")


class Bench:
    def __init__(self, state: dict[str, Any]) -> None:
        self.s = state
        self.http = httpx.Client(timeout=60.0)
        self.headers = {"Authorization": str(state["authorization"])}

    def create(self, hook: str, resource: str, *, wakeup: bool) -> str:
        from local.demo import SEED_POLLER_CONFIGURATION

        s = self.s
        body = {
            "element": {"key": "bigcommerce"},
            "name": f"bench {hook}",
            "tags": ["bench"],
            "configuration": {
                "store.url": f"{s['store']}/stores/{s['store_hash']}",
                "store.hash": s["store_hash"],
                "access.token": s["store_token"],
                "event.notification.enabled": True,
                "event.notification.callback.url": f"{s['sink']}/hooks/{hook}",
                "event.poller.refresh_interval": 1,
                "event.poller.wakeup": wakeup,
                "event.poller.configuration": {resource: SEED_POLLER_CONFIGURATION[resource]},
            },
        }
        r = self.http.post(f"{s['api']}/instances", json=body, headers=self.headers)
        r.raise_for_status()
        created = r.json()
        keys = {"hook": hook, "signing_secret": created["signingSecret"]}
        self.http.post(f"{s['sink']}/_behavior", json=keys).raise_for_status()
        return str(created["id"])

    def change(self, resource: str) -> tuple[int, float]:
        at = time.time()
        r = self.http.post(f"{self.s['store']}/_admin/{resource}", json={})
        r.raise_for_status()
        return int(r.json()["id"]), at

    def arrivals(self, hook: str) -> Counter[tuple[str, str]]:
        rows = self.http.get(f"{self.s['sink']}/_deliveries", params={"hook": hook}).json()
        seen: Counter[tuple[str, str]] = Counter()
        self.first: dict[tuple[str, str], float] = getattr(self, "first", {})
        for row in rows:
            if not 200 <= int(row["status"]) < 300:
                continue
            ev = json.loads(row["raw_body"])["message"]["events"][0]
            key = (hook, str(ev["objectId"]))
            seen[key] += 1
            at = datetime.fromisoformat(str(row["time"]).replace("Z", "+00:00")).timestamp()
            self.first[key] = min(self.first.get(key, at), at)
        return seen

    def wait_all(self, hook: str, ids: list[int], timeout: float) -> Counter[tuple[str, str]]:
        deadline = time.monotonic() + timeout
        while True:
            seen = self.arrivals(hook)
            if all((hook, str(i)) in seen for i in ids) or time.monotonic() > deadline:
                time.sleep(3.0)  # a duplicate would arrive right behind
                return self.arrivals(hook)
            time.sleep(0.5)

    def report(
        self, label: str, hook: str, made: list[tuple[int, float]], seen: Counter[tuple[str, str]]
    ) -> None:
        lat = [self.first[(hook, str(i))] - at for i, at in made if (hook, str(i)) in self.first]
        ours = {(hook, str(i)) for i, _ in made}
        missing = len(ours - set(seen))
        dupes = sum(n - 1 for k, n in seen.items() if k in ours and n > 1)
        extra = sum(1 for k in seen if k not in ours)
        once = sum(1 for k in ours if seen.get(k) == 1)
        if lat:
            print(
                f"{label}: change -> sink p50 {statistics.median(lat):.1f} s, p99 {_pct(lat, 99):.1f} s, "
                f"max {max(lat):.1f} s over {len(lat)} changes; exactly once {once}/{len(made)}, "
                f"missing {missing}, duplicates {dupes}, unexpected {extra}",
                flush=True,
            )
        else:
            print(f"{label}: nothing delivered ({len(made)} changes)", flush=True)


def _paced(bench: Bench, resource: str, count: int, rng: random.Random, out: list[tuple[int, float]]) -> None:
    for _ in range(count):
        out.append(bench.change(resource))
        time.sleep(rng.uniform(1.0, 4.0))


def _woken_polls(log: Path, instance_id: str) -> tuple[int, int, int, int, Counter[str]]:
    """(woken invocations, polls they made, attempts refused the work lease, scheduled polls,
    the invocations' outcomes) of one instance, from the runtime log."""
    invocations = polls = refused = scheduled = 0
    outcomes: Counter[str] = Counter()
    for line in log.read_text(errors="replace").splitlines():
        if instance_id not in line or " poll (" not in line:
            continue
        if f"{instance_id}:wake:" in line:
            invocations += 1
            found = re.search(r"'polls': (\d+)", line)
            polls += int(found.group(1)) if found else 1
            found = re.search(r"'refused': (\d+)", line)
            refused += int(found.group(1)) if found else 0
            found = re.search(r"'outcome': '(\w+)'", line)
            outcomes[found.group(1) if found else "unknown"] += 1
        elif "poll (poll-now)" not in line:
            scheduled += 1  # the scheduler loop names its source after the schedule
    return invocations, polls, refused, scheduled, outcomes


class _HookClock(threading.Thread):
    """Samples the store's hook counters during a burst: when its last hook POST was answered
    (the API's pace), apart from when the sink had every event (delivery's pace)."""

    def __init__(self, store: str, before: dict[str, Any], expected: int) -> None:
        super().__init__(daemon=True)
        self.store, self.expected, self.t0 = store, expected, time.time()
        self.base = int(before["sent"]) + int(before["failed"]) + int(before["dropped"])
        self.done_at: float | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=10.0) as http:
            while not self.stop.is_set() and self.done_at is None:
                c = http.get(f"{self.store}/_admin/webhooks").json()
                if int(c["sent"]) + int(c["failed"]) + int(c["dropped"]) - self.base >= self.expected:
                    self.done_at = time.time()
                self.stop.wait(0.25)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m local.bench wakeup", description=__doc__.splitlines()[0])
    p.add_argument("--minute", type=float, default=60.0, help="real seconds in one schedule minute")
    p.add_argument("--changes", type=int, default=60, help="changes per instance in the latency runs")
    p.add_argument("--burst", type=int, default=1000)
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args(argv)
    rng = random.Random(a.seed)
    print(
        f"inputs: --minute {a.minute:g} (1-minute refresh = {a.minute:g} s between scheduled polls), "
        f"{a.changes} changes per instance 1-4 s apart, burst {a.burst}, 2 poll environments, "
        f"4 delivery workers; load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        proc, state = _start(tmp, a.minute)
        try:
            bench = Bench(state)
            httpx.post(f"{state['store']}/_admin/faults", json={"quota": 1_000_000}).raise_for_status()
            bench.create("wake-on", "products", wakeup=True)
            bench.create("wake-off", "customers", wakeup=False)
            time.sleep(2.0)
            made_on: list[tuple[int, float]] = []
            made_off: list[tuple[int, float]] = []
            runs = [
                threading.Thread(
                    target=_paced, args=(bench, res, a.changes, random.Random(rng.random()), out)
                )
                for res, out in (("products", made_on), ("customers", made_off))
            ]
            for t in runs:
                t.start()
            for t in runs:
                t.join()
            wait = 2.5 * a.minute + 30
            seen_on = bench.wait_all("wake-on", [i for i, _ in made_on], wait)
            seen_off = bench.wait_all("wake-off", [i for i, _ in made_off], wait)
            bench.report("wake-up on ", "wake-on", made_on, seen_on)
            bench.report("wake-up off", "wake-off", made_off, seen_off)

            # 2. every hook POST dropped: the schedule is the safety net.
            # Customers: the wake-up-off instance polls them too, but counts go by sink hook.
            bench.create("dropped", "customers", wakeup=True)
            bench.http.post(f"{state['store']}/_admin/webhooks", json={"drop": True}).raise_for_status()
            made_drop: list[tuple[int, float]] = []
            _paced(bench, "customers", 10, random.Random(rng.random()), made_drop)
            seen_drop = bench.wait_all("dropped", [i for i, _ in made_drop], wait)
            hooks = bench.http.get(f"{state['store']}/_admin/webhooks").json()
            bench.report("hooks dropped", "dropped", made_drop, seen_drop)
            print(f"    store dropped {hooks['dropped']} hook POSTs (sent {hooks['sent']})", flush=True)
            bench.http.post(f"{state['store']}/_admin/webhooks", json={"drop": False}).raise_for_status()

            # 3. a burst: many hooks, few polls.
            burst_id = bench.create("burst", "orders", wakeup=True)
            time.sleep(2.0)
            before = bench.http.get(f"{state['store']}/_admin/webhooks").json()
            clock = _HookClock(str(state["store"]), before, a.burst)
            t0 = clock.t0
            clock.start()
            r = bench.http.post(f"{state['store']}/_admin/orders/bulk", json={"count": a.burst})
            r.raise_for_status()
            ids = [int(i) for i in r.json()["ids"]]
            seen_burst = bench.wait_all("burst", ids, wait + 120)
            deadline = time.monotonic() + 180
            while True:  # every hook POST answered, so the count of polls is complete
                after = bench.http.get(f"{state['store']}/_admin/webhooks").json()
                if (
                    after["sent"] + after["failed"] + after["dropped"] >= after["payloads"]
                    or time.monotonic() > deadline
                ):
                    break
                time.sleep(1.0)
            clock.stop.set()
            clock.join()
            hooks_s = (clock.done_at or time.time()) - t0
            time.sleep(8.0)  # the last woken poll settles and finishes
            made_burst = [(i, t0) for i in ids]
            bench.report(f"burst of {a.burst}", "burst", made_burst, seen_burst)
            log = Path(str(state["logs"])) / "runtime.log"
            invocations, polls, refused, scheduled, outcomes = _woken_polls(log, burst_id)
            answered = after["sent"] - before["sent"]
            print(
                f"    hook POSTs answered by the API {answered} "
                f"(failed {after['failed'] - before['failed']}) "
                f"within {hooks_s:.1f} s of the bulk create ({answered / max(hooks_s, 0.001):.0f}/s, "
                f"{SENDERS} store senders); woken polls {polls} in {invocations} invocation(s) (+{refused} "
                f"attempt(s) refused the work lease; ended {dict(sorted(outcomes.items()))}); "
                f"scheduled polls meanwhile {scheduled}",
                flush=True,
            )
            print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
