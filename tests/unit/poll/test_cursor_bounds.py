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


def test_pairs_from_the_told_point_stay_even_before_the_next_reads_window() -> None:
    state = CursorState(
        resource="orders",
        cursor=T0,
        recent=frozenset({("a", T0 + timedelta(seconds=4)), ("b", T0 + timedelta(seconds=2))}),
        read_to=T0 + timedelta(seconds=10),
        told=T0 + timedelta(seconds=3),
    )
    assert state.read_through(
        T0 + timedelta(seconds=10), overlap_s=2, told=T0 + timedelta(seconds=3)
    ).recent == {("a", T0 + timedelta(seconds=4))}


def test_an_id_ordered_page_never_moves_the_cursor_back_and_keeps_the_next_reads_pairs() -> None:
    state = CursorState(resource="orders", cursor=T0 + timedelta(seconds=20))
    upper = T0 + timedelta(seconds=10)
    page = state.advance_keyset(
        [("3", T0 + timedelta(seconds=8)), ("4", T0 + timedelta(seconds=5))],
        read_from=T0,
        upper=upper,
        after="tok",
        last_id="5",
        overlap_s=2,
    )
    assert page.cursor == T0 + timedelta(seconds=20)
    # 3 is exactly where the next read starts (upper - 2 s): kept though this read passed it.
    assert page.recent == {("3", T0 + timedelta(seconds=8))}
    empty = state.advance_keyset([], read_from=T0, upper=upper, after=None, last_id=None, overlap_s=2)
    assert empty.cursor == T0 + timedelta(seconds=20)


def test_a_read_not_yet_past_any_id_keeps_what_it_can_return() -> None:
    state = CursorState(resource="orders", recent=frozenset({("12", T0 + timedelta(seconds=1)), ("x", T0)}))
    page = state.advance_keyset(
        [], read_from=T0, upper=T0 + timedelta(minutes=1), after=None, last_id=None, overlap_s=2
    )
    assert page.recent == {("12", T0 + timedelta(seconds=1)), ("x", T0)}
    passed = state.advance_keyset(
        [], read_from=T0, upper=T0 + timedelta(minutes=1), after="t", last_id="20", overlap_s=2
    )
    assert passed.recent == {("x", T0)}  # an id that is not a number is never "passed"


def test_time_ordered_reads_start_from_the_newest_mark_id_ordered_from_the_read_through() -> None:
    state = CursorState(
        resource="orders",
        cursor=T0 + timedelta(seconds=20),
        read_to=T0 + timedelta(seconds=10),
        origin=T0 - timedelta(hours=1),
    )
    assert state.lower_bound(2, T0) == T0 + timedelta(seconds=18)
    assert state.lower_bound(2, T0, by_id=True) == T0 + timedelta(seconds=8)
