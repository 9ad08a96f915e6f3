"""Notifier: e-mails per second per notifier process (to a local SMTP sink and to .eml files),
event -> delivery latency, and the consumer's events per second — on a fresh PostgreSQL
database.

Run: ``.venv/bin/python bench/bench_notifier.py [--smoke] [--mails N] [--events N]``

* Sink: aiosmtpd in a process of its own (so it does not share this process's GIL), printing
  the arrival time of each message by Message-ID.
* e-mails/s: ``N`` approval events are planned by the consumer (not timed), then one
  :class:`~notifier.deliveries.worker.DeliveryWorker` pass sends them all (claim, send, commit
  each outcome), timed until the last was recorded ``sent``. Reference, in the same run: a bare
  ``smtplib`` loop sending the same number of ready-built messages to the same sink, one
  connection per message like the product (no database). The same for ``.eml`` files, the
  reference being :class:`~notifier.deliveries.transport.FileTransport` alone.
* latency: approvals published on the in-process bus at 20/s with the notifier running as in
  ``notifier serve`` (consumer + delivery worker thread, woken on commit); latency = SMTP
  arrival - publish. Without Kafka's hop (the relay and consumer poll are the bus helpers').
* consumer events/s: ``EventConsumer.handle`` over a mix of 95 % created / updated / imported
  (they notify nobody: no handler, no database work) and 5 % submitted / approved (one
  transaction each, deliveries planned). One transaction per notifying event.

Prints readable lines and one ``BENCH_ROW {json}`` per figure (see HELPERS.md / bench/run.py).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import fresh_database  # noqa: E402

PG_ADMIN_URL = os.environ.get(
    "TEST_PG_ADMIN_URL", "postgresql+psycopg://registry:registry@127.0.0.1:55432/postgres")
SETTINGS = {"MAIL_FROM": "Partnership Registry <noreply@registry.example>",
            "SECRETARIAT_EMAIL": "secretariat@un.example",
            "PUBLIC_BASE_URL": "https://registry.example"}

SINK = r"""
import re, sys, time
from aiosmtpd.controller import Controller

MID = re.compile(rb"^Message-ID:\s*(\S+)", re.M | re.I)

class Sink:
    async def handle_DATA(self, server, session, envelope):
        found = MID.search(envelope.content or b"")
        sys.stdout.write(f"ARRIVED {time.time():.6f} "
                         f"{found.group(1).decode() if found else '-'}\n")
        sys.stdout.flush()
        return "250 OK"

