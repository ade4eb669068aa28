"""``python -m local.redrive [--instance ID] [--max N]`` (``make redrive``): dead-lettered
events of the running local stack back for delivery.

Reads the stack's resources from its state file (``.local/stack.json``) and runs the
operator command a deployed stack uses, ``python -m bcpoller.api.admin redrive``, against
them (README "Operating").
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from local.stack import DEFAULT_STATE
from local.template_resources import StackResources


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.redrive", description=__doc__)
    parser.add_argument("--state-file", type=Path, default=DEFAULT_STATE)
    parser.add_argument("--instance", help="only this instance's events (default: every instance's)")
    parser.add_argument("--max", type=int, default=1000, help="DLQ messages to read at most")
    args = parser.parse_args(argv)
    try:
        state = json.loads(args.state_file.read_text())
        resources = StackResources(**state["resources"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(
            f"error: no running local stack in {args.state_file} ({type(exc).__name__}); start `make run`",
            file=sys.stderr,
        )
        return 2
    os.environ.update(resources.function_environment())
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    from bcpoller.api import admin  # local/__init__ put shared/ on the path

    command = ["redrive", "--max", str(args.max)]
    if args.instance:
        command += ["--instance", args.instance]
    return admin.main(command)


if __name__ == "__main__":
    raise SystemExit(main())
