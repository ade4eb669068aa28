"""Wake-up end to end on the local stack: the simulated store's hook reaches the API's
wake-up route through the local gateway, the woken poll delivers the change long before
the schedule would, once; a forged secret is refused."""

from __future__ import annotations

import time
from collections import Counter

import httpx
import pytest

from tests.e2e.conftest import LocalStack, wait_until
from tests.e2e.test_stack import create_instance, delivered, deliveries, event_of

pytestmark = pytest.mark.e2e


def test_a_store_change_wakes_the_poller_and_arrives_once(local_stack: LocalStack) -> None:
    stack, store = local_stack, local_stack.store
    # 1,440 "minutes" of 0.2 s: the schedule's first tick is ~5 minutes away, so only the
    # wake-up can deliver within the test's wait.
    inst = create_instance(stack, "wakeup", ("products",), refresh=1440, **{"event.poller.wakeup": True})
    iid = inst["id"]
    try:
        hooks = httpx.get(f"{store}/_admin/webhooks").json()["hooks"]
        ours = [h for h in hooks if h["destination"].endswith(f"/wake/{iid}")]
        assert [(h["scope"], h["is_active"]) for h in ours] == [("store/product/*", True)]
        assert ours[0]["destination"].startswith(stack.api)  # the API as the page reached it

        refused = httpx.post(
            f"{stack.api}/wake/{iid}", json={}, headers={"X-Bcpoller-Wake-Secret": "forged"}, timeout=30
        )
        assert refused.status_code == 401

        t0 = time.monotonic()
        made = httpx.post(f"{store}/_admin/products", json={})
        assert made.status_code == 201
        pid = str(made.json()["id"])

        def arrived() -> list[tuple[str, str, str]]:
            return [event_of(d) for d in delivered(deliveries(stack, "wakeup")) if event_of(d)[1] == pid]

        wait_until(arrived, 30, "the woken poll's delivery")
        took = time.monotonic() - t0
        time.sleep(3)  # a duplicate would land right behind
        assert Counter(arrived()) == Counter({("products", pid, "CREATED"): 1})
        assert took < 30

        status = httpx.get(f"{stack.api}/instances/{iid}/status", headers=stack.headers, timeout=30).json()
        assert status["wakeup"]["enabled"] is True
        assert [h["scope"] for h in status["wakeup"]["hooks"]] == ["store/product/*"]
    finally:
        httpx.delete(f"{stack.api}/instances/{iid}", headers=stack.headers, timeout=30)
    hooks = httpx.get(f"{store}/_admin/webhooks").json()["hooks"]
    assert not [h for h in hooks if h["destination"].endswith(f"/wake/{iid}")]
