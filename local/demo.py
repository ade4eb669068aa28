"""The demo `make run` shows: an instance, a store that keeps changing, and a live view.

The instance uses the seed's orders/products/customers poller configuration (the Open
Connectors body of ``seed-instance-oauth.json``), the store's token credentials and the
sink's ``/hooks/demo`` with a signature key; the hook's keys are registered with the sink
so that every delivery's signatures are checked. Everything goes through HTTP: the API,
the store's control API, the sink. The view reads the API's
``/instances/{id}/status`` and the sink's deliveries, refreshed in place with rich on a
terminal, as plain progress lines otherwise.
"""

from __future__ import annotations

import contextlib
import random
import secrets
import threading
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from local.stack import Stack

DEMO_HOOK = "demo"
DEMO_RESOURCES = ("orders", "products", "customers")

# The seed instance's poller configuration (seed-instance-oauth.json), unchanged.
_DATES = {
    "updatedAtField": "date_modified",
    "updatedAtFormat": "EEE, dd MMM yyyy HH:mm:ss Z",
    "createdAtField": "date_created",
    "createdAtFormat": "EEE, dd MMM yyyy HH:mm:ss Z",
}
SEED_POLLER_CONFIGURATION: dict[str, Any] = {
    "orders": {
        "url": "/hubs/ecommerce/orders?where=min_date_modified='${date:EEE, dd MMM yyyy HH:mm:ss Z}'",
        "idField": "id",
        "datesConfiguration": dict(_DATES),
    },
    "products": {
        "url": "/hubs/ecommerce/products?where=min_date_modified='${date:EE, dd MMM yyyy HH:mm:ss Z}'",
        "idField": "id",
        "datesConfiguration": dict(_DATES),
    },
    "customers": {
        "url": "/hubs/ecommerce/customers?where=min_date_modified='${date:EEE, dd MMM yyyy HH:mm:ss Z}'",
        "idField": "id",
        "datesConfiguration": dict(_DATES),
    },
}


def demo_instance_body(
    *,
    callback_url: str,
    signature_key: str,
    store_hash: str,
    access_token: str,
    store_url: str | None,
    refresh_minutes: int = 1,
) -> dict[str, Any]:
    configuration: dict[str, Any] = {
        "store.hash": store_hash,
        "access.token": access_token,
        "event.notification.enabled": True,
        "event.notification.callback.url": callback_url,
        "event.notification.signature.key": signature_key,
        "event.poller.refresh_interval": str(refresh_minutes),
        "event.poller.configuration": SEED_POLLER_CONFIGURATION,
    }
    if store_url:
        configuration["store.url"] = store_url
    return {
        "element": {"key": "bigcommerce"},
        "name": "make-run demo",
        "tags": ["demo"],
        "configuration": configuration,
    }


_UPDATES: dict[str, Any] = {
    "orders": lambda rng: {"staff_notes": f"packed by bay {rng.randint(1, 40)}"},
    "products": lambda rng: {"price": f"{rng.uniform(5, 500):.4f}", "inventory_level": rng.randint(0, 900)},
    "customers": lambda rng: {"notes": f"called {rng.randint(1, 99)} times"},
}


