"""Test fixtures shared by every service's tests: real PostgreSQL, real Kafka, real SMTP.

PostgreSQL and Kafka are started by ``scripts/services.sh up`` (``make test`` does it). A test
that asks for them skips when they are unreachable on a developer machine, and FAILS under
``CI=true`` (never a silent skip in CI). The session summary says how many tests ran against
each real component.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

PG_ADMIN_URL = os.environ.get(
    "TEST_PG_ADMIN_URL", "postgresql+psycopg://registry:registry@127.0.0.1:55432/postgres")
KAFKA_SERVERS = os.environ.get("TEST_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092").split(",")
IN_CI = os.environ.get("CI", "").lower() == "true"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
#: Set by this project's own CI (.ci/run), where ../shared/data sits beside the clone. A user's CI
#: sets CI=true on a clone without it: there the full-data tests skip instead of failing.
REQUIRE_SHARED_DATA = os.environ.get("REQUIRE_SHARED_DATA", "") in ("1", "true", "yes")


def _unavailable(what: str, why: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} is not reachable under CI=true: {why}", pytrace=False)
    pytest.skip(f"{what} not reachable ({why}); run scripts/services.sh up")


# -- PostgreSQL ----------------------------------------------------------------------------
_pg_ok: bool | None = None


def _pg_available() -> tuple[bool, str]:
    global _pg_ok
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(PG_ADMIN_URL)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        _pg_ok = True
        return True, ""
    except Exception as exc:
        _pg_ok = False
        return False, str(exc).splitlines()[0]


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """URL of the PostgreSQL server's maintenance database (creates/drops test databases)."""
    ok, why = _pg_available()
    if not ok:
        _unavailable("PostgreSQL", why)
    return PG_ADMIN_URL


@pytest.fixture(scope="session")
def create_pg_database(pg_admin_url: str) -> Iterator[Callable[[str], str]]:
    """Factory: a new, empty PostgreSQL database named after ``label``; dropped at session end."""
    from sqlalchemy import create_engine, text

    engine = create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def make(label: str) -> str:
        name = f"t_{label}_{uuid.uuid4().hex[:8]}".lower()
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return pg_admin_url.rsplit("/", 1)[0] + f"/{name}"

    yield make
    with engine.connect() as conn:
        for name in made:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture
def pg_url(create_pg_database) -> str:
    """A fresh, empty PostgreSQL database for one test."""
    return create_pg_database("db")


# -- Kafka ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def kafka_servers() -> list[str]:
    """Bootstrap servers of the real broker (fails under CI when unreachable)."""
    from shared.bus import kafka_ready

    if not kafka_ready(KAFKA_SERVERS, timeout=10.0):
        _unavailable("Kafka", f"no broker at {','.join(KAFKA_SERVERS)}")
    return KAFKA_SERVERS


@pytest.fixture
def kafka_env(kafka_servers, monkeypatch) -> list[str]:
    """Kafka mode for one test: KAFKA_BOOTSTRAP_SERVERS set, topics and groups under a fresh
    prefix so tests never see each other's events."""
    prefix = f"t{uuid.uuid4().hex[:8]}."
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", ",".join(kafka_servers))
    monkeypatch.setenv("KAFKA_TOPIC_PREFIX", prefix)
    monkeypatch.setenv("KAFKA_CONSUMER_GROUP_PREFIX", prefix)
    return kafka_servers


def _read_topic(servers: list[str], topic: str, count: int, *, timeout: float = 30.0,
                linger: float = 0.0) -> list:
    """Records of ``topic`` from its beginning, read without a consumer group, until ``count``
    arrived (or ``timeout`` seconds); then ``linger`` seconds more, so that records beyond the
    count (duplicates) would show."""
    from kafka import KafkaConsumer

    kc = KafkaConsumer(topic, bootstrap_servers=servers, group_id=None,
                       auto_offset_reset="earliest", enable_auto_commit=False)
    records: list = []
    deadline = time.monotonic() + timeout
    try:
        while len(records) < count and time.monotonic() < deadline:
            for batch in kc.poll(timeout_ms=500).values():
                records.extend(batch)
        end = time.monotonic() + linger
        while time.monotonic() < end:
            for batch in kc.poll(timeout_ms=500).values():
                records.extend(batch)
    finally:
        kc.close()
    return records


