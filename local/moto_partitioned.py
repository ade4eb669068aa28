"""``python -m moto.server`` whose DynamoDB Query reads one partition, as DynamoDB does,
and whose DynamoDB requests run one at a time (moto's backend is not thread-safe).

    python -m local.moto_partitioned -H 127.0.0.1 -p 5000

moto 5 answers a Query on a table by listing and sorting *every item of the table*
(``Table.all_items()``) and then keeping the partition asked for. A Query therefore costs
O(table) on moto where it costs O(result) on DynamoDB, so on a local stack left running
every poll, status call and event listing slows down as the event log grows (measured:
status p99 136 ms in minute 1, 1.7 s by minute 30 of the soak). Here a Query on the
table itself (not on an index: those still walk everything, as moto does) hands moto's
own query code only the partition's items, already in sort-key order, which is what its
filter keeps anyway. Everything else (conditions, paging, limits, projections) stays
moto's, and the server is moto's server over HTTP as before.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
from moto.sqs.models import Queue as SqsQueue

_query_partition = threading.local()
_all_items = Table.all_items
_query = Table.query


def _partition_items(self: Table) -> list[Any]:
    wanted = getattr(_query_partition, "key", None)
    if wanted is None or wanted[0] is not self:
        return _all_items(self)
    # .get: ``items`` is a defaultdict, and a read must not create an empty partition.
    partition = self.items.get(wanted[1])
    if not partition:
        return []
    if not self.range_key_attr:
        return [partition]
    return sorted(partition.values(), key=lambda item: item.range_key)


# Table.query(hash_key, range_comparison, range_objs, limit, exclusive_start_key,
#             scan_index_forward, projection_expressions, index_name, ...): moto passes
# index_name positionally.
_INDEX_NAME_ARG = 6


def _partitioned_query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
    index_name = args[_INDEX_NAME_ARG] if len(args) > _INDEX_NAME_ARG else kwargs.get("index_name")
    if index_name or hash_key is None:
        return _query(self, hash_key, *args, **kwargs)
    _query_partition.key = (self, hash_key)
    try:
        return _query(self, hash_key, *args, **kwargs)
    finally:
        _query_partition.key = None


# moto's server answers each request on a thread of its own, but its DynamoDB backend is
# not thread-safe: a write changing an item's attributes while another request reads
# them raised "dictionary changed size during iteration" (a 500 the status route passed
# on, 5 in ~9,000 soak requests), and two conditional writes on one item could both
# pass their check. DynamoDB serializes the writes of an item; here every DynamoDB
# request runs alone, which is also what the conditional writes' tests rely on.
_DYNAMODB_LOCK = threading.Lock()
_call_action = DynamoHandler.call_action


def _serialized_call_action(self: DynamoHandler) -> Any:
    with _DYNAMODB_LOCK:
        return _call_action(self)


# moto's SQS queue appends a sent message under its lock, but a delete rebuilds the
# message list without it, so a message sent during a delete can vanish. Not reproduced on
# demand (4 senders and 4 deleting consumers lost none in 3 runs), but the 10,000-change
# test's consumer missed a few messages twice under load; SQS keeps every message it
# acknowledged, so here a delete takes the queue's own lock.
_sqs_delete = SqsQueue.delete_message


def _locked_delete(self: SqsQueue, receipt_handle: str) -> None:
    with self._messages_lock:
        _sqs_delete(self, receipt_handle)


def install() -> None:
    """Patch this process's moto (idempotent)."""
    Table.all_items = _partition_items  # type: ignore[method-assign]
    Table.query = _partitioned_query  # type: ignore[method-assign]
    DynamoHandler.call_action = _serialized_call_action  # type: ignore[method-assign]
    SqsQueue.delete_message = _locked_delete  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    install()
    from moto.server import main as moto_main

    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