class StoreChanger:
    """A few creates and updates a second through the store's control API."""

    def __init__(self, store_url: str, per_second: float = 3.0, seed: int = 7) -> None:
        self.store_url = store_url.rstrip("/")
        self.per_second = per_second
        self.rng = random.Random(seed)
        self.known: dict[str, list[int]] = {r: [] for r in DEMO_RESOURCES}
        self.made: Counter[str] = Counter()
        self.errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._http = httpx.Client(timeout=5.0)

    def change_once(self) -> None:
        resource = self.rng.choice(DEMO_RESOURCES)
        ids = self.known[resource]
        if ids and self.rng.random() < 0.6:
            record_id = self.rng.choice(ids)
            resp = self._http.put(
                f"{self.store_url}/_admin/{resource}/{record_id}", json=_UPDATES[resource](self.rng)
            )
            kind = "updated"
        else:
            resp = self._http.post(f"{self.store_url}/_admin/{resource}", json={})
            kind = "created"
            if resp.status_code < 300:
                ids.append(int(resp.json()["id"]))
        if resp.status_code >= 300:
            self.errors += 1
        else:
            self.made[kind] += 1

    def _run(self) -> None:
        while not self._stop.wait(1.0 / self.per_second):
            try:
                self.change_once()
            except httpx.HTTPError:
                self.errors += 1

    def start(self) -> StoreChanger:
        self._thread = threading.Thread(target=self._run, name="store-changer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(1)  # a change in flight is abandoned: Ctrl-C must be quick
        self._http.close()


def delivery_counts(deliveries: list[dict[str, Any]], hook: str | None = None) -> dict[str, Counter[str]]:
    """Per objectType: delivered (2xx), failed (other answers), bad signatures, distinct
    events; of ``hook`` only when given (the sink also serves other instances' hooks)."""
    out: dict[str, Counter[str]] = {}
    seen: dict[str, set[str]] = {}
    for d in deliveries:
        if hook is not None and d.get("hook") != hook:
            continue
        body = d.get("body") or {}
        message = body.get("message", {}) if isinstance(body, dict) else {}
        events = message.get("events") or [{}]
        kind = str(events[0].get("objectType", "?"))
        counts = out.setdefault(kind, Counter())
        if 200 <= int(d.get("status", 0)) < 300:
            counts["delivered"] += 1
            seen.setdefault(kind, set()).add(str(message.get("eventId")))
        else:
            counts["failed"] += 1
        if d.get("signatures_valid") is False:
            counts["bad_signatures"] += 1
    for kind, ids in seen.items():
        out[kind]["distinct"] = len(ids)
    return out


# A status request without an answer after this long is shown as slow.
STATUS_SLOW_S = 5.0


class Demo:
    interval = 1.0

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.api = stack.state["api"]
        self.headers = {"Authorization": stack.state["authorization"]}
        self.http = httpx.Client(timeout=10.0)
        self.instance_id: str | None = None
        self.changer: StoreChanger | None = None
        self.first_event_after: float | None = None
        self.status: dict[str, Any] = {}
        # When the status last answered, and what went wrong since (issue 20): the view
        # says "slow" or "unavailable" rather than showing a cursor that stopped moving.
        self.status_ok_at: float | None = None
        self.status_asked_at: float | None = None
        self.status_problem: str | None = None
        self._live: Any = None
        self._last_line = 0.0
        self._fetching: threading.Thread | None = None
        self.tty = bool(getattr(stack.out, "isatty", lambda: False)())

    # -- setup -----------------------------------------------------------------------

    def start(self) -> None:
        o = self.stack.o
        store = self.stack.store
        signature_key = secrets.token_urlsafe(24)
        if store is not None:
            body = demo_instance_body(
                callback_url=f"{self.stack.sink.url}/hooks/{DEMO_HOOK}",
                signature_key=signature_key,
                store_hash=store.store_hash,
                access_token=store.token,
                store_url=store.api_url,
            )
        else:
            body = demo_instance_body(
                callback_url=f"{self.stack.sink.url}/hooks/{DEMO_HOOK}",
                signature_key=signature_key,
                store_hash=o.store_hash or "",
                access_token=o.access_token or "",
                store_url=o.store_url,
            )
        if store is not None:
            # Changes start before the instance so its first poll (right away) has work.
            self.changer = StoreChanger(store.url).start()
        resp = self.http.post(f"{self.api}/instances", json=body, headers=self.headers)
        if resp.status_code != 201 and resp.status_code != 200:
            raise RuntimeError(f"creating the demo instance failed: {resp.status_code} {resp.text[:500]}")
        created = resp.json()
        self.instance_id = str(created["id"])
        self.http.post(
            f"{self.stack.sink.url}/_behavior",
            json={
                "hook": DEMO_HOOK,
                "signature_key": signature_key,
                "signing_secret": created["signingSecret"],
            },
        ).raise_for_status()
        self.stack.write_state(demo_instance_id=self.instance_id)
        self.stack.say(
            f"demo instance {self.instance_id}: polling every {o.minute:g}s, events to /hooks/{DEMO_HOOK}"
        )
        threading.Thread(target=self._poll_soon, name="demo-poll-now", daemon=True).start()
        if self.tty:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(self._table(), console=Console(file=self.stack.out), refresh_per_second=4)
            self._live.start()

    def _poll_soon(self) -> None:
        # Let the store change for a moment after creation, then ask for a poll at once.
        time.sleep(1.5)
        with contextlib.suppress(httpx.HTTPError):
            self.http.post(f"{self.api}/instances/{self.instance_id}/poll", headers=self.headers)

    # -- view ------------------------------------------------------------------------

    def refresh(self) -> None:
        deliveries = self.stack.sink.state.deliveries
        if self.first_event_after is None and any(200 <= d["status"] < 300 for d in list(deliveries)):
            self.first_event_after = time.time() - self.stack.started_at
            self.stack.write_state(first_event_after_s=round(self.first_event_after, 2))
            if not self._live:
                self.stack.say(f"first event delivered {self.first_event_after:.1f}s after start")
        self._fetch_status()
        if self._live:
            self._live.update(self._table())
        elif time.monotonic() - self._last_line >= 5.0:
            self._last_line = time.monotonic()
            self.stack.say(self._line())

    def _fetch_status(self) -> None:
        """At most one status request in flight: a slow API gets no second request (and
        no abandoned one piling up behind it) until it has answered the first. The view
        keeps the last answer meanwhile, and the main loop never waits for it."""
        if self._fetching is not None and self._fetching.is_alive():
            return
        self.status_asked_at = time.monotonic()

        def fetch() -> None:
            try:
                url = f"{self.api}/instances/{self.instance_id}/status"
                # As long as the gateway may take: giving up earlier would leave the
                # invocation running while the next request is sent.
                resp = self.http.get(url, headers=self.headers, timeout=35.0)
                if resp.status_code == 200:
                    self.status = resp.json()
                    self.status_ok_at = time.monotonic()
                    self.status_problem = None
                else:
                    self.status_problem = f"HTTP {resp.status_code}"
            except (httpx.HTTPError, RuntimeError) as exc:
                # The runtime may be restarting (or the view closing): keep the last status.
                self.status_problem = type(exc).__name__

        self._fetching = threading.Thread(target=fetch, name="demo-status", daemon=True)
        self._fetching.start()

    def _rows(self) -> list[tuple[str, str, str, str, str, str]]:
        counts = delivery_counts(list(self.stack.sink.state.deliveries), DEMO_HOOK)
        by_name = {r.get("resource"): r for r in self.status.get("resources", [])}
        rows = []
        for name in DEMO_RESOURCES:
            r = by_name.get(name, {})
            c = counts.get(name, Counter())
            twice = c["delivered"] - c["distinct"]  # 2xx answers beyond one per event
            rows.append(
                (
                    name,
                    str(r.get("cursor") or "-"),
                    str(r.get("recordsRead") if r.get("recordsRead") is not None else "-"),
                    str(r.get("eventsEmitted") if r.get("eventsEmitted") is not None else "-"),
                    str(c["delivered"]) + (f" ({twice} twice!)" if twice else ""),
                    str(c["failed"]) + (f" ({c['bad_signatures']} bad sig)" if c["bad_signatures"] else ""),
                )
            )
        return rows

    def _headline(self) -> str:
        elapsed = time.time() - self.stack.started_at
        first = "waiting for the first event"
        if self.first_event_after is not None:
            first = f"first event after {self.first_event_after:.1f}s"
        if self.changer:
            made = self.changer.made
            changes = f"store changes: {made['created']} created, {made['updated']} updated"
        else:
            changes = "your store: change records in its control panel"
        restarts = self.stack.state.get("runtime_restarts", 0)
        tail = f"  runtime restarts: {restarts}" if restarts else ""
        return f"t={elapsed:5.1f}s  {first}  {changes}  {self.status_state()}{tail}"

    def status_state(self, now: float | None = None) -> str:
        """How fresh the cursors shown are: ok, slow (asked, no answer yet for a while)
        or unavailable (the last answer was an error)."""
        now = time.monotonic() if now is None else now
        age = f"{now - self.status_ok_at:.0f}s old" if self.status_ok_at is not None else "none yet"
        if self.status_problem:
            return f"status UNAVAILABLE ({self.status_problem}; shown: {age})"
        waiting = self._fetching is not None and self._fetching.is_alive()
        if waiting and self.status_asked_at is not None and now - self.status_asked_at > STATUS_SLOW_S:
            return f"status SLOW (no answer for {now - self.status_asked_at:.0f}s; shown: {age})"
        return (
            f"status ok ({age})" if self.status_ok_at is not None else "status: waiting for the first answer"
        )

    def _table(self) -> Any:
        from rich.table import Table

        table = Table(title=f"make run: instance {self.instance_id}", caption=self._headline())
        columns = ("resource", "cursor", "read (last poll)", "emitted (last poll)", "delivered", "failures")
        for col in columns:
            table.add_column(col, justify="left" if col in ("resource", "cursor") else "right")
        for row in self._rows():
            table.add_row(*row)
        return table

    def _line(self) -> str:
        parts = [
            f"{n}: cursor={c} read={r} emitted={e} delivered={d} failed={f}"
            for n, c, r, e, d, f in self._rows()
        ]
        return self._headline() + " | " + "; ".join(parts)

    def stop(self) -> None:
        if self.changer:
            self.changer.stop()
        if self._live:
            self._live.update(self._table())
            self._live.stop()
        if self.first_event_after is not None:
            self.stack.say(f"first event delivered {self.first_event_after:.1f}s after start")
        else:
            self.stack.say("no event was delivered")
        self.stack.say(self._line())
        self.http.close()