@pytest.fixture
def read_topic() -> Callable[..., list]:
    """``read_topic(servers, topic, count, timeout=30, linger=0)``: see :func:`_read_topic`."""
    return _read_topic


@pytest.fixture(autouse=True)
def _embedded_env(monkeypatch, tmp_path) -> None:
    """Every test starts in the embedded mode with its own VAR_DIR, whatever the shell has."""
    for name in ("DATABASE_URL", "REGISTRY_DATABASE_URL", "NOTIFIER_DATABASE_URL",
                 "REPORTING_DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "SMTP_URL",
                 "KAFKA_TOPIC_PREFIX", "KAFKA_CONSUMER_GROUP_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """A SQLite database file for one test."""
    return f"sqlite:///{tmp_path / 'test.db'}"


# -- SMTP ----------------------------------------------------------------------------------
@dataclass
class SmtpServer:
    """A real SMTP server (aiosmtpd) on loopback; ``messages`` are parsed ``EmailMessage``s."""

    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def wait_for(self, count: int, timeout: float = 30.0) -> list[EmailMessage]:
        """Wait until at least ``count`` messages arrived; returns them all."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.messages) >= count, timeout)
        return list(self.messages)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """Start a real aiosmtpd server for one test."""
    from aiosmtpd.controller import Controller

    server = SmtpServer("127.0.0.1", _free_port())

    class Handler:
        async def handle_DATA(self, _srv, _session, envelope):  # noqa: N802 - aiosmtpd API
            msg = message_from_bytes(envelope.original_content, policy=policy.default)
            with server.arrived:
                server.messages.append(msg)  # type: ignore[arg-type]
                server.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
                server.arrived.notify_all()
            return "250 OK"

    controller = Controller(Handler(), hostname=server.host, port=server.port)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the repo: skips when absent, fails instead when
    ``REQUIRE_SHARED_DATA`` is set (this project's .ci/run sets it)."""
    if not SHARED_DATA.is_dir():
        if REQUIRE_SHARED_DATA:
            pytest.fail(f"REQUIRE_SHARED_DATA is set but {SHARED_DATA} is missing", pytrace=False)
        pytest.skip(f"{SHARED_DATA} missing (the full-data tests need ../shared/data)")
    return SHARED_DATA


# -- markers and the closing count -----------------------------------------------------------
_FIXTURE_MARKS = {"pg_admin_url": "postgres", "kafka_servers": "kafka"}


def pytest_collection_modifyitems(items):
    """A test that uses the PostgreSQL or Kafka fixtures is marked accordingly."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        for fixture, mark in _FIXTURE_MARKS.items():
            if fixture in names:
                item.add_marker(getattr(pytest.mark, mark))


def pytest_terminal_summary(terminalreporter):
    """Say how many tests ran (passed or failed, not skipped) against each real component."""
    counts = {"postgres": 0, "kafka": 0, "sqlite-only": 0}
    for key in ("passed", "failed", "error"):
        for rep in terminalreporter.stats.get(key, []):
            if getattr(rep, "when", "call") != "call" and key != "error":
                continue
            keywords = getattr(rep, "keywords", {})
            hit = False
            for mark in ("postgres", "kafka"):
                if mark in keywords:
                    counts[mark] += 1
                    hit = True
            if not hit:
                counts["sqlite-only"] += 1
    terminalreporter.write_sep("=", "real components")
    terminalreporter.write_line(
        f"tests run against PostgreSQL: {counts['postgres']}, against Kafka: {counts['kafka']}, "
        f"others (SQLite / in-process): {counts['sqlite-only']}")
