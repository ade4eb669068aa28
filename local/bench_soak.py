"""`make run` left running: does the API keep answering, and does Ctrl-C stop it?

    python -m local.bench soak [-- --duration 120 --minute 2]

Starts ``python -m local.stack`` with the demo on (its store changing, its view polling
the status) on free ports, then for ``--duration`` seconds asks ``GET /catalog`` and the
demo instance's ``GET /instances/{id}/status`` in turn, one request at a time, as a user
would. Prints p50/p99/max per route and per minute (does it degrade as events pile up?),
the events delivered meanwhile, then sends SIGINT and prints how long the stack took to
exit. The issue's soak is ``--duration 1800`` (30 minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from local.moto_server import free_port

ROOT = Path(__file__).resolve().parent.parent


def _pct(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def _wait_state(path: Path, proc: subprocess.Popen[str], timeout: float) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if path.exists():
            try:
                state = json.loads(path.read_text())
            except ValueError:
                state = {}
            if state.get("demo_instance_id") and state.get("authorization"):
                return dict(state)
        time.sleep(0.5)
    raise RuntimeError("the stack did not come up with its demo instance")


def _moto_rss_mb(moto_port: int) -> float | None:
    """Resident memory of the stack's moto server (found by its port in /proc), in MB."""
    wanted = ["-p", str(moto_port)]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if b"local.moto_partitioned" not in argv or [a.decode() for a in argv[-3:-1]] != wanted:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            continue
    return None


def _shown(line: str) -> str:
    """A logged error as one readable line: a JSON record's message, where, and the end of
    its traceback (where the cause is), not its first 1,500 characters."""
    try:
        record = json.loads(line[line.index("{") :])
    except ValueError:
        return line[:1500]
    trace = str(record.get("exception", ""))
    frames = [f.strip() for f in trace.splitlines() if f.strip().startswith("File ")]
    # Our frames say where; the libraries' innermost ones only how it was raised.
    frames = [f for f in frames if "site-packages" not in f][-3:] or frames[-3:]
    where = record.get("where") or frames
    cause = record.get("aws_error") or (trace.strip().splitlines()[-1] if trace.strip() else "")
    return (
        f"{record.get('timestamp', '')} {record.get('function_name', '')} {record.get('route', '')}: "
        f"{record.get('message', '')} [{record.get('error_type', '')}] {cause} | {' | '.join(where)}"
    )[:1500]


def _errors_logged(logs: Path, limit: int = 8) -> list[str]:
    """The first distinct ERROR lines and exception messages the stack logged."""
    seen: list[str] = []
    for log in sorted(logs.glob("*.log")) if logs.exists() else []:
        for line in log.read_text(errors="replace").splitlines():
            flagged = '"level":"ERROR"' in line or "Error:" in line or "Exception:" in line
            shown = _shown(line) if flagged else ""
            if shown and shown not in seen:
                seen.append(shown)
                if len(seen) >= limit:
                    return seen
    return seen


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m local.bench soak", description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=120.0)
    p.add_argument("--minute", type=float, default=2.0)
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        state_file = Path(tmp) / "stack.json"
        argv_ = [
            sys.executable,
            "-m",
            "local.stack",
            "--minute",
            str(a.minute),
            "--state-file",
            str(state_file),
        ]
        ports = {flag: free_port() for flag in ("--api-port", "--store-port", "--sink-port", "--moto-port")}
        for flag, port in ports.items():
            argv_ += [flag, str(port)]
        # The stack's terminal (the API's log lines among them) is kept for _errors_logged.
        (Path(tmp) / "logs").mkdir(exist_ok=True)
        out = (Path(tmp) / "logs" / "stack-terminal.log").open("w")
        proc = subprocess.Popen(argv_, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, text=True)
        try:
            state = _wait_state(state_file, proc, 120)
            api, sink = str(state["api"]), str(state["sink"])
            headers = {"Authorization": str(state["authorization"])}
            routes = {"/catalog": "/catalog", "status": f"/instances/{state['demo_instance_id']}/status"}
            print(
                f"inputs: duration {a.duration:g} s, --minute {a.minute:g}, demo on, one request at a time, "
                f"load average {os.getloadavg()[0]:.1f} at start"
            )
            rss: list[tuple[float, float]] = []
            odd: list[str] = []
            latencies: dict[str, list[tuple[float, float, int]]] = {name: [] for name in routes}
            started = time.monotonic()
            with httpx.Client(timeout=35.0) as client:
                while time.monotonic() - started < a.duration:
                    for name, path in routes.items():
                        t0 = time.monotonic()
                        answer = client.get(api + path, headers=headers)
                        code = answer.status_code
                        if code != 200 and len(odd) < 5:
                            odd.append(f"{name} {code} at {t0 - started:.0f} s: {answer.text[:200]}")
                        latencies[name].append((t0 - started, (time.monotonic() - t0) * 1000, code))
                    if not rss or time.monotonic() - started - rss[-1][0] >= 60:
                        mb = _moto_rss_mb(ports["--moto-port"])
                        if mb is not None:
                            rss.append((time.monotonic() - started, mb))
                    time.sleep(0.25)
                delivered = len(client.get(f"{sink}/_deliveries", params={"hook": "demo"}).json())
            for name, rows in latencies.items():
                ms = [m for _, m, _ in rows]
                codes = sorted({code for *_, code in rows if code != 200})
                bad = f"{sum(1 for *_, code in rows if code != 200)} {codes if codes else ''}".strip()
                print(
                    f"{name}: {len(ms)} requests, p50 {statistics.median(ms):.0f} ms, "
                    f"p99 {_pct(ms, 99):.0f} ms, max {max(ms):.0f} ms, not 200: {bad}"
                )
                for minute in range(int(a.duration // 60) + 1):
                    window = [m for at, m, _ in rows if minute * 60 <= at < (minute + 1) * 60]
                    if window:
                        print(f"    minute {minute + 1}: p99 {_pct(window, 99):.0f} ms over {len(window)}")
            print(f"events delivered to the demo hook meanwhile: {delivered}")
            for line in odd:
                print(f"    not 200: {line}")
            for line in _errors_logged(Path(tmp) / "logs"):
                print(f"    logged: {line}")
            if rss:
                trail = ", ".join(f"{at / 60:.0f} min {mb:.0f}" for at, mb in rss[:: max(1, len(rss) // 10)])
                print(f"    moto RSS by minute (MB): {trail}")
                print(
                    f"moto resident memory: max {max(mb for _, mb in rss):.0f} MB, last {rss[-1][1]:.0f} MB"
                )
            print(f"load average {os.getloadavg()[0]:.1f} at the end")
        finally:
            t0 = time.monotonic()
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            print(f"Ctrl-C (SIGINT) to exit: {time.monotonic() - t0:.1f} s, exit {proc.returncode}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
