"""Benchmark of the event plumbing (issue 6): relay, consumers, approve -> e-mail latency.

Measured in one run, each beside a bare reference where one exists:

* ``relay.kafka.events_per_s`` — the registry's outbox relay (``shared.outbox.OutboxRelay``)
  publishing a PostgreSQL outbox of N initiative events to Kafka, vs a bare kafka-python
  ``KafkaProducer(acks="all")`` sending the same key/headers/value records (``ratio``).
* ``consumer.kafka.trivial.events_per_s`` — the shared consumer loop
  (``shared.consumer.run_kafka_consumer``: envelope and payload validation, processed_events
  rows on PostgreSQL, one transaction and one offset commit per batch) with a handler that does
  nothing, vs a bare ``KafkaConsumer`` poll loop reading the same records.
  ``consumer.kafka.trivial_per_event.events_per_s`` is the same loop with one transaction per
  event (how consumers ran before batching, and how the notifier still runs).
* ``consumer.kafka.reporting.events_per_s`` — the reporting service's own consumer (its read
  model handlers) on the same records; ``consumer.kafka.notifier.events_per_s`` the notifier's
  (these events mail nobody, so it only checks and acknowledges them).
* ``approve_to_mail.{in-process,kafka}.{paced,20_per_s}.p95_ms`` — approve (registry API,
  in-process WSGI) -> e-mail accepted by a local aiosmtpd sink, p95 over the approvals, paced
  at 5/s and at 20/s; embedded mode (SQLite, in-process bus) and Kafka mode (PostgreSQL +
  Kafka, each service's workers in threads).

Prints human-readable lines and one ``BENCH_ROW {json}`` line per figure (HELPERS.md).
``--smoke``: CI size (< 60 s). Needs ``TEST_PG_ADMIN_URL`` and ``TEST_KAFKA_BOOTSTRAP_SERVERS``
(defaults: the servers of ``scripts/services.sh``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get(
    "TEST_PG_ADMIN_URL", "postgresql+psycopg://registry:registry@127.0.0.1:55432/postgres")
KAFKA = os.environ.get("TEST_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092").split(",")


# -- rows ----------------------------------------------------------------------------------------
def row(name: str, unit: str, product: float, *, reference: float | None = None,
        goal: str, met: bool | None, data_size: int | None, backend: str,
        latency: bool = False, notes: str | None = None) -> None:
    """Print one human line and one ``BENCH_ROW`` line (keys of HELPERS.md)."""
    ratio = None
    if reference:
        ratio = (reference / product) if latency else (product / reference)
        ratio = round(ratio, 3)
    data = {"name": name, "unit": unit, "product": round(product, 1),
            "reference": None if reference is None else round(reference, 1), "ratio": ratio,
            "goal": goal, "met": met, "data_size": data_size, "backend": backend}
    if notes:
        data["notes"] = notes
    ref = f" (bare {reference:,.0f}, ratio {ratio})" if reference else ""
    verdict = "n/a" if met is None else ("met" if met else "NOT met")
    print(f"{name}: {product:,.1f} {unit}{ref}  goal {goal}: {verdict}")
    print("BENCH_ROW " + json.dumps(data), flush=True)


# -- servers ---------------------------------------------------------------------------------------
@contextmanager
def pg_database(label: str) -> Iterator[str]:
    """A fresh PostgreSQL database on the shared server, dropped afterwards."""
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"bench_bus_{label}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def kafka_mode(prefix: str) -> None:
    """Point the services at the shared broker, under topic/group ``prefix``."""
    os.environ["KAFKA_BOOTSTRAP_SERVERS"] = ",".join(KAFKA)
    os.environ["KAFKA_TOPIC_PREFIX"] = prefix
    os.environ["KAFKA_CONSUMER_GROUP_PREFIX"] = prefix


def embedded_mode() -> None:
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "KAFKA_TOPIC_PREFIX", "KAFKA_CONSUMER_GROUP_PREFIX"):
        os.environ.pop(name, None)


class SmtpSink:
    """aiosmtpd on loopback recording when each recipient's message arrived."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.arrivals: dict[str, list[float]] = {}
        self.cond = threading.Condition()
        sink = self

        class Handler:
            async def handle_DATA(self, _server, _session, envelope):  # noqa: N802
                now = time.monotonic()
                with sink.cond:
                    for rcpt in envelope.rcpt_tos:
                        sink.arrivals.setdefault(rcpt, []).append(now)
                    sink.cond.notify_all()
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(predicate, timeout)

    def close(self) -> None:
        self.controller.stop()