controller = Controller(Sink(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print(f"PORT {sys.argv[1]}", flush=True)
sys.stdin.read()
controller.stop()
"""


def bench_row(name: str, unit: str, product: float, reference: float | None, goal: str,
              met: bool | None, data_size: int | None, *, higher_is_better: bool,
              notes: str = "", backend: str = "postgresql") -> None:
    """Print one ``BENCH_ROW`` line (keys of HELPERS.md)."""
    ratio = None
    if reference:
        ratio = product / reference if higher_is_better else reference / product
    print("BENCH_ROW " + json.dumps({
        "name": name, "unit": unit, "product": round(product, 3),
        "reference": None if reference is None else round(reference, 3),
        "ratio": None if ratio is None else round(ratio, 3), "goal": goal, "met": met,
        "data_size": data_size, "backend": backend, "notes": notes}), flush=True)


class Sink:
    """The aiosmtpd sink process; ``arrivals`` maps Message-ID -> arrival time (epoch s)."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.proc = subprocess.Popen([sys.executable, "-c", SINK, str(port)],
                                     stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        first = self.proc.stdout.readline()  # type: ignore[union-attr]
        self.port = int(first.split()[1])
        self.arrivals: dict[str, float] = {}
        self.count = 0
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            _, at, mid = line.split()
            with self.cond:
                self.arrivals[mid] = float(at)
                self.count += 1
                self.cond.notify_all()

    def wait_for(self, count: int, timeout: float = 120.0) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: self.count >= count, timeout)

    def close(self) -> None:
        self.proc.stdin.close()  # type: ignore[union-attr]
        self.proc.wait(10)




def initiative_message(type_: str, *, contact: str | None, to_status: str):
    """A bus message carrying an initiative event, as the outbox relay builds it."""
    from shared.bus import Message
    from shared.events import event_to_message, new_event, topic_name
    from shared.events.types import TOPIC_INITIATIVES, dump_data

    now = datetime.now(UTC)
    initiative_id = str(uuid.uuid4())
    initiative = {
        "id": initiative_id, "public_id": "PR-2026-00042" if to_status == "published" else None,
        "status": to_status, "version": 3, "title": "Clean Oceans <Alliance> & Partners",
        "description": "Reduce marine plastic.",
        "lead_organization": {"id": str(uuid.uuid4()), "name": "Blue Planet Trust",
                              "acronym": None, "stakeholder_group": "ngo", "country": "KEN"},
        "partners": [], "sdg_goals": [14], "sdg_targets": ["14.1"], "countries": ["KEN"],
        "regions": [], "deliverables": [], "resources": [], "contact_email": contact,
        "contact_email_verified": True, "created_at": now, "updated_at": now,
        "published_at": now if to_status == "published" else None}
    data = {"action": "bench", "from_status": "submitted", "to_status": to_status,
            "comment": "Well documented.", "actor": {"role": "secretariat"},
            "initiative": initiative}
    event = new_event(type_, source="/registry", subject=initiative_id,
                      data=dump_data(type_, data))
    key, headers, value = event_to_message(event.to_dict())
    return event, Message(topic=topic_name(TOPIC_INITIATIVES), key=key, value=value,
                          headers=headers)


def make_app(url: str, smtp_url: str | None):
    from notifier.app import create_app

    config = {"DATABASE_URL": url, **SETTINGS}
    if smtp_url:
        config["SMTP_URL"] = smtp_url
    return create_app(config)


def plan(app, n: int) -> list:
    """``n`` approval events planned by the consumer; returns their events."""
    from notifier.app import build_consumer
    from shared.events.types import INITIATIVE_APPROVED

    consumer = build_consumer(app)
    events = []
    for i in range(n):
        event, message = initiative_message(INITIATIVE_APPROVED,
                                            contact=f"c{i}-{uuid.uuid4().hex[:6]}@example.org",
                                            to_status="published")
        consumer.handle(message)
        events.append(event)
    return events


def reference_messages(n: int):
    """``n`` MIME messages built like the product builds them (yielded, so that building is
    timed with the sending, as in the product)."""
    from notifier.deliveries.rendering import (
        MailSettings,
        build_message,
        mail_context,
        message_id,
        render,
    )

    settings = MailSettings(SETTINGS["MAIL_FROM"], SETTINGS["SECRETARIAT_EMAIL"],
                            SETTINGS["PUBLIC_BASE_URL"])
    _, message = initiative_message("org.partnership-registry.initiative.approved.v1",
                                    contact="x@example.org", to_status="published")
    data = json.loads(message.value)
    mail = render("approved", mail_context(data, settings))
    for i in range(n):
        yield build_message(mail, recipient=f"r{i}@example.org",
                            msg_id=message_id(f"ref-{i}-{uuid.uuid4()}", "r@example.org",
                                              settings), settings=settings)


def measure_smtp(url: str, sink: Sink, n: int) -> None:
    from notifier.app import build_delivery_worker

    # reference: bare smtplib (build + send, one connection per message), same sink
    before = sink.count
    started = time.perf_counter()
    for i, msg in enumerate(reference_messages(n)):
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=30) as smtp:
            smtp.send_message(msg, from_addr="noreply@registry.example",
                              to_addrs=[f"r{i}@example.org"])
    sink.wait_for(before + n)
    reference = n / (time.perf_counter() - started)

    app = make_app(url, f"smtp://127.0.0.1:{sink.port}")
    plan(app, n)
    worker = build_delivery_worker(app)
    before = sink.count
    started = time.perf_counter()
    sent = worker.run_once()
    elapsed = time.perf_counter() - started
    assert sent == n and sink.wait_for(before + n), "not every e-mail arrived"
    app.extensions["db_engine"].dispose()
    product = n / elapsed
    print(f"SMTP: {product:,.0f} e-mails/s per notifier process (claim, send, commit each); "
          f"bare smtplib loop {reference:,.0f}/s")
    bench_row("notifier.smtp.emails_per_s", "e-mails/s", product, reference, ">=500 e-mails/s",
              product >= 500, n, higher_is_better=True,
              notes="one DeliveryWorker thread (one claimed delivery at a time, one SMTP "
                    "connection per pass, outcome and next claim in one transaction), aiosmtpd "
                    "sink in its own process; reference: build + smtplib send, a connection per "
                    "message, no database")


def measure_eml(url: str, n: int) -> None:
    from notifier.app import build_delivery_worker
    from notifier.deliveries.transport import FileTransport

    with tempfile.TemporaryDirectory() as tmp:
        transport = FileTransport(Path(tmp) / "reference")
        started = time.perf_counter()
        for i, msg in enumerate(reference_messages(n)):
            transport.send(msg, sender="noreply@registry.example",
                           recipient=f"r{i}@example.org", event_id=str(i))
        reference = n / (time.perf_counter() - started)

        app = make_app(url, None)
        plan(app, n)
        worker = build_delivery_worker(app, FileTransport(Path(tmp) / "product"))
        started = time.perf_counter()
        sent = worker.run_once()
        product = n / (time.perf_counter() - started)
        assert sent == n and len(list((Path(tmp) / "product").glob("*.eml"))) == n
        app.extensions["db_engine"].dispose()
    print(f".eml: {product:,.0f} e-mails/s per notifier process; FileTransport alone "
          f"{reference:,.0f}/s")
    bench_row("notifier.eml.emails_per_s", "e-mails/s", product, reference, ">=500 e-mails/s",
              product >= 500, n, higher_is_better=True,
              notes="embedded mode's .eml files; reference: FileTransport.send loop (building "
                    "+ writing, no database)")


