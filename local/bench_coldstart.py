"""Cold start as shipped: each handler imported from what `sam build` produced.

    python -m local.bench_coldstart [--runs 5] [--no-build] [--tracing template|on|off] [--profile N]
                                    [--nice -10] [--no-realtime]

Runs `make build` (sam build, no containers), then copies .aws-sam/build's layer and each
function's directory to a temporary /opt and /var/task, makes them read-only and runs
each handler in a fresh interpreter (``python -I -S``: stdlib plus those directories only)
with ``PYTHONDONTWRITEBYTECODE=1``, as Lambda would: ``--runs`` times after one warm-up
run (which also initializes the poll's cursors, so every measured poll is a quiet one).
The probes run at the lowest real-time priority (SCHED_FIFO, when permitted) and the rest
at nice -10: a Lambda has its CPU share to itself, this machine's cores are shared.
The build targets arm64: the layer's native wheels (pydantic-core, wrapt) are swapped for
this machine's by installing the same versions into a directory placed before the layer;
everything else is imported exactly as built.

First calls: the API answers ``GET /catalog``; the poll polls a quiet store (moto's server
and the simulated store); the delivery delivers one message to a local sink. Prints the
median import time and first-call time per function and the layer's sizes. Figures are
this machine's (Lambda's arm64 cores at 512 MB are slower); they are printed, never
asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".aws-sam" / "build"
PROBE = Path(__file__).resolve().parent / "coldstart_probe.py"
NATIVE_CACHE = ROOT / ".local" / "coldstart-native"
FUNCTIONS = {"poll": "PollFunction", "delivery": "DeliveryFunction", "api": "ApiFunction"}
FIRST_CALL_MARK = "-- coldstart_probe: first call --"  # as local/coldstart_probe.py prints it
FIRST_CALL = {"poll": "a quiet poll", "delivery": "one message", "api": "GET /catalog"}


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def layer_sizes(layer: Path) -> dict[str, int]:
    """Unzipped bytes, and zipped bytes as `sam deploy` uploads the layer (deflate)."""
    files = [p for p in layer.rglob("*") if p.is_file()]
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "layer.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in files:
                zf.write(path, path.relative_to(layer).as_posix())
        zipped = archive.stat().st_size
    return {
        "unzipped": sum(p.stat().st_size for p in files),
        "zipped": zipped,
        "files": len(files),
        "pyc": sum(1 for p in files if p.suffix == ".pyc"),
        "py": sum(1 for p in files if p.suffix == ".py"),
    }


def foreign_native_dists(site: Path, machine: str) -> list[tuple[str, str]]:
    """(name, version) of each distribution in ``site`` with an extension module built
    for another CPU than ``machine`` (read from the dist-info RECORD files)."""
    out = []
    for record in sorted(site.glob("*.dist-info/RECORD")):
        names = [line.split(",", 1)[0] for line in record.read_text().splitlines()]
        native = [n for n in names if n.endswith(".so")]
        if native and not all(machine in n for n in native):
            name, version = record.parent.name.removesuffix(".dist-info").rsplit("-", 1)
            out.append((name, version))
    return out


def native_dir(dists: list[tuple[str, str]], machine: str) -> Path:
    """This machine's wheels of ``dists`` in one directory (cached between runs)."""
    key = "-".join(f"{n}-{v}" for n, v in dists) or "none"
    target = NATIVE_CACHE / machine / key
    if not target.is_dir():
        tmp = target.with_name(target.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        if dists:
            subprocess.run(
                [sys.executable, "-m", "pip", "install", "-qq", "--no-deps", "--only-binary=:all:",
                 "--disable-pip-version-check", "--target", str(tmp), *(f"{n}=={v}" for n, v in dists)],
                check=True,
            )  # fmt: skip
        else:
            tmp.mkdir(parents=True)
        tmp.rename(target)
    return target


def _set_writable(root: Path, writable: bool) -> None:
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        write = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
        path.chmod((mode | stat.S_IWUSR) if writable else (mode & ~write))


def _pyc_count(root: Path) -> int:
    return sum(1 for _ in root.rglob("*.pyc"))


class Stage:
    """Read-only copies of the built layer (as /opt) and of each function (as /var/task)."""

    def __init__(self, tmp: Path, native: Path, build: Path) -> None:
        self.opt = tmp / "opt"
        shutil.copytree(build / "SharedLayer", self.opt)
        self.native = tmp / "native"
        shutil.copytree(native, self.native)
        self.tasks = {}
        for name, logical in FUNCTIONS.items():
            self.tasks[name] = tmp / "task" / name
            shutil.copytree(build / logical, self.tasks[name])
        self.roots = [self.opt, self.native, tmp / "task"]
        for root in self.roots:
            _set_writable(root, False)
        self.pyc_before = sum(_pyc_count(r) for r in self.roots)

    def path(self, function: str) -> list[str]:
        # Lambda's order: /var/task, then /opt/python; the swapped wheels shadow the layer's.
        return [str(self.tasks[function]), str(self.native), str(self.opt / "python")]

    def close(self) -> int:
        """Restores write access; returns how many .pyc appeared during the runs."""
        written = sum(_pyc_count(r) for r in self.roots) - self.pyc_before
        for root in self.roots:
            _set_writable(root, True)
        return written


class Scenario:
    """moto's server, the simulated store and a sink, with one instance each for the poll
    and the delivery, and each function's environment as template.yaml gives it."""

    def __init__(self, stack: ExitStack, runs: int) -> None:
        from local.bench_env import set_bench_environment

        set_bench_environment()
        from bcpoller.adapters import aws
        from bcpoller.settings import reset_settings

        from local.moto_server import MotoServer, free_port
        from local.poll_harness import create_instance, poller
        from local.sink import Sink
        from local.store import SimulatedStore
        from local.template_resources import create_stack_resources

        moto = MotoServer().start()
        stack.callback(moto.stop)
        store = SimulatedStore(seed=13, records_per_resource=0).start()
        stack.callback(store.stop)
        sink = Sink(port=free_port()).start()
        stack.callback(sink.stop)

        self.resources = create_stack_resources(moto.url)
        self.env = self.resources.function_environment()
        self.env.update(LOCAL_MODE="true", BC_API_BASE_URL=store.url)
        os.environ.update(self.env)
        reset_settings()
        aws.reset_clients()

        self.poll_instance = create_instance(store, {"orders": poller()})
        self.sqs_events = self._delivery_events(f"{sink.url}/hooks/coldstart", runs + 1)

    def _delivery_events(self, callback_url: str, count: int) -> list[dict[str, Any]]:
        """One SQS event of one fresh message per run (a repeated one would be a duplicate)."""
        from bcpoller.adapters import aws

        from local.bench_delivery import _messages
        from local.worker_loop import build_sqs_event

        r = self.resources
        instance_id = _make_instance(r.table_name, r.kms_key_id, callback_url)
        sqs = aws.client("sqs")
        queue_arn = sqs.get_queue_attributes(QueueUrl=r.events_queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        for _, body in _messages(instance_id, count):
            sqs.send_message(QueueUrl=r.events_queue_url, MessageBody=body)
        received: list[dict[str, Any]] = []
        while len(received) < count:
            got = sqs.receive_message(
                QueueUrl=r.events_queue_url,
                MaxNumberOfMessages=10,
                AttributeNames=["All"],
                VisibilityTimeout=3600,
                WaitTimeSeconds=1,
            ).get("Messages", [])
            if not got:
                raise RuntimeError("the delivery messages did not come back from the queue")
            received.extend(got)
        return [build_sqs_event([m], queue_arn, r.region) for m in received[:count]]

    def event(self, function: str, run: int) -> Any:
        if function == "poll":
            return {"instanceId": self.poll_instance}
        if function == "delivery":
            return self.sqs_events[run]
        event = json.loads((ROOT / "events" / "api_list_instances.json").read_text())
        event["rawPath"] = event["requestContext"]["http"]["path"] = "/catalog"
        event["requestContext"]["http"]["method"] = "GET"
        event["routeKey"] = "$default"
        event.pop("body", None)
        return event

    def environment(self, function: str, task: Path, tracing: bool) -> dict[str, str]:
        from local.runtime import function_spec

        spec = function_spec(function)
        env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
        env.update(self.env)
        env.update(spec.environment)
        env.update(
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench",
            AWS_LAMBDA_FUNCTION_NAME=spec.logical_id,
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(spec.memory_mb),
            PYTHONDONTWRITEBYTECODE="1",
            POWERTOOLS_TRACE_DISABLED="false" if tracing else "true",
        )
        if tracing:
            # What Powertools reads to know it runs in Lambda; segments go to a local UDP port.
            env.update(
                LAMBDA_TASK_ROOT=str(task),
                AWS_XRAY_DAEMON_ADDRESS="127.0.0.1:2000",
                AWS_XRAY_CONTEXT_MISSING="IGNORE_ERROR",
            )
        return env


def run_once(
    stage: Stage,
    scenario: Scenario,
    function: str,
    run: int,
    tracing: bool,
    importtime: bool = False,
    event: Any = None,
) -> dict[str, Any]:
    from local.runtime import function_spec

    with tempfile.TemporaryDirectory() as tmp:
        spec_file, out_file = Path(tmp) / "spec.json", Path(tmp) / "out.json"
        spec_file.write_text(
            json.dumps(
                {
                    "path": stage.path(function),
                    "event": scenario.event(function, run) if event is None else event,
                    "function_name": FUNCTIONS[function],
                    "timeout_s": function_spec(function).timeout_s,
                    "out": str(out_file),
                }
            )
        )
        flags = ["-X", "importtime"] if importtime else []
        proc = subprocess.run(
            # -I ignores PYTHON* variables: -B is PYTHONDONTWRITEBYTECODE=1 for this process.
            [sys.executable, "-I", "-S", "-B", *flags, str(PROBE), str(spec_file)],
            preexec_fn=_realtime if REALTIME["on"] else None,
            env=scenario.environment(function, stage.tasks[function], tracing),
            capture_output=True,
            text=True,
            timeout=300,
        )
        if proc.returncode != 0 or not out_file.exists():
            raise RuntimeError(f"{function} run {run} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(out_file.read_text())
        result["stderr"] = proc.stderr
        return result


REALTIME = {"on": False}


def _realtime() -> None:
    """In the probe, before exec: the lowest real-time priority, so that other work on the
    machine does not preempt the import (a Lambda has its CPU share to itself). Short-lived;
    the kernel keeps 5% of each second for everything else."""
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))


def _realtime_permitted() -> bool:
    probe = subprocess.run([sys.executable, "-c", "pass"], preexec_fn=_realtime, capture_output=True)
    return probe.returncode == 0


def template_tracing(function: str) -> bool:
    """Whether template.yaml gives ``function`` X-Ray tracing (Tracing: Active), through
    the Globals or its own properties, a parameter's default standing for a !Ref."""
    from local.template_resources import load_template

    tpl = load_template()
    value = tpl["Resources"][FUNCTIONS[function]]["Properties"].get(
        "Tracing", tpl.get("Globals", {}).get("Function", {}).get("Tracing", "PassThrough")
    )
    if isinstance(value, dict) and "Ref" in value:
        value = tpl.get("Parameters", {}).get(value["Ref"], {}).get("Default", "PassThrough")
    return str(value) == "Active"


def _on_off(on: bool) -> str:
    return "on" if on else "off"


def top_imports(stderr: str, count: int) -> list[tuple[int, str]]:
    """The ``count`` modules with the largest self time in ``-X importtime`` output,
    during the import only (the first call's imports follow the probe's mark)."""
    rows = []
    for line in stderr.split(FIRST_CALL_MARK, 1)[0].splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if m:
            rows.append((int(m.group(1)), m.group(4)))
    return sorted(rows, reverse=True)[:count]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.bench_coldstart",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--runs", type=int, default=5, help="measured fresh processes per function")
    parser.add_argument("--no-build", action="store_true", help="measure the existing .aws-sam/build")
    parser.add_argument(
        "--build-dir", help="measure another `sam build` output (e.g. an older commit's); implies --no-build"
    )
    parser.add_argument(
        "--tracing",
        choices=("template", "on", "off"),
        default="template",
        help="X-Ray tracing as template.yaml sets it for each function (default), or on/off for all",
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=-10,
        help="scheduling priority of the benchmark and what it starts (moto, probes); 0 leaves it",
    )
    parser.add_argument(
        "--no-realtime", action="store_true", help="run the probes at normal (not SCHED_FIFO) priority"
    )
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="print N slowest imports")
    parser.add_argument("--functions", default="poll,delivery,api", help="comma-separated subset")
    args, _ = parser.parse_known_args(argv)
    functions = [f for f in args.functions.split(",") if f]
    unknown = [f for f in functions if f not in FUNCTIONS]
    if unknown or args.runs < 1:
        parser.error(f"--functions takes {', '.join(FUNCTIONS)}; --runs at least 1")

    # A Lambda has its cores to itself; here tests of other work share them. A higher
    # priority (inherited by moto's server and every probe) keeps the figures closer.
    priority = "normal"
    if args.nice:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, args.nice)
            priority = f"nice {args.nice}"
        except PermissionError:
            priority = f"normal (nice {args.nice} not permitted)"
    if not args.no_realtime:
        try:
            REALTIME["on"] = _realtime_permitted()
        except (OSError, subprocess.SubprocessError):
            REALTIME["on"] = False
        priority += ", probes SCHED_FIFO" if REALTIME["on"] else ", probes not real-time (not permitted)"
    if not args.no_build and not args.build_dir:
        started = time.monotonic()
        build = subprocess.run(["make", "build"], cwd=ROOT, capture_output=True, text=True)
        if build.returncode != 0:
            print(build.stdout[-2000:], build.stderr[-3000:], sep="\n")
            print("make build failed")
            return 1
        print(f"make build (sam build, no containers): {time.monotonic() - started:.0f} s")
    build_dir = Path(args.build_dir).resolve() if args.build_dir else BUILD
    if not (build_dir / "SharedLayer" / "python").is_dir():
        print("no .aws-sam/build/SharedLayer: run without --no-build (or `make build`) first")
        return 1

    mode = args.tracing
    tracing = {f: template_tracing(f) if mode == "template" else mode == "on" for f in FUNCTIONS}
    machine = platform.machine()
    site = build_dir / "SharedLayer" / "python"
    swaps = foreign_native_dists(site, machine)
    native = native_dir(swaps, machine)
    sizes = layer_sizes(build_dir / "SharedLayer")
    swapped = ", ".join(f"{n} {v}" for n, v in swaps) or "none"
    print(
        f"inputs: {args.runs} fresh processes per function after 1 warm-up run; python "
        f"{platform.python_version()} on {machine} (native wheels swapped for it: {swapped}); "
        f"PYTHONDONTWRITEBYTECODE=1, layer and function directories read-only; "
        f"tracing {', '.join(f'{f} {_on_off(tracing[f])}' for f in functions)} (--tracing {args.tracing}); "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs, priority {priority} "
        "(other work inflates wall times; CPU times less so)"
    )
    print(
        f"layer: {_mb(sizes['zipped'])} zipped, {_mb(sizes['unzipped'])} unzipped "
        f"({sizes['files']} files: {sizes['py']} .py, {sizes['pyc']} .pyc)"
    )

    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        scenario = Scenario(stack, args.runs)
        stage = Stage(Path(tmp), native, build_dir)
        try:
            for function in functions:
                run_once(stage, scenario, function, 0, tracing[function])  # warm-up: not counted
                runs = range(1, args.runs + 1)
                results = [run_once(stage, scenario, function, i, tracing[function]) for i in runs]
                _report(function, results)
                if args.profile:
                    profiled = run_once(stage, scenario, function, 0, tracing[function], importtime=True)
                    for self_us, module in top_imports(profiled["stderr"], args.profile):
                        print(f"    {self_us / 1000:6.1f} ms self  {module}")
            # Every sample in events/ (what `sam local invoke -e` takes) still runs on the build.
            for sample in sorted((ROOT / "events").glob("*.json")):
                function = sample.name.split("_", 1)[0]
                if function in functions:
                    event = json.loads(sample.read_text())
                    answer = run_once(stage, scenario, function, 0, tracing[function], event=event)["summary"]
                    print(f"events/{sample.name} -> built {FUNCTIONS[function]}: {answer}")
        finally:
            written = stage.close()
        print(f"bytecode written during the runs: {written} .pyc (as in Lambda, where /opt is read-only)")
    return 0


