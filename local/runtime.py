"""The local stand-in for Lambda: the three real handlers, driven the way AWS drives them.

One process (``python -m local.runtime``, started by ``local.stack``) runs:
- the API Gateway shim calling ApiFunction,
- the scheduler loop and the "poll now" endpoint calling PollFunction,
- the SQS worker loop calling DeliveryFunction.

Each function gets a few *execution environments*: separate copies of its
``functions/<f>/app.py`` module (their own Powertools resolver, batch processor, ...),
each used by one invocation at a time, as Lambda does. The environment variables are the
ones template.yaml gives the functions (the parent sets them); the Lambda context carries
the function's Timeout and MemorySize from template.yaml.

The process can be SIGKILLed at any time (the e2e tests do, mid-poll); the parent starts
it again against the same moto server and store.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
import importlib.util
import logging
import os
import queue
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = {"api": "ApiFunction", "poll": "PollFunction", "delivery": "DeliveryFunction"}
# Seconds the runtime gives its loops to stop before it exits regardless.
STOP_GRACE_S = 2.0
log = logging.getLogger("local.runtime")


@dataclass(frozen=True)
class FunctionSpec:
    name: str  # api | poll | delivery
    logical_id: str
    timeout_s: float
    memory_mb: int
    environment: dict[str, str]  # the function's own variables (beside the Globals)
    arn: str


def function_spec(name: str, stack_prefix: str = "bcpoll-local", region: str = "us-east-1") -> FunctionSpec:
    """Timeout, memory and own environment of ``name`` as template.yaml declares them."""
    from local.template_resources import load_template

    tpl = load_template()
    glob = tpl.get("Globals", {}).get("Function", {})
    logical = FUNCTIONS[name]
    props = tpl["Resources"][logical]["Properties"]
    variables = props.get("Environment", {}).get("Variables", {})
    own_env = {k: str(v) for k, v in variables.items() if not isinstance(v, dict)}
    return FunctionSpec(
        name=name,
        logical_id=logical,
        timeout_s=float(props.get("Timeout", glob.get("Timeout", 3))),
        memory_mb=int(props.get("MemorySize", glob.get("MemorySize", 128))),
        environment=own_env,
        arn=f"arn:aws:lambda:{region}:123456789012:function:{stack_prefix}-{logical}",
    )


@dataclass(frozen=True)
class SqsEventSource:
    batch_size: int = 10
    batching_window_s: float = 0.0
    report_batch_item_failures: bool = False


def sqs_event_source(function: str = "DeliveryFunction") -> SqsEventSource:
    """The SQS event source mapping template.yaml gives ``function``."""
    from local.template_resources import load_template

    events = load_template()["Resources"][function]["Properties"].get("Events", {})
    for event in events.values():
        if event.get("Type") == "SQS":
            props = event.get("Properties", {})
            response_types = props.get("FunctionResponseTypes", [])
            return SqsEventSource(
                batch_size=int(props.get("BatchSize", 10)),
                batching_window_s=float(props.get("MaximumBatchingWindowInSeconds", 0)),
                report_batch_item_failures="ReportBatchItemFailures" in response_types,
            )
    raise ValueError(f"template.yaml gives {function} no SQS event source")


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_s: float
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self.log_stream_name = self.log_stream_name or time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self.started)) * 1000))


_env_lock = threading.Lock()


def die_with_parent() -> None:
    """Get SIGTERM when the parent dies, so no child outlives the stack (Linux only)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def load_handler_module(spec: FunctionSpec, copy: int) -> ModuleType:
    """A fresh copy of functions/<name>/app.py, loaded with the function's own variables."""
    path = ROOT / "functions" / spec.name / "app.py"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the {spec.logical_id} handler has not been written")
    module_name = f"functions_{spec.name}_app_local{copy}"
    with _env_lock:
        saved = {k: os.environ.get(k) for k in spec.environment}
        os.environ.update(spec.environment)  # Powertools reads its service name at import
        try:
            import_spec = importlib.util.spec_from_file_location(module_name, path)
            assert import_spec and import_spec.loader
            module = importlib.util.module_from_spec(import_spec)
            sys.modules[module_name] = module
            import_spec.loader.exec_module(module)
            _own_metric_sets(module)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    return module


