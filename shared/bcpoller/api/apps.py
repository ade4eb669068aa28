"""The organization's BigCommerce app: its registration, and the callbacks BigCommerce
calls when a merchant installs it (auth), opens it (load), removes it (uninstall) or
takes a user's access away (remove user).

An install creates the store's instance through the instances service (so the code
exchange, the store check, the secrets' encryption and the schedule are the same as for
``POST /instances``), or refreshes the token of the instance the store already has.
Callbacks carry no Authorization header: the app id in their URL names the app, the
install code is single use (claimed here before the login service sees it), and every
other callback's ``signed_payload_jwt`` is verified with the app's client secret.
"""

from __future__ import annotations

import hashlib
import re
import secrets as secrets_module
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from bcpoller.api.auth import Principal, hash_secret
from bcpoller.api.errors import BadRequest, Conflict, NotFound, Unauthorized
from bcpoller.api.models import InstanceCreate, InstanceOut, InstancePatch
from bcpoller.api.service import CALLBACK_URL, EVENTS_ENABLED, InstanceService
from bcpoller.api.signed_payload import SignedPayload, SignedPayloadError, verify_signed_payload
from bcpoller.instances import MASK, SIGNING_SECRET
from bcpoller.security.ssrf import UnsafeUrlError, assert_safe_url

APP_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_CONTEXT = re.compile(r"^stores/([A-Za-z0-9_-]{1,64})$")
# Kept with the instance secrets' key: only the signing secret and the user's own
# signature key survive an uninstall; the store credentials are erased.
_KEPT_ON_UNINSTALL = (SIGNING_SECRET, "event.notification.signature.key")
APP_TAG = "bigcommerce-app"
UNINSTALLED_REASON = "the app was uninstalled from the BigCommerce control panel"
CODE_TTL = timedelta(days=1)
InstallStatus = Literal["installed", "uninstalled"]


def crypto_context(app_id: str) -> str:
    """The KMS encryption context of an app's client secret (``instanceId`` = ``app:{id}``:
    an app's blob cannot be decrypted as any instance's, nor the other way round)."""
    return f"app:{app_id}"


# -- stored shapes ------------------------------------------------------------------


@dataclass(frozen=True)
class RegisteredApp:
    app_id: str
    org_id: str
    client_id: str
    secrets: bytes  # KMS ciphertext of {"clientSecret": ...}
    callback_url: str | None
    resources: list[str]
    refresh_minutes: int | None
    created_date: str
    updated_date: str


@dataclass(frozen=True)
class StoreInstall:
    store_hash: str
    instance_id: str
    status: InstallStatus
    installed_at: str
    uninstalled_at: str | None = None


class AppStore(Protocol):
    def get_app(self, app_id: str) -> RegisteredApp | None: ...
    def get_org_app(self, org_id: str) -> RegisteredApp | None: ...
    def put_app(self, app: RegisteredApp, *, new: bool) -> bool:
        """False when ``new`` and the organization already has an app."""
        ...

    def get_install(self, app_id: str, store_hash: str) -> StoreInstall | None: ...
    def put_install(self, app_id: str, install: StoreInstall, *, new: bool) -> bool:
        """False when ``new`` and the store already has an install item."""
        ...

    def list_installs(self, app_id: str) -> list[StoreInstall]: ...
    def claim_code(self, app_id: str, code_hash: str, expires_at: int) -> bool:
        """True the first time a code is seen, False for a replay."""
        ...

    def put_session(self, token_hash: str, org_id: str, instance_id: str, expires_at: int) -> None: ...


class Crypto(Protocol):
    def encrypt(self, secrets: dict[str, Any], instance_id: str) -> bytes: ...
    def decrypt(self, ciphertext: bytes, instance_id: str) -> dict[str, Any]: ...


# -- API bodies -----------------------------------------------------------------------


class AppRegistration(BaseModel):
    """The app as BigCommerce's Developer Portal shows it, plus what each install gets."""

    clientId: str = Field(min_length=1, max_length=200, description="The app's client id")
    clientSecret: str | None = Field(
        None,
        max_length=500,
        description="The app's client secret: required the first time; absent or ******** keeps it",
    )
    callbackUrl: str | None = Field(
        None,
        max_length=2048,
        description="Where installed stores' events go; without one, installs start with events off",
    )
    resources: list[str] = Field(
        default_factory=lambda: ["orders"], min_length=1, description="Catalog resources each install polls"
    )
    refreshInterval: int | None = Field(None, ge=1, le=1440, description="Minutes; absent uses the default")


