"""A fake monotonic clock whose sleep advances it, and request builders for unit tests."""

from __future__ import annotations

from datetime import UTC, datetime

from bcpoller.config.catalog import CATALOG
from bcpoller.config.hub import NativeRequest, format_native
from bcpoller.connector.credentials import StoreCredentials


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


TOKEN = StoreCredentials(base_url="https://api.example/stores/h1", mode="token", access_token="tok-secret")
BASIC = StoreCredentials(
    base_url="https://store-h1.example", mode="basic", username="admin", password="pw-secret"
)
LOWER = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def request(name: str, lower: datetime | None = LOWER) -> NativeRequest:
    entry = CATALOG[name]
    params = dict(entry.sort_params)
    if entry.filter_param and entry.filter_format and lower is not None:
        params[entry.filter_param] = format_native(lower, entry.filter_format)
    return NativeRequest(entry=entry, path=entry.path, params=params, lower_bound=lower)
