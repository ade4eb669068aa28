"""The environment every benchmark process starts from: moto's dummy credentials, no
tracing (no X-Ray daemon here), quiet Powertools. A variable already set wins."""

from __future__ import annotations

import os

BENCH_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "BigCommercePollingEvents",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}


def set_bench_environment(**overrides: str) -> None:
    for key, value in {**BENCH_ENVIRONMENT, **overrides}.items():
        os.environ.setdefault(key, value)
