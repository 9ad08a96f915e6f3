"""Fixtures of the fault-injection tests: one private, breakable stack per session.

``fault_stack`` starts PostgreSQL, Kafka, an SMTP server and the three services on ports of
their own (``tests.faults.stack``); the shared servers on 55432/9092 are never touched. Each
test gets the stack with everything running again (``stack`` fixture), the session's load
generator (``workload``) and the reconciler. The convergence time each fault test measured is
printed at the end of the run ("fault convergence" section).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.reconcile import (
    DLT_TOPIC,
    INITIATIVES_TOPIC,
    ORGANIZATIONS_TOPIC,
    Convergence,
    Reconciler,
    TopicTail,
)
from tests.faults.stack import PrivateStack, kafka_libs
from tests.faults.workload import Workload

IN_CI = os.environ.get("CI", "").lower() == "true"


def pytest_configure(config):
    config.addinivalue_line("markers",
                            "faults: fault injection on a private PostgreSQL + Kafka + SMTP stack")


def pytest_collection_modifyitems(items):
    """Every test here is a fault test over the real stack (``make unit`` leaves them out)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            for mark in ("faults", "e2e", "postgres", "kafka"):
                item.add_marker(getattr(pytest.mark, mark))


def _missing_tools() -> str | None:
    if shutil.which("java") is None:
        return "java is not installed (make test installs it with scripts/services.sh up)"
    if not list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")):
        return "PostgreSQL binaries are not installed (scripts/services.sh up installs them)"
    if kafka_libs() is None:
        return "no var/kafka/libs with the broker jars (scripts/services.sh up fetches them)"
    return None


@pytest.fixture(scope="session")
def fault_stack() -> Iterator[PrivateStack]:
    """The private stack, up for the whole session, torn down (and its folder removed) after."""
    why = _missing_tools()
    if why:
        if IN_CI:
            pytest.fail(f"fault tests cannot run under CI=true: {why}", pytrace=False)
        pytest.skip(why)
    stack = PrivateStack()
    try:
        stack.up()
        yield stack
    finally:
        stack.down()


@pytest.fixture(scope="session")
def session_workload(fault_stack) -> Workload:
    workload = Workload(fault_stack)
    workload.prepare()
    return workload


@pytest.fixture(scope="session")
def topic_tail(fault_stack) -> Iterator[TopicTail]:
    tail = TopicTail(fault_stack.kafka_servers,
                     [INITIATIVES_TOPIC, ORGANIZATIONS_TOPIC, DLT_TOPIC])
    yield tail
    tail.close()


@pytest.fixture(scope="session")
def reconciler(fault_stack, topic_tail, session_workload) -> Iterator[Reconciler]:
    rec = Reconciler(fault_stack, topic_tail, session_workload.secretariat)
    yield rec
    rec.close()


@pytest.fixture
def stack(fault_stack) -> PrivateStack:
    """The private stack with every part running and ready (whatever an earlier test left)."""
    fault_stack.ensure_running()
    return fault_stack


@pytest.fixture
def workload(stack, session_workload, reconciler) -> Iterator[Workload]:
    """The load generator, stopped after the test whatever happened; the reconciler's checks
    of e-mails and acknowledged writes are scoped to this test."""
    reconciler.start_test(acknowledged_before=len(session_workload.acknowledged))
    yield session_workload
    session_workload.stop()


@pytest.fixture
def record_convergence(record_property, request):
    """``record_convergence(fault, convergence)``: keep the figures in the test's report
    (``user_properties``, also in JUnit XML) for the closing summary."""

    def record(fault: str, result: Convergence, **extra) -> None:
        record_property("fault", fault)
        record_property("convergence_s", round(result.seconds, 2))
        record_property("acknowledged_writes_in_test", result.acknowledged)
        record_property("last_to_converge", result.slowest)
        for key, value in {**result.counts, **extra}.items():
            record_property(key, value)

    return record


def pytest_terminal_summary(terminalreporter):
    """Print each fault's convergence time (seconds from the fault lifted to every invariant
    holding) and what the stack held then."""
    rows = []
    for key in ("passed", "failed"):
        for rep in terminalreporter.stats.get(key, []):
            if getattr(rep, "when", None) != "call":
                continue
            props = dict(getattr(rep, "user_properties", []) or [])
            if "convergence_s" in props:
                rows.append((props.pop("fault"), props.pop("convergence_s"), key, props))
    if not rows:
        return
    terminalreporter.write_sep("=", "fault convergence")
    for fault, seconds, outcome, props in rows:
        details = ", ".join(f"{k} {v}" for k, v in props.items())
        terminalreporter.write_line(f"{fault}: converged {seconds:.1f} s after the fault was "
                                    f"lifted ({outcome}; {details})")
