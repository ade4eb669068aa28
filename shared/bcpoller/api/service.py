"""The instances API's logic: create, change, delete and observe connector instances.

Every outside system is passed in (table, KMS, Scheduler, the store, the event log), so
the unit tests run it on fakes and the integration tests on moto's server and the
simulated store.
"""

from __future__ import annotations

import base64
import contextlib
import secrets as secrets_module
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from bcpoller.api.auth import Principal, new_element_token, visible_instance
from bcpoller.api.errors import BadRequest, Conflict, NotFound
from bcpoller.api.models import (
    Accepted,
    Element,
    EventCounts,
    EventDetail,
    EventOut,
    EventPage,
    EventsSwitch,
    InstanceCheck,
    InstanceCreate,
    InstanceCreated,
    InstanceOut,
    InstancePatch,
    InstanceStatus,
    Redriven,
    Replayed,
    ResourceStatus,
    SigningSecretRotated,
    WakeupStatus,
)
from bcpoller.instances import (
    MASK,
    PREVIOUS_SIGNING_SECRET,
    PREVIOUS_SIGNING_UNTIL,
    SECRET_CONFIG_KEYS,
    SIGNING_KEYS,
    SIGNING_SECRET,
    WAKE_SECRET,
    StoredInstance,
    masked_configuration,
    split_secrets,
)
from bcpoller.security.ssrf import UnsafeUrlError, assert_safe_url

CALLBACK_URL = "event.notification.callback.url"
EVENTS_ENABLED = "event.notification.enabled"
STORE_URL = "store.url"
# A change to any of these means the credentials must be checked against the store again.
CREDENTIAL_KEYS = (
    "store.url",
    "store.hash",
    "access.token",
    "username",
    "password",
    "oauth.api.key",
    "oauth.api.secret",
    "oauth.access.token",
    "oauth.code",
)
# Where the stored credentials are sent: a change of either is a new host, and the stored
# secrets must never travel to a host the caller just chose (it could be a capture server).
HOST_KEYS = ("store.url", "store.hash")
# The secrets that authenticate to the store; a host change must bring each one in use anew.
STORE_SECRET_KEYS = ("access.token", "password", "oauth.api.secret", "oauth.access.token")


