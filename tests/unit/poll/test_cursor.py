from __future__ import annotations

from datetime import datetime, timedelta

from bcpoller.poll.cursor import CursorState
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.poll.fakes import T0

S = timedelta(seconds=1)


def test_lower_bound_overlaps_and_floors_but_never_passes_the_origin() -> None:
    fresh = CursorState(resource="orders")
    assert fresh.lower_bound(5, T0 + timedelta(milliseconds=700)) == T0
    moved = CursorState(resource="orders", cursor=T0 + 60 * S, origin=T0)
    assert moved.lower_bound(5, T0) == T0 + 55 * S
    assert moved.lower_bound(0, T0) == T0 + 59 * S  # never below one second of overlap
    young = CursorState(resource="orders", cursor=T0 + 2 * S, origin=T0)
    assert young.lower_bound(5, T0) == T0


def test_advance_keeps_what_the_overlap_can_return() -> None:
    state = CursorState(resource="orders").advance([("1", T0), ("2", T0 + 3 * S)], overlap_s=2)
    assert state.cursor == T0 + 3 * S and state.ids_at_cursor == {"2"}
    assert state.recent == {("2", T0 + 3 * S)}  # T0 is older than cursor - 2 s
    later = state.advance([("3", T0 + 2 * S)], overlap_s=2)  # a late commit inside the window
    assert later.cursor == T0 + 3 * S
    assert later.already_emitted("3", T0 + 2 * S) and later.already_emitted("2", T0 + 3 * S)
    assert not later.already_emitted("2", T0 + 4 * S)


@given(st.lists(st.lists(st.tuples(st.integers(1, 5), st.integers(0, 30)), max_size=6), max_size=8))
def test_cursor_never_goes_down_and_window_pairs_are_remembered(batches: list[list[tuple[int, int]]]) -> None:
    state = CursorState(resource="orders")
    emitted: set[tuple[str, datetime]] = set()
    for batch in batches:
        pairs = [(str(i), T0 + s * S) for i, s in batch]
        before = state.cursor
        state = state.advance(pairs, overlap_s=3)
        emitted |= set(pairs)
        if before is not None and state.cursor is not None:
            assert state.cursor >= before
        bound = state.lower_bound(3, T0)
        assert all(state.already_emitted(i, u) for i, u in emitted if u >= bound)