class InstalledStore(BaseModel):
    storeHash: str
    instanceId: str
    status: InstallStatus
    installedAt: str
    uninstalledAt: str | None = None


class AppOut(BaseModel):
    appId: str
    clientId: str
    clientSecret: str = Field(MASK, description="Always ********")
    callbackUrl: str | None = None
    eventsOnInstall: bool = Field(description="True: installs start polling at once (a callback URL is set)")
    resources: list[str]
    refreshInterval: int | None = None
    authCallbackUrl: str
    loadCallbackUrl: str
    uninstallCallbackUrl: str
    removeUserCallbackUrl: str
    createdDate: str
    updatedDate: str
    stores: list[InstalledStore] = Field(default_factory=list)


@dataclass(frozen=True)
class InstallResult:
    store_hash: str
    instance: InstanceOut
    refreshed: bool  # the store was installed before: its token was refreshed


@dataclass(frozen=True)
class LoadResult:
    store_hash: str
    instance_id: str
    session_token: str
    expires_at: datetime


def callback_urls(base_url: str, app_id: str) -> dict[str, str]:
    root = f"{base_url.rstrip('/')}/apps/{app_id}"
    return {
        "authCallbackUrl": f"{root}/auth",
        "loadCallbackUrl": f"{root}/load",
        "uninstallCallbackUrl": f"{root}/uninstall",
        "removeUserCallbackUrl": f"{root}/remove_user",
    }


# -- the service ----------------------------------------------------------------------


