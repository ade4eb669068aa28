"""The deletion sweep's state and its known-id set (our extension: ``"deletions"``).

A store tells a poller nothing when a record is deleted: it just stops listing it. A sweep
lists every id of a resource in id order (a page per 250 ids, ``include_fields`` keeping
pages small where the endpoint has it) and compares them with the ids the previous
complete sweep listed: a known id missing from the range a page covers was deleted.

State, kept out of the poll's one read (nothing here sorts under ``META``):

- ``SWEEP#{resource}`` (small): the generation of the known set and its number of parts,
  and, while a sweep is under way, its detection stamp (``startedAt``, the store time it
  began; every DELETED it finds carries it, so a sweep that crashes after sending and
  resumes re-sends the same eventIds), the token continuing its listing, the highest id
  it has passed and the parts of the next generation written so far;
- ``SWEEP#{resource}#IDS#{generation}#{part}``: the known ids, sorted, delta-encoded as
  varints and zlib-compressed, at most ``PART_IDS`` ids a part (100 KB even uncompressed
  with ids up to 2^35), so no item nears DynamoDB's 400 KB whatever the store's size.

Each invocation's batch writes the ids it listed as the next part of the *next*
generation; the old generation stays whole until the sweep completes, then is dropped.
The poll only learns whether a sweep is due from ``sweepAt`` on the resource's cursor item
(already in its one read).
"""

from __future__ import annotations

import bisect
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

# A part's ids: at most 5 varint bytes each, so 100 KB before compression.
PART_IDS = 20_000


@dataclass(frozen=True)
class SweepState:
    """The ``SWEEP#{resource}`` item as the engine sees it (``version`` 0: absent)."""

    resource: str
    version: int = 0
    # The known set: parts 0..parts-1 of this generation (0 = no sweep completed yet).
    generation: int = 0
    parts: int = 0
    # A sweep under way: its detection stamp, its listing's continuation, the highest id
    # it has passed, and the parts of generation + 1 it has written.
    started_at: datetime | None = None
    after: str | None = None
    last_id: int | None = None
    written: int = 0
    # Set when a sweep completes: the cursor's next ``sweepAt``, and the highest id it
    # listed. A poll that finds the cursor without that ``sweepAt`` knows the completion's
    # cursor write was lost (a crash) and finishes it instead of sweeping again, which
    # would announce the ids it found gone a second time.
    next_at: datetime | None = None
    through: int | None = None

    @property
    def running(self) -> bool:
        return self.started_at is not None

    @property
    def has_baseline(self) -> bool:
        """Whether a complete sweep listed the resource (before that nothing is diffed)."""
        return self.generation > 0


class SweepStore(Protocol):
    """The sweep's items (adapters.poll_table.PollTable implements it)."""

    def load_sweep(self, instance_id: str, resource: str) -> SweepState: ...

    def save_sweep(self, instance_id: str, state: SweepState, *, expected_version: int) -> SweepState:
        """Write ``state`` if the item is still at ``expected_version``; raises CursorConflict."""
        ...

    def load_known(self, instance_id: str, resource: str, generation: int) -> list[int]:
        """Every id of the generation's parts, sorted."""
        ...

    def put_known(
        self, instance_id: str, resource: str, generation: int, part: int, ids: Sequence[int]
    ) -> int:
        """Write one part (overwriting a part a crashed batch left); returns the item's bytes."""
        ...

    def drop_known(self, instance_id: str, resource: str, generation: int, parts: int) -> None: ...


def encode_ids(ids: Iterable[int]) -> bytes:
    """Sorted ids as zlib-compressed varint deltas (dense ids cost about a bit each)."""
    out = bytearray()
    previous = 0
    for value in sorted(set(ids)):
        if value < 0:
            raise ValueError(f"ids are whole numbers from 0 up, got {value}")
        delta, previous = value - previous, value
        while True:
            byte = delta & 0x7F
            delta >>= 7
            if delta:
                out.append(byte | 0x80)
            else:
                out.append(byte)
                break
    return zlib.compress(bytes(out), 9)


def decode_ids(blob: bytes) -> list[int]:
    raw = zlib.decompress(blob)
    ids: list[int] = []
    value = shift = delta = 0
    for byte in raw:
        delta |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
            continue
        value += delta
        ids.append(value)
        delta = shift = 0
    return ids


def whole_id(oid: str | None) -> int | None:
    """The id as a whole number (every id-paged endpoint's ids are); None otherwise."""
    if oid is None or not oid.isascii() or not oid.isdigit():
        return None
    return int(oid)


def gone_between(known: Sequence[int], low: int | None, high: int | None, listed: set[int]) -> list[int]:
    """Known ids in (``low``, ``high``] (``None``: unbounded) that the listing did not show."""
    start = 0 if low is None else bisect.bisect_right(known, low)
    end = len(known) if high is None else bisect.bisect_right(known, high)
    return [i for i in known[start:end] if i not in listed]


def parts_of(ids: Sequence[int]) -> list[list[int]]:
    ordered = sorted(set(ids))
    return [ordered[i : i + PART_IDS] for i in range(0, len(ordered), PART_IDS)]