def _report(function: str, results: list[dict[str, Any]]) -> None:
    imports = [r["import_ms"] for r in results]
    firsts = [r["first_ms"] for r in results]
    heavy = Counter(name for r in results for name in r["heavy_at_import"])
    loaded = ", ".join(sorted(heavy)) or "none of boto3, botocore, aws_xray_sdk, httpx"
    runs = " ".join(f"{i:.0f}+{f:.0f}" for i, f in zip(imports, firsts, strict=True))
    n = len(results)
    # CPU time is what a busy machine inflates least: compare it when the wall times jump.
    cpu = statistics.median(r["import_cpu_ms"] for r in results)
    cpu_first = statistics.median(r["first_cpu_ms"] for r in results)
    if function == "api":
        total = statistics.median(i + f for i, f in zip(imports, firsts, strict=True))
        cpu_total = statistics.median(r["import_cpu_ms"] + r["first_cpu_ms"] for r in results)
        import_ms, first_ms = statistics.median(imports), statistics.median(firsts)
        print(
            f"{function}: {total:.0f} ms import + first request (median of {n}: "
            f"{import_ms:.0f} ms import, {first_ms:.0f} ms {FIRST_CALL[function]}; CPU {cpu_total:.0f} ms)"
        )
    else:
        print(
            f"{function}: {statistics.median(imports):.0f} ms import (median of {n}; CPU {cpu:.0f} ms); "
            f"first call ({FIRST_CALL[function]}) {statistics.median(firsts):.0f} ms"
        )
    print(f"    runs (import+first ms): {runs}; answer: {results[-1]['summary']}")
    print(f"    CPU time (median): {cpu:.0f} ms import, {cpu_first:.0f} ms first call")
    print(f"    {results[-1]['modules_at_import']} modules at import, of them: {loaded}")
    outside = sorted({m for r in results for m in r["outside"]})
    if outside:
        print(f"    imported from outside the build: {', '.join(outside)}")


if __name__ == "__main__":
    raise SystemExit(main())


def _make_instance(table_name: str, kms_key_id: str, callback_url: str) -> str:
    """An instance item with real KMS-encrypted secrets, for the delivery probe."""
    import base64
    import uuid
    from datetime import UTC, datetime

    from bcpoller.adapters import aws
    from bcpoller.adapters.instance_table import InstanceTable
    from bcpoller.adapters.kms_crypto import KmsCrypto
    from bcpoller.instances import StoredInstance

    instance_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    secrets = {
        "signingSecret": "whsec_" + base64.b64encode(os.urandom(24)).decode(),
        "event.notification.signature.key": "bench-key",
    }
    instance = StoredInstance.model_validate(
        {
            "instanceId": instance_id,
            "orgId": "bench",
            "name": "bench",
            "secrets": KmsCrypto(aws.client("kms"), kms_key_id).encrypt(secrets, instance_id),
            "eventsEnabled": True,
            "createdDate": now,
            "storeCreatedAt": now,
            "callbackUrl": callback_url,
        }
    )
    InstanceTable(aws.table(table_name)).put_new(instance)
    return instance_id
