"""The watermark of one (instance, resource): what was emitted, and what to read next.

Invariants the engine relies on (and the property test checks):
- ``advance`` never returns a lower cursor, and never forgets an emitted (id, time) pair
  that the next query's lower bound can still return, so a re-read is always recognised.
- The lower bound of the next query is ``cursor - overlap``, floored to the filter's one
  second: records committed late with an earlier timestamp are still caught, and the
  ``recent`` pairs turn that overlap into zero duplicates.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

EmittedKey = tuple[str, datetime]


def floor_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


@dataclass(frozen=True)
class CursorState:
    """One cursor item as the engine sees it; ``version`` 0 means the item does not exist."""

    resource: str
    cursor: datetime | None = None
    ids_at_cursor: frozenset[str] = frozenset()
    recent: frozenset[EmittedKey] = frozenset()
    version: int = 0
    # Where this cursor began (instance creation or backfill): nothing older is emitted,
    # even when the overlap reaches back past it.
    origin: datetime | None = None
    # Resources read whole (no date filter): id -> change token (updated time or content hash).
    snapshot: dict[str, str] | None = None
    # A snapshot diff whose events may have been sent but not checkpointed: each id's token
    # and the time its event carried, so a retry re-sends the same eventIds.
    pending: dict[str, tuple[str, datetime]] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return self.version > 0

    def lower_bound(self, overlap_s: float, start: datetime) -> datetime:
        """Oldest updated time the next query asks for (and the oldest ever emitted).

        Never below the origin (``start`` before the first checkpoint: instance creation
        or backfill), so the overlap never announces what changed before the instance."""
        origin = floor_second(self.origin or start)
        if self.cursor is None:
            return origin
        return max(origin, floor_second(self.cursor - timedelta(seconds=max(overlap_s, 1.0))))

    def already_emitted(self, object_id: str, updated: datetime) -> bool:
        if (object_id, updated) in self.recent:
            return True
        return self.cursor is not None and updated == self.cursor and object_id in self.ids_at_cursor

    def advance(self, emitted: Iterable[EmittedKey], overlap_s: float) -> CursorState:
        """The state after ``emitted`` are safely queued: the cursor moves to the highest
        time emitted (never lower), and ``recent`` keeps exactly the pairs the next
        query's overlap can return again."""
        pairs = set(emitted)
        if not pairs:
            return self
        top = max(u for _, u in pairs)
        cursor = top if self.cursor is None or top > self.cursor else self.cursor
        everything = set(self.recent) | pairs
        if self.cursor is not None:
            everything |= {(i, self.cursor) for i in self.ids_at_cursor}
        keep_from = floor_second(cursor - timedelta(seconds=max(overlap_s, 1.0)))
        recent = frozenset(p for p in everything if p[1] >= keep_from)
        ids = frozenset(i for i, u in recent if u == cursor)
        return replace(self, cursor=cursor, ids_at_cursor=ids, recent=recent)
