"""Operator commands: ``python -m bcpoller.api.admin create-org --name NAME [--json]``,
``python -m bcpoller.api.admin redrive [--instance ID] [--max N]``.

Works against a deployed table (TABLE_NAME and the usual AWS credentials) and against the
local stack (AWS_ENDPOINT_URL pointing at moto's server). The secrets are printed once:
only their hashes are stored.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bcpoller.api.auth import hash_secret, new_secret


def create_org(auth_table: Any, name: str) -> dict[str, str]:
    """Create an organization and its first user; the returned secrets exist nowhere else."""
    org_secret, user_secret = new_secret(), new_secret()
    org = auth_table.create_organization(
        name, org_secret_hash=hash_secret(org_secret), user_secret_hash=hash_secret(user_secret)
    )
    return {
        "orgId": org.org_id,
        "userId": org.user_id,
        "name": name,
        "organizationSecret": org_secret,
        "userSecret": user_secret,
        "authorization": f"User {user_secret}, Organization {org_secret}",
    }


def redrive(replayer: Any, instance_id: str | None, max_messages: int) -> dict[str, Any]:
    """Dead-lettered events back to the events queue: one instance's (other instances'
    messages stay in the DLQ), or every instance's up to ``max_messages``."""
    if instance_id:
        done = replayer.redrive_instance(instance_id, max_scan=max_messages)
        return {"instanceId": instance_id, "moved": done.moved, "left": done.left,
                "scanned": done.scanned, "complete": done.complete}  # fmt: skip
    return {"moved": replayer.redrive_dlq(max_messages=max_messages)}


def _redrive_command(args: argparse.Namespace) -> int:
    from bcpoller.adapters.delivery_runtime import DeliveryRuntime
    from bcpoller.settings import SettingsError, get_settings

    try:
        settings = get_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    missing = [name for name, value in (("EVENTS_QUEUE_URL", settings.events_queue_url),
               ("DLQ_URL", settings.dlq_url)) if not value]  # fmt: skip
    if missing:
        print(
            f"error: set {' and '.join(missing)} (the stack's EventsQueueUrl / EventsDLQUrl outputs)",
            file=sys.stderr,
        )
        return 2
    result = redrive(DeliveryRuntime(settings).replayer(), args.instance, args.max)
    print(json.dumps(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bcpoller.api.admin", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create-org", help="create an organization and a user; print their secrets once")
    create.add_argument("--name", required=True, help="organization name")
    create.add_argument("--json", action="store_true", help="print one JSON object (for scripts)")
    again = sub.add_parser(
        "redrive", help="send dead-lettered events (DLQ) back for delivery; prints what moved as JSON"
    )
    again.add_argument("--instance", help="only this instance's events (default: every instance's)")
    again.add_argument("--max", type=int, default=1000, help="DLQ messages to read at most (default 1000)")
    args = parser.parse_args(argv)
    if args.command == "redrive":
        if not 1 <= args.max <= 100_000:
            parser.error("--max: must be 1..100000")
        return _redrive_command(args)

    name = args.name.strip()
    if not name or len(name) > 200:
        parser.error("--name: must be 1..200 characters")

    from bcpoller.adapters import aws
    from bcpoller.adapters.auth_table import AuthTable
    from bcpoller.settings import SettingsError, get_settings

    try:
        settings = get_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    created = create_org(AuthTable(aws.table(settings.table_name)), name)
    if args.json:
        print(json.dumps(created))
    else:
        print(f"Organization {created['name']!r} created (id {created['orgId']}).")
        print("These secrets are shown once; store them now.")
        print(f"  Organization secret: {created['organizationSecret']}")
        print(f"  User secret:         {created['userSecret']}")
        print(f"  Authorization: {created['authorization']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