# -- events ----------------------------------------------------------------------------------------
def initiative_event(i: int) -> tuple[str, str, dict]:
    """(type, subject, data) of a realistic ``initiative.created.v1`` (a full snapshot)."""
    from shared.events.types import INITIATIVE_CREATED

    iid = str(uuid.uuid4())
    now = datetime.now(UTC)
    data = {
        "action": "create", "from_status": None, "to_status": "draft", "comment": None,
        "actor": {"role": "partner", "organization_id": str(uuid.uuid4()),
                  "email": "partner@ngo.test"},
        "initiative": {
            "id": iid, "public_id": None, "status": "draft", "version": 1,
            "title": f"Coral reef restoration and marine protected areas, phase {i}",
            "description": "Restore 40 hectares of coral reef with coastal communities. " * 6,
            "lead_organization": {"id": str(uuid.uuid4()), "name": "Pacific Reef Alliance",
                                  "acronym": "PRA", "stakeholder_group": "ngo",
                                  "country": "FJI"},
            "partners": [], "sdg_goals": [13, 14], "sdg_targets": ["14.2", "14.5", "13.1"],
            "countries": ["FJI", "TON"], "regions": [],
            "start_date": date(2026, 1, 1), "end_date": date(2028, 12, 31),
            "deliverables": [{"description": "40 ha restored", "due_date": date(2028, 6, 30)}],
            "resources": [{"type": "financing", "details": "Grant", "amount_usd": "250000"}],
            "contact_email": "reefs@ngo.test", "source": None, "source_ref": None,
            "created_at": now, "updated_at": now, "published_at": None,
        },
    }
    return INITIATIVE_CREATED, iid, data


def fill_outbox(url: str, n: int) -> None:
    """N initiative events in the registry's outbox, inserted in bulk (not through the API)."""
    from sqlalchemy import insert

    from registry.db import import_models
    from registry.outbox.models import OutboxEvent
    from shared import migrate
    from shared.db import make_engine
    from shared.events.envelope import new_event
    from shared.events.types import TOPIC_INITIATIVES, dump_data

    migrate.upgrade("registry", url)
    import_models()
    engine = make_engine(url)
    rows = []
    for i in range(n):
        type_, subject, data = initiative_event(i)
        env = new_event(type_, source="/registry", subject=subject,
                        data=dump_data(type_, data)).to_dict()
        rows.append({"event_id": env["id"], "topic": TOPIC_INITIATIVES, "event_type": type_,
                     "subject": subject, "envelope": env, "attempts": 0})
    with engine.begin() as conn:
        for start in range(0, n, 5000):
            conn.execute(insert(OutboxEvent), rows[start:start + 5000])
    engine.dispose()


# -- relay -----------------------------------------------------------------------------------------
def bench_relay(n: int) -> tuple[str, list]:
    """Relay N outbox events to Kafka; the bare producer sends the same records to another
    topic. Returns the relay's topic (prefixed) and the published messages."""
    from registry.outbox.models import OutboxEvent
    from shared.bus import KafkaPublisher, Message, ensure_topics
    from shared.db import make_engine, make_session_factory
    from shared.events.envelope import event_to_message
    from shared.events.types import TOPIC_INITIATIVES, topic_name
    from shared.outbox import OutboxRelay

    topic = topic_name(TOPIC_INITIATIVES)
    bare_topic = f"{topic}.bare"
    ensure_topics(KAFKA, [topic, bare_topic], timeout=30)
    with pg_database("relay") as url:
        fill_outbox(url, n)
        engine = make_engine(url)
        factory = make_session_factory(engine)
        with factory() as s:
            from sqlalchemy import select

            envelopes = list(s.scalars(select(OutboxEvent.envelope).order_by(OutboxEvent.seq)))
        messages = []
        for env in envelopes:
            key, headers, value = event_to_message(env)
            messages.append(Message(bare_topic, key, value, headers))

        publisher = KafkaPublisher(KAFKA, topics=[topic])
        publisher.connect()
        relay = OutboxRelay(factory, OutboxEvent, publisher)
        started = time.perf_counter()
        sent = relay.drain()
        product = sent / (time.perf_counter() - started)
        publisher.close()
        engine.dispose()

    from kafka import KafkaProducer

    bare = KafkaProducer(bootstrap_servers=KAFKA, acks="all")
    started = time.perf_counter()
    for m in messages:
        bare.send(m.topic, key=m.key, value=m.value, headers=m.headers)
    bare.flush()
    reference = n / (time.perf_counter() - started)
    bare.close()
    # the same client with the relay's settings (lz4, linger, 256 KiB batches, metrics off):
    # what kafka-python itself allows on this machine, without the outbox
    from shared.bus import make_producer

    tuned = make_producer(KAFKA, client_id="bench-tuned")
    started = time.perf_counter()
    for m in messages:
        tuned.send(m.topic, key=m.key, value=m.value, headers=m.headers)
    tuned.flush()
    tuned_rate = n / (time.perf_counter() - started)
    tuned.close()
    assert sent == n, (sent, n)
    row("relay.kafka.vs_tuned_producer.events_per_s", "events/s", product, reference=tuned_rate,
        goal="none (comparison)", met=None, data_size=n, backend="kafka",
        notes="the relay vs kafka-python with the relay's own producer settings sending the "
              "same records without an outbox: the client library's ceiling here")
    row("relay.kafka.events_per_s", "events/s", product, reference=reference,
        goal=">=5000 events/s", met=product >= 5000, data_size=n, backend="kafka",
        notes="PostgreSQL outbox -> Kafka (acks=all, idempotent, lz4, batch 1000) vs a bare "
              "KafkaProducer(acks=all) sending the same records")
    return topic, messages


