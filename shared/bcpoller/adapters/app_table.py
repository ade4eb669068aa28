"""A BigCommerce app's items in the table: the app, its organization's pointer, each
store's install, used install codes and load sessions (layout in bcpoller.keys)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from bcpoller import keys
from bcpoller.adapters.key_conditions import key_condition
from bcpoller.api.apps import InstallStatus, RegisteredApp, StoreInstall

_SECRET_SK = "SECRET"  # noqa: S105 - a sort key, not a password
_LOST_RACE = {"ConditionalCheckFailedException", "TransactionCanceledException"}


def _lost_race(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in _LOST_RACE


class AppTable:
    def __init__(self, table: Any) -> None:
        self._table = table

    # -- the app ---------------------------------------------------------------------

    def get_app(self, app_id: str) -> RegisteredApp | None:
        item = self._table.get_item(Key={keys.PK: keys.app_pk(app_id), keys.SK: keys.APP_SK}).get("Item")
        return _app(item) if item else None

    def get_org_app(self, org_id: str) -> RegisteredApp | None:
        pointer = self._table.get_item(
            Key={keys.PK: keys.org_pk(org_id), keys.SK: keys.APP_SK}, ConsistentRead=True
        ).get("Item")
        if not pointer:
            return None
        app = self.get_app(str(pointer["appId"]))
        return app if app and app.org_id == org_id else None

    def put_app(self, app: RegisteredApp, *, new: bool) -> bool:
        item: dict[str, Any] = {
            keys.PK: keys.app_pk(app.app_id),
            keys.SK: keys.APP_SK,
            "appId": app.app_id,
            "orgId": app.org_id,
            "clientId": app.client_id,
            "secrets": app.secrets,
            "resources": list(app.resources),
            "createdDate": app.created_date,
            "updatedDate": app.updated_date,
        }
        if app.callback_url:
            item["callbackUrl"] = app.callback_url
        if app.refresh_minutes:
            item["refreshMinutes"] = app.refresh_minutes
        if not new:
            self._table.put_item(Item=item, ConditionExpression="attribute_exists(pk)")
            return True
        client = self._table.meta.client
        pointer = {keys.PK: keys.org_pk(app.org_id), keys.SK: keys.APP_SK, "appId": app.app_id}
        try:
            # One app per organization: the pointer and the app appear together or not at all.
            client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table.name,
                            "Item": it,
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    }
                    for it in (pointer, item)
                ]
            )
        except ClientError as exc:
            if _lost_race(exc):
                return False
            raise
        return True

    # -- installs --------------------------------------------------------------------

    def get_install(self, app_id: str, store_hash: str) -> StoreInstall | None:
        item = self._table.get_item(
            Key={keys.PK: keys.app_pk(app_id), keys.SK: keys.store_install_sk(store_hash)},
            ConsistentRead=True,
        ).get("Item")
        return _install(item) if item else None

    def put_install(self, app_id: str, install: StoreInstall, *, new: bool) -> bool:
        item: dict[str, Any] = {
            keys.PK: keys.app_pk(app_id),
            keys.SK: keys.store_install_sk(install.store_hash),
            "storeHash": install.store_hash,
            "instanceId": install.instance_id,
            "status": install.status,
            "installedAt": install.installed_at,
        }
        if install.uninstalled_at:
            item["uninstalledAt"] = install.uninstalled_at
        kwargs = {"ConditionExpression": "attribute_not_exists(pk)"} if new else {}
        try:
            self._table.put_item(Item=item, **kwargs)
        except ClientError as exc:
            if new and _lost_race(exc):
                return False
            raise
        return True

    def list_installs(self, app_id: str) -> list[StoreInstall]:
        found: list[StoreInstall] = []
        kwargs: dict[str, Any] = key_condition(
            keys.PK, keys.app_pk(app_id), keys.SK, "begins_with", keys.STORE_PREFIX
        )
        while True:
            page = self._table.query(**kwargs)
            found.extend(_install(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def claim_code(self, app_id: str, code_hash: str, expires_at: int) -> bool:
        try:
            self._table.put_item(
                Item={
                    keys.PK: keys.app_pk(app_id),
                    keys.SK: keys.install_code_sk(code_hash),
                    keys.TTL: expires_at,
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if _lost_race(exc):
                return False
            raise
        return True

    # -- sessions --------------------------------------------------------------------

    def put_session(self, token_hash: str, org_id: str, instance_id: str, expires_at: int) -> None:
        self._table.put_item(
            Item={
                keys.PK: keys.secret_pk(token_hash),
                keys.SK: _SECRET_SK,
                "kind": "session",
                "orgId": org_id,
                "instanceId": instance_id,
                "expiresAt": expires_at,
                keys.TTL: expires_at,
            },
            ConditionExpression="attribute_not_exists(pk)",
        )


def _app(item: dict[str, Any]) -> RegisteredApp:
    secrets = item.get("secrets") or b""
    refresh = item.get("refreshMinutes")
    return RegisteredApp(
        app_id=str(item["appId"]),
        org_id=str(item["orgId"]),
        client_id=str(item["clientId"]),
        secrets=bytes(secrets.value if hasattr(secrets, "value") else secrets),
        callback_url=item.get("callbackUrl") or None,
        resources=[str(r) for r in item.get("resources") or []],
        refresh_minutes=int(refresh) if refresh else None,
        created_date=str(item.get("createdDate", "")),
        updated_date=str(item.get("updatedDate", "")),
    )


def _install(item: dict[str, Any]) -> StoreInstall:
    status: InstallStatus = "uninstalled" if item.get("status") == "uninstalled" else "installed"
    return StoreInstall(
        store_hash=str(item["storeHash"]),
        instance_id=str(item["instanceId"]),
        status=status,
        installed_at=str(item.get("installedAt", "")),
        uninstalled_at=item.get("uninstalledAt") or None,
    )