def _own_metric_sets(module: ModuleType) -> None:
    """Give the copy's Metrics its own sets. Powertools keeps them in dicts on the Metrics
    class, shared by every instance in the process: one function per process on Lambda, but
    here every environment of every function is a thread of this process, and one flushing
    its metrics while another adds some would publish the other's under its own service, or
    fail with "dictionary changed size during iteration"."""
    from aws_lambda_powertools import Metrics

    for value in vars(module).values():
        if isinstance(value, Metrics):
            for name in ("metric_set", "dimension_set", "metadata_set"):
                own = dict(getattr(value, name))
                setattr(value, name, own)
                setattr(value.provider, name, own)


class FunctionPool:
    """``size`` execution environments of one function; ``invoke`` waits for a free one."""

    def __init__(
        self, spec: FunctionSpec, size: int, loader: Callable[[FunctionSpec, int], ModuleType] | None = None
    ) -> None:
        self.spec = spec
        self._free: queue.Queue[ModuleType] = queue.Queue()
        load = loader or load_handler_module
        self.missing: str | None = None
        try:
            for i in range(size):
                self._free.put(load(spec, i))
        except FileNotFoundError as exc:
            # The rest of the stack still runs; every invocation says what is missing.
            self.missing = str(exc)
            log.error("%s", exc)
        self.invocations = 0
        self.errors = 0
        self._lock = threading.Lock()

    def context(self) -> LambdaContext:
        return LambdaContext(
            function_name=self.spec.arn.rsplit(":", 1)[-1],
            invoked_function_arn=self.spec.arn,
            memory_limit_in_mb=self.spec.memory_mb,
            timeout_s=self.spec.timeout_s,
        )

    def invoke(self, event: dict[str, Any]) -> Any:
        if self.missing:
            raise RuntimeError(self.missing)
        module = self._free.get()
        try:
            with self._lock:
                self.invocations += 1
            return module.lambda_handler(event, self.context())
        except Exception:
            with self._lock:
                self.errors += 1
            raise
        finally:
            self._free.put(module)


