"""The poll function's composition root: real adapters from the settings.

Built once per cold start, so boto3 clients and the KMS decrypt cache survive between
warm invocations (a warm poll of a quiet store then makes no KMS call at all).
"""

from __future__ import annotations

from typing import Any

from bcpoller.adapters import aws
from bcpoller.adapters.event_queue import SqsEventQueue
from bcpoller.adapters.kms_crypto import KmsCrypto
from bcpoller.adapters.poll_table import PollTable
from bcpoller.adapters.store_transport import guarded_transport
from bcpoller.connector.client import BigCommerceClient
from bcpoller.connector.credentials import credentials_from_config
from bcpoller.connector.errors import CredentialsError
from bcpoller.poll.ports import MetricsSink, PollDeps
from bcpoller.security.ssrf import UnsafeUrlError, assert_safe_url
from bcpoller.settings import Settings


class BigCommerceConnector:
    """Opens one BigCommerce client per poll, bounded by the poll's deadline."""

    def __init__(self, api_base_url: str, *, allow_loopback: bool = False) -> None:
        self._api_base_url = api_base_url
        self._allow_loopback = allow_loopback

    def open(self, configuration: dict[str, Any], *, deadline: float) -> BigCommerceClient:
        creds = credentials_from_config(configuration, api_base_url=self._api_base_url)
        try:
            # Checked at every poll, not only when the instance was saved. The name's DNS
            # answer is judged by each connection (store_transport), where it is used: a
            # name that resolved to a public address then may point inside the network now.
            assert_safe_url(creds.base_url, allow_loopback=self._allow_loopback, resolve_host=False)
        except UnsafeUrlError as exc:
            raise CredentialsError([("store.url", str(exc))]) from None
        return BigCommerceClient(
            creds, deadline=deadline, transport=guarded_transport(allow_loopback=self._allow_loopback)
        )


def poll_deps(settings: Settings, *, metrics: MetricsSink | None = None) -> PollDeps:
    table = PollTable(aws.table(settings.table_name))
    deps = PollDeps(
        state=table,
        queue=SqsEventQueue(aws.client("sqs"), settings.events_queue_url),
        crypto=KmsCrypto(aws.client("kms"), settings.kms_key_id),
        connector=BigCommerceConnector(settings.bc_api_base_url, allow_loopback=settings.local_mode),
        blob_ttl_days=settings.event_retention_days,
        heartbeat_s=settings.status_heartbeat_minutes * settings.seconds_per_minute,
        sweeps=table,
        seconds_per_minute=settings.seconds_per_minute,
    )
    if metrics is not None:
        deps.metrics = metrics
    deps.hook_keeper = _hook_keeper(settings, deps.crypto)
    return deps


def _hook_keeper(settings: Settings, crypto: Any) -> Any:
    """Wake-up's hook check, called only for instances with wake-up on; the store hook
    client (httpx) is imported on its first use."""
    from bcpoller.adapters.wake_table import WakeTable
    from bcpoller.wakeup.manager import HookKeeper, Wakeup

    def open_hooks(configuration: Any) -> Any:
        from bcpoller.adapters.store_hooks import StoreHooks

        return StoreHooks(
            configuration, api_base_url=settings.bc_api_base_url, allow_loopback=settings.local_mode
        )

    wakeup = Wakeup(records=WakeTable(aws.table(settings.table_name)), open_hooks=open_hooks)
    return HookKeeper(wakeup, crypto, minute_s=settings.seconds_per_minute)
