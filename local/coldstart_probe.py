"""One cold start of a built handler, in a fresh interpreter (run by local.bench_coldstart).

    python -I -S local/coldstart_probe.py SPEC.json

``-I -S``: no site-packages and no script directory on sys.path, so the handler can only
import the stdlib and the directories the spec lists (the swapped native wheels, the
function's build directory, the layer), as in Lambda. Writes its timings as JSON to the
spec's ``out`` file (stdout belongs to the handler's logs and metrics).
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import uuid
from typing import Any

FIRST_CALL_MARK = "-- coldstart_probe: first call --"
HEAVY = ("boto3", "botocore", "aws_xray_sdk", "httpx")


class _Context:
    """The attributes of Lambda's context object that the handlers and Powertools read."""

    def __init__(self, function_name: str, timeout_s: float) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "coldstart"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _summary(result: Any) -> str:
    if isinstance(result, dict):
        if "statusCode" in result:
            return f"HTTP {result['statusCode']}, {len(str(result.get('body') or ''))} bytes"
        if "batchItemFailures" in result:
            return f"{len(result['batchItemFailures'])} batch item failures"
        return ", ".join(f"{k}={v}" for k, v in result.items() if isinstance(v, str | int | bool))[:200]
    return repr(result)[:200]


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    sys.path[:0] = spec["path"]
    started, cpu_started = time.perf_counter(), time.process_time()
    module = importlib.import_module("app")
    imported, cpu_imported = time.perf_counter(), time.process_time()
    loaded_at_import = set(sys.modules)
    print(FIRST_CALL_MARK, file=sys.stderr, flush=True)  # splits -X importtime's output
    result = module.lambda_handler(spec["event"], _Context(spec["function_name"], spec["timeout_s"]))
    done, cpu_done = time.perf_counter(), time.process_time()
    outside = sorted(
        name
        for name, mod in list(sys.modules.items())
        if getattr(mod, "__file__", None)
        and name not in ("__main__", "__mp_main__")
        and not any(str(mod.__file__).startswith(p) for p in [*spec["path"], sys.base_prefix, sys.prefix])
    )
    with open(spec["out"], "w", encoding="utf-8") as f:
        json.dump(
            {
                "import_ms": (imported - started) * 1000,
                "first_ms": (done - imported) * 1000,
                "import_cpu_ms": (cpu_imported - cpu_started) * 1000,
                "first_cpu_ms": (cpu_done - cpu_imported) * 1000,
                "summary": _summary(result),
                "modules_at_import": len(loaded_at_import),
                "heavy_at_import": sorted(name for name in HEAVY if name in loaded_at_import),
                "outside": outside[:5],
            },
            f,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
