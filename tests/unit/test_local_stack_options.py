"""The local stack's command line, the demo body and its counts (no processes, no I/O)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.demo import SEED_POLLER_CONFIGURATION, delivery_counts, demo_instance_body
from local.runtime import LambdaContext, function_spec, sqs_event_source
from local.stack import parse_args


def test_demo_uses_the_seed_poller_configuration_unchanged(shared_dir: Path) -> None:
    seed = json.loads((shared_dir / "seed-instance-oauth.json").read_text())
    assert seed["configuration"]["event.poller.configuration"] == SEED_POLLER_CONFIGURATION
    body = demo_instance_body(
        callback_url="http://127.0.0.1:8082/hooks/demo",
        signature_key="k",
        store_hash="abc123",
        access_token="t",
        store_url="http://127.0.0.1:8081/stores/abc123",
    )
    cfg = body["configuration"]
    assert body["element"] == {"key": "bigcommerce"}
    assert cfg["event.notification.enabled"] is True and cfg["event.poller.refresh_interval"] == "1"
    assert cfg["store.url"].endswith("/stores/abc123")


def test_delivery_counts_per_resource() -> None:
    def d(kind: str, status: int, event_id: str, valid: bool | None = True) -> dict[str, object]:
        body = {"message": {"eventId": event_id, "events": [{"objectType": kind}]}}
        return {"status": status, "body": body, "signatures_valid": valid}

    counts = delivery_counts([d("orders", 500, "a"), d("orders", 200, "a"), d("customers", 200, "b", False)])
    assert counts["orders"]["delivered"] == 1 and counts["orders"]["failed"] == 1
    assert counts["orders"]["distinct"] == 1
    assert counts["customers"]["bad_signatures"] == 1


def test_parse_args_defaults_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    o = parse_args([])
    assert (o.api_port, o.store_port, o.sink_port, o.moto_port) == (3000, 8081, 8082, 5000)
    assert o.minute == 60 and o.demo and o.duration is None and not o.real_store
    o = parse_args(["--no-demo", "--minute", "2", "--duration", "60"])
    assert not o.demo and o.minute == 2 and o.duration == 60
    assert parse_args(["--store-hash", "h", "--access-token", "t"]).real_store
    for bad, field in (
        (["--minute", "0"], "--minute"),
        (["--duration", "-1"], "--duration"),
        (["--store-hash", "h"], "--access-token"),
    ):
        with pytest.raises(SystemExit):
            parse_args(bad)
        assert field in capsys.readouterr().err


def test_function_specs_come_from_the_template() -> None:
    poll = function_spec("poll", "s")
    assert poll.timeout_s == 120 and poll.memory_mb == 256  # its own MemorySize beats the Globals' 512
    assert function_spec("delivery").memory_mb == 512
    assert poll.environment["POWERTOOLS_SERVICE_NAME"] == "poll"
    assert poll.arn.endswith(":function:s-PollFunction")
    assert function_spec("api").timeout_s == 29 and function_spec("delivery").timeout_s == 30
    source = sqs_event_source()
    assert (source.batch_size, source.batching_window_s, source.report_batch_item_failures) == (10, 1.0, True)
    ctx = LambdaContext("f", "arn", 512, timeout_s=2.0)
    assert 1500 < ctx.get_remaining_time_in_millis() <= 2000


def test_demo_counts_only_its_own_hook() -> None:
    def d(hook: str, status: int, event_id: str) -> dict[str, object]:
        body = {"message": {"eventId": event_id, "events": [{"objectType": "orders"}]}}
        return {"hook": hook, "status": status, "body": body, "signatures_valid": True}

    deliveries = [d("demo", 200, "a"), d("other", 500, "b"), d("other", 500, "c"), d("demo", 500, "e")]
    counts = delivery_counts(deliveries, "demo")
    assert (counts["orders"]["delivered"], counts["orders"]["failed"]) == (1, 1)


def test_demo_says_when_its_status_is_slow_or_unavailable() -> None:
    import threading

    from local.demo import STATUS_SLOW_S, Demo

    demo = Demo.__new__(Demo)
    demo.status_ok_at, demo.status_asked_at, demo.status_problem = 100.0, 100.0, None
    demo._fetching = None
    assert demo.status_state(now=102.0) == "status ok (2s old)"
    hang = threading.Event()
    demo._fetching = threading.Thread(target=hang.wait, daemon=True)
    demo._fetching.start()
    try:
        demo.status_asked_at = 103.0
        assert demo.status_state(now=103.0 + STATUS_SLOW_S - 1) == "status ok (7s old)"
        assert demo.status_state(now=103.0 + STATUS_SLOW_S + 1).startswith("status SLOW (no answer for 6s")
    finally:
        hang.set()
    demo._fetching.join()
    demo.status_problem = "HTTP 503"
    assert demo.status_state(now=120.0) == "status UNAVAILABLE (HTTP 503; shown: 20s old)"
