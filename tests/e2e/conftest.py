"""Start ``python -m local.stack`` as a subprocess on free ports and talk to it over HTTP.

``start_stack(dir, *args)`` runs the stack with its state file in ``dir`` and waits for
it; ``local_stack`` is one session-wide stack (``--no-demo --minute 0.2``, PollFunction
timeout 20 s so a killed poll's lease expires within 25 s) that tests share, each creating
its own instances and hooks.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.moto_server import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LocalStack:
    proc: subprocess.Popen[bytes]
    state_file: Path
    output: Path
    state: dict[str, Any] = field(default_factory=dict)

    def reload(self) -> dict[str, Any]:
        self.state = json.loads(self.state_file.read_text())
        return self.state

    @property
    def api(self) -> str:
        return str(self.state["api"])

    @property
    def sink(self) -> str:
        return str(self.state["sink"])

    @property
    def store(self) -> str:
        return str(self.state["store"])

    @property
    def control(self) -> str:
        return str(self.state["runtime_control"])

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": str(self.state["authorization"])}

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)


def stack_command(state_dir: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "local.stack",
        "--api-port",
        str(free_port()),
        "--store-port",
        str(free_port()),
        "--sink-port",
        str(free_port()),
        "--moto-port",
        str(free_port()),
        "--state-file",
        str(state_dir / "stack.json"),
        *args,
    ]


def start_stack(state_dir: Path, *args: str, timeout: float = 90.0) -> LocalStack:
    state_dir.mkdir(parents=True, exist_ok=True)
    output = state_dir / "stack.out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    with output.open("wb") as out:
        proc = subprocess.Popen(
            stack_command(state_dir, *args), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env
        )
    stack = LocalStack(proc, state_dir / "stack.json", output)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"local.stack exited with {proc.returncode}:\n{stack.text()}")
        if stack.state_file.exists():
            stack.reload()
            return stack
        time.sleep(0.2)
    stack.stop()
    raise RuntimeError(f"local.stack did not write its state file within {timeout}s:\n{stack.text()}")


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    args = ("--no-demo", "--minute", "0.2", "--poll-timeout", "20", "--delivery-workers", "4")
    stack = start_stack(tmp_path_factory.mktemp("stack"), *args)
    # Many instances poll every second here: lift the store's API quota out of the way.
    httpx.post(f"{stack.store}/_admin/faults", json={"quota": 1_000_000}).raise_for_status()
    yield stack
    code = stack.stop()
    assert code == 0, stack.text()
