"""The local stack's moto launcher answers every Query exactly as moto's own server does.

Differential: the same table and the same queries on ``python -m moto.server`` and on
``python -m local.moto_partitioned``; any answer that differs fails. The launcher only
changes which items moto's Query code looks at (one partition instead of the table)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
from boto3.dynamodb.conditions import Attr, Key

from local.moto_server import MotoServer, free_port

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def _plain_moto() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/moto-api/", timeout=1.0)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("moto.server did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _table(url: str) -> Any:
    db = boto3.resource(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    table = db.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "g", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "gsi1",
                "KeySchema": [
                    {"AttributeName": "g", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    with table.batch_writer() as batch:
        # Sort keys written out of order, several partitions, a GSI key on some items.
        for pk in ("A", "B", "C"):
            for n in (7, 3, 11, 1, 5, 9, 2, 10, 4, 8, 6):
                item = {"pk": pk, "sk": f"LOG#{n:03d}", "n": n, "big": "x" * (n * 10)}
                if n % 2:
                    item["g"] = f"G{pk}"
                batch.put_item(Item=item)
            batch.put_item(Item={"pk": pk, "sk": "META", "n": 0})
    return table


def _queries(table: Any) -> list[Any]:
    answers: list[Any] = []

    def q(**kwargs: Any) -> None:
        pages = []
        start = None
        while True:
            if start:
                kwargs["ExclusiveStartKey"] = start
            page = table.query(**kwargs)
            start = page.get("LastEvaluatedKey")
            pages.append((page.get("Items"), page.get("Count"), page.get("ScannedCount"), start))
            if not start:
                break
        answers.append(pages)

    q(KeyConditionExpression=Key("pk").eq("B"))
    q(KeyConditionExpression=Key("pk").eq("B") & Key("sk").begins_with("LOG#"), Limit=4)
    q(
        KeyConditionExpression=Key("pk").eq("B") & Key("sk").between("LOG#003", "LOG#008"),
        ScanIndexForward=False,
    )
    q(KeyConditionExpression=Key("pk").eq("A") & Key("sk").gt("LOG#009"), Limit=1)
    q(KeyConditionExpression=Key("pk").eq("C"), FilterExpression=Attr("n").gt(4), Limit=3)
    q(KeyConditionExpression=Key("pk").eq("C") & Key("sk").begins_with("META"), ProjectionExpression="n")
    q(KeyConditionExpression=Key("pk").eq("nobody"))
    q(IndexName="gsi1", KeyConditionExpression=Key("g").eq("GB"), Limit=2)
    q(KeyConditionExpression=Key("pk").eq("A"), Select="COUNT")
    return answers


def test_every_query_answers_as_moto_server_does() -> None:
    with _plain_moto() as plain_url:
        plain = _queries(_table(plain_url))
    server = MotoServer().start()
    try:
        patched = _queries(_table(server.url))
    finally:
        server.stop()
    assert patched == plain
    # The differential must compare something: paging happened and partitions differ.
    assert any(len(pages) > 1 for pages in plain)
    assert plain[0] != plain[3]


def test_concurrent_writes_to_one_item_are_serialized() -> None:
    """DynamoDB applies an item's writes one after the other: 8 threads adding 1 two
    hundred times each end at 1,600, and of 8 conditional puts of one key exactly one
    wins (moto's threaded server alone loses ADDs and can let two puts pass)."""
    server = MotoServer().start()
    try:
        table = _table(server.url)
        client = table.meta.client

        def add() -> None:
            for _ in range(200):
                client.update_item(
                    TableName="t",
                    Key={"pk": "A", "sk": "COUNT"},
                    UpdateExpression="ADD n :one",
                    ExpressionAttributeValues={":one": 1},
                )

        wins: list[str] = []

        def claim(key: str, who: str) -> None:
            try:
                client.put_item(
                    TableName="t",
                    Item={"pk": "A", "sk": key, "who": who},
                    ConditionExpression="attribute_not_exists(pk)",
                )
                wins.append(key)
            except client.exceptions.ConditionalCheckFailedException:
                pass

        threads = [threading.Thread(target=add) for _ in range(8)]
        threads += [
            threading.Thread(target=claim, args=(f"CLAIM#{k}", str(t))) for k in range(20) for t in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert table.get_item(Key={"pk": "A", "sk": "COUNT"})["Item"]["n"] == 1600
        assert sorted(wins) == sorted(f"CLAIM#{k}" for k in range(20))
    finally:
        server.stop()
