"""pytest plugin for ``make mutation`` (loaded with ``-p local.mutation_order``): run the
tests mutmut selected for a mutant fastest first, by the durations its stats run measured.

mutmut runs a mutant's covering tests with ``-x``: a killed mutant stops at its first
failing test, so trying the millisecond tests before the second-long ones shortens most
runs; a survivor runs them all whatever the order. Without the stats file (the stats run
itself, or pytest run by hand) the order is pytest's own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

STATS = Path("mutmut-stats.json")


def pytest_collection_modifyitems(items: list[Any]) -> None:
    if not STATS.exists():
        return
    durations: dict[str, float] = json.loads(STATS.read_text()).get("duration_by_test", {})
    # Unknown tests (none, normally) go last; sort is stable, so ties keep pytest's order.
    items.sort(key=lambda item: durations.get(item.nodeid, float("inf")))
