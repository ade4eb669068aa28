"""Requests per read of N changed records, against the simulated store over HTTP.

``.venv/bin/python -m local.bench_connector [--sizes 0,1,250,251,10000]``

For each N the store gets N records changed after a point in time; one read (the store's
clock plus every page since that point, 250 a page) is timed and its requests counted.
The floor is ceil(N/250) pages plus the clock call; v2 needs one more request when N is a
multiple of 250 (it only learns the end from a short or empty page), v3 knows the end
from ``meta.pagination``.
"""

from __future__ import annotations

import argparse
import math
import time
from datetime import UTC, datetime

from bcpoller.config.catalog import CATALOG
from bcpoller.config.hub import NativeRequest, format_native
from bcpoller.connector.client import BigCommerceClient
from bcpoller.connector.credentials import credentials_from_config

from local.store import SimulatedStore

SINCE = datetime(2026, 6, 1, tzinfo=UTC)


def native(name: str) -> NativeRequest:
    entry = CATALOG[name]
    params = dict(entry.sort_params)
    if entry.filter_param and entry.filter_format:
        params[entry.filter_param] = format_native(SINCE, entry.filter_format)
    return NativeRequest(entry=entry, path=entry.path, params=params, lower_bound=SINCE)


def measure(name: str, n: int, seed: int, per_second: int) -> tuple[int, int, int, float]:
    """(records read, requests, floor, seconds) for one read of n changed records,
    ``per_second`` of them sharing each second of the store's clock."""
    with SimulatedStore(seed=seed, records_per_resource=25) as store:
        store.bulk(name, n, start=SINCE, per_second=per_second)
        creds = credentials_from_config(
            {"store.hash": store.store_hash, "access.token": store.token, "store.url": store.api_url},
            api_base_url="https://api.bigcommerce.com",
        )
        started = time.perf_counter()
        with BigCommerceClient(creds) as client:
            client.store_time()
            read = sum(len(page.records) for page in client.iter_pages(native(name)))
        elapsed = time.perf_counter() - started
        sent = store.stats()["requests_total"]
        if sent != client.requests_made:
            raise SystemExit(f"client counted {client.requests_made} requests, store saw {sent}")
        if read != n:
            raise SystemExit(f"{name}: read {read} records, expected {n}")
        return read, client.requests_made, math.ceil(n / 250) + 1, elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.bench_connector", description=__doc__)
    parser.add_argument("--sizes", default="0,1,250,251,10000")
    parser.add_argument("--resources", default="orders,products")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--per-second",
        default="1,50",
        help="changes sharing one second: 1 = spread out, 50 = heavy ties (pages re-read their last second)",
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    header = f"{'resource':<10} {'api':<4} {'per s':>5} {'N':>6} {'requests':>8} {'floor':>6} {'seconds':>8}"
    print(f"{header} {'records/s':>10}")
    for per_second in (int(p) for p in args.per_second.split(",")):
        for name in args.resources.split(","):
            for n in sizes:
                read, requests, floor, elapsed = measure(name, n, args.seed, per_second)
                rate = f"{read / elapsed:,.0f}" if read else "-"
                api = CATALOG[name].api
                row = f"{name:<10} {api:<4} {per_second:>5} {n:>6} {requests:>8} {floor:>6} {elapsed:>8.3f}"
                print(f"{row} {rate:>10}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
