"""`make run ARGS="--duration 20 --minute 2"` (demo on): a first event arrives, exit 0."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import start_stack

pytestmark = pytest.mark.e2e


def test_demo_delivers_a_first_event_within_30s_and_exits_0(tmp_path: Path) -> None:
    stack = start_stack(tmp_path, "--duration", "20", "--minute", "2")
    try:
        code = stack.proc.wait(timeout=90)
    except subprocess.TimeoutExpired:
        stack.stop()
        raise
    out = stack.text()
    assert code == 0, out
    match = re.search(r"first event delivered (\d+\.\d)s after start", out)
    assert match, out
    assert float(match.group(1)) < 30
    state = json.loads(stack.state_file.read_text())
    assert state["demo_instance_id"] and state["first_event_after_s"] < 30
    assert "stack stopped" in out
    # The output (a non-TTY here: plain progress lines) never shows the bootstrapped secrets.
    assert state["authorization"].split()[1].rstrip(",") not in out
    # Where the page is and where its sign-in secrets are (the file, not the secrets).
    assert f"web page {state['api']}/ : sign in" in out and str(stack.state_file) in out
    assert re.search(r"status (ok|SLOW|UNAVAILABLE)", out), out
