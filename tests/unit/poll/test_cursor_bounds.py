"""The id-ordered read keeps a pair it can still return: one at exactly the read's lower
bound, with an id above the last one read, comes back later in the same read and must be
recognised then (a mutation survivor: ``>=`` made ``>`` dropped it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bcpoller.poll.cursor import CursorState

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_a_pair_at_the_reads_lower_bound_not_yet_passed_is_kept() -> None:
    before = CursorState(
        resource="orders",
        cursor=T0,
        recent=frozenset({("7", T0), ("8", T0 - timedelta(seconds=1))}),
    )
    after = before.advance_keyset(
        [("3", T0)], read_from=T0, upper=T0 + timedelta(hours=1), after="tok", last_id="5", overlap_s=5
    )
    # 7 is at read_from and above last_id 5: this read returns it again. 3 was passed, and
    # 8 is older than the read: neither can come back before the next read's window.
    assert after.recent == {("7", T0)}
    assert after.already_emitted("7", T0)