# -- consumers -------------------------------------------------------------------------------------
def _run_until(consumer, n: int, counter: Callable[[], int], timeout: float = 300) -> float:
    """events/s of ``consumer`` (shared loop on Kafka) until ``counter() >= n``."""
    from shared.consumer import run_kafka_consumer

    stop = threading.Event()
    group = f"bench-{uuid.uuid4().hex[:8]}"
    worker = threading.Thread(target=run_kafka_consumer, args=(consumer, KAFKA, stop),
                              kwargs={"group_id": group}, daemon=True)
    started = time.perf_counter()
    worker.start()
    deadline = time.monotonic() + timeout
    while counter() < n and time.monotonic() < deadline:
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    stop.set()
    worker.join(20)
    if counter() < n:
        raise RuntimeError(f"consumer stopped at {counter()} of {n}")
    return n / elapsed


def bench_bare_consumer(topic: str, n: int) -> float:
    from kafka import KafkaConsumer

    kc = KafkaConsumer(topic, bootstrap_servers=KAFKA, group_id=f"bare-{uuid.uuid4().hex[:8]}",
                       auto_offset_reset="earliest", enable_auto_commit=False)
    got = 0
    started = time.perf_counter()
    while got < n:
        for records in kc.poll(timeout_ms=500).values():
            got += len(records)
    elapsed = time.perf_counter() - started
    kc.close()
    return n / elapsed


def bench_consumers(topic: str, n: int) -> None:
    from sqlalchemy.orm import DeclarativeBase

    from shared.consumer import EventConsumer, ProcessedEventMixin
    from shared.db import make_engine, make_session_factory, new_metadata
    from shared.events.types import EVENT_TYPES, TOPIC_INITIATIVES

    class Base(DeclarativeBase):
        metadata = new_metadata()

    class Processed(ProcessedEventMixin, Base):
        __tablename__ = "processed_events"

    reference = bench_bare_consumer(topic, n)
    for name, atomic in (("trivial", True), ("trivial_per_event", False)):
        with pg_database("consumer") as url:
            engine = make_engine(url)
            Base.metadata.create_all(engine)
            handlers = {t: (lambda _s, _e, _d: None) for t, (tp, _) in EVENT_TYPES.items()
                        if tp == TOPIC_INITIATIVES}
            consumer = EventConsumer(f"bench-{name}", make_session_factory(engine), Processed,
                                     handlers, [topic], atomic_batches=atomic)
            product = _run_until(consumer, n, lambda c=consumer: c.counters["applied"])
            engine.dispose()
        # the per-event mode is no product consumer's (both apply a polled batch in one
        # transaction): it is measured to show what batching buys, against no goal
        row(f"consumer.kafka.{name}.events_per_s", "events/s", product, reference=reference,
            goal=">=2000 events/s" if atomic else "none (comparison)",
            met=(product >= 2000) if atomic else None, data_size=n, backend="kafka",
            notes="shared loop (validation, processed_events on PostgreSQL, "
                  + ("one transaction per polled batch" if atomic else "one transaction per "
                     "event") + ") vs a bare KafkaConsumer poll loop")

    from reporting.app import build_consumer, create_app
    from shared import migrate

    with pg_database("reporting") as url:
        migrate.upgrade("reporting", url)
        app = create_app({"DATABASE_URL": url})
        consumer = build_consumer(app)
        consumer.topics = [topic]
        product = _run_until(consumer, n, lambda: consumer.counters["applied"])
        app.extensions["db_engine"].dispose()
    row("consumer.kafka.reporting.events_per_s", "events/s", product, reference=reference,
        goal=">=2000 events/s", met=product >= 2000, data_size=n, backend="kafka",
        notes="reporting's consumer (its read-model handlers) on initiative.created events "
              "vs a bare KafkaConsumer poll loop")

    from notifier.app import build_consumer as notifier_consumer
    from notifier.app import create_app as notifier_app

    with pg_database("notifier") as url:
        migrate.upgrade("notifier", url)
        app = notifier_app({"DATABASE_URL": url})
        consumer = notifier_consumer(app)
        consumer.topics = [topic]
        product = _run_until(consumer, n, lambda: sum(consumer.counters.values()))
        app.extensions["db_engine"].dispose()
    row("consumer.kafka.notifier.events_per_s", "events/s", product, reference=reference,
        goal=">=2000 events/s", met=product >= 2000, data_size=n, backend="kafka",
        notes="notifier's consumer on initiative.created events, which mail nobody (declared, "
              "no handler: envelope checked, then acknowledged); e-mail events are bound by "
              "SMTP")


