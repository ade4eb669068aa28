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


def test_a_read_through_never_moves_back_and_keeps_only_what_the_next_read_returns() -> None:
    state = CursorState(
        resource="orders",
        cursor=T0,
        recent=frozenset(
            {
                ("a", T0 + timedelta(seconds=8)),
                ("b", T0 + timedelta(seconds=7)),
                ("c", T0 + timedelta(seconds=9)),
            }
        ),
        read_to=T0 + timedelta(seconds=10),
        told=T0 + timedelta(seconds=10),
        read_from=T0,
        read_until=T0 + timedelta(seconds=20),
        after="tok",
        last_id="9",
    )
    done = state.read_through(T0 + timedelta(seconds=5), overlap_s=2)
    # An earlier end moves neither point back; the next read starts 2 s before read_to, and
    # a pair exactly there can come back. The interrupted read's resume fields are cleared.
    assert done == CursorState(
        resource="orders",
        cursor=T0,
        recent=frozenset({("a", T0 + timedelta(seconds=8)), ("c", T0 + timedelta(seconds=9))}),
        read_to=T0 + timedelta(seconds=10),
        told=T0 + timedelta(seconds=10),
    )


def test_told_is_the_earlier_of_told_and_the_reads_end_to_the_second() -> None:
    fresh = CursorState(resource="orders", cursor=T0)
    end = T0 + timedelta(seconds=5, milliseconds=700)
    assert fresh.read_through(
        end, 2, told=T0 + timedelta(seconds=2, milliseconds=500)
    ).told == T0 + timedelta(seconds=2)
    assert fresh.read_through(end, 2, told=T0 + timedelta(seconds=9)).told == T0 + timedelta(seconds=5)
    assert fresh.read_through(end, 2).told == T0 + timedelta(seconds=5)
