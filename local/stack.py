"""`make run`: the whole system on one machine, in one process tree.

    python -m local.stack [--duration S] [--minute S] [--no-demo]
                          [--store-url U --store-hash H --access-token T]
                          [--api-port 3000 --store-port 8081 --sink-port 8082 --moto-port 5000]
                          [--state-file .local/stack.json]

This process supervises:
- moto's server (a child process) with the table, queues, KMS key and schedule group
  made from template.yaml (``local.template_resources``);
- the simulated BigCommerce store and the callback sink (threads of this process);
- the runtime (a child process, ``local.runtime``): the API Gateway shim, the scheduler
  loop, "poll now" and the SQS workers, calling the real handlers. A runtime that dies
  (the e2e tests SIGKILL it mid-poll) is started again against the same moto and store.

It writes the state file (``{"api", "store", "sink", "moto"}`` base URLs, the store's
credentials, the bootstrapped ``authorization`` header, the runtime's pid) and, unless
``--no-demo``, creates a demo instance, keeps the store changing and shows a live view.
Ctrl-C, SIGTERM or ``--duration`` stop every child; the exit status is 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

from local.moto_server import free_port
from local.runtime import die_with_parent

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATE = ROOT / ".local" / "stack.json"
# moto's dummy credentials: the local stack never talks to real AWS.
DUMMY_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
log = logging.getLogger("local.stack")


def process_start_time() -> float:
    """When this process started (epoch s): "seconds after start" counts the imports too."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        lines = Path("/proc/stat").read_text().splitlines()
        boot = next(float(line.split()[1]) for line in lines if line.startswith("btime"))
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return time.time()


class StackError(RuntimeError):
    """The stack could not start: says which part and why."""


