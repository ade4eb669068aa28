"""Switch an instance's wake-up on and off, and check its hooks: the store's hooks and the
table's wake-up attributes kept together. Used by the API (on create, change, events on
or off, delete, uninstall) and by the poll (the periodic check of the hooks)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from bcpoller.wakeup.coalesce import secret_hash
from bcpoller.wakeup.hooks import HookApi, HookApiError, HookReport, ensure_hooks, remove_hooks
from bcpoller.wakeup.scopes import scopes_for

logger = logging.getLogger(__name__)

WAKE_PATH = "/wake/{instance_id}"
# How often a poll of an instance with wake-up on checks the store's hooks (one GET, and a
# write of their state): BigCommerce deactivates a hook after failed deliveries.
HOOK_CHECK_MINUTES = 15


class WakeRecords(Protocol):
    def arm(self, instance_id: str, *, hashed_secret: str, url: str, hooks: dict[str, Any]) -> None: ...
    def disarm(self, instance_id: str) -> None: ...
    def record_hooks(self, instance_id: str, hooks: dict[str, Any]) -> None: ...
    def view(self, instance_id: str) -> dict[str, Any] | None: ...


HookOpener = Callable[[Mapping[str, Any]], AbstractContextManager[HookApi]]


def wake_url(base_url: str, instance_id: str) -> str:
    return base_url.rstrip("/") + WAKE_PATH.format(instance_id=instance_id)


@dataclass
class Wakeup:
    records: WakeRecords
    open_hooks: HookOpener  # (full configuration) -> the store's hook API; may raise HookApiError
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def _hooks_item(self, report: HookReport) -> dict[str, Any]:
        return {**report.to_item(), "checkedAt": self.clock().isoformat()}

    def _ensure(
        self, configuration: Mapping[str, Any], resources: list[str], secret: str, url: str
    ) -> HookReport:
        try:
            with self.open_hooks(configuration) as api:
                return ensure_hooks(api, scopes=scopes_for(resources), destination=url, secret=secret)
        except HookApiError as exc:
            return HookReport(error=str(exc)[:300])

    def switch_on(
        self, instance_id: str, configuration: Mapping[str, Any], resources: list[str], secret: str, url: str
    ) -> dict[str, Any]:
        """Register the hooks and arm the route. A store that refuses the hooks does not stop
        polling: the error shows in status and the poll's next hook check tries again."""
        item = self._hooks_item(self._ensure(configuration, resources, secret, url))
        if item["error"]:
            logger.warning("wake-up hooks not registered", extra={"error": item["error"]})
        self.records.arm(instance_id, hashed_secret=secret_hash(secret), url=url, hooks=item)
        return item

    def switch_off(self, instance_id: str, configuration: Mapping[str, Any] | None, url: str | None) -> None:
        """Disarm the route first (a hook arriving meanwhile gets 401), then delete the hooks
        when the store can still be reached (after an uninstall its credentials are gone)."""
        self.records.disarm(instance_id)
        if configuration is None or not url:
            return
        self._remove(configuration, url, "wake-up hooks not removed")

    def unhook(self, configuration: Mapping[str, Any], url: str) -> HookReport:
        """Delete our hooks from a store the instance no longer polls (a PATCH moved it), with
        that store's credentials; the route is left as it is (the new store's hooks follow)."""
        return self._remove(configuration, url, "wake-up hooks not removed from the previous store")

    def _remove(self, configuration: Mapping[str, Any], url: str, failure: str) -> HookReport:
        try:
            with self.open_hooks(configuration) as api:
                report = remove_hooks(api, destination=url)
        except HookApiError as exc:
            report = HookReport(error=str(exc)[:300])
        if report.error:
            logger.warning(failure, extra={"error": report.error})
        return report

    def check_due(self, hooks: Mapping[str, Any] | None, minute_s: float = 60.0) -> bool:
        checked = (hooks or {}).get("checkedAt")
        if not checked:
            return True
        try:
            at = datetime.fromisoformat(str(checked))
        except ValueError:
            return True
        return (self.clock() - at).total_seconds() >= HOOK_CHECK_MINUTES * minute_s

    def check(
        self, instance_id: str, configuration: Mapping[str, Any], resources: list[str], secret: str, url: str
    ) -> dict[str, Any]:
        """Re-activate or re-create hooks the store marked inactive (or lost), and record
        their state for status."""
        item = self._hooks_item(self._ensure(configuration, resources, secret, url))
        self.records.record_hooks(instance_id, item)
        return item


class SecretsReader(Protocol):
    def decrypt(self, ciphertext: bytes, instance_id: str) -> dict[str, Any]: ...


@dataclass
class HookKeeper:
    """The poll's periodic hook check (PollDeps.hook_keeper): at most every
    HOOK_CHECK_MINUTES per instance, so a quiet poll in between costs nothing more."""

    wakeup: Wakeup
    crypto: SecretsReader  # the poll's KMS cache: the secrets were decrypted by this poll
    minute_s: float = 60.0

    def __call__(self, instance: Any, wake: dict[str, Any]) -> None:
        from bcpoller.instances import WAKE_SECRET

        if not self.wakeup.check_due(wake.get("hooks"), self.minute_s):
            return
        secrets = self.crypto.decrypt(instance.secrets, instance.instance_id)
        secret = secrets.get(WAKE_SECRET)
        if not secret or not wake.get("url"):
            return
        item = self.wakeup.check(
            instance.instance_id,
            instance.full_configuration(secrets),
            list(instance.resources),
            str(secret),
            str(wake["url"]),
        )
        logger.info(
            "wake-up hooks checked",
            extra={k: item.get(k) for k in ("created", "reactivated", "deleted", "error")},
        )