class PollDispatcher:
    """Asynchronous invocations of PollFunction (schedule ticks and "poll now").

    An instance already waiting for an environment is not queued twice: the queued
    invocation will read the latest state anyway, and a pile-up would only hit the lease.
    """

    def __init__(self, pool: FunctionPool, concurrency: int) -> None:
        self.pool = pool
        self._executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="poll")
        self._waiting: set[str] = set()
        self._lock = threading.Lock()
        self.running = 0

    def fire(self, source: str, event: dict[str, Any]) -> None:
        # A woken poll (wake-up route) is not the same request as a tick: dropping it because
        # a tick waits would leave its coalescing run pending until it goes stale.
        key = str(event.get("instanceId")) + (":wake" if event.get("wake") is True else "")
        with self._lock:
            if key in self._waiting:
                return
            self._waiting.add(key)
        self._executor.submit(self._run, source, key, event)

    def _run(self, source: str, key: str, event: dict[str, Any]) -> None:
        with self._lock:
            self._waiting.discard(key)
            self.running += 1
        try:
            result = self.pool.invoke(event)
            log.info("poll (%s) %s: %s", source, key, _summary(result))
        except Exception:
            log.exception("poll (%s) %s raised", source, key)
        finally:
            with self._lock:
                self.running -= 1

    def stop(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _summary(result: Any) -> str:
    if isinstance(result, dict):
        return str({k: result.get(k) for k in ("status", "wake", "resources") if k in result})[:500]
    return repr(result)[:200]


@dataclass
class RuntimeOptions:
    api_port: int
    control_port: int
    host: str = "127.0.0.1"
    api_envs: int = 2
    poll_envs: int = 2
    delivery_workers: int = 2
    stack_prefix: str = "bcpoll-local"
    poll_timeout_s: float | None = None  # None: template.yaml's PollFunction Timeout


class Runtime:
    def __init__(self, options: RuntimeOptions) -> None:
        import boto3
        from bcpoller.settings import get_settings

        from local.api_gateway import ApiGateway
        from local.scheduler_loop import PollNowServer, SchedulerLoop
        from local.worker_loop import WorkerLoop

        settings = get_settings()
        self.options = options
        region = os.environ.get("AWS_REGION", "us-east-1")
        specs = {name: function_spec(name, options.stack_prefix, region) for name in FUNCTIONS}
        if options.poll_timeout_s:
            specs["poll"] = dataclasses.replace(specs["poll"], timeout_s=options.poll_timeout_s)
        self.api = FunctionPool(specs["api"], options.api_envs)
        self.poll = FunctionPool(specs["poll"], options.poll_envs)
        self.delivery = FunctionPool(specs["delivery"], options.delivery_workers)
        self.dispatcher = PollDispatcher(self.poll, options.poll_envs)
        self.gateway = ApiGateway(
            self.api.invoke, options.api_port, options.host, concurrency=options.api_envs * 4
        )
        self.poll_now = PollNowServer(
            self.dispatcher.fire,
            options.control_port,
            options.host,
            self.health,
            controls={"/event-source": self.set_event_source},
        )
        self.scheduler = SchedulerLoop(
            boto3.client("scheduler"),
            settings.schedule_group_name,
            self.dispatcher.fire,
            settings.seconds_per_minute,
            target_arn=settings.poll_function_arn or None,
        )
        source = sqs_event_source()
        self.workers = WorkerLoop(
            boto3.client("sqs"),
            settings.events_queue_url,
            self.delivery.invoke,
            workers=options.delivery_workers,
            batch_size=source.batch_size,
            batching_window=source.batching_window_s,
            report_batch_item_failures=source.report_batch_item_failures,
        )

    def set_event_source(self, body: dict[str, Any]) -> dict[str, Any]:
        """Turn the SQS event source on or off (``aws lambda update-event-source-mapping``)."""
        enabled = body.get("enabled")
        if not isinstance(enabled, bool):
            raise ValueError("enabled: must be true or false")
        if enabled:
            self.workers.enabled.set()
        else:
            self.workers.enabled.clear()
        return {"enabled": enabled, "in_flight": self.workers.in_flight}

    def health(self) -> dict[str, Any]:
        return {
            "ok": True,
            "pid": os.getpid(),
            "invocations": {p.spec.name: p.invocations for p in (self.api, self.poll, self.delivery)},
            "errors": {p.spec.name: p.errors for p in (self.api, self.poll, self.delivery)},
            "missing": [p.spec.name for p in (self.api, self.poll, self.delivery) if p.missing],
            "polls_running": self.dispatcher.running,
            "event_source_enabled": self.workers.enabled.is_set(),
            "deliveries_in_flight": self.workers.in_flight,
            "poll_timeout_s": self.poll.spec.timeout_s,
            "schedules_fired": self.scheduler.fired,
            "sqs": {
                "batches": self.workers.batches,
                "deleted": self.workers.deleted,
                "kept": self.workers.kept,
            },
        }

    def start(self) -> Runtime:
        self.gateway.start()
        self.workers.start()
        self.scheduler.start()
        self.poll_now.start()  # last: the parent treats /health as "ready"
        return self

    def stop(self) -> None:
        self.poll_now.stop()
        self.scheduler.stop()
        self.gateway.stop()
        self.workers.stop()
        self.dispatcher.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.runtime", description=__doc__.splitlines()[0])
    parser.add_argument("--api-port", type=int, required=True)
    parser.add_argument("--control-port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--poll-envs", type=int, default=2)
    parser.add_argument("--delivery-workers", type=int, default=2)
    parser.add_argument("--stack-prefix", default="bcpoll-local")
    parser.add_argument("--poll-timeout", type=float, help="override PollFunction's Timeout (seconds)")
    args = parser.parse_args(argv)
    parent = os.getppid()
    die_with_parent()
    if os.getppid() != parent:  # the parent died before the hook was set
        return 1
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("botocore").setLevel(logging.WARNING)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    runtime = Runtime(
        RuntimeOptions(
            api_port=args.api_port,
            control_port=args.control_port,
            host=args.host,
            poll_envs=args.poll_envs,
            delivery_workers=args.delivery_workers,
            stack_prefix=args.stack_prefix,
            poll_timeout_s=args.poll_timeout,
        )
    ).start()
    log.info("runtime %s ready: api %s, poll-now %s", os.getpid(), runtime.gateway.url, runtime.poll_now.url)
    stop.wait()
    log.info("runtime stopping")
    # Like Lambda's environments at shutdown, invocations in flight are not waited for
    # (an API call may take the 29 s integration timeout): Ctrl-C ends within seconds.
    stopper = threading.Thread(target=runtime.stop, name="runtime-stop", daemon=True)
    stopper.start()
    stopper.join(STOP_GRACE_S)
    logging.shutdown()
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    raise SystemExit(main())