def measure_latency(url: str, sink: Sink, k: int, rate: float = 20.0) -> None:
    from notifier.app import start_workers
    from notifier.deliveries.rendering import MailSettings, message_id
    from shared.bus import InProcessBus
    from shared.events.types import INITIATIVE_APPROVED

    settings = MailSettings(SETTINGS["MAIL_FROM"], SETTINGS["SECRETARIAT_EMAIL"],
                            SETTINGS["PUBLIC_BASE_URL"])
    app = make_app(url, f"smtp://127.0.0.1:{sink.port}")
    bus = InProcessBus()
    workers = start_workers(app, bus)
    published: dict[str, float] = {}
    try:
        before = sink.count
        start = time.monotonic()
        for i in range(k):
            contact = f"lat{i}-{uuid.uuid4().hex[:6]}@example.org"
            event, message = initiative_message(INITIATIVE_APPROVED, contact=contact,
                                                to_status="published")
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # pacing the load generator, not waiting for a result
            published[message_id(event.id, contact, settings)] = time.time()
            bus.publish([message])
        sink.wait_for(before + k)
    finally:
        workers.stop()
        app.extensions["db_engine"].dispose()
    latencies = sorted((sink.arrivals[m] - t) * 1000 for m, t in published.items()
                       if m in sink.arrivals)
    p50 = statistics.median(latencies)
    p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    print(f"event -> SMTP arrival at {rate:.0f} events/s: p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
          f"p99 {p99:.1f} ms ({len(latencies)} of {k} arrived)")
    bench_row("notifier.event_to_smtp.p95_ms", "ms", p95, None, "<=200 ms", p95 <= 200, k,
              higher_is_better=False,
              notes=f"{rate:.0f} approvals/s on the in-process bus -> consumer (plans) -> "
                    f"worker woken on commit -> aiosmtpd; p50 {p50:.1f} ms, p99 {p99:.1f} ms; "
                    "excludes the outbox relay and Kafka")


def measure_consumer(url: str, m: int) -> None:
    from notifier.app import build_consumer
    from shared.events.types import (
        INITIATIVE_APPROVED,
        INITIATIVE_CREATED,
        INITIATIVE_IMPORTED,
        INITIATIVE_SUBMITTED,
        INITIATIVE_UPDATED,
    )

    rng = random.Random(5)  # noqa: S311
    silent = [(INITIATIVE_CREATED, "draft"), (INITIATIVE_UPDATED, "draft"),
              (INITIATIVE_IMPORTED, "published")]
    loud = [(INITIATIVE_SUBMITTED, "submitted"), (INITIATIVE_APPROVED, "published")]
    messages = []
    for i in range(m):
        type_, status = rng.choice(loud) if rng.random() < 0.05 else rng.choice(silent)
        messages.append(initiative_message(type_, contact=f"m{i}@example.org",
                                           to_status=status)[1])
    app = make_app(url, None)
    consumer = build_consumer(app)
    started = time.perf_counter()
    for message in messages:
        consumer.handle(message)
    rate = m / (time.perf_counter() - started)
    silent_only = [msg for msg in messages if dict(msg.headers)["ce_type"].decode()
                   in {t for t, _ in silent}][: m // 2]
    started = time.perf_counter()
    for message in silent_only:
        consumer.handle(message)
    silent_rate = len(silent_only) / (time.perf_counter() - started)
    app.extensions["db_engine"].dispose()
    print(f"notifier consumer: {rate:,.0f} events/s (95 % notify nobody); events that notify "
          f"nobody alone: {silent_rate:,.0f}/s")
    bench_row("notifier.consumer.events_per_s", "events/s", rate, None, ">=2000 events/s",
              rate >= 2000, m, higher_is_better=True,
              notes="EventConsumer.handle: 95% created/updated/imported (no handler, no "
                    "database), 5% submitted/approved (one transaction, deliveries planned); "
                    f"notify-nobody events alone {silent_rate:,.0f}/s; no Kafka poll")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="CI size")
    parser.add_argument("--mails", type=int, help="e-mails per throughput run (default 2,000)")
    parser.add_argument("--events", type=int, help="consumer events (default 20,000)")
    parser.add_argument("--latency-events", type=int, help="paced events (default 200)")
    args = parser.parse_args(argv)
    n = args.mails or (300 if args.smoke else 2_000)
    m = args.events or (3_000 if args.smoke else 20_000)
    k = args.latency_events or (40 if args.smoke else 200)
    for name in ("SMTP_URL", "KAFKA_BOOTSTRAP_SERVERS"):
        os.environ.pop(name, None)
    os.environ.setdefault("LOG_LEVEL", "WARNING")

    from shared import migrate

    sink = Sink()
    try:
        with fresh_database("notifier") as url:
            migrate.upgrade("notifier", url)
            measure_smtp(url, sink, n)
            measure_eml(url, n)
            measure_latency(url, sink, k)
            measure_consumer(url, m)
    finally:
        sink.close()


if __name__ == "__main__":
    sys.stdout = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", line_buffering=True)
    main()
