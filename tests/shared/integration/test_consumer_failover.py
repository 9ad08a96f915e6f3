"""A consumer killed with SIGKILL holds its partitions only for the session timeout
(``KAFKA_SESSION_TIMEOUT_MS``, 10 s; kafka-python's 45 s before), and one stopped cleanly
leaves its group at once (issue: "After a consumer is killed, mail and reports resume only
after 45 s"). Prints the measured resume times."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import pytest

from shared.bus import KafkaPublisher, Message, ensure_topics
from shared.events import event_to_message, new_event
from shared.events.types import ORGANIZATION_CREATED

pytestmark = [pytest.mark.kafka, pytest.mark.filterwarnings("ignore::ResourceWarning"),
              pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")]

CONSUMER_SCRIPT = textwrap.dedent('''
    import sys, threading
    from sqlalchemy.orm import DeclarativeBase
    from shared.consumer import EventConsumer, ProcessedEventMixin, run_kafka_consumer
    from shared.db import make_engine, make_session_factory, new_metadata
    from shared.events.types import ORGANIZATION_CREATED

    class Base(DeclarativeBase):
        metadata = new_metadata()

    class Processed(ProcessedEventMixin, Base):
        __tablename__ = "processed_events"

    servers, topic, group, db = sys.argv[1:5]
    engine = make_engine(f"sqlite:///{db}")
    Base.metadata.create_all(engine)

    def handle(session, event, data):
        print("HANDLED", event.subject, flush=True)

    consumer = EventConsumer("failover", make_session_factory(engine), Processed,
                             {ORGANIZATION_CREATED: handle}, [topic])
    run_kafka_consumer(consumer, servers.split(","), threading.Event(), group_id=group)
''')


def _event(topic: str, subject: str) -> Message:
    data = {"organization": {"id": str(uuid.uuid4()), "name": subject, "acronym": None,
                             "stakeholder_group": "ngo", "country": None}}
    ev = new_event(ORGANIZATION_CREATED, source="/t", subject=subject, data=data).to_dict()
    key, headers, value = event_to_message(ev)
    return Message(topic, key, value, headers)


class InProcessConsumer:
    """``run_kafka_consumer`` in a thread, recording the subjects it handled."""

    def __init__(self, servers, topic, group, tmp_path):
        from sqlalchemy.orm import DeclarativeBase

        from shared.consumer import EventConsumer, ProcessedEventMixin, run_kafka_consumer
        from shared.db import make_engine, make_session_factory, new_metadata

        class Base(DeclarativeBase):
            metadata = new_metadata()

        class Processed(ProcessedEventMixin, Base):
            __tablename__ = "processed_events"

        self.engine = make_engine(f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.db'}")
        Base.metadata.create_all(self.engine)
        self.handled: set[str] = set()
        self.stop = threading.Event()
        consumer = EventConsumer("failover", make_session_factory(self.engine), Processed,
                                 {ORGANIZATION_CREATED: lambda _s, e, _d:
                                  self.handled.add(e.subject)}, [topic])
        self.thread = threading.Thread(target=run_kafka_consumer,
                                       args=(consumer, servers, self.stop),
                                       kwargs={"group_id": group}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(20)
        self.engine.dispose()


def _until_all_handled(consumer: InProcessConsumer, subjects: set[str], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if subjects <= consumer.handled:
            return True
        time.sleep(0.05)
    return False


def test_resume_after_kill_9_and_after_a_clean_stop(kafka_servers, tmp_path):
    topic = f"t{uuid.uuid4().hex[:8]}.failover"
    group = f"g{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka_servers, [topic], partitions=3)
    publisher = KafkaPublisher(kafka_servers, client_id="failover-test")
    script = tmp_path / "consumer.py"
    script.write_text(CONSUMER_SCRIPT)
    env = dict(os.environ, LOG_LEVEL="WARNING")
    proc = subprocess.Popen([sys.executable, str(script), ",".join(kafka_servers), topic, group,
                             str(tmp_path / "killed.db")], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    consumers: list[InProcessConsumer] = []
    try:
        warm = {f"warm-{i}" for i in range(6)}  # keys over the three partitions
        publisher.publish([_event(topic, s) for s in sorted(warm)])
        seen: set[str] = set()
        deadline = time.monotonic() + 60
        while not warm <= seen and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith("HANDLED"):
                seen.add(line.split()[1])
        assert warm <= seen, "the first consumer never got its partitions"

        proc.send_signal(signal.SIGKILL)  # no LeaveGroup: the broker waits for the session
        proc.wait(10)
        killed_at = time.monotonic()
        consumers.append(InProcessConsumer(kafka_servers, topic, group, tmp_path))
        after_kill = {f"after-kill-{i}" for i in range(6)}
        publisher.publish([_event(topic, s) for s in sorted(after_kill)])
        assert _until_all_handled(consumers[-1], after_kill, 40)
        resume_after_kill = time.monotonic() - killed_at

        consumers[-1].close()  # a clean stop leaves the group
        stopped_at = time.monotonic()
        consumers.append(InProcessConsumer(kafka_servers, topic, group, tmp_path))
        after_stop = {f"after-stop-{i}" for i in range(6)}
        publisher.publish([_event(topic, s) for s in sorted(after_stop)])
        assert _until_all_handled(consumers[-1], after_stop, 40)
        resume_after_stop = time.monotonic() - stopped_at
        print(f"\nconsumer resume: after kill -9 {resume_after_kill:.1f} s, "
              f"after a clean stop {resume_after_stop:.1f} s")
        assert resume_after_kill < 25, resume_after_kill  # kafka-python's default: > 45 s
        assert resume_after_stop < 8, resume_after_stop
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()
        for c in consumers:
            c.close()
        publisher.close()
