"""Run the simulated store in the foreground until interrupted."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading

from local.store.server import DEFAULT_QUOTA, DEFAULT_WINDOW_MS, SimulatedStore


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m local.store", description=__doc__)
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--hash", dest="store_hash", default="abc123")
    parser.add_argument("--token", default="sim-token")
    parser.add_argument("--username", default="admin")
    parser.add_argument("--password", default="sim-password")
    parser.add_argument("--records", type=int, default=25, help="seeded records per resource")
    parser.add_argument("--quota", type=int, default=DEFAULT_QUOTA)
    parser.add_argument("--window-ms", type=int, default=DEFAULT_WINDOW_MS)
    args = parser.parse_args(argv)
    store = SimulatedStore(
        seed=args.seed,
        store_hash=args.store_hash,
        token=args.token,
        username=args.username,
        password=args.password,
        records_per_resource=args.records,
        quota=args.quota,
        window_ms=args.window_ms,
        port=args.port,
        host=args.host,
    ).start()
    print(
        f"simulated BigCommerce store on {store.url} (token base {store.api_url}, legacy {store.legacy_url})"
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    store.stop()


if __name__ == "__main__":
    main()
