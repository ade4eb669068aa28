"""The hardening issue's fault run: the local stack under every fault at once.

    python -m local.bench faults [-- --duration 240 --minute 0.2]

Starts ``python -m local.stack --no-demo`` on free ports and two instances: "fa" polls
orders, products and customers; "fb" polls orders and its endpoint hangs 20 s (past the
15 s delivery deadline) on its first requests. While the store keeps changing for
``--duration`` seconds it gets, in turn: one 401, a storm of 429s, a spell of 500s, and
the runtime is killed with SIGKILL three times. A third instance is attempted with a NUL
in its callback URL. Then it waits for the system to settle and prints, per instance:
changes made, changes delivered, changes lost, duplicate deliveries (and how many of them
follow an answer that came after the deadline, which README's delivery section
explains), events left ``delivering`` in the table, the instance's auth state and last
poll status.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import httpx

from local.demo import SEED_POLLER_CONFIGURATION
from tests.e2e.conftest import LocalStack, start_stack, wait_until

HANG_MS = 20_000
RESOURCES = {"fa": ("orders", "products", "customers"), "fb": ("orders",)}


def _create(
    stack: LocalStack, hook: str, resources: tuple[str, ...], callback: str | None = None
) -> httpx.Response:
    body = {
        "element": {"key": "bigcommerce"},
        "name": f"faults {hook}",
        "configuration": {
            "store.url": f"{stack.store}/stores/{stack.state['store_hash']}",
            "store.hash": stack.state["store_hash"],
            "access.token": stack.state["store_token"],
            "event.notification.enabled": True,
            "event.notification.callback.url": callback or f"{stack.sink}/hooks/{hook}",
            "event.poller.refresh_interval": 1,
            "event.poller.configuration": {r: SEED_POLLER_CONFIGURATION[r] for r in resources},
        },
    }
    return httpx.post(f"{stack.api}/instances", json=body, headers=stack.headers, timeout=30)


def _deliveries(stack: LocalStack, hook: str) -> list[dict[str, Any]]:
    return list(httpx.get(f"{stack.sink}/_deliveries", params={"hook": hook}, timeout=30).json())


def _delivered_objects(rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
    found = set()
    for row in rows:
        if 200 <= row["status"] < 300:
            for event in row["body"]["message"]["events"]:
                found.add((event["objectType"], str(event["objectId"])))
    return found


def _delivering(stack: LocalStack) -> int:
    """Events whose state, as the API reads it (delivery.event_log._merge), is still
    ``delivering``: the event item says so and no log entry holds its first claim's outcome."""
    db = boto3.client(
        "dynamodb",
        endpoint_url=stack.state["moto"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    table = db.list_tables()["TableNames"][0]
    claiming: dict[str, int] = {}
    concluded: set[str] = set()
    for page in db.get_paginator("scan").paginate(TableName=table):
        for item in page.get("Items", []):
            sk = item["sk"]["S"]
            status = item.get("status", {}).get("S")
            if sk.startswith("EVENT#") and status == "delivering":
                claiming[sk.removeprefix("EVENT#")] = int(item.get("claims", {}).get("N", "0"))
            elif sk.startswith("LOG#") and status:
                concluded.add(sk.split("#", 2)[2])
    return sum(1 for event_id, claims in claiming.items() if claims != 1 or event_id not in concluded)


def _kill_runtime(stack: LocalStack) -> None:
    old = int(stack.reload()["runtime_pid"])
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: int(stack.reload()["runtime_pid"]) != old, 60, "the runtime restarted")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m local.bench faults", description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=240.0, help="seconds of store changes under faults")
    p.add_argument("--minute", type=float, default=0.2, help="real seconds in one schedule/retry minute")
    p.add_argument("--settle", type=float, default=600.0, help="seconds allowed to deliver everything after")
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args(argv)
    rng = random.Random(a.seed)
    print(
        f"inputs: duration {a.duration:g} s, --minute {a.minute:g}, refresh 1 minute, seed {a.seed}, "
        f"endpoint fb hangs {HANG_MS / 1000:g} s on its first 6 requests, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        stack = start_stack(
            Path(tmp),
            "--no-demo",
            "--minute",
            str(a.minute),
            "--poll-timeout",
            "20",
            "--delivery-workers",
            "4",
        )
        try:
            wait_until(lambda: _answers(f"{stack.control}/health"), 90, "the runtime's health")
            store = stack.store
            httpx.post(f"{store}/_admin/faults", json={"quota": 1_000_000}).raise_for_status()
            nul = _create(stack, "fnul", ("orders",), callback=f"{stack.sink}/hooks/a\x00b")
            print(f"callback URL with a NUL: {nul.status_code} {nul.text[:160]}")
            instances = {}
            for hook, resources in RESOURCES.items():
                r = _create(stack, hook, resources)
                r.raise_for_status()
                instances[hook] = r.json()["id"]
            hang = {"hook": "fb", "status": 200, "times": 6, "delay_ms": HANG_MS}
            httpx.post(f"{stack.sink}/_behavior", json=hang).raise_for_status()

            touched: dict[str, set[tuple[str, str]]] = {hook: set() for hook in RESOURCES}
            faults = [
                (0.10, "store answers 401 once", lambda: _fault(store, error_rate=1.0, status=401, count=1)),
                (0.20, "SIGKILL 1", lambda: _kill_runtime(stack)),
                (0.35, "429 storm (150 requests)", lambda: _fault(store, burst_429=150)),
                (0.50, "SIGKILL 2", lambda: _kill_runtime(stack)),
                (
                    0.60,
                    "500s (half of 80 requests)",
                    lambda: _fault(store, error_rate=0.5, status=500, count=80),
                ),
                (0.80, "SIGKILL 3", lambda: _kill_runtime(stack)),
            ]
            started = time.monotonic()
            changes = 0
            while (elapsed := time.monotonic() - started) < a.duration:
                while faults and elapsed >= faults[0][0] * a.duration:
                    _, what, act = faults.pop(0)
                    act()
                    print(f"  {elapsed:5.0f} s  {what}")
                resource = rng.choice(("orders", "products", "customers"))
                known = [rid for res, rid in touched["fa"] if res == resource]
                if known and rng.random() < 0.4:
                    rid = rng.choice(known)
                    httpx.put(f"{store}/_admin/{resource}/{rid}", json={}).raise_for_status()
                else:
                    rid = str(httpx.post(f"{store}/_admin/{resource}", json={}).json()["id"])
                changes += 1
                for hook, resources in RESOURCES.items():
                    if resource in resources:
                        touched[hook].add((resource, rid))
                time.sleep(0.5)
            print(f"store changes made: {changes}; now waiting for the system to settle")

            def settled() -> bool:
                return all(touched[h] <= _delivered_objects(_deliveries(stack, h)) for h in RESOURCES)

            t0 = time.monotonic()
            with contextlib.suppress(AssertionError):
                wait_until(settled, a.settle, "every change delivered", interval=5.0)
            print(f"settled after {time.monotonic() - t0:.0f} s")
            time.sleep(10)  # retries and late answers still on their way
            for hook, instance_id in instances.items():
                rows = _deliveries(stack, hook)
                got = _delivered_objects(rows)
                ok_rows = [r for r in rows if 200 <= r["status"] < 300]
                per_id = Counter(r["body"]["message"]["eventId"] for r in ok_rows)
                dups = {e: n for e, n in per_id.items() if n > 1}
                # The endpoint answered after the delivery deadline: README says the event is
                # sent again with the same webhook-id.
                late = {r["body"]["message"]["eventId"] for r in ok_rows if r.get("delayed_ms", 0) >= HANG_MS}
                explained = sum(n - 1 for e, n in dups.items() if e in late)
                status = httpx.get(
                    f"{stack.api}/instances/{instance_id}/status", headers=stack.headers
                ).json()
                polls = sorted({str(r.get("status")) for r in status.get("resources", [])})
                print(
                    f"{hook}: changed objects {len(touched[hook])}, delivered {len(touched[hook] & got)}, "
                    f"lost {len(touched[hook] - got)}, "
                    f"duplicate deliveries {sum(n - 1 for n in dups.values())} "
                    f"(after an answer later than the deadline: {explained}), "
                    f"authState {status.get('authState')}, resources' last poll {polls}"
                )
            print(f"events left delivering: {_delivering(stack)}")
        finally:
            code = stack.stop()
            print(f"stack exit code {code}")
    return 0


def _fault(store: str, **spec: Any) -> None:
    httpx.post(f"{store}/_admin/faults", json=spec).raise_for_status()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    raise SystemExit(main())
