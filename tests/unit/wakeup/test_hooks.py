"""ensure_hooks / remove_hooks on an in-memory hook API."""

from __future__ import annotations

from typing import Any

from bcpoller.wakeup.hooks import SECRET_HEADER, HookApiError, ensure_hooks, remove_hooks
from bcpoller.wakeup.scopes import scopes_for

DEST = "https://api.example/wake/i1"


class FakeHooks:
    def __init__(self, hooks: list[dict[str, Any]] | None = None, *, stay_inactive: bool = False) -> None:
        self.hooks = {h["id"]: dict(h) for h in hooks or []}
        self.next = 100
        self.stay_inactive = stay_inactive

    def list(self) -> list[dict[str, Any]]:
        return [dict(h) for h in self.hooks.values()]

    def create(self, scope: str, destination: str, headers: dict[str, str]) -> dict[str, Any]:
        self.next += 1
        self.hooks[self.next] = {"id": self.next, "scope": scope, "destination": destination,
                                 "is_active": True, "headers": headers}  # fmt: skip
        return dict(self.hooks[self.next])

    def update(self, hook_id: int, body: dict[str, Any]) -> dict[str, Any]:
        self.hooks[hook_id].update(body)
        if self.stay_inactive:
            self.hooks[hook_id]["is_active"] = False
        return dict(self.hooks[hook_id])

    def delete(self, hook_id: int) -> None:
        del self.hooks[hook_id]


def test_scopes_cover_the_resources_bigcommerce_announces() -> None:
    assert scopes_for(["orders", "brands", "products", "orders"]) == ["store/order/*", "store/product/*"]


def test_registers_repairs_and_leaves_other_hooks_alone() -> None:
    other = {"id": 1, "scope": "store/order/*", "destination": "https://other/x", "is_active": False}
    stale = {"id": 2, "scope": "store/customer/*", "destination": DEST, "is_active": True, "headers": {}}
    off = {"id": 3, "scope": "store/order/*", "destination": DEST, "is_active": False,
           "headers": {SECRET_HEADER: "k"}}  # fmt: skip
    api = FakeHooks([other, stale, off])
    report = ensure_hooks(api, scopes=["store/order/*", "store/product/*"], destination=DEST, secret="k")
    assert (report.created, report.reactivated, report.deleted, report.error) == (1, 1, 1, None)
    ours = sorted((h["scope"], h["is_active"]) for h in api.hooks.values() if h["destination"] == DEST)
    assert ours == [("store/order/*", True), ("store/product/*", True)]
    assert api.hooks[1] == other  # someone else's hook: untouched
    assert all("headers" not in h for h in report.hooks)  # status never shows the secret
    # Nothing to do the second time.
    again = ensure_hooks(api, scopes=["store/order/*", "store/product/*"], destination=DEST, secret="k")
    assert (again.created, again.reactivated, again.deleted) == (0, 0, 0)


def test_a_hook_the_store_will_not_reactivate_is_recreated() -> None:
    off = {"id": 3, "scope": "store/order/*", "destination": DEST, "is_active": False, "headers": {}}
    api = FakeHooks([off], stay_inactive=True)
    report = ensure_hooks(api, scopes=["store/order/*"], destination=DEST, secret="k")
    assert report.created == 1 and 3 not in api.hooks
    assert [h["is_active"] for h in api.hooks.values()] == [True]


def test_remove_and_store_errors_are_reported_not_raised() -> None:
    api = FakeHooks([{"id": 5, "scope": "store/order/*", "destination": DEST, "is_active": True}])
    assert remove_hooks(api, destination=DEST).deleted == 1 and api.hooks == {}

    class Down(FakeHooks):
        def list(self) -> list[dict[str, Any]]:
            raise HookApiError("GET /v3/hooks: 403 You don't have a required scope")

    report = ensure_hooks(Down(), scopes=["store/order/*"], destination=DEST, secret="k")
    assert report.error and "403" in report.error
