"""Fixtures of the event-plumbing fault tests: a PostgreSQL cluster of the test's own (that may
be stopped and restarted, never the shared one), TCP stand-ins for an unreachable Kafka broker,
and a registry app with tokens."""

from __future__ import annotations

import os
import select
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_BIN = Path("/usr/lib/postgresql")


def _pg_bin() -> Path | None:
    versions = sorted(PG_BIN.glob("*/bin/pg_ctl")) if PG_BIN.is_dir() else []
    found = shutil.which("pg_ctl")
    if versions:
        return versions[-1].parent
    return Path(found).parent if found else None


def free_port() -> int:
    """A TCP port nobody listens on (at the time of asking)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class OwnPostgres:
    """A throwaway PostgreSQL cluster under /tmp on its own port (trust auth, user postgres)."""

    bin: Path
    data: Path
    port: int

    def _ctl(self, *args: str) -> None:
        cmd = [str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60", *args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=90)

    def start(self) -> None:
        self._ctl("-o", f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1",
                  "-l", str(self.data / "server.log"), "start")

    def stop(self) -> None:
        self._ctl("-m", "fast", "stop")

    def restart(self) -> None:
        self._ctl("-m", "fast", "-o", f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1",
                  "-l", str(self.data / "server.log"), "restart")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, label: str) -> str:
        from sqlalchemy import create_engine, text

        name = f"t_{label}_{uuid.uuid4().hex[:8]}"
        engine = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return self.url(name)


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[OwnPostgres]:
    """Start a PostgreSQL cluster of this module's own (initdb + pg_ctl as the postgres OS user
    when run as root); stopped and deleted afterwards. Skips when the binaries are missing
    (fails under CI)."""
    bin_dir = _pg_bin()
    if bin_dir is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("PostgreSQL binaries (initdb, pg_ctl) are missing under CI=true")
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not installed")
    root = Path(tempfile.mkdtemp(prefix="pr-own-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    else:
        prefix = []
    subprocess.run([*prefix, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U",
                    "postgres", "-E", "UTF8", "--no-sync"], check=True, capture_output=True,
                   timeout=120)
    cluster = OwnPostgres(bin_dir, data, free_port())
    cluster.start()
    try:
        yield cluster
    finally:
        try:
            cluster.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped by the test
        shutil.rmtree(root, ignore_errors=True)


class TcpStandIn:
    """A listening port that either holds connections without a word (a broker that hangs:
    ``mode="blackhole"``) or forwards them to ``target`` (``mode="forward"``)."""

    def __init__(self, port: int | None = None, mode: str = "blackhole",
                 target: tuple[str, int] | None = None):
        self.port = port or free_port()
        self.mode = mode
        self.target = target
        self._sock = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            if self.mode == "blackhole":
                self._held.append(conn)
            else:
                upstream = socket.create_connection(self.target, timeout=5)
                self._held += [conn, upstream]
                threading.Thread(target=self._pipe, args=(conn, upstream), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([a, b], [], [], 0.2)
                for src in ready:
                    data = src.recv(65536)
                    if not data:
                        return
                    (b if src is a else a).sendall(data)
        except OSError:
            return

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for s in [self._sock, *self._held]:
            try:
                s.close()
            except OSError:
                pass


@pytest.fixture
def tcp_stand_in():
    """Factory: ``tcp_stand_in(port=None, mode="blackhole", target=None)``; closed after."""
    made: list[TcpStandIn] = []

    def make(**kw) -> TcpStandIn:
        made.append(TcpStandIn(**kw))
        return made[-1]

    yield make
    for s in made:
        s.close()


@pytest.fixture(autouse=True)
def _collect_dropped_resources():
    """kafka-python drops the sockets of failed connection attempts without closing them, and
    background threads (readiness monitor, relay) may still hold a connection when a test ends:
    collect them at this test's teardown, where its warning filters apply, rather than inside a
    later test."""
    yield
    import gc

    for _ in range(3):
        gc.collect()
        time.sleep(0.1)


def wait_until(predicate, timeout: float, interval: float = 0.05):
    """Poll ``predicate`` until it returns a truthy value (returned) or ``timeout`` s pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def registry_app(url: str, **config):
    """The registry app on ``url`` (migrated first)."""
    from registry.app import create_app
    from shared import migrate

    migrate.upgrade("registry", url)
    return create_app({"DATABASE_URL": url, "TESTING": True} | config)


def registry_token(app, role: str, email: str | None = None,
                   organization_id=None) -> str:
    """A bearer token (the registry's JWT) made by its service function; a ``partner`` acts
    as admin of ``organization_id`` (a token cannot adopt an organisation registered later)."""
    from registry import db
    from registry.auth.service import create_token

    with app.app_context():
        session = db.session()
        plain, _claims = create_token(db_session=session, role=role,
                                      organization_id=organization_id, email=email)
        session.commit()
    return plain
