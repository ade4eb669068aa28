"""How to poll each configured resource: the engine's view of the instance configuration.

The engine only needs, per resource: how to build the store request for a lower bound,
how to read a record's id / updated / created time, and the overlap and page size. This
module derives that from ``bcpoller.config`` (the configured poller, its URL macros and
the hub resource catalog), so the engine itself stays independent of the config model
and unit tests can hand it plans directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

DEFAULT_POLL_DELAY_S = 5.0


@dataclass(frozen=True)
class ResourcePlan:
    name: str
    # lower bound (None = the whole resource) -> the store request for it.
    build_request: Callable[[datetime | None], Any]
    read_id: Callable[[dict[str, Any]], str | None]
    read_updated: Callable[[dict[str, Any]], datetime | None]
    read_created: Callable[[dict[str, Any]], datetime | None]
    overlap_s: float = DEFAULT_POLL_DELAY_S
    created_tolerance_s: float = 0.0
    page_size: int = 250
    # No date filter (categories, brands): read whole every poll and diff a snapshot.
    snapshot: bool = False
    # The store sorts by updated time itself: a fresh query from the newest second read
    # is then safer than the next offset page. Otherwise the connector reads every page
    # before sorting, and a fresh query would only read it all again.
    sorted_by_store: bool = True
    # The endpoint pages by id (min_id, id:greater or cursor pagination): reads go in id
    # order and resume from a token, never re-reading what a checkpoint covers.
    keyset: bool = False
    # The fields read_id / read_updated read: named in the reason a record is unreadable.
    id_field: str = "id"
    updated_field: str | None = None
    # The deletion sweep (``"deletions": {"everyMinutes": n}``; None = off): how often,
    # the request that lists the resource's ids, and whether a listed record is deleted
    # all the same (v2 orders are archived: ``is_deleted``).
    sweep_every_minutes: int | None = None
    build_sweep_request: Callable[[], Any] | None = None
    read_deleted: Callable[[dict[str, Any]], bool] | None = None


@dataclass(frozen=True)
class Planning:
    resources: list[ResourcePlan]
    backfill_since: datetime | None = None


def dig(record: Any, dotted: str | None) -> Any:
    value = record
    for part in (dotted or "").split("."):
        if not part:
            continue
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def object_id(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list) or value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def plan_resources(configuration: dict[str, Any]) -> Planning:
    """Plans for every poller of a full instance configuration (raises ConfigError)."""
    from bcpoller.config.body import ResourcePoller, parse_configuration

    parsed = parse_configuration(configuration)
    legacy = parsed.uses_legacy_api
    plans: list[ResourcePlan] = []
    for name, poller in parsed.pollers.items():
        entry = poller.entry
        poller.native(_EPOCH, legacy=legacy)  # a resource legacy credentials cannot reach fails here

        def build(lower: datetime | None, p: ResourcePoller = poller) -> Any:
            return p.native(lower or _EPOCH, legacy=legacy)

        def read_id(record: dict[str, Any], field: str = poller.id_field) -> str | None:
            return object_id(dig(record, field))

        plans.append(
            ResourcePlan(
                name=name,
                build_request=build,
                read_id=read_id,
                read_updated=_date_reader(poller.updated_at, legacy),
                read_created=_date_reader(poller.created_at, legacy),
                overlap_s=max(float(poller.poll_delay or DEFAULT_POLL_DELAY_S), 1.0),
                created_tolerance_s=float(poller.created_check_tolerance or 0),
                page_size=poller.effective_page_size,
                snapshot=not entry.has_date_filter,
                sorted_by_store=entry.sorts_by_updated and (not legacy or entry.api == "v2"),
                keyset=entry.keyset_for(legacy=legacy) is not None,
                id_field=poller.id_field,
                updated_field=poller.dates.updated_field or entry.updated_field,
                **_sweep_fields(poller, legacy),
            )
        )
    return Planning(resources=plans, backfill_since=parsed.backfill_since)


def _sweep_fields(poller: Any, legacy: bool) -> dict[str, Any]:
    """The plan's deletion-sweep fields: nothing at all when ``deletions`` is absent."""
    from bcpoller.config.hub import NativeRequest

    if poller.deletions is None:
        return {}
    entry = poller.entry
    path = entry.native_path(legacy=legacy)
    # The whole resource, not the where-clause's filters: an object leaving a filter
    # (an order changing status) is not deleted.
    params = {"include_fields": entry.sweep_fields} if entry.sweep_fields and not legacy else {}

    def build() -> Any:
        return NativeRequest(entry=entry, path=path, params=dict(params), lower_bound=None, legacy=legacy)

    flag = entry.deleted_flag

    def read_deleted(record: dict[str, Any]) -> bool:
        return flag is not None and record.get(flag) is True

    return {
        "sweep_every_minutes": poller.deletions.every_minutes,
        "build_sweep_request": build,
        "read_deleted": read_deleted if flag else None,
    }


_EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")


def _date_reader(
    read: Callable[..., datetime | None], legacy: bool
) -> Callable[[dict[str, Any]], datetime | None]:
    def reader(record: dict[str, Any]) -> datetime | None:
        try:
            return read(record, legacy=legacy)
        except (ValueError, TypeError):
            return None  # the engine reports records whose dates cannot be read

    return reader
