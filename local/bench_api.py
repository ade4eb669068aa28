"""API latency on the local stack's parts (moto server + simulated store), printed as figures.

``python -m local.bench_api [--instances 30]``: creates an organization, then times
POST /instances (validation, SSRF check, store check, KMS, put, schedule), GET one,
GET the list (one KMS decrypt per instance, cached when warm), GET status, PATCH.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.bench_api")
    parser.add_argument("--instances", type=int, default=30)
    args = parser.parse_args(argv)

    from local.moto_server import MotoServer
    from local.store import SimulatedStore
    from local.template_resources import create_stack_resources

    moto = MotoServer().start()
    store = SimulatedStore(seed=1, records_per_resource=5).start()
    try:
        os.environ.update(
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="us-east-1",
            POWERTOOLS_TRACE_DISABLED="true",
            POWERTOOLS_METRICS_NAMESPACE="Bench",
            POWERTOOLS_LOG_LEVEL="ERROR",
            POWERTOOLS_METRICS_DISABLED="true",
            LOCAL_MODE="true",
            BC_API_BASE_URL=store.url,
            POLL_NOW_URL="",
        )
        os.environ.update(create_stack_resources(moto.url).function_environment())

        from bcpoller.adapters import aws
        from bcpoller.adapters.auth_table import AuthTable
        from bcpoller.api.admin import create_org
        from bcpoller.settings import get_settings

        from tests.conftest import load_handler
        from tests.unit.api.helpers import Ctx, v2_event

        import_ms = _fresh_import_ms()
        api = load_handler("api")
        org = create_org(AuthTable(aws.table(get_settings().table_name)), "bench")
        auth = {"Authorization": org["authorization"]}

        def timed(method: str, path: str, body: Any = None) -> tuple[float, dict[str, Any]]:
            t0 = time.perf_counter()
            result = api.lambda_handler(v2_event(method, path, body=body, headers=auth), Ctx())
            return (time.perf_counter() - t0) * 1000, result

        body = {
            "element": {"key": "bigcommerce"},
            "name": "bench",
            "configuration": {
                "store.hash": store.store_hash,
                "store.url": store.api_url,
                "access.token": store.token,
                "event.notification.enabled": True,
                "event.notification.callback.url": "http://127.0.0.1:9/hook",
                "event.poller.configuration": {"orders": {"url": "/hubs/ecommerce/orders"}},
            },
        }
        figures: dict[str, list[float]] = {k: [] for k in ("create", "get", "status", "patch")}
        ids = []
        for _ in range(args.instances):
            ms, result = timed("POST", "/instances", body)
            assert result["statusCode"] == 201, result["body"]
            figures["create"].append(ms)
            ids.append(json.loads(result["body"])["id"])
        for iid in ids:
            figures["get"].append(timed("GET", f"/instances/{iid}")[0])
            figures["status"].append(timed("GET", f"/instances/{iid}/status")[0])
            patch = {"configuration": {"event.poller.refresh_interval": 2}}
            figures["patch"].append(timed("PATCH", f"/instances/{iid}", patch)[0])
        list_ms = [timed("GET", "/instances")[0] for _ in range(5)]
        print(f"handler import in a fresh process (cold start share): {import_ms:.0f} ms")

        def row(name: str, v: list[float]) -> str:
            return f"{name:<22} n={len(v):<4} p50={statistics.median(v):6.1f} ms  p95={_pct(v, 0.95):6.1f} ms"

        print(row("POST /instances", figures["create"]))
        print(row("GET /instances/{id}", figures["get"]))
        print(row("GET .../status", figures["status"]))
        print(row("PATCH /instances/{id}", figures["patch"]))
        print(row(f"GET /instances ({len(ids)})", list_ms))
    finally:
        store.stop()
        moto.stop()
    return 0


def _fresh_import_ms() -> float:
    """The API handler's import timed in a new interpreter with this environment (the
    layer on sys.path, as in Lambda): in this process the benchmark's own imports have
    already loaded most of what the handler needs."""
    root = Path(__file__).resolve().parent.parent
    app = root / "functions" / "api" / "app.py"
    code = (
        "import importlib.util, sys, time\n"
        "t = time.perf_counter()\n"
        f"sys.path.insert(0, {str(root / 'shared')!r})\n"
        f"spec = importlib.util.spec_from_file_location('app', {str(app)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "print((time.perf_counter() - t) * 1000)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    return float(run.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    raise SystemExit(main())
