"""Seconds from a fresh `make run` to the first delivered event (and to "stack up").

    python -m local.bench stack [-- --runs 3 --minute 2 --duration 30]

Each run starts ``python -m local.stack --duration D --minute M`` (demo on) on free ports
with its own state file, waits for it to exit, and reads the figures it wrote.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from local.moto_server import free_port

ROOT = Path(__file__).resolve().parent.parent


def one_run(minute: float, duration: float) -> tuple[float | None, float | None, int]:
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "stack.json"
        argv = [sys.executable, "-m", "local.stack", "--duration", str(duration), "--minute", str(minute)]
        for flag in ("--api-port", "--store-port", "--sink-port", "--moto-port"):
            argv += [flag, str(free_port())]
        argv += ["--state-file", str(state)]
        limit = duration + 120
        proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=limit, check=False)
        up = re.search(r"stack up in (\d+\.\d+)s", proc.stdout)
        first = json.loads(state.read_text()).get("first_event_after_s") if state.exists() else None
        return (float(up.group(1)) if up else None), first, proc.returncode


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m local.bench stack", description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--minute", type=float, default=2.0)
    p.add_argument("--duration", type=float, default=30.0)
    a = p.parse_args(argv)
    firsts: list[float] = []
    for i in range(a.runs):
        started = time.monotonic()
        up, first, code = one_run(a.minute, a.duration)
        wall = time.monotonic() - started
        print(f"run {i + 1}: stack up {up}s, first event delivered {first}s after start, exit {code}", end="")
        print(f", wall {wall:.1f}s")
        if first is not None:
            firsts.append(first)
    if firsts:
        print(
            f"first event after start (--minute {a.minute:g}): median {statistics.median(firsts):.1f}s, "
            f"min {min(firsts):.1f}s, max {max(firsts):.1f}s over {len(firsts)} runs"
        )
    return 0 if len(firsts) == a.runs else 1


if __name__ == "__main__":
    raise SystemExit(main())
