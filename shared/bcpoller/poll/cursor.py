"""The watermark of one (instance, resource): what was emitted, and what to read next.

Invariants the engine relies on (and the property tests check):
- ``advance`` never returns a lower cursor, and never forgets an emitted (id, time) pair
  that the next query can still return, so a re-read is always recognised.
- The lower bound of the next query is ``pollDelay`` (the overlap) before the point the
  resource was last read through, floored to the filter's one second: records committed
  late with an earlier timestamp are still caught, and the ``recent`` pairs turn that
  overlap into zero duplicates.

Resources whose endpoint pages by id (see ``CatalogEntry.keyset``) are read in id order:
an interrupted read keeps its lower bound (``read_from``) and the token that continues it
(``after``, with ``last_id``), so the next poll resumes exactly there, however many records
share one second. A complete read records the store time it read through (``read_to``);
the next poll starts ``pollDelay`` before that, not before the newest change, so a burst
that is already emitted is not read again by every later quiet poll.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

EmittedKey = tuple[str, datetime]


def floor_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def _overlap(overlap_s: float) -> timedelta:
    return timedelta(seconds=max(overlap_s, 1.0))


def _id_number(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class CursorState:
    """One cursor item as the engine sees it; ``version`` 0 means the item does not exist."""

    resource: str
    cursor: datetime | None = None
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
    # Id-paged reads: the store time the last complete read went through ...
    read_to: datetime | None = None
    # The point the subscriber was last told about this resource (see ``told_from``).
    told: datetime | None = None
    # ... and, while a read is interrupted, its lower bound, the store time it reads up to
    # (a resumed read keeps the clock it started with: it has passed the records it read,
    # and anything they became since is for the next read), the token that continues it
    # and the last id it read (ids are whole numbers on every id-paged endpoint).
    read_from: datetime | None = None
    read_until: datetime | None = None
    after: str | None = None
    last_id: str | None = None
    # The deletion sweep (our extension): the store time its next run is due. Kept here,
    # in the poll's one read, so a poll learns it is not due without reading anything.
    sweep_at: datetime | None = None
    # Ids announced CREATED since the last complete sweep: the sweep diffs them too, so an
    # object created and deleted between two sweeps still gets its DELETED (new ids come
    # in order, so this delta-encoded set stays a few bytes; the sweep's end empties it).
    sweep_new: frozenset[int] = frozenset()
    # Ids the poll itself announced DELETED since then (archived orders): the sweep that
    # finds them archived does not announce them again.
    sweep_gone: frozenset[int] = frozenset()

    @property
    def exists(self) -> bool:
        return self.version > 0

    @property
    def ids_at_cursor(self) -> frozenset[str]:
        """The ids emitted at the cursor's time (kept in ``recent``; older items stored them apart)."""
        return frozenset(i for i, u in self.recent if u == self.cursor)

    @property
    def told_from(self) -> datetime | None:
        """The point the subscriber was last told about this resource: every object that
        existed before it was announced by then (or predates the origin); an object created
        at or after it, not announced yet, is new to the subscriber."""
        return self.told or self.origin

    def lower_bound(self, overlap_s: float, start: datetime, *, by_id: bool = False) -> datetime:
        """Oldest updated time the next query asks for (and the oldest ever emitted).

        Never below the origin (``start`` before the first checkpoint: instance creation
        or backfill), so the overlap never announces what changed before the instance.
        Reads in updated-time order continue from their newest emitted time (the cursor);
        id-ordered reads only from where a read went through, since what they emit may
        be stamped past the store clock (a write during the read, a bad date)."""
        origin = floor_second(self.origin or start)
        if self.read_from is not None:
            return max(origin, self.read_from)  # an interrupted read resumes with its own bound
        marks = [m for m in ((self.read_to or self.cursor,) if by_id else (self.read_to, self.cursor)) if m]
        if not marks:
            return origin
        return max(origin, floor_second(max(marks) - _overlap(overlap_s)))

    def _keep_from(self, bound: datetime) -> datetime:
        """Pairs at or after the told point always stay: an object created since then and
        seen again must be recognised as announced, not announced CREATED twice."""
        told = self.told_from
        return min(bound, floor_second(told)) if told is not None else bound

    def already_emitted(self, object_id: str, updated: datetime) -> bool:
        return (object_id, updated) in self.recent

    def advance(self, emitted: Iterable[EmittedKey], overlap_s: float) -> CursorState:
        """The state after ``emitted`` are safely queued (reads in updated-time order): the
        cursor moves to the highest time emitted (never lower), and ``recent`` keeps exactly
        the pairs the next query's overlap can return again."""
        pairs = set(emitted)
        if not pairs:
            return self
        top = max(u for _, u in pairs)
        cursor = top if self.cursor is None or top > self.cursor else self.cursor
        keep_from = self._keep_from(floor_second(cursor - _overlap(overlap_s)))
        recent = frozenset(p for p in set(self.recent) | pairs if p[1] >= keep_from)
        return replace(self, cursor=cursor, recent=recent)

    def advance_keyset(
        self,
        emitted: Iterable[EmittedKey],
        *,
        read_from: datetime,
        upper: datetime,
        after: str | None,
        last_id: str | None,
        overlap_s: float,
    ) -> CursorState:
        """The state after one more page of an id-ordered read from ``read_from`` is queued.

        ``recent`` keeps a pair only while some query can return it again: the rest of
        this read (a pair of a record not read yet: id above ``last_id``, time from
        ``read_from``), or the next read, which starts ``pollDelay`` before ``upper``, the
        store time this read reads up to. Pairs this read already passed drop out, so the item stays
        small however many records the read covers."""
        pairs = set(emitted)
        top = max((u for _, u in pairs), default=None)
        cursor = self.cursor if top is None or (self.cursor is not None and self.cursor >= top) else top
        next_read = floor_second(upper - _overlap(overlap_s))
        passed = _id_number(last_id)

        def needed(pair: EmittedKey) -> bool:
            if pair[1] >= next_read:
                return True
            number = _id_number(pair[0])
            return pair[1] >= read_from and (passed is None or number is None or number > passed)

        recent = frozenset(p for p in set(self.recent) | pairs if needed(p))
        return replace(
            self,
            cursor=cursor,
            recent=recent,
            read_from=read_from,
            read_until=upper,
            after=after,
            last_id=last_id,
        )

    def read_through(self, upper: datetime, overlap_s: float, *, told: datetime | None = None) -> CursorState:
        """The state once a read reached its end at store time ``upper``: the next poll
        starts ``pollDelay`` before it, and only the pairs it can return stay.

        ``told`` (default ``upper``) is how far the subscriber now knows the resource: a
        read that saw an object only past the store clock, unannounced, passes the
        object's creation time so that it still arrives as CREATED."""
        read_to = upper if self.read_to is None or upper > self.read_to else self.read_to
        mark = floor_second(min(told, upper) if told is not None else upper)
        told_now = mark if self.told is None or mark > self.told else self.told
        moved = replace(self, read_to=read_to, told=told_now)
        keep_from = moved._keep_from(floor_second(read_to - _overlap(overlap_s)))
        recent = frozenset(p for p in self.recent if p[1] >= keep_from)
        return replace(moved, recent=recent, read_from=None, read_until=None, after=None, last_id=None)
