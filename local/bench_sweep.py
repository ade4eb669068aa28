"""What a deletion sweep costs (``"deletions": {"everyMinutes": n}``), measured.

    python -m local.bench_sweep [--products 50000] [--sweep-pages 40] [--deleted 10]
    (make bench ARGS=sweep)

The real PollFunction handler against moto's server and the simulated store over HTTP,
one instance polling products with deletions on. Products predate the instance (the
polls announce none of them), so every store request after each poll's first page is the
sweep's listing of ids (``include_fields=date_modified``, 250 ids a page). Printed per
sweep: polls it took, store requests, DynamoDB read units (from the bytes each read
returned, strongly consistent) and write units (from each written item's size; a delete
costs the deleted item's size), and the largest sweep item. The store's quota is lifted
so that the figures do not depend on this machine's speed (a real store's quota paces
the listing over more polls; requests stay the same). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import time
from datetime import timedelta
from typing import Any


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.bench_sweep", description=__doc__)
    parser.add_argument("--products", type=int, default=50_000, help="products in the store")
    parser.add_argument("--sweep-pages", type=int, default=None, help="id pages a poll may list")
    parser.add_argument("--deleted", type=int, default=10, help="products deleted before the second sweep")
    args, _ = parser.parse_known_args(argv)

    from local.bench_env import set_bench_environment

    set_bench_environment(POWERTOOLS_SERVICE_NAME="poll")

    import boto3
    from bcpoller import keys
    from bcpoller.adapters import aws
    from bcpoller.poll.sweep import PART_IDS, encode_ids, parts_of
    from bcpoller.settings import get_settings, reset_settings

    from local.dynamo_size import item_size, read_units
    from local.moto_server import running_moto
    from local.poll_harness import (
        PRODUCTS_URL,
        CallCounter,
        create_instance,
        drain_queue,
        invoke_poll,
        load_poll_handler,
        poller,
    )
    from local.store import SimulatedStore
    from local.template_resources import create_stack_resources

    with running_moto() as moto, SimulatedStore(seed=3, records_per_resource=0, quota=1_000_000) as store:
        resources = create_stack_resources(moto.url)
        os.environ.update(resources.function_environment())
        os.environ["LOCAL_MODE"] = "true"
        os.environ["BC_API_BASE_URL"] = store.url
        reset_settings()
        aws.reset_clients()
        handler = load_poll_handler()
        if args.sweep_pages:
            handler.deps.sweep_pages = args.sweep_pages
        pages_per_poll = handler.deps.sweep_pages
        started = time.monotonic()
        made = store.bulk("products", args.products, start=store.now() - timedelta(days=3), per_second=1000)
        print(
            f"Inputs: {args.products:,} products (ids {made[0]}..{made[-1]}), deletions every 60 min,"
            f" at most {pages_per_poll} id pages a poll, store quota lifted;"
            f" {args.products:,} products made in {time.monotonic() - started:.1f} s"
        )
        instance_id = create_instance(
            store, {"products": poller(PRODUCTS_URL, deletions={"everyMinutes": 60})}
        )
        # A client of its own: the handler's clients are the ones counted.
        raw = boto3.client("dynamodb", endpoint_url=moto.url)
        table_name = get_settings().table_name
        sizes: dict[str, int] = {}  # sk -> bytes, of every item seen (a delete costs its size)

        def remember(items: list[dict[str, Any]]) -> None:
            for item in items:
                sizes[item["sk"]["S"]] = item_size(item)

        def partition(prefix: str) -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            values = {":pk": {"S": keys.instance_pk(instance_id)}, ":p": {"S": prefix or "#"}}
            condition = "pk = :pk AND begins_with(sk, :p)" if prefix else "pk = :pk AND sk > :p"
            kwargs: dict[str, Any] = {
                "TableName": table_name,
                "KeyConditionExpression": condition,
                "ExpressionAttributeValues": values,
            }
            while True:
                page = raw.query(**kwargs)
                out.extend(page["Items"])
                if "LastEvaluatedKey" not in page:
                    return out
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

        counter = CallCounter().install()

        def write_units(calls: list[Any]) -> int:
            units = 0
            for call in calls:
                request = call.request
                if call.operation == "PutItem":
                    units += math.ceil(item_size(request["Item"]) / 1024)
                elif call.operation in ("UpdateItem", "DeleteItem"):
                    units += math.ceil(sizes.get(request["Key"]["sk"]["S"], 1024) / 1024)
                elif call.operation == "BatchWriteItem":
                    for writes in request["RequestItems"].values():
                        for write in writes:
                            if "PutRequest" in write:
                                units += math.ceil(item_size(write["PutRequest"]["Item"]) / 1024)
                            else:
                                key = write["DeleteRequest"]["Key"]["sk"]["S"]
                                units += math.ceil(sizes.get(key, 1024) / 1024)
            return units

        def sweep(label: str) -> tuple[int, float, int]:
            remember(partition(""))
            before = store.stats()["requests"].get("GET /v3/catalog/products", 0)
            counter.reset()
            polls, events, wall = 0, 0, time.monotonic()
            while True:
                polls += 1
                invoke_poll(handler, instance_id)
                events += sum(1 for m in drain_queue() if m["eventType"] == "DELETED")
                state = next(iter(partition(keys.sweep_sk("products"))), {})
                remember(partition(""))
                if "startedAt" not in state:
                    break
            requests = store.stats()["requests"]["GET /v3/catalog/products"] - before
            reads = [c for c in counter.dynamo if c.operation in ("GetItem", "Query", "BatchGetItem")]
            writes = [c for c in counter.dynamo if c not in reads]
            rru = sum(
                read_units(c.read_bytes(), consistent=bool(c.request.get("ConsistentRead"))) for c in reads
            )
            print(
                f"  {label}: {polls} poll(s), {requests} store requests ({polls} normal-poll pages +"
                f" {requests - polls} pages of ids), DynamoDB {len(reads)} reads = {rru:g} RRU,"
                f" {len(writes)} writes = {write_units(writes)} WRU, {events} DELETED,"
                f" {time.monotonic() - wall:.1f} s"
            )
            return requests - polls, rru, write_units(writes)

        print("Measured (real handler, moto's server, simulated store over HTTP):")
        sweep("first sweep (the baseline: lists, announces nothing)")
        gone = random.Random(1).sample(made, min(args.deleted, len(made)))
        for oid in gone:
            store.delete("products", oid)
        store.set_clock_skew(61 * 60)
        id_pages, rru, wru = sweep(f"next sweep ({len(gone)} products deleted)")

        counter.reset()
        invoke_poll(handler, instance_id)
        quiet = list(counter.dynamo)
        quiet_rru = sum(read_units(c.read_bytes(), consistent=True) for c in quiet if not c.is_write)
        quiet_writes = sum(1 for c in quiet if c.is_write)
        counter.uninstall()

        sweep_items = partition(keys.SWEEP_PREFIX)
        cursor = partition(keys.cursor_sk("products"))[0]
        largest = max(item_size(i) for i in sweep_items)
        rng = random.Random(7)
        sparse = sorted(rng.sample(range(1, 2**31), args.products))
        worst = max(len(encode_ids(p)) for p in parts_of(sparse))

    print(
        f"  quiet poll, deletions on and not due: {len(quiet)} DynamoDB request(s) = {quiet_rru:g} RRU,"
        f" {quiet_writes} writes"
    )
    print(
        f"  items: {len(sweep_items)} sweep items, the largest {largest:,} bytes; cursor item"
        f" {item_size(cursor):,} bytes; known ids spread over 2^31 (worst case) need"
        f" {math.ceil(args.products / PART_IDS)} part(s), the largest {worst:,} bytes"
    )
    print()
    print(f"store requests per sweep of {args.products:,} products: {id_pages} (pages of 250 ids)")
    print(f"DynamoDB per sweep of {args.products:,} products: {rru:g} RRU, {wru} WRU")
    print(f"quiet poll, deletions on and not due: {quiet_rru:g} RRU, {quiet_writes} writes")
    print(f"largest sweep item: {largest:,} bytes (DynamoDB's limit: 409,600)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
