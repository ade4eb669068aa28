"""Keep an instance's BigCommerce webhooks as wanted: one active hook per scope, pointing
at the instance's wake-up URL with its secret header; none once wake-up is off.

A hook is ours when its destination is the instance's wake-up URL (each instance has its
own URL), so hooks of other apps or other instances on the same store are never touched.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

# BigCommerce sends the hook's ``headers`` with every POST: the secret travels in this one.
SECRET_HEADER = "X-Bcpoller-Wake-Secret"  # noqa: S105 - a header name, not a secret


class HookApiError(RuntimeError):
    """The store's /v3/hooks refused or could not be reached (message has no secret)."""


class HookApi(Protocol):
    """The store's /v3/hooks (adapters/store_hooks.py)."""

    def list(self) -> list[dict[str, Any]]: ...
    def create(self, scope: str, destination: str, headers: dict[str, str]) -> dict[str, Any]: ...
    def update(self, hook_id: int, body: dict[str, Any]) -> dict[str, Any]: ...
    def delete(self, hook_id: int) -> None: ...


@dataclass
class HookReport:
    """What status shows: each hook's id, scope and state, what was repaired, any error."""

    hooks: list[dict[str, Any]] = field(default_factory=list)
    created: int = 0
    reactivated: int = 0
    deleted: int = 0
    error: str | None = None

    def to_item(self) -> dict[str, Any]:
        return {
            "hooks": self.hooks,
            "created": self.created,
            "reactivated": self.reactivated,
            "deleted": self.deleted,
            "error": self.error,
        }


def _ours(hooks: Iterable[dict[str, Any]], destination: str) -> list[dict[str, Any]]:
    return [h for h in hooks if str(h.get("destination") or "") == destination]


def _shown(hook: dict[str, Any]) -> dict[str, Any]:
    # Never the headers: they carry the secret.
    return {"id": int(hook["id"]), "scope": str(hook.get("scope")), "active": bool(hook.get("is_active"))}


def ensure_hooks(api: HookApi, *, scopes: list[str], destination: str, secret: str) -> HookReport:
    """Make the store's hooks match: every scope one active hook with the secret header;
    re-activate an inactive one (or re-create it when the update does not take), delete
    hooks of ours whose scope is no longer polled and duplicates."""
    report = HookReport()
    headers = {SECRET_HEADER: secret}
    try:
        mine = _ours(api.list(), destination)
        by_scope: dict[str, dict[str, Any]] = {}
        for existing in sorted(mine, key=lambda h: (not h.get("is_active"), int(h["id"]))):
            scope = str(existing.get("scope"))
            if scope in scopes and scope not in by_scope:
                by_scope[scope] = existing
            else:
                api.delete(int(existing["id"]))
                report.deleted += 1
        for scope in scopes:
            found = by_scope.get(scope)
            hook: dict[str, Any]
            if found is None:
                hook = api.create(scope, destination, headers)
                report.created += 1
            elif not found.get("is_active") or (found.get("headers") or {}) != headers:
                updated = api.update(int(found["id"]), {"is_active": True, "headers": headers})
                if not updated.get("is_active"):
                    # The store would not re-activate it: a new hook starts afresh.
                    api.delete(int(found["id"]))
                    updated = api.create(scope, destination, headers)
                    report.created += 1
                else:
                    report.reactivated += 1
                hook = updated
            else:
                hook = found
            report.hooks.append(_shown(hook))
    except HookApiError as exc:
        report.error = str(exc)[:300]
    return report


def remove_hooks(api: HookApi, *, destination: str) -> HookReport:
    """Delete every hook of ours (wake-up off, events off, instance deleted)."""
    report = HookReport()
    try:
        for hook in _ours(api.list(), destination):
            api.delete(int(hook["id"]))
            report.deleted += 1
    except HookApiError as exc:
        report.error = str(exc)[:300]
    return report