# -- approve -> e-mail -----------------------------------------------------------------------------
def _token(app, role: str, email: str | None = None, organization_id=None) -> str:
    from registry import db
    from registry.auth.service import create_token

    with app.app_context():
        session = db.session()
        plain, _ = create_token(db_session=session, role=role, email=email,
                                organization_id=organization_id)
        session.commit()
    return plain


def _verify_contact(app, email: str) -> None:
    """Mark ``email`` as a verified contact, as following its verification link would
    (issue 7: a contact gets review e-mails only then)."""
    from registry.accounts.models import VerifiedContactEmail

    with app.extensions["db_session_factory"]() as session:
        session.add(VerifiedContactEmail(email=email, verified_at=datetime.now(UTC)))
        session.commit()


def _verified_organization(client, secretariat: str) -> str:
    """A new organisation, verified by the secretariat (so its initiatives may be approved)."""
    auth = {"Authorization": f"Bearer {secretariat}"}
    org = client.post("/api/v1/organizations", headers=auth,
                      json={"name": f"Reef Alliance {uuid.uuid4().hex[:6]}",
                            "stakeholder_group": "ngo"})
    assert org.status_code == 201, org.get_data(as_text=True)
    verified = client.post(f"/api/v1/organizations/{org.json['id']}/verify", headers=auth)
    assert verified.status_code == 200, verified.get_data(as_text=True)
    return org.json["id"]


def _submitted_initiatives(client, partner: str, organization_id: str,
                           count: int) -> list[tuple[str, str]]:
    """``count`` complete, submitted initiatives of ``organization_id`` (the partner's):
    [(id, contact e-mail)]."""
    auth = {"Authorization": f"Bearer {partner}"}
    out = []
    for i in range(count):
        contact = f"contact-{i}-{uuid.uuid4().hex[:6]}@ngo.test"
        _verify_contact(client.application, contact)
        made = client.post("/api/v1/initiatives", headers=auth, json={
            "title": f"Reef restoration {i}", "description": "Restore coral reefs.",
            "lead_organization_id": organization_id, "sdg_targets": ["14.2"],
            "countries": ["FJI"], "start_date": "2026-01-01", "end_date": "2028-12-31",
            "deliverables": [{"description": "40 ha restored", "due_date": "2028-06-30"}],
            "resources": [{"type": "financing", "details": "Grant", "amount_usd": "250000"}],
            "contact_email": contact})
        assert made.status_code == 201, made.get_data(as_text=True)
        sub = client.post(f"/api/v1/initiatives/{made.json['id']}/submit", headers=auth,
                          json={})
        assert sub.status_code == 200, sub.get_data(as_text=True)
        out.append((made.json["id"], contact))
    return out


