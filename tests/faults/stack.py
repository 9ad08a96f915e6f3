"""A private, breakable copy of the production stack for the fault-injection tests.

Everything here runs on ports picked at random and under one temporary folder, so the shared
PostgreSQL (55432) and Kafka (9092) that other tests use are never touched:

* PostgreSQL and a single-node KRaft Kafka started by ``scripts/services.sh up`` with
  ``SERVICES_VAR_DIR`` pointing into the temporary folder (the broker jars are reused from an
  existing ``var/kafka/libs``, never fetched again);
* a real SMTP server (aiosmtpd) that can be stopped and started on the same port;
* the three services as separate OS processes (``registry serve``, ``notifier serve``,
  ``reporting serve``), each on its own database of that cluster.

:class:`PrivateStack` has one method per fault an operator can cause: ``kill9``/``start`` a
service, ``stop_kafka``/``start_kafka``, ``restart_postgres``/``stop_postgres``/
``start_postgres``, ``stop_smtp``/``start_smtp``. Waits are on conditions with deadlines.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SERVICES = ("registry", "notifier", "reporting")
SHARED_PORTS = {55432, 9092, 9093}  # the shared servers: never ours
TOPIC_PREFIX = "faults."
SECRETARIAT_EMAIL = "secretariat@faults.test"


def free_port() -> int:
    """A TCP port nobody listens on now (never one of the shared servers')."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in SHARED_PORTS:
            return port


def wait_until(condition: Callable[[], object], timeout: float, what: str,
               interval: float = 0.2) -> object:
    """Poll ``condition`` until it returns something truthy (returned) or ``timeout`` seconds
    pass (AssertionError naming ``what``). Exceptions from ``condition`` count as "not yet",
    except AssertionError, which ends the wait at once (e.g. a process died)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            last = condition()
            if last:
                return last
        except AssertionError:
            raise
        except Exception as exc:  # noqa: BLE001 - "not yet"; the last one is reported
            last = exc
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s (last: {last!r})")
        time.sleep(interval)


def kafka_libs() -> Path | None:
    """A folder holding the broker jars ``scripts/services.sh`` fetched: this checkout's
    ``var/kafka/libs``, else the main worktree's (``git worktree``), else None."""
    candidates = [ROOT / "var" / "kafka" / "libs"]
    try:
        common = subprocess.run(["git", "rev-parse", "--path-format=absolute",
                                 "--git-common-dir"], cwd=ROOT, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        candidates.append(Path(common).parent / "var" / "kafka" / "libs")
    except (OSError, subprocess.SubprocessError):
        pass
    for folder in candidates:
        if any(folder.glob("kafka_2.13-*.jar")):
            return folder
    return None


def http(method: str, url: str, body: dict | None = None, token: str | None = None,
         timeout: float = 10.0) -> tuple[int, dict, dict]:
    """One JSON request: ``(status, body, headers)``; status 0 when no HTTP answer came
    (connection refused or reset, timeout)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - loopback
            status, payload, headers = resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        status, payload, headers = exc.code, exc.read(), dict(exc.headers)
    except (urllib.error.URLError, OSError, TimeoutError):
        return 0, {}, {}
    try:
        parsed = json.loads(payload) if payload else {}
    except ValueError:
        parsed = {"raw": payload[:500].decode("utf-8", "replace")}
    return status, parsed, headers


# -- SMTP ------------------------------------------------------------------------------------
@dataclass
class SmtpSink:
    """aiosmtpd on a fixed port that can be stopped (connections refused) and started again.

    ``messages`` keeps every message received since the session began, across restarts.
    """

    port: int
    host: str = "127.0.0.1"
    messages: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    sessions: int = 0
    held: int = 0
    gate: threading.Event | None = None
    _controller: object | None = None

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def start(self) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import SMTP

        sink = self

        class Handler:
            async def handle_DATA(self, _server, _session, envelope):  # noqa: N802 - aiosmtpd
                gate = sink.gate
                if gate is not None:  # hold the reply: the message is not accepted yet
                    with sink.lock:
                        sink.held += 1
                    while not gate.is_set():
                        await asyncio.sleep(0.02)
                    with sink.lock:
                        sink.held -= 1
                msg = message_from_bytes(envelope.original_content, policy=policy.default)
                with sink.lock:
                    sink.messages.append(msg)  # type: ignore[arg-type]
                return "250 OK"

        class CountedSMTP(SMTP):
            def connection_made(self, transport):
                with sink.lock:
                    sink.sessions += 1
                super().connection_made(transport)

            def connection_lost(self, exc):
                super().connection_lost(exc)
                with sink.lock:
                    sink.sessions -= 1

        class CountingController(Controller):
            def factory(self):
                return CountedSMTP(self.handler, **self.SMTP_kwargs)

        controller = CountingController(Handler(), hostname=self.host, port=self.port)
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        """Stop as an operator stops a mail server: refuse new connections, let the sessions
        in progress finish (a message whose 250 reply was not sent is not accepted), then end
        the server."""
        controller = self._controller
        if controller is None:
            return
        controller.loop.call_soon_threadsafe(controller.server.close)
        wait_until(lambda: self.sessions == 0, 30, "SMTP sessions in progress to end",
                   interval=0.05)
        controller.stop()
        self._controller = None

    def hold(self) -> None:
        """From now on, keep each message's end-of-data reply (the 250 that accepts it) until
        :meth:`release`; ``held`` counts the sessions waiting so."""
        self.gate = threading.Event()

    def release(self) -> None:
        """Accept the held messages (and the next ones at once)."""
        if self.gate is not None:
            self.gate.set()
            self.gate = None

    def received(self) -> list[EmailMessage]:
        with self.lock:
            return list(self.messages)


# -- the stack -------------------------------------------------------------------------------
class PrivateStack:
    """PostgreSQL, Kafka, SMTP and the three services, all private; see the module docstring."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="pr-faults-"))
        self.base.chmod(0o755)  # the postgres OS user must reach var/pg below it
        self.var = self.base / "var"
        self.pg_port = free_port()
        self.kafka_port = free_port()
        self.kafka_controller_port = free_port()
        self.smtp = SmtpSink(free_port())
        self.ports = {name: free_port() for name in SERVICES}
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, object] = {}
        self.restarts: dict[str, int] = dict.fromkeys(SERVICES, 0)
        libs = kafka_libs()
        if libs is None:
            raise RuntimeError("no var/kafka/libs with the broker jars: run scripts/services.sh up")
        self.script_env = {
            **os.environ,
            "SERVICES_VAR_DIR": str(self.var),
            "PGPORT": str(self.pg_port),
            "KAFKA_PORT": str(self.kafka_port),
            "KAFKA_CONTROLLER_PORT": str(self.kafka_controller_port),
            "KAFKA_LIBS": str(libs),
            "KAFKA_HEAP_OPTS": "-Xms128m -Xmx384m",
            "KAFKA_WAIT_SECONDS": "90",
            "PYTHON": sys.executable,
        }
        base_url = f"postgresql+psycopg://registry:registry@127.0.0.1:{self.pg_port}"
        self.db_urls = {name: f"{base_url}/pr_{name}" for name in SERVICES}
        self.kafka_servers = [f"127.0.0.1:{self.kafka_port}"]
        inherited = {k: v for k, v in os.environ.items()
                     if not k.endswith("DATABASE_URL") and not k.startswith("KAFKA_")
                     and k not in ("SMTP_URL", "VAR_DIR", "RUN_WORKERS")}
        self.service_env = {
            **inherited,
            **{f"{name.upper()}_DATABASE_URL": url for name, url in self.db_urls.items()},
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_servers[0],
            "KAFKA_TOPIC_PREFIX": TOPIC_PREFIX,
            "KAFKA_CONSUMER_GROUP_PREFIX": TOPIC_PREFIX,
            "SMTP_URL": self.smtp.url,
            "SECRETARIAT_EMAIL": SECRETARIAT_EMAIL,
            "OUTBOX_POLL_SECONDS": "0.2",
            # e-mails deferred by an outage are retried after 1, 2, 4, 5, 5 … s (production
            # defaults: 60 s doubling; see NOTES-fault-stack.md), so the SMTP test takes seconds
            "DELIVERY_BACKOFF_SECONDS": "1",
            "DELIVERY_BACKOFF_MAX_SECONDS": "5",
            # one partner submits the whole workload (~10 requests/s): above the production
            # per-caller submission limit (RATELIMIT_SUBMIT, 30/hour) on purpose
            "RATELIMIT_SUBMIT": "100000/hour",
            "VAR_DIR": str(self.base / "service-var"),
            "LOG_LEVEL": "WARNING",
        }

    # -- whole stack -------------------------------------------------------------------------
    def up(self) -> None:
        """Start PostgreSQL + Kafka (services.sh), SMTP and the three services; wait until
        every service answers ``/readyz`` 200."""
        self._services_sh("up")
        self.smtp.start()
        for name in SERVICES:
            self.start(name)
        for name in SERVICES:
            self.wait_ready(name, timeout=120)

    def down(self) -> None:
        """Stop everything this stack started and remove its folder (kept, with the services'
        logs, when ``FAULTS_KEEP=1``)."""
        for name in SERVICES:
            self._stop_service(name)
        self.smtp.stop()
        try:
            self._services_sh("down")
        finally:
            for fh in self.logs.values():
                fh.close()  # type: ignore[attr-defined]
            if os.environ.get("FAULTS_KEEP") == "1":
                print(f"fault stack kept in {self.base}", file=sys.stderr)
            else:
                shutil.rmtree(self.base, ignore_errors=True)

    def _services_sh(self, command: str) -> None:
        out = subprocess.run(["bash", str(ROOT / "scripts" / "services.sh"), command],
                             env=self.script_env, cwd=ROOT, capture_output=True, text=True,
                             timeout=180)
        if out.returncode != 0:
            raise RuntimeError(f"services.sh {command} failed:\n{out.stderr[-3000:]}")

    # -- services ----------------------------------------------------------------------------
    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def start(self, name: str) -> None:
        """Start ``<name> serve`` as its own process (its own session, so signals reach only
        it); output appended to ``<base>/<name>.log``. Returns at once."""
        if name not in self.logs:
            self.logs[name] = (self.base / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(  # noqa: S603 - our own console script
            [str(BIN / name), "serve", "--port", str(self.ports[name])],
            env=self.service_env, cwd=ROOT, stdout=self.logs[name], stderr=subprocess.STDOUT,
            start_new_session=True)

    def kill9(self, name: str) -> None:
        """SIGKILL the service's process (no shutdown code runs) and reap it."""
        proc = self.procs[name]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        self.restarts[name] += 1

    def restart(self, name: str, *, ready_timeout: float = 60) -> None:
        """``kill9`` then ``start``; waits until ``/healthz`` answers (HTTP up)."""
        self.kill9(name)
        self.start(name)
        self.wait_healthy(name, timeout=ready_timeout)

    def _stop_service(self, name: str) -> None:
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def alive(self, name: str) -> bool:
        return self.procs[name].poll() is None

    def wait_healthy(self, name: str, timeout: float = 60) -> None:
        """Until the service's ``/healthz`` answers 200 (its HTTP port is open)."""
        wait_until(lambda: self._check_process(name) and
                   http("GET", f"{self.url(name)}/healthz", timeout=3)[0] == 200,
                   timeout, f"{name} /healthz")

    def wait_ready(self, name: str, timeout: float = 60) -> None:
        """Until the service's ``/readyz`` answers 200 (database and Kafka reachable)."""
        wait_until(lambda: self._check_process(name) and
                   http("GET", f"{self.url(name)}/readyz", timeout=5)[0] == 200,
                   timeout, f"{name} /readyz")

    def _check_process(self, name: str) -> bool:
        code = self.procs[name].poll()
        if code is not None:
            raise AssertionError(f"{name} exited with {code}; log:\n{self.log_tail(name)}")
        return True

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.base / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def ensure_running(self) -> None:
        """Bring back whatever a previous test left broken: PostgreSQL, Kafka, SMTP, and each
        service (started again when its process is gone); then wait until all are ready."""
        self._services_sh("up")
        if self.smtp._controller is None:
            self.smtp.start()
        for name in SERVICES:
            if self.procs[name].poll() is not None:
                self.start(name)
        for name in SERVICES:
            self.wait_ready(name, timeout=120)

    # -- Kafka -------------------------------------------------------------------------------
    def _kafka_pid(self) -> int | None:
        pidfile = self.var / "kafka" / "kafka.pid"
        try:
            pid = int(pidfile.read_text().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def stop_kafka(self) -> None:
        """Stop the private broker (SIGTERM, as ``services.sh down`` does) and wait until its
        process is gone."""
        pid = self._kafka_pid()
        assert pid is not None, "private Kafka is not running"
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: self._kafka_pid() is None, 60, "Kafka process exit")

    def start_kafka(self) -> None:
        """Start the private broker again (``services.sh up``; waits until it answers)."""
        self._services_sh("up")

    # -- PostgreSQL --------------------------------------------------------------------------
    def _pg_ctl(self, *args: str) -> None:
        data = (self.var / "pg.location").read_text().strip()
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
                      key=lambda p: int(p.parts[-3]))
        cmd = [str(bins[-1]), "-D", data, *args]
        if os.getuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        out = subprocess.run(cmd, cwd="/", capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"pg_ctl {' '.join(args)} failed: {out.stderr[-2000:]}")

    def restart_postgres(self) -> None:
        """``pg_ctl restart -m fast``: every open connection is cut, the server comes back."""
        self._pg_ctl("restart", "-m", "fast", "-w", "-t", "60",
                     "-l", str(self.var / "pg" / "postgres.log"),
                     "-o", f"-p {self.pg_port}")

    def stop_postgres(self) -> None:
        """``pg_ctl stop -m fast``: connections cut, new ones refused until started."""
        self._pg_ctl("stop", "-m", "fast", "-w", "-t", "60")

    def start_postgres(self) -> None:
        """Start the private cluster again (``services.sh up``; waits until it answers)."""
        self._services_sh("up")

    # -- SMTP --------------------------------------------------------------------------------
    def stop_smtp(self) -> None:
        self.smtp.stop()

    def start_smtp(self) -> None:
        self.smtp.start()

    # -- tools -------------------------------------------------------------------------------
    def cli(self, name: str, *args: str, timeout: float = 120) -> str:
        """Run ``<name> <args>`` against the private stack; returns stdout (fails on rc != 0)."""
        out = subprocess.run([str(BIN / name), *args], env=self.service_env, cwd=ROOT,  # noqa: S603
                             capture_output=True, text=True, timeout=timeout)
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout

    def engine(self, name: str):
        """A SQLAlchemy engine on the service's database (short connect timeout)."""
        from sqlalchemy import create_engine

        return create_engine(self.db_urls[name], connect_args={"connect_timeout": 3},
                             pool_pre_ping=True)
