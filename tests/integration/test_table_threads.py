"""One boto3 Table shared by threads: every query still asks what it means to.

The delivery's worker threads and the local stack's API environments query through one
cached ``Table``. boto3's condition builder (``Key``/``Attr``) is one object per resource,
reset and counted by every call, so two threads building conditions at once could send
placeholders naming the wrong attribute (a 30-minute soak logged "Query condition missed key
schema element: pk"). The adapters write their conditions as plain strings
(``adapters/key_conditions.py``). The first test holds that rule (it fails on the code
before it); the race itself is too rare to provoke on demand (8 threads x 60 queries did not
hit it on the old code), so the second test checks the rewritten queries' answers on moto's
server while threads share the Table.
"""

from __future__ import annotations

import ast
import sys
import threading
from pathlib import Path
from typing import Any

from bcpoller import keys
from bcpoller.adapters import aws
from bcpoller.adapters.cursor_stats import CursorStats
from bcpoller.adapters.event_log_table import EventLogTable
from bcpoller.adapters.instance_table import InstanceTable
from bcpoller.adapters.poll_table import PollTable

from local.template_resources import StackResources

PACKAGE = Path(__file__).resolve().parents[2] / "shared" / "bcpoller"


def test_no_adapter_builds_conditions_with_boto3s_shared_builder() -> None:
    """The guarantee in one line: nothing in the layer imports boto3.dynamodb.conditions."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "boto3.dynamodb.conditions"
            ):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == []


def test_threads_querying_through_one_table_all_get_their_answers(stack: StackResources) -> None:
    table = aws.table(stack.table_name)
    instance = "inst-threads"
    table.put_item(
        Item={
            keys.PK: keys.events_pk(instance),
            keys.SK: keys.EVENT_PREFIX + "e1",
            "objectId": "42",
            "objectType": "orders",
        }
    )
    log, stats, polls, instances = (
        EventLogTable(table),
        CursorStats(table),
        PollTable(table),
        InstanceTable(table),
    )
    calls: list[Any] = [
        lambda: log.entries(instance, since="2026-01-01", until="2026-12-31", limit=5, start_key=None),
        lambda: log.failed_items(instance, since="2026-01-01", until=None, limit=5, start_key=None),
        lambda: log.failed_items(instance, since=None, until="2026-12-31", limit=5, start_key=None),
        lambda: log.object_items(
            instance, object_id="42", object_type="orders", start_key=None, read_limit=50
        ),
        lambda: stats.cursors(instance),
        lambda: polls.load_known(instance, "orders", 1),
        lambda: instances.list_for_org("org-threads"),
    ]
    errors: list[BaseException] = []
    found: list[int] = []

    def work(offset: int) -> None:
        try:
            for i in range(60):
                result = calls[(offset + i) % len(calls)]()
                if (offset + i) % len(calls) == 3:
                    found.append(len(result[0]))
        except BaseException as exc:  # every failure is the finding
            errors.append(exc)

    # Switch threads as often as the interpreter can, so builds interleave if they can.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == [], errors[:3]
    # The object search found its item every time: no filter named the wrong attribute.
    assert found and set(found) == {1}