def _approve_latencies(client, secretariat: str, sink: SmtpSink,
                       initiatives: list[tuple[str, str]], per_second: float) -> list[float]:
    """Approve each initiative at ``per_second``; ms from the request to the e-mail."""
    auth = {"Authorization": f"Bearer {secretariat}"}
    sent_at: dict[str, float] = {}
    # the submission e-mail already reached each contact: the approval is the second one
    first = time.monotonic()
    for i, (iid, contact) in enumerate(initiatives):
        due = first + i / per_second
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sent_at[contact] = time.monotonic()
        resp = client.post(f"/api/v1/initiatives/{iid}/approve", headers=auth, json={})
        assert resp.status_code == 200, resp.get_data(as_text=True)
    ok = sink.wait(lambda: all(len(sink.arrivals.get(c, ())) >= 2 for c in sent_at), 60)
    if not ok:
        raise RuntimeError("approval e-mails missing after 60 s")
    return [(sink.arrivals[c][1] - t) * 1000 for c, t in sent_at.items()]


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18] if len(values) > 1 \
        else values[0]


def bench_approve_to_mail(backend: str, paced: int, burst: int) -> None:
    """Approve -> e-mail p95, paced at 5/s and at 20/s, on ``backend`` (in-process|kafka)."""
    sink = SmtpSink()
    os.environ["SMTP_URL"] = sink.url
    os.environ["SECRETARIAT_EMAIL"] = "secretariat@registry.test"
    stop: list[Callable[[], None]] = []
    try:
        if backend == "in-process":
            from embedded import build

            embedded_mode()
            tmp = Path(tempfile.mkdtemp(prefix="bench-bus-"))
            os.environ["VAR_DIR"] = str(tmp)
            stack = build({name: {"DATABASE_URL": f"sqlite:///{tmp / name}.db"}
                           for name in ("registry", "notifier", "reporting")})
            stop.append(stack.stop)
            registry = stack.apps["registry"]
            run_sizes(registry, sink, backend, paced, burst)
        else:
            from notifier.app import create_app as notifier_app
            from notifier.app import start_workers as notifier_workers
            from registry.app import create_app as registry_app
            from registry.app import start_workers as registry_workers
            from shared import migrate

            kafka_mode(f"bb{uuid.uuid4().hex[:6]}.")
            with pg_database("reg") as reg_url, pg_database("notif") as notif_url:
                migrate.upgrade("registry", reg_url)
                migrate.upgrade("notifier", notif_url)
                registry = registry_app({"DATABASE_URL": reg_url})
                notifier = notifier_app({"DATABASE_URL": notif_url})
                workers = [notifier_workers(notifier), registry_workers(registry)]
                try:
                    run_sizes(registry, sink, backend, paced, burst)
                finally:
                    for w in workers:
                        w.stop()
                    registry.extensions["db_engine"].dispose()
                    notifier.extensions["db_engine"].dispose()
    finally:
        for f in stop:
            f()
        sink.close()


def run_sizes(registry, sink: SmtpSink, backend: str, paced: int, burst: int) -> None:
    client = registry.test_client()
    secretariat = _token(registry, "secretariat")
    organization_id = _verified_organization(client, secretariat)
    partner = _token(registry, "partner", "partner@ngo.test", uuid.UUID(organization_id))
    todo = _submitted_initiatives(client, partner, organization_id, paced + burst)
    sink.wait(lambda: all(len(sink.arrivals.get(c, ())) >= 1 for _i, c in todo), 60)
    for label, per_second, items, goal_ms in (("paced", 5.0, todo[:paced], 200),
                                              ("20_per_s", 20.0, todo[paced:], 1000)):
        lat = _approve_latencies(client, secretariat, sink, items, per_second)
        value = p95(lat)
        row(f"approve_to_mail.{backend}.{label}.p95_ms", "ms", value, goal=f"<={goal_ms} ms",
            met=value <= goal_ms, data_size=len(items), backend=backend,
            notes=f"approve request -> e-mail at an aiosmtpd sink, {per_second:g} approvals/s, "
                  f"p50 {statistics.median(lat):.0f} ms, max {max(lat):.0f} ms")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="CI size (< 60 s)")
    parser.add_argument("--size", type=int, default=None, help="events for relay/consumers")
    args = parser.parse_args(argv)
    n = args.size or (3_000 if args.smoke else 20_000)
    paced, burst = (10, 40) if args.smoke else (50, 200)
    logging.disable(logging.WARNING)  # the figures, not the services' logs
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    sys.path.insert(0, str(ROOT))

    kafka_mode(f"bb{uuid.uuid4().hex[:6]}.")
    topic, _messages = bench_relay(n)
    bench_consumers(topic, n)
    bench_approve_to_mail("in-process", paced, burst)
    bench_approve_to_mail("kafka", paced, burst)


if __name__ == "__main__":
    main()