@dataclass
class AppService:
    apps: AppStore
    instances: InstanceService
    crypto: Crypto
    catalog: Callable[[], list[dict[str, Any]]]
    allow_loopback: bool = False
    session_minutes: int = 30
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    # -- registration (organization credentials) -----------------------------------

    def register(self, principal: Principal, body: AppRegistration, base_url: str) -> AppOut:
        principal.require_org()
        current = self.apps.get_org_app(principal.org_id)
        problems = self._registration_problems(body, first=current is None)
        if problems:
            raise BadRequest(f"the app registration has {len(problems)} problem(s)", problems)
        now = self.clock().isoformat()
        app_id = current.app_id if current else secrets_module.token_urlsafe(18)
        secret_given = body.clientSecret not in (None, "", MASK)
        ciphertext = (
            self.crypto.encrypt({"clientSecret": body.clientSecret}, crypto_context(app_id))
            if secret_given or current is None
            else current.secrets
        )
        app = RegisteredApp(
            app_id=app_id,
            org_id=principal.org_id,
            client_id=body.clientId.strip(),
            secrets=ciphertext,
            callback_url=(body.callbackUrl or "").strip() or None,
            resources=list(dict.fromkeys(body.resources)),
            refresh_minutes=body.refreshInterval,
            created_date=current.created_date if current else now,
            updated_date=now,
        )
        if not self.apps.put_app(app, new=current is None):
            raise Conflict("the organization registered its app meanwhile; read it and retry")
        return self._out(app, base_url)

    def get(self, principal: Principal, base_url: str) -> AppOut:
        principal.require_org()
        app = self.apps.get_org_app(principal.org_id)
        if app is None:
            raise NotFound("this organization has not registered a BigCommerce app yet (PUT /app)")
        return self._out(app, base_url)

    # -- callbacks (BigCommerce) -----------------------------------------------------

    def install(
        self, app_id: str, *, code: str | None, scope: str | None, context: str | None, base_url: str
    ) -> InstallResult:
        """The auth callback: exchange the code, then create or refresh the store's instance."""
        app = self._app(app_id)
        problems = []
        if not code:
            problems.append(("code", "missing: BigCommerce sends the install code as ?code="))
        match = _CONTEXT.match(context or "")
        if not match:
            problems.append(("context", "missing or not stores/{store_hash}"))
        if problems or match is None:
            raise BadRequest("the install request is incomplete", problems)
        store_hash = match.group(1)
        expires = int((self.clock() + CODE_TTL).timestamp())
        if not self.apps.claim_code(app_id, hashlib.sha256(str(code).encode()).hexdigest(), expires):
            raise BadRequest(
                "this install code was already used; "
                "start the install again from the BigCommerce control panel",
                [("code", "already used")],
            )
        oauth = {
            "oauth.api.key": app.client_id,
            "oauth.api.secret": self._client_secret(app),
            "oauth.callback.url": callback_urls(base_url, app_id)["authCallbackUrl"],
            "oauth.code": code,
            "oauth.context": context,
            "oauth.scope": scope or "",
        }
        principal = Principal(org_id=app.org_id, user_id=APP_TAG)
        existing = self.apps.get_install(app_id, store_hash)
        if existing is not None and self._instance_exists(existing.instance_id):
            return self._reinstall(app, principal, existing, oauth)
        # No install item yet, or its instance was deleted through the API: a new instance.
        return self._first_install(app, principal, store_hash, oauth, new=existing is None)

    def load(self, app_id: str, signed_payload_jwt: str | None) -> LoadResult:
        """The load callback: a verified store user gets a short-lived session that reaches
        that store's instance only (never the organization's secrets)."""
        app = self._app(app_id)
        payload = self._verify(app, signed_payload_jwt)
        install = self._installed(app, payload)
        if install.status != "installed":
            raise Conflict(f"store {payload.store_hash} uninstalled this app; install it again to open it")
        token = secrets_module.token_urlsafe(32)
        expires = self.clock() + timedelta(minutes=self.session_minutes)
        self.apps.put_session(hash_secret(token), app.org_id, install.instance_id, int(expires.timestamp()))
        return LoadResult(payload.store_hash, install.instance_id, token, expires)

    def uninstall(self, app_id: str, signed_payload_jwt: str | None) -> StoreInstall:
        """Stop polling, erase the store credentials, keep the event log (until its TTL)."""
        app = self._app(app_id)
        payload = self._verify(app, signed_payload_jwt)
        install = self._installed(app, payload)
        svc = self.instances
        # Schedule first: a tick after this finds events off and the credentials gone.
        svc.schedules.delete(install.instance_id)
        if self._instance_exists(install.instance_id):
            instance = svc.instances.get(install.instance_id, consistent=True)
            kept = {
                k: v
                for k, v in svc.crypto.decrypt(instance.secrets, instance.instance_id).items()
                if k in _KEPT_ON_UNINSTALL
            }
            configuration = dict(instance.configuration)
            configuration[EVENTS_ENABLED] = False
            svc.instances.update_fields(
                instance.instance_id,
                {
                    "eventsEnabled": False,
                    "configuration": _config_json(configuration),
                    "secrets": svc.crypto.encrypt(kept, instance.instance_id),
                    "installState": "uninstalled",
                    "notificationsDisabledReason": UNINSTALLED_REASON,
                },
            )
            svc.wakeup_uninstalled(instance.instance_id)
        done = replace(install, status="uninstalled", uninstalled_at=self.clock().isoformat())
        self.apps.put_install(app.app_id, done, new=False)
        return done

    def remove_user(self, app_id: str, signed_payload_jwt: str | None) -> str:
        """A store user lost access to the app: nothing of theirs is kept beyond sessions,
        which expire by themselves. Verified all the same, so only BigCommerce gets a 200."""
        app = self._app(app_id)
        return self._verify(app, signed_payload_jwt).store_hash

    # -- helpers ---------------------------------------------------------------------

    def _first_install(
        self, app: RegisteredApp, principal: Principal, store_hash: str, oauth: dict[str, Any], *, new: bool
    ) -> InstallResult:
        configuration: dict[str, Any] = {
            **oauth,
            EVENTS_ENABLED: bool(app.callback_url),
            "event.poller.refresh_interval": app.refresh_minutes or "",
            "event.poller.configuration": self._pollers(app.resources),
        }
        if app.callback_url:
            configuration[CALLBACK_URL] = app.callback_url
        created = self.instances.create(
            principal,
            InstanceCreate(
                name=f"BigCommerce store {store_hash}", tags=[APP_TAG], configuration=configuration
            ),
        )
        self.instances.instances.update_fields(created.id, {"installState": "installed"})
        install = StoreInstall(store_hash, created.id, "installed", self.clock().isoformat())
        if not self.apps.put_install(app.app_id, install, new=new):
            # Two installs of one store raced (BigCommerce retried the iframe): one instance only.
            self.instances.delete(principal, created.id)
            raise Conflict(f"store {store_hash} is being installed by another request; reload this page")
        out = self.instances.get(principal, created.id)
        return InstallResult(store_hash, out, refreshed=False)

    def _reinstall(
        self, app: RegisteredApp, principal: Principal, install: StoreInstall, oauth: dict[str, Any]
    ) -> InstallResult:
        svc = self.instances
        instance = svc.instances.get(install.instance_id, consistent=True)
        configuration: dict[str, Any] = dict(oauth)
        if install.status == "uninstalled" or instance.install_state == "uninstalled":
            callback = instance.callback_url or app.callback_url
            configuration[EVENTS_ENABLED] = bool(callback)
            if callback:
                configuration[CALLBACK_URL] = callback
        svc.patch(principal, install.instance_id, InstancePatch(configuration=configuration))
        stale = (
            ("notificationsDisabledReason",)
            if instance.notifications_disabled_reason == UNINSTALLED_REASON
            else ()
        )
        svc.instances.update_fields(install.instance_id, {"installState": "installed"}, remove=stale)
        again = replace(
            install, status="installed", installed_at=self.clock().isoformat(), uninstalled_at=None
        )
        self.apps.put_install(app.app_id, again, new=False)
        return InstallResult(install.store_hash, svc.get(principal, install.instance_id), refreshed=True)

    def _pollers(self, resources: list[str]) -> dict[str, Any]:
        defaults = {str(e["name"]): e.get("configuration") or {} for e in self.catalog()}
        return {name: defaults[name] for name in resources if name in defaults}

    def _registration_problems(self, body: AppRegistration, *, first: bool) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        if not body.clientId.strip():
            problems.append(("clientId", "must not be blank"))
        if first and body.clientSecret in (None, "", MASK):
            problems.append(("clientSecret", "required when the app is first registered"))
        url = (body.callbackUrl or "").strip()
        if url:
            try:
                assert_safe_url(url, allow_loopback=self.allow_loopback)
            except UnsafeUrlError as exc:
                problems.append(("callbackUrl", str(exc)))
        known = [str(e["name"]) for e in self.catalog()]
        for i, name in enumerate(body.resources):
            if name not in known:
                problems.append(
                    (f"resources.{i}", f"unknown resource {name[:64]!r}; available: {', '.join(known)}")
                )
        return problems

    def _app(self, app_id: str) -> RegisteredApp:
        app = self.apps.get_app(app_id) if APP_ID.match(app_id or "") else None
        if app is None:
            raise NotFound("no BigCommerce app is registered at this URL; copy the URLs from the App page")
        return app

    def _client_secret(self, app: RegisteredApp) -> str:
        return str(self.crypto.decrypt(app.secrets, crypto_context(app.app_id)).get("clientSecret", ""))

    def _verify(self, app: RegisteredApp, token: str | None) -> SignedPayload:
        try:
            return verify_signed_payload(
                token or "",
                client_id=app.client_id,
                client_secret=self._client_secret(app),
                now=self.clock().timestamp(),
            )
        except SignedPayloadError as exc:
            raise Unauthorized(exc.problem, [("signed_payload_jwt", exc.problem)]) from None

    def _installed(self, app: RegisteredApp, payload: SignedPayload) -> StoreInstall:
        install = self.apps.get_install(app.app_id, payload.store_hash)
        if install is None:
            raise NotFound(f"store {payload.store_hash} has not installed this app")
        return install

    def _instance_exists(self, instance_id: str) -> bool:
        try:
            self.instances.instances.get(instance_id)
        except LookupError:
            return False
        return True

    def _out(self, app: RegisteredApp, base_url: str) -> AppOut:
        stores = sorted(self.apps.list_installs(app.app_id), key=lambda s: s.installed_at)
        return AppOut(
            appId=app.app_id,
            clientId=app.client_id,
            callbackUrl=app.callback_url,
            eventsOnInstall=bool(app.callback_url),
            resources=app.resources,
            refreshInterval=app.refresh_minutes,
            createdDate=app.created_date,
            updatedDate=app.updated_date,
            stores=[
                InstalledStore(
                    storeHash=s.store_hash,
                    instanceId=s.instance_id,
                    status=s.status,
                    installedAt=s.installed_at,
                    uninstalledAt=s.uninstalled_at,
                )
                for s in stores
            ],
            **callback_urls(base_url, app.app_id),
        )


def _config_json(configuration: dict[str, Any]) -> str:
    import json

    return json.dumps(configuration, separators=(",", ":"))