def _port_open(host: str, port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


class Child:
    """A supervised child process in its own session, output to a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.starts = 0

    def start(self, preexec: Any = None) -> Child:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        # Its own session: Ctrl-C reaches only the supervisor, which stops children in order.
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=preexec,
        )
        self.starts += 1
        return self

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self._log:
            self._log.close()
            self._log = None


@dataclass
class StackOptions:
    duration: float | None = None
    minute: float = 60.0
    demo: bool = True
    store_url: str | None = None
    store_hash: str | None = None
    access_token: str | None = None
    host: str = "127.0.0.1"
    api_port: int = 3000
    store_port: int = 8081
    sink_port: int = 8082
    moto_port: int = 5000
    state_file: Path = DEFAULT_STATE
    poll_envs: int = 2
    delivery_workers: int = 2
    seed: int = 42
    poll_timeout: float | None = None

    @property
    def real_store(self) -> bool:
        return bool(self.store_url or self.store_hash or self.access_token)


class Interrupted(Exception):
    """Ctrl-C or SIGTERM arrived while the stack was starting."""


def _wait(
    check: Any, what: str, timeout: float, alive: Any = None, stop: threading.Event | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stop is not None and stop.is_set():
            raise Interrupted(what)
        if alive is not None and not alive():
            raise StackError(f"{what}: the process exited while starting (see its log)")
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise StackError(f"{what} did not come up within {timeout:.0f}s")


class Stack:
    def __init__(self, options: StackOptions, out: IO[str] | None = None) -> None:
        self.o = options
        self.out = out or sys.stdout
        self.started_at = min(process_start_time(), time.time())
        self.logs_dir = options.state_file.parent / "logs"
        self.stop_event = threading.Event()
        self.moto: Child | None = None
        self.runtime: Child | None = None
        self.store: Any = None
        self.sink: Any = None
        self.env: dict[str, str] = {}
        self.state: dict[str, Any] = {}
        self.control_port = 0
        self.stack_name = f"bcpoll-local-{os.getpid()}"
        self._state_lock = threading.Lock()
        self._runtime_started = 0.0

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    # -- parts -----------------------------------------------------------------------

    def _start_moto(self) -> str:
        host, port = self.o.host, self.o.moto_port or free_port()
        if _port_open(host, port):
            raise StackError(f"--moto-port {port}: something already listens on {host}:{port}")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | DUMMY_AWS
        argv = [sys.executable, "-m", "local.moto_partitioned", "-H", host, "-p", str(port)]
        self.moto = Child("moto", argv, env, self.logs_dir / "moto.log")
        # Started before any thread exists here, so a preexec hook is safe.
        self.moto.start(preexec=die_with_parent)
        url = f"http://{host}:{port}"
        ready = lambda: httpx.get(f"{url}/moto-api/", timeout=1.0).status_code < 500  # noqa: E731
        _wait(ready, "moto server", 30, self.moto.alive, self.stop_event)
        return url

    def _start_store(self) -> None:
        if self.o.real_store:
            return
        from local.store import SimulatedStore

        try:
            self.store = SimulatedStore(seed=self.o.seed, port=self.o.store_port).start()
        except OSError as exc:
            raise StackError(f"--store-port {self.o.store_port}: cannot listen ({exc.strerror})") from None

    def _start_sink(self) -> None:
        from local.sink import Sink

        try:
            self.sink = Sink(self.o.sink_port, self.o.host).start()
        except OSError as exc:
            raise StackError(f"--sink-port {self.o.sink_port}: cannot listen ({exc.strerror})") from None

    def _environment(self, moto_url: str) -> dict[str, str]:
        from local.template_resources import create_stack_resources

        # This process talks to moto too: none of the user's AWS setup (a profile, an
        # endpoint override, real keys) applies, only moto's dummy credentials.
        for key in [k for k in os.environ if k.startswith("AWS_")]:
            del os.environ[key]
        os.environ.update(DUMMY_AWS)
        resources = create_stack_resources(moto_url, stack_name=self.stack_name)
        self.resources = resources
        # Nothing of the user's AWS setup leaks in (a profile, a service endpoint override):
        # every call goes to moto with dummy credentials.
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(DUMMY_AWS)
        env.update(
            POWERTOOLS_TRACE_DISABLED="true",
            POWERTOOLS_METRICS_NAMESPACE="BigCommercePollingEvents",
        )
        env.update(resources.function_environment())
        self.control_port = free_port()
        env.update(
            LOCAL_MODE="true",
            POLL_NOW_URL=f"http://{self.o.host}:{self.control_port}/poll-now",
            SECONDS_PER_MINUTE=str(self.o.minute),
            PYTHONUNBUFFERED="1",
        )
        if self.store is not None:
            # The simulated store also stands in for api.bigcommerce.com and the OAuth login host.
            env.update(BC_API_BASE_URL=self.store.url, BC_LOGIN_BASE_URL=self.store.url)
        paths = [str(ROOT / "shared"), str(ROOT), env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        return env

    def _start_runtime(self) -> None:
        if not self.o.api_port:
            self.o.api_port = free_port()
        if _port_open(self.o.host, self.o.api_port):
            raise StackError(f"--api-port {self.o.api_port}: something already listens on {self.o.host}")
        self.runtime = Child(
            "runtime",
            [
                sys.executable,
                "-m",
                "local.runtime",
                "--api-port",
                str(self.o.api_port),
                "--control-port",
                str(self.control_port),
                "--host",
                self.o.host,
                "--poll-envs",
                str(self.o.poll_envs),
                "--delivery-workers",
                str(self.o.delivery_workers),
                "--stack-prefix",
                self.stack_name,
                *(["--poll-timeout", str(self.o.poll_timeout)] if self.o.poll_timeout else []),
            ],
            self.env,
            self.logs_dir / "runtime.log",
        ).start()
        self._runtime_started = time.monotonic()

    def _wait_runtime(self, timeout: float = 60.0) -> None:
        assert self.runtime
        url = f"http://{self.o.host}:{self.control_port}/health"
        ready = lambda: httpx.get(url, timeout=1.0).status_code == 200  # noqa: E731
        _wait(ready, "runtime", timeout, self.runtime.alive, self.stop_event)

    def _bootstrap_org(self) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "bcpoller.api.admin", "create-org", "--name", "local", "--json"],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if proc.returncode != 0:
            raise StackError(f"bootstrapping the organization failed: {proc.stderr.strip()[-500:]}")
        data = json.loads(proc.stdout)
        return str(data["authorization"])

    def write_state(self, **extra: Any) -> None:
        with self._state_lock:
            self.state.update(extra)
            path = self.o.state_file
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.state, indent=2))
            os.chmod(tmp, 0o600)  # holds the bootstrapped secrets
            tmp.replace(path)

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.o.state_file.unlink()
        moto_url = self._start_moto()
        self._start_store()
        self._start_sink()
        self.env = self._environment(moto_url)
        self._start_runtime()
        authorization = self._bootstrap_org()
        self._wait_runtime()
        api = f"http://{self.o.host}:{self.o.api_port}"
        store = self.store
        self.write_state(
            api=api,
            store=store.url if store else self.o.store_url,
            sink=self.sink.url,
            moto=moto_url,
            store_hash=store.store_hash if store else self.o.store_hash,
            # A real store's token is the user's to keep: it is not copied into the file.
            store_token=store.token if store else None,
            store_username=store.username if store else None,
            store_password=store.password if store else None,
            # The simulated store's OAuth app, for registering the BigCommerce app locally.
            store_client_id=store.client_id if store else None,
            store_client_secret=store.client_secret if store else None,
            authorization=authorization,
            runtime_pid=self.runtime.pid if self.runtime else None,
            runtime_control=f"http://{self.o.host}:{self.control_port}",
            supervisor_pid=os.getpid(),
            logs=str(self.logs_dir),
            started_at=self.started_at,
            # The stack's resources, for operator commands (python -m local.redrive).
            resources=json.loads(self.resources.to_json()),
        )
        self.say(
            f"stack up in {time.time() - self.started_at:.1f}s: api {api}  store {self.state['store']}  "
            f"sink {self.sink.url}  moto {moto_url}"
        )
        self.say(f"state file {self.o.state_file} (authorization header inside), logs in {self.logs_dir}")
        self.say(
            f'web page {api}/ : sign in with the User and Organization secrets of "authorization" '
            f"in {self.o.state_file} (or paste that whole value into either field)"
        )

    def supervise_once(self) -> None:
        """Restart a dead runtime; a dead moto server is fatal (its state is gone)."""
        if self.moto and not self.moto.alive():
            raise StackError("the moto server exited: its state is gone, stopping")
        if self.runtime and not self.runtime.alive() and not self.stop_event.is_set():
            code = self.runtime.proc.returncode if self.runtime.proc else None
            self.say(f"runtime (pid {self.runtime.pid}) exited with {code}: starting it again")
            if time.monotonic() - self._runtime_started < 10:
                self.stop_event.wait(2.0)  # it dies at start: do not spin
            self.runtime.stop()
            self.runtime.start()
            self._runtime_started = time.monotonic()
            self.write_state(runtime_pid=self.runtime.pid)
            try:
                self._wait_runtime()
            except StackError as exc:
                self.say(f"runtime restart failed: {exc} (see {self.runtime.log_path})")
            self.write_state(runtime_pid=self.runtime.pid, runtime_restarts=self.runtime.starts - 1)

    def stop(self) -> None:
        """Every part at once, each bounded: Ctrl-C ends `make run` within 5 s. The runtime
        exits within ~2 s of SIGTERM (it does not wait for requests in flight); it and
        moto are killed if still there after 3 s."""
        self.stop_event.set()
        stops: list[Callable[[], None]] = []
        if self.runtime:
            stops.append(lambda: self.runtime.stop(timeout=3.0))  # type: ignore[union-attr]
        if self.sink:
            stops.append(self.sink.stop)
        if self.store:
            stops.append(self.store.stop)
        if self.moto:
            stops.append(lambda: self.moto.stop(timeout=3.0))  # type: ignore[union-attr]

        def quietly(stop: Callable[[], None]) -> None:
            with contextlib.suppress(Exception):
                stop()

        threads = [threading.Thread(target=quietly, args=(stop,), daemon=True) for stop in stops]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 4.0
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def parse_args(argv: list[str] | None = None) -> StackOptions:
    p = argparse.ArgumentParser(prog="python -m local.stack", description="The whole system on one machine.")
    p.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    p.add_argument("--minute", type=float, default=60.0, help="real seconds in one schedule/retry minute")
    p.add_argument("--no-demo", action="store_true", help="create nothing; the store changes only when told")
    p.add_argument("--store-url", help="a real store's API base (with --store-hash/--access-token)")
    p.add_argument("--store-hash", help="a real store's hash")
    p.add_argument("--access-token", help="a real store's API token (X-Auth-Token)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--api-port", type=int, default=3000)
    p.add_argument("--store-port", type=int, default=8081)
    p.add_argument("--sink-port", type=int, default=8082)
    p.add_argument("--moto-port", type=int, default=5000)
    p.add_argument("--state-file", type=Path, default=DEFAULT_STATE)
    p.add_argument("--poll-envs", type=int, default=2, help="concurrent PollFunction environments")
    p.add_argument("--delivery-workers", type=int, default=2, help="concurrent DeliveryFunction environments")
    p.add_argument("--seed", type=int, default=42, help="the simulated store's seed")
    p.add_argument(
        "--poll-timeout",
        type=float,
        help="PollFunction's timeout in seconds (default: template.yaml's); a poll's lease lasts this + 5 s",
    )
    a = p.parse_args(argv)
    if a.minute <= 0:
        p.error("--minute: must be a positive number of seconds")
    if a.duration is not None and a.duration <= 0:
        p.error("--duration: must be a positive number of seconds")
    if (a.store_hash or a.access_token or a.store_url) and not (a.store_hash and a.access_token):
        p.error("--store-hash and --access-token: both are needed to use a real store")
    return StackOptions(
        duration=a.duration,
        minute=a.minute,
        demo=not a.no_demo,
        store_url=a.store_url,
        store_hash=a.store_hash,
        access_token=a.access_token,
        host=a.host,
        api_port=a.api_port,
        store_port=a.store_port,
        sink_port=a.sink_port,
        moto_port=a.moto_port,
        state_file=a.state_file,
        poll_envs=a.poll_envs,
        delivery_workers=a.delivery_workers,
        seed=a.seed,
        poll_timeout=a.poll_timeout,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stack = Stack(options)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stack.stop_event.set())
    deadline = time.monotonic() + options.duration if options.duration else None
    demo: Any = None
    status = 0
    try:
        stack.start()
        if options.demo:
            from local.demo import Demo

            demo = Demo(stack)
            demo.start()
        while not stack.stop_event.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            stack.supervise_once()
            if demo is not None:
                demo.refresh()
            stack.stop_event.wait(0.5 if demo is None else demo.interval)
    except Interrupted:
        pass
    except Exception as exc:
        stack.say(f"error: {exc}")
        status = 1
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop_event.set()
        if demo is not None:
            with contextlib.suppress(Exception):
                demo.stop()
        stack.stop()
    stack.say("stack stopped")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