class StoreCheckFailed(Exception):
    """The store (or BigCommerce's OAuth endpoint) refused or could not be reached;
    ``message`` says what it answered, ``problems`` name fields when a field is at fault."""

    def __init__(self, message: str, problems: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or []


@dataclass(frozen=True)
class OAuthToken:
    access_token: str
    store_hash: str


@dataclass(frozen=True)
class ParsedFacts:
    """What the API needs to know of a validated configuration."""

    events_enabled: bool
    callback_url: str | None
    refresh_minutes: int | None
    resources: list[str]
    wakeup: bool = False  # event.poller.wakeup: BigCommerce webhooks wake the poller


class InstanceStore(Protocol):
    def get(self, instance_id: str, *, consistent: bool = False) -> StoredInstance: ...
    def put_new(self, instance: StoredInstance) -> None: ...
    def update_fields(
        self, instance_id: str, fields: dict[str, Any], *, remove: tuple[str, ...] = ()
    ) -> None: ...
    def list_for_org(self, org_id: str) -> list[StoredInstance]: ...
    def delete_all(self, instance_id: str) -> int: ...


class Crypto(Protocol):
    def encrypt(self, secrets: dict[str, Any], instance_id: str) -> bytes: ...
    def decrypt(self, ciphertext: bytes, instance_id: str) -> dict[str, Any]: ...


class ScheduleStore(Protocol):
    def put(self, instance_id: str, minutes: int) -> None: ...
    def delete(self, instance_id: str) -> bool: ...


class PollTrigger(Protocol):
    def trigger(self, instance_id: str) -> None: ...


class StoreGateway(Protocol):
    def check(self, configuration: Mapping[str, Any]) -> datetime:
        """Check the credentials; return the store's clock. Raises StoreCheckFailed."""
        ...

    def exchange_oauth(self, configuration: Mapping[str, Any]) -> OAuthToken: ...


class EventLogReader(Protocol):
    def list(
        self,
        instance_id: str,
        *,
        status: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        next_token: str | None = None,
        object_id: str | None = None,
        object_type: str | None = None,
    ) -> tuple[list[Any], str | None]: ...

    def get(self, instance_id: str, event_id: str) -> Any: ...
    def counts_since(self, instance_id: str, since: datetime, *, now: datetime | None = None) -> Any: ...


class Replayer(Protocol):
    def retry(self, instance_id: str, event_id: str) -> bool: ...
    def replay_failed(
        self, instance_id: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> int: ...

    def redrive_instance(self, instance_id: str) -> Any:
        """This instance's DLQ messages back to the events queue (delivery/replay.py)."""
        ...


class CursorReader(Protocol):
    def cursors(self, instance_id: str) -> list[dict[str, Any]]: ...

    def last_poll(self, instance_id: str) -> dict[str, Any] | None:
        """The last poll's report as the poller wrote it (see poll.engine), or None."""
        ...


# parse(body dict) -> ParsedFacts, raising ConfigError-like errors with ``.problems``.
BodyParser = Callable[[dict[str, Any]], ParsedFacts]


# How long the secret a rotation replaced keeps signing beside the new one.
ROTATION_OVERLAP = timedelta(hours=24)


@dataclass
class InstanceService:
    instances: InstanceStore
    crypto: Crypto
    schedules: ScheduleStore
    trigger: PollTrigger
    store: StoreGateway
    events: EventLogReader
    replayer: Replayer
    cursors: CursorReader
    parse: BodyParser
    default_refresh_minutes: int = 5
    allow_loopback: bool = False
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    # Wake-up (issue 18): the hooks' manager and the API's own base URL as the caller reached
    # it (the hooks' destination); None where wake-up is not wired (it is then never on).
    wakeup: Any = None
    wake_base_url: Callable[[], str] | None = None

    # -- create ----------------------------------------------------------------------

    def create(self, principal: Principal, body: InstanceCreate) -> InstanceCreated:
        principal.require_org()
        raw = body.model_dump(mode="json")
        configuration = dict(body.configuration)
        facts = self._validate_with_store(raw, configuration)
        configuration = self._install_oauth(configuration)
        store_time = self._check_store(configuration)

        instance_id = str(uuid.uuid4())
        token = new_element_token(instance_id)
        signing_secret = "whsec_" + base64.b64encode(secrets_module.token_bytes(32)).decode()
        public, secret = split_secrets(configuration)
        secret[SIGNING_SECRET] = signing_secret
        if facts.wakeup:
            secret[WAKE_SECRET] = _new_wake_secret()
        minutes = facts.refresh_minutes or self.default_refresh_minutes
        instance = StoredInstance.model_validate(
            {
                "instanceId": instance_id,
                "orgId": principal.org_id,
                "name": body.name,
                "tags": body.tags,
                "elementKey": body.element.key,
                "configuration": public,
                "secrets": self.crypto.encrypt(secret, instance_id),
                "tokenHash": _hash(token),
                "eventsEnabled": facts.events_enabled,
                "refreshMinutes": minutes,
                "createdDate": self.clock(),
                "storeCreatedAt": store_time,
                "callbackUrl": facts.callback_url,
                "resources": facts.resources,
            }
        )
        self.instances.put_new(instance)
        if instance.events_enabled:
            try:
                self.schedules.put(instance_id, minutes)
            except Exception:
                # No instance without its schedule: undo, then report the fault.
                self.instances.delete_all(instance_id)
                raise
        self._follow_wakeup(instance, None, configuration, secret)
        out = self._out(instance, set(secret))
        return InstanceCreated(**out.model_dump(), token=token, signingSecret=signing_secret)

    # -- read ------------------------------------------------------------------------

    def list(self, principal: Principal) -> list[InstanceOut]:
        principal.require_org()
        found = sorted(self.instances.list_for_org(principal.org_id), key=lambda i: i.created_date)
        return [self._out(i, self._secret_keys(i)) for i in found]

    def get(self, principal: Principal, instance_id: str) -> InstanceOut:
        instance = visible_instance(principal, self.instances, instance_id)
        return self._out(instance, self._secret_keys(instance))

    # -- change ----------------------------------------------------------------------

    def patch(self, principal: Principal, instance_id: str, patch: InstancePatch) -> InstanceOut:
        principal.require_org()
        instance = visible_instance(principal, self.instances, instance_id)
        stored_secrets = self.crypto.decrypt(instance.secrets, instance_id)
        current = instance.full_configuration(stored_secrets)
        merged = dict(current)
        for key, value in (patch.configuration or {}).items():
            if value is None:
                merged.pop(key, None)
            elif key in SECRET_CONFIG_KEYS and value == MASK:
                continue  # the page sends masked secrets back unchanged
            else:
                merged[key] = value
        name = instance.name if patch.name is None else patch.name
        tags = instance.tags if patch.tags is None else patch.tags
        raw = {"element": {"key": instance.element_key}, "name": name, "tags": tags, "configuration": merged}
        facts = self._validate(raw)
        _require_credentials_for_new_host(current, merged, patch.configuration or {})
        # Refused credentials are checked again on any PATCH too (the same token may work
        # again once the store's side is fixed): a PATCH is a way to resume.
        credentials_changed = any(merged.get(k) != current.get(k) for k in CREDENTIAL_KEYS) or (
            instance.auth_state == "failed"
        )
        # Wake-up's hooks live on the store: moving the instance (hash, URL, token) leaves
        # them on the old one unless taken off there, with the old credentials.
        store_moved = any(merged.get(k) != current.get(k) for k in CREDENTIAL_KEYS)
        merged = self._install_oauth(merged)
        if (
            instance.install_state == "uninstalled"
            and facts.events_enabled
            and not merged.get("oauth.access.token")
        ):
            # Its store credentials were erased at uninstall: only an install brings them back.
            raise Conflict("the BigCommerce app was uninstalled from this store; install it again to poll it")
        if credentials_changed:
            self._check_store(merged)

        public, secret = split_secrets(merged)
        secret[SIGNING_SECRET] = stored_secrets.get(SIGNING_SECRET, "")
        # A rotation's overlap survives an edit.
        secret.update({k: stored_secrets[k] for k in SIGNING_KEYS[1:] if k in stored_secrets})
        if stored_secrets.get(WAKE_SECRET) or facts.wakeup:
            secret[WAKE_SECRET] = stored_secrets.get(WAKE_SECRET) or _new_wake_secret()
        if store_moved and secret.get(WAKE_SECRET):
            # A new secret for the new store: hooks the old store keeps (its credentials
            # refused their removal, say) get 401 from now on.
            secret[WAKE_SECRET] = _new_wake_secret()
        minutes = facts.refresh_minutes or self.default_refresh_minutes
        fields: dict[str, Any] = {
            "name": name,
            "tags": tags,
            "configuration": _config_json(public),
            "eventsEnabled": facts.events_enabled,
            "refreshMinutes": minutes,
            "resources": facts.resources,
        }
        remove: list[str] = []
        if secret != stored_secrets:
            fields["secrets"] = self.crypto.encrypt(secret, instance_id)
        if facts.callback_url:
            fields["callbackUrl"] = facts.callback_url
        else:
            remove.append("callbackUrl")
        if credentials_changed:
            fields["authState"] = "ok"
            remove.append("authError")
        if facts.events_enabled and (
            not instance.events_enabled or facts.callback_url != instance.callback_url
        ):
            remove.append("notificationsDisabledReason")
        self.instances.update_fields(instance_id, fields, remove=tuple(remove))
        self._follow_schedule(instance_id, facts.events_enabled, minutes)
        updated = self.instances.get(instance_id, consistent=True)
        if store_moved:
            self._unhook_old_store(instance, current)
        self._follow_wakeup(updated, instance, merged, secret)
        return self._out(updated, set(secret))

    def set_events(self, principal: Principal, instance_id: str, enabled: bool) -> EventsSwitch:
        principal.require_org()
        instance = visible_instance(principal, self.instances, instance_id)
        if enabled and instance.install_state == "uninstalled":
            raise Conflict("the BigCommerce app was uninstalled from this store; install it again to poll it")
        if enabled and not instance.callback_url:
            raise BadRequest(
                "events cannot be enabled without a callback URL",
                [(_cfg(CALLBACK_URL), "required to enable events")],
            )
        configuration = dict(instance.configuration)
        configuration[EVENTS_ENABLED] = enabled
        fields: dict[str, Any] = {"eventsEnabled": enabled, "configuration": _config_json(configuration)}
        remove: tuple[str, ...] = ("notificationsDisabledReason",) if enabled else ()
        if enabled and instance.auth_state == "failed":
            # The explicit way to resume after the store refused the credentials (fixed on
            # the store's side, say): check them again, with the stored ones, against the
            # stored host only, and poll again when they pass.
            stored = self.crypto.decrypt(instance.secrets, instance_id)
            self._check_store(instance.full_configuration(stored))
            fields["authState"] = "ok"
            remove = (*remove, "authError")
        if _wakeup_configured(instance):
            stored = self.crypto.decrypt(instance.secrets, instance_id)
            if not stored.get(WAKE_SECRET):
                stored[WAKE_SECRET] = _new_wake_secret()
                fields["secrets"] = self.crypto.encrypt(stored, instance_id)
        self.instances.update_fields(instance_id, fields, remove=remove)
        self._follow_schedule(instance_id, enabled, instance.refresh_minutes)
        if _wakeup_configured(instance):
            updated = self.instances.get(instance_id, consistent=True)
            secrets = self.crypto.decrypt(updated.secrets, instance_id)
            self._follow_wakeup(updated, instance, updated.full_configuration(secrets), secrets)
        return EventsSwitch(instanceId=instance_id, eventsEnabled=enabled)

    def delete(self, principal: Principal, instance_id: str) -> None:
        principal.require_org()
        instance = visible_instance(principal, self.instances, instance_id)
        # Schedule first: a tick between the two deletes then finds no instance and stops.
        self.schedules.delete(instance_id)
        if _wakeup_on(instance):
            secrets = self.crypto.decrypt(instance.secrets, instance_id)
            self._follow_wakeup(None, instance, instance.full_configuration(secrets), secrets)
        self.instances.delete_all(instance_id)

    def poll_now(self, principal: Principal, instance_id: str) -> Accepted:
        principal.require_org()
        instance = visible_instance(principal, self.instances, instance_id)
        if not instance.events_enabled:
            raise Conflict("events are disabled for this instance; enable them before polling")
        self.trigger.trigger(instance_id)
        return Accepted(instanceId=instance_id)

    # -- observe ---------------------------------------------------------------------

    def status(self, principal: Principal, instance_id: str) -> InstanceStatus:
        instance = visible_instance(principal, self.instances, instance_id)
        # Hourly counters: ``since`` comes back as the start of the oldest hour counted.
        now = self.clock()
        counts = _as_dict(self.events.counts_since(instance_id, now - timedelta(hours=24), now=now))
        since = counts.get("since") or now - timedelta(hours=24)
        resources = [
            ResourceStatus(**{k: _str_or_same(v) for k, v in row.items() if k in ResourceStatus.model_fields})
            for row in _resource_rows(
                instance, self.cursors.cursors(instance_id), self.cursors.last_poll(instance_id)
            )
        ]
        return InstanceStatus(
            instanceId=instance_id,
            eventsEnabled=instance.events_enabled,
            authState=instance.auth_state,
            authError=instance.auth_error,
            notificationsDisabledReason=instance.notifications_disabled_reason,
            refreshInterval=instance.refresh_minutes,
            resources=resources,
            last24h=EventCounts(
                since=since,
                delivered=int(counts.get("delivered", 0)),
                failed=int(counts.get("failed", 0)),
                hours=counts.get("hours") or [],
            ),
            deadLettered=int(counts.get("deadLettered", 0)),
            wakeup=self._wakeup_status(instance),
        )

    def _wakeup_status(self, instance: StoredInstance) -> WakeupStatus | None:
        if self.wakeup is None or not _wakeup_configured(instance):
            return None
        view = self.wakeup.records.view(instance.instance_id)
        if view is None:
            return WakeupStatus(enabled=False, pending=False, error=None)
        hooks = view.get("hooks") or {}
        return WakeupStatus(
            enabled=True,
            pending=bool(view.get("pending")),
            hooks=hooks.get("hooks") or [],
            checkedAt=hooks.get("checkedAt"),
            error=hooks.get("error"),
        )

    def list_events(
        self,
        principal: Principal,
        instance_id: str,
        *,
        status: str | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
        next_token: str | None,
        object_id: str | None = None,
        object_type: str | None = None,
    ) -> EventPage:
        visible_instance(principal, self.instances, instance_id)
        if since and until and since > until:
            raise BadRequest("since is after until", [("since", "must not be after until")])
        if object_type and not object_id:
            raise BadRequest("objectType needs objectId", [("objectId", "required with objectType")])
        try:
            items, token = self.events.list(
                instance_id,
                status=status,
                since=since,
                until=until,
                limit=limit,
                next_token=next_token,
                object_id=object_id,
                object_type=object_type,
            )
        except ValueError as exc:
            raise BadRequest("the event query is not valid", [_query_problem(exc)]) from None
        return EventPage(
            events=[EventOut.model_validate(_event_dict(i, detail=False)) for i in items], nextToken=token
        )

    def get_event(self, principal: Principal, instance_id: str, event_id: str) -> EventDetail:
        visible_instance(principal, self.instances, instance_id)
        item = self.events.get(instance_id, event_id)
        if item is None:
            raise NotFound(f"event {event_id!r} not found")
        return EventDetail.model_validate(_event_dict(item, detail=True))

    def retry_event(self, principal: Principal, instance_id: str, event_id: str) -> Accepted:
        principal.require_org()
        visible_instance(principal, self.instances, instance_id)
        item = self.events.get(instance_id, event_id)
        if item is None:
            raise NotFound(f"event {event_id!r} not found")
        status = _event_dict(item, detail=False).get("status")
        # Anything but a failed event is still on its way: sending it again would duplicate it.
        if status != "failed" or not self.replayer.retry(instance_id, event_id):
            raise Conflict(f"event {event_id!r} is {status}; only failed events can be retried")
        return Accepted(instanceId=instance_id, eventId=event_id)

    def replay(
        self, principal: Principal, instance_id: str, since: datetime | None, until: datetime | None
    ) -> Replayed:
        principal.require_org()
        visible_instance(principal, self.instances, instance_id)
        if since and until and since > until:
            raise BadRequest("since is after until", [("since", "must not be after until")])
        return Replayed(replayed=self.replayer.replay_failed(instance_id, since=since, until=until))

    def check_new(self, principal: Principal, body: InstanceCreate) -> InstanceCheck:
        """What create would say of this body, without making anything (the page's
        form asks while it still has problems of its own to show)."""
        principal.require_org()
        raw = body.model_dump(mode="json")
        configuration = dict(body.configuration)
        self._validate_with_store(raw, configuration)
        if not configuration.get("oauth.code"):
            self._check_store(configuration)
        return InstanceCheck(valid=True)

    def _validate_with_store(self, raw: dict[str, Any], configuration: dict[str, Any]) -> ParsedFacts:
        """Every problem of a new instance's body in one answer: when the body has
        problems but its credentials are complete and passed the URL guard, the store
        is asked too, so its refusal is not held back for a second round."""
        try:
            return self._validate(raw)
        except BadRequest as exc:
            problems = [(e.field, e.problem) for e in exc.errors]
            touched = {_cfg(k) for k in CREDENTIAL_KEYS}
            if (
                problems
                and not configuration.get("oauth.code")
                and not any(f in touched for f, _ in problems)
            ):
                # The store's own address only: nothing else of a refused body goes out.
                store_part = {k: v for k, v in configuration.items() if k != CALLBACK_URL}
                try:
                    self.store.check(store_part)
                except StoreCheckFailed as failed:
                    problems.extend(
                        _cfg_all(failed.problems)
                        or [(_cfg(_credential_field(configuration)), failed.message)]
                    )
            if not problems:
                raise
            unique = list(dict.fromkeys(problems))
            raise BadRequest(f"the instance body has {len(unique)} problem(s)", unique) from None

    def rotate_signing_secret(self, principal: Principal, instance_id: str) -> SigningSecretRotated:
        """A new signing secret, returned once; the replaced one signs too until
        ``previousValidUntil`` (ROTATION_OVERLAP), then no more."""
        principal.require_org()
        instance = visible_instance(principal, self.instances, instance_id)
        stored = self.crypto.decrypt(instance.secrets, instance_id)
        now = self.clock().astimezone(UTC)
        until = now + ROTATION_OVERLAP
        new_secret = "whsec_" + base64.b64encode(secrets_module.token_bytes(32)).decode()
        rotated = {**stored, SIGNING_SECRET: new_secret}
        if stored.get(SIGNING_SECRET):
            rotated[PREVIOUS_SIGNING_SECRET] = stored[SIGNING_SECRET]
            rotated[PREVIOUS_SIGNING_UNTIL] = until.isoformat()
        else:
            rotated.pop(PREVIOUS_SIGNING_SECRET, None)
            rotated.pop(PREVIOUS_SIGNING_UNTIL, None)
        self.instances.update_fields(instance_id, {"secrets": self.crypto.encrypt(rotated, instance_id)})
        return SigningSecretRotated(
            instanceId=instance_id,
            signingSecret=new_secret,
            previousValidUntil=until if stored.get(SIGNING_SECRET) else None,
        )

    def redrive(self, principal: Principal, instance_id: str) -> Redriven:
        """The instance's dead-lettered events back for delivery (other instances' stay)."""
        principal.require_org()
        visible_instance(principal, self.instances, instance_id)
        done = _as_dict(self.replayer.redrive_instance(instance_id))
        return Redriven(
            instanceId=instance_id,
            moved=int(done.get("moved", 0)),
            left=int(done.get("left", 0)),
            scanned=int(done.get("scanned", 0)),
            complete=bool(done.get("complete", True)),
        )

    # -- helpers ---------------------------------------------------------------------

    def _validate(self, raw: dict[str, Any]) -> ParsedFacts:
        """Every problem of the body at once: the configuration model's and the URL guard's."""
        problems: list[tuple[str, str]] = []
        facts: ParsedFacts | None = None
        try:
            facts = self.parse(raw)
        except ValueError as exc:
            found = getattr(exc, "problems", None)
            if not found:
                raise BadRequest(_safe_problem(exc)) from None
            problems.extend(_problem_pairs(found))
        configuration = raw.get("configuration") or {}
        for key in (STORE_URL, CALLBACK_URL):
            url = configuration.get(key)
            if isinstance(url, str) and url.strip():
                try:
                    assert_safe_url(url, allow_loopback=self.allow_loopback)
                except UnsafeUrlError as exc:
                    problems.append((_cfg(key), str(exc)))
        if facts is not None and facts.events_enabled and not facts.callback_url:
            problems.append((_cfg(CALLBACK_URL), "required when event.notification.enabled is true"))
        if problems or facts is None:
            # Keep the order stable and drop exact duplicates (the parser may check URLs too).
            unique = list(dict.fromkeys(problems))
            raise BadRequest(f"the instance body has {len(unique)} problem(s)", unique)
        return facts

    def _install_oauth(self, configuration: dict[str, Any]) -> dict[str, Any]:
        """An OAuth app's install code is exchanged once for a permanent access token;
        the single-use code is not kept."""
        if not configuration.get("oauth.code"):
            return configuration
        try:
            grant = self.store.exchange_oauth(configuration)
        except StoreCheckFailed as exc:
            raise BadRequest(exc.message, _cfg_all(exc.problems or [("oauth.code", exc.message)])) from None
        installed = {k: v for k, v in configuration.items() if k != "oauth.code"}
        installed["oauth.access.token"] = grant.access_token
        installed.setdefault("store.hash", grant.store_hash)
        return installed

    def _check_store(self, configuration: Mapping[str, Any]) -> datetime:
        try:
            return self.store.check(configuration)
        except StoreCheckFailed as exc:
            raise BadRequest(exc.message, _cfg_all(exc.problems)) from None

    def _follow_schedule(self, instance_id: str, enabled: bool, minutes: int) -> None:
        if enabled:
            self.schedules.put(instance_id, minutes)
        else:
            self.schedules.delete(instance_id)

    def _follow_wakeup(
        self,
        now: StoredInstance | None,
        before: StoredInstance | None,
        configuration: Mapping[str, Any],
        secrets: Mapping[str, Any],
    ) -> None:
        """Hooks on while events and wake-up are both on; off (hooks deleted) when that ends
        or the instance goes (``now`` None). Registering the same hooks again is harmless:
        an unchanged active hook is left as it is."""
        if self.wakeup is None:
            return
        instance = now or before
        assert instance is not None
        url = self._wake_url(instance.instance_id)
        full = {**configuration, **{k: v for k, v in secrets.items() if k in SECRET_CONFIG_KEYS}}
        if now is not None and _wakeup_on(now) and secrets.get(WAKE_SECRET):
            self.wakeup.switch_on(now.instance_id, full, now.resources, str(secrets[WAKE_SECRET]), url)
        elif before is not None and _wakeup_on(before):
            self.wakeup.switch_off(instance.instance_id, full, url)

    def wakeup_uninstalled(self, instance_id: str) -> None:
        """The app was uninstalled: BigCommerce revoked its token, so we cannot call the
        store after uninstall, not even to delete our hooks (what BigCommerce does with an
        uninstalled app's hooks is not documented in what we have). Disarm the route: a hook
        that still arrives gets 401 and wakes nothing, and status shows wake-up off."""
        if self.wakeup is not None:
            self.wakeup.switch_off(instance_id, None, None)

    def _unhook_old_store(self, before: StoredInstance, old_configuration: Mapping[str, Any]) -> None:
        """A PATCH moved the instance to another store (or account): delete our hooks from
        the old store with its credentials before the new store is armed. A failure is
        logged; the wake secret was renewed, so hooks left behind are refused."""
        if self.wakeup is not None and _wakeup_on(before):
            self.wakeup.unhook(old_configuration, self._wake_url(before.instance_id))

    def _wake_url(self, instance_id: str) -> str:
        from bcpoller.wakeup.manager import wake_url

        return wake_url(self.wake_base_url() if self.wake_base_url else "", instance_id)

    def _secret_keys(self, instance: StoredInstance) -> set[str]:
        return set(self.crypto.decrypt(instance.secrets, instance.instance_id))

    def _out(self, instance: StoredInstance, secret_keys: set[str]) -> InstanceOut:
        return InstanceOut(
            id=instance.instance_id,
            name=instance.name,
            tags=instance.tags,
            element=Element(key=instance.element_key),
            configuration=masked_configuration(instance.configuration, secret_keys),
            createdDate=instance.created_date,
            eventsEnabled=instance.events_enabled,
            authState=instance.auth_state,
            authError=instance.auth_error,
            notificationsDisabledReason=instance.notifications_disabled_reason,
            refreshInterval=instance.refresh_minutes,
            resources=instance.resources,
            installState=instance.install_state,
        )


WAKEUP = "event.poller.wakeup"


def _wakeup_configured(instance: StoredInstance) -> bool:
    return instance.configuration.get(WAKEUP) in (True, "true")


def _wakeup_on(instance: StoredInstance) -> bool:
    return instance.events_enabled and _wakeup_configured(instance)


def _new_wake_secret() -> str:
    return secrets_module.token_urlsafe(32)


def _require_credentials_for_new_host(
    current: Mapping[str, Any], merged: Mapping[str, Any], given: Mapping[str, Any]
) -> None:
    """A PATCH that moves the store to another host checks it with credentials from the
    same request, never with the stored ones."""
    if all(merged.get(k) == current.get(k) for k in HOST_KEYS):
        return
    missing = [
        key
        for key in STORE_SECRET_KEYS
        if merged.get(key) not in (None, "") and given.get(key) in (None, "", MASK)
    ]
    if missing:
        raise BadRequest(
            "changing store.url or store.hash needs the store credentials in the same request",
            [(_cfg(key), "required again when store.url or store.hash changes") for key in missing],
        )


def _cfg(key: str) -> str:
    """Configuration problems are named by their path in the body, as the model names them."""
    return key if key.startswith("configuration.") else f"configuration.{key}"


def _credential_field(configuration: Mapping[str, Any]) -> str:
    """The field a store's refusal without a field belongs to: the store's address as given."""
    return STORE_URL if configuration.get(STORE_URL) and not configuration.get("store.hash") else "store.hash"


def _cfg_all(problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(_cfg(field), problem) for field, problem in problems]


def _hash(token: str) -> str:
    from bcpoller.api.auth import hash_secret

    return hash_secret(token)


def _config_json(configuration: dict[str, Any]) -> str:
    import json

    return json.dumps(configuration, separators=(",", ":"))


def _problem_pairs(problems: Any) -> list[tuple[str, str]]:
    pairs = []
    for p in problems:
        if isinstance(p, tuple):
            pairs.append((str(p[0]), str(p[1])))
        else:
            pairs.append((str(getattr(p, "field", "")), str(getattr(p, "problem", p))))
    return pairs


_QUERY_FIELDS = {
    "next_token": "nextToken",
    "status": "status",
    "since": "since",
    "until": "until",
    "limit": "limit",
}


def _query_problem(exc: Exception) -> tuple[str, str]:
    """The event log names the field first ("next_token: not a token ..."): keep it."""
    text = _safe_problem(exc)
    name, sep, problem = text.partition(":")
    if sep and name.strip() in _QUERY_FIELDS:
        return _QUERY_FIELDS[name.strip()], problem.strip()
    return "nextToken", text


def _safe_problem(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    if hasattr(value, "model_dump"):
        return dict(value.model_dump())
    if hasattr(value, "__dict__"):
        return dict(vars(value))
    return {}


def _str_or_same(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _event_dict(item: Any, *, detail: bool) -> dict[str, Any]:
    import json

    data = item.model_dump(by_alias=True, mode="json") if hasattr(item, "model_dump") else dict(item)
    data = {k: v for k, v in data.items() if k not in ("pk", "sk", "gsi1pk", "gsi1sk", "ttl", "instanceId")}
    body = data.pop("body", None)
    attempts = data.get("attempts") or []
    data["attempts"] = [_as_dict(a) for a in attempts]
    if detail:
        if isinstance(body, bytes | bytearray):
            body = body.decode("utf-8", "replace")
        if isinstance(body, str):
            with contextlib.suppress(ValueError):
                body = json.loads(body)
        data["body"] = body
    return data


_LAST_POLL_FIGURES = ("status", "cursor", "recordsRead", "eventsEmitted", "requests")
# The latest poll's unreadable records: reported as they are, absent meaning none.
_LAST_POLL_UNREADABLE = ("unreadable", "unreadableReason")


def _resource_rows(
    instance: StoredInstance, cursor_rows: list[dict[str, Any]], last_poll: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """Per resource: the cursor item's figures (written at checkpoints, so only by busy
    polls), overlaid with the last reported poll's. A poll reports when it worked, when
    its outcome differs from the stored one, and at least every heartbeat (15 minutes by
    default) while quiet: lastPollEnd is that old at most, plus one refresh interval."""
    rows = {row["resource"]: dict(row) for row in cursor_rows}
    last = last_poll or {}
    for name, figures in (last.get("resources") or {}).items():
        row = rows.setdefault(name, {"resource": name})
        row.update({k: figures[k] for k in _LAST_POLL_FIGURES if k in figures})
        # The latest poll had no error unless it says so: an older one must not linger.
        row["lastError"] = figures.get("lastError")
        row.update({k: figures.get(k) for k in _LAST_POLL_UNREADABLE})
        row["lastPollStart"], row["lastPollEnd"] = last.get("start"), last.get("end")
    order = {name: i for i, name in enumerate(instance.resources)}
    # A resource an edit removed keeps its cursor item (adding it back resumes there) but
    # is not polled: it leaves the status rather than showing a cursor that never moves.
    shown = [r for r in rows.values() if not order or r["resource"] in order]
    return sorted(shown, key=lambda r: (order.get(r["resource"], len(order)), r["resource"]))
