"""Reminder fan-out (issue 9, "Benchmarks"): 10,000 reminder e-mails sent by ONE notifier
process to a local SMTP sink — e-mails/s (goal >= 500/s), beside a bare smtplib loop to the
same sink in the same run — on a fresh PostgreSQL database.

Run: ``.venv/bin/python bench/bench_reminders.py [--smoke] [--mails N] [--per-event K]``

* Sink: postfix's ``smtp-sink`` (C, one process, advertises PIPELINING; installed from
  Debian's ``postfix`` package when missing, configured as "No configuration" so no MTA is
  started). The aiosmtpd sink of the tests and of ``bench_notifier.py`` tops out near
  135 messages/s on this machine, so it would measure itself, not the notifier.
* Deliveries: ``N / K`` ``initiative.progress-reminder-due.v1`` events of ``K`` owners each
  (one in five in Chinese) are planned by the notifier's consumer (``EventConsumer.handle``,
  not timed) when the consumer has a handler for them (the ``notify`` branch); otherwise the
  same events' rows are written the way that consumer writes pending deliveries
  (``service.delivery_row`` + ``service.insert_deliveries`` in one transaction per event,
  one rendered message per event and language) and the row's notes say so.
* Product: one :class:`~notifier.deliveries.worker.DeliveryWorker` pass (what
  ``notifier serve``'s worker thread runs when woken), timed from the first claim until the
  last delivery is recorded ``sent``; every row ``sent`` and the sink's message counter up by
  ``N`` are checked. CPU ms per e-mail of this process (the notifier: consumer not running
  meanwhile) and of its PostgreSQL backend are recorded too (steadier than e-mails/s on a
  shared machine).
* Reference, same run, same sink: a bare ``smtplib`` loop on one connection over the same
  rendered rows (read beforehand, not timed): ``rendering.build_message`` + ``send_message``
  per e-mail, no database. Also printed: the same loop sending the product's wire bytes
  (``transport.wire_message``) — the ceiling of one Python SMTP client here.

Prints readable lines and one ``BENCH_ROW {json}`` per figure (``bench/harness.py``); skips
with ``BENCH_SKIP`` when ``smtp-sink`` is missing and cannot be installed.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import re
import shutil
import smtplib
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

SETTINGS = {"MAIL_FROM": "Partnership Registry <noreply@registry.example>",
            "SECRETARIAT_EMAIL": "secretariat@un.example",
            "PUBLIC_BASE_URL": "https://registry.example",
            "SECRET_KEY": "bench-reminders-not-a-secret"}  # signs the unsubscribe links
APPLICATION_NAME = "bench_reminders_notifier"
GOAL = ">=500 e-mails/s"


# -- the sink ------------------------------------------------------------------------------------
def smtp_sink_path(*, install: bool = True) -> str | None:
    """``smtp-sink`` (Debian's ``postfix``); installed with apt-get when missing and we are
    root (postfix preseeded to "No configuration": nothing is started). None if unavailable."""
    found = shutil.which("smtp-sink") or ("/usr/sbin/smtp-sink"
                                          if os.path.exists("/usr/sbin/smtp-sink") else None)
    if found or not install or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    harness.say("installing Debian's postfix for smtp-sink")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["debconf-set-selections"], input=b"postfix postfix/main_mailer_type "
                   b"select No configuration\n", env=env, check=False)
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postfix"],
                   env=env, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return smtp_sink_path(install=False)


class SmtpSink:
    """``smtp-sink -c`` on a free loopback port; :attr:`count` is the messages it accepted
    (its running counter ``mesg=N``, read from its output)."""

    COUNTER = re.compile(rb"mesg=(\d+)")

    def __init__(self, exe: str):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        argv = [exe, "-c"] + (["-u", "nobody"] if os.geteuid() == 0 else []) + [
            f"127.0.0.1:{self.port}", "256"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.count = 0
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 10
        while True:  # ready when it accepts a connection
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"smtp-sink did not start: {argv}") from None
                time.sleep(0.05)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        buffer = b""
        while chunk := self.proc.stdout.read1(65536):  # type: ignore[attr-defined]
            buffer = (buffer + chunk)[-4096:]
            found = self.COUNTER.findall(buffer)
            if found:
                with self._cond:
                    self.count = max(self.count, int(found[-1]))
                    self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 30.0) -> bool:
        """True once the sink has accepted ``count`` messages in all."""
        with self._cond:
            return self._cond.wait_for(lambda: self.count >= count, timeout)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


# -- the deliveries --------------------------------------------------------------------------
def reminder_event(i: int, per_event: int, rng: random.Random):
    """One ``initiative.progress-reminder-due.v1`` event with ``per_event`` owners."""
    from shared.events import new_event
    from shared.events.types import INITIATIVE_PROGRESS_REMINDER_DUE, dump_data

    initiative_id = str(uuid.uuid4())
    anchor = date(2025, 1, 1) + timedelta(days=i % 365)
    kind = rng.choice(("upcoming", "due", "yellow", "red"))
    data = {
        "reminder_id": str(uuid.uuid4()), "kind": kind,
        "initiative": {"id": initiative_id, "public_id": f"PR-2025-{i:05d}",
                       "title": f"Clean Oceans <Alliance> & Partners {i}",
                       "owner_organization_id": str(uuid.uuid4()),
                       "owner_organization_name": "Blue Planet Trust",
                       "stakeholder_group": "ngo", "countries": ["KEN"], "regions": ["014"],
                       "sdg_goals": [14],
                       "url": f"https://registry.example/initiatives/PR-2025-{i:05d}"},
        "reporting_status": {"upcoming": "green", "due": "yellow"}.get(kind, kind),
        "anchor_on": anchor, "due_on": anchor + timedelta(days=365),
        "recipients": [{"email": f"owner{j}.{i}@example.org",
                        "locale": "zh" if (i + j) % 5 == 0 else "en", "role": "owner",
                        "user_id": str(uuid.uuid4())} for j in range(per_event)],
        "report_url": f"https://registry.example/my/initiatives/{initiative_id}/progress/new",
        "requested_by": None}
    return new_event(INITIATIVE_PROGRESS_REMINDER_DUE, source="/registry",
                     subject=initiative_id,
                     data=dump_data(INITIATIVE_PROGRESS_REMINDER_DUE, data))


def _fallback_mail(data: dict, locale: str):
    """A reminder as the notifier would render it (used only while it has no template)."""
    from notifier.deliveries.rendering import RenderedMail

    title = data["initiative"]["title"]
    url = data["report_url"]
    if locale == "zh":
        return RenderedMail(f"进展报告提醒：{title}",
                            f"您好，\n\n“{title}”的进展报告应于 {data['due_on']} 提交。\n"
                            f"一键填写：{url}\n\n伙伴关系登记处\n",
                            f"<p>您好，</p><p>“{title}”的进展报告应于 {data['due_on']} 提交。"
                            f"</p><p><a href=\"{url}\">填写进展报告</a></p>")
    return RenderedMail(f"Progress report due: {title}",
                        f"Hello,\n\nA progress report of \"{title}\" is due on "
                        f"{data['due_on']}.\nFile it in one click: {url}\n\n"
                        "Partnership Registry\n",
                        f"<p>Hello,</p><p>A progress report of &quot;{title}&quot; is due on "
                        f"{data['due_on']}.</p><p><a href=\"{url}\">File the progress report"
                        "</a></p>")


def plan(app, n: int, per_event: int) -> str:
    """``n`` reminder deliveries (``n / per_event`` events); returns how they were planned."""
    from notifier.app import build_consumer
    from notifier.deliveries.rendering import MailSettings
    from notifier.deliveries.service import delivery_row, insert_deliveries
    from shared.bus import Message
    from shared.events import event_to_message, topic_name
    from shared.events.types import INITIATIVE_PROGRESS_REMINDER_DUE, TOPIC_INITIATIVES

    rng = random.Random(9)  # noqa: S311 - benchmark data
    consumer = build_consumer(app)
    events = [reminder_event(i, min(per_event, n - i * per_event), rng)
              for i in range((n + per_event - 1) // per_event)]
    if INITIATIVE_PROGRESS_REMINDER_DUE in consumer.handlers:
        for event in events:
            key, headers, value = event_to_message(event.to_dict())
            consumer.handle(Message(topic=topic_name(TOPIC_INITIATIVES), key=key, value=value,
                                    headers=headers))
        return "planned by the notifier's consumer from progress-reminder-due events"
    settings = MailSettings(SETTINGS["MAIL_FROM"], SETTINGS["SECRETARIAT_EMAIL"],
                            SETTINGS["PUBLIC_BASE_URL"])
    factory = app.extensions["db_session_factory"]
    for event in events:
        data = event.to_dict()["data"]
        rendered = {loc: _fallback_mail(data, loc) for loc in ("en", "zh")}
        now = datetime.now(UTC)
        rows = [delivery_row(event=event, event_id=event.id, recipient=r["email"],
                             template="progress_reminder", mail=rendered[r["locale"]],
                             settings=settings, now=now, initiative_id=data["initiative"]["id"])
                for r in data["recipients"]]
        with factory() as session:
            insert_deliveries(session, rows)
            session.commit()
    return ("rows written like the notifier's consumer writes them (delivery_row + "
            "insert_deliveries; the consumer has no reminder handler on this branch)")


# -- measuring ---------------------------------------------------------------------------------
def reference_loop(rows: list, sink: SmtpSink, *, wire: bool) -> float:
    """E-mails/s of a bare smtplib loop over ``rows`` on one connection to the sink: each
    message built (``build_message``, or ``wire_message`` bytes with ``wire``) and sent."""
    from notifier.deliveries.rendering import MailSettings, RenderedMail, build_message
    from notifier.deliveries.transport import wire_message

    settings = MailSettings(SETTINGS["MAIL_FROM"], SETTINGS["SECRETARIAT_EMAIL"],
                            SETTINGS["PUBLIC_BASE_URL"])
    sender = settings.sender
    before = sink.count
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", sink.port, timeout=30) as smtp:
        for r in rows:
            mail = RenderedMail(r.subject, r.body_text, r.body_html)
            if wire:
                smtp.sendmail(sender, [r.recipient], wire_message(
                    mail, recipient=r.recipient, msg_id=r.message_id, settings=settings,
                    headers=r.headers) or b"")
            else:
                smtp.send_message(build_message(mail, recipient=r.recipient,
                                                msg_id=r.message_id, settings=settings,
                                                headers=r.headers),
                                  from_addr=sender, to_addrs=[r.recipient])
    elapsed = time.perf_counter() - started
    if not sink.wait_for(before + len(rows)):
        raise RuntimeError("the sink did not count every reference e-mail")
    return len(rows) / elapsed


def measure(url: str, sink: SmtpSink, n: int, per_event: int) -> None:
    from sqlalchemy import func, select

    from notifier.app import build_delivery_worker, create_app
    from notifier.deliveries.models import Delivery

    app = create_app({"DATABASE_URL": harness.with_application_name(url, APPLICATION_NAME),
                      "SMTP_URL": f"smtp://127.0.0.1:{sink.port}", **SETTINGS})
    factory = app.extensions["db_session_factory"]
    started = time.perf_counter()
    how = plan(app, n, per_event)
    planned_s = time.perf_counter() - started
    with factory() as session:
        rows = list(session.execute(
            select(Delivery.recipient, Delivery.subject, Delivery.body_text, Delivery.body_html,
                   Delivery.message_id, Delivery.headers)
            .where(Delivery.status == "pending")))
    assert len(rows) == n, f"{len(rows)} pending deliveries planned, not {n}"
    harness.say(f"planned {n:,} reminder deliveries ({n // per_event:,} events of {per_event} "
                f"owners) in {planned_s:.1f} s: {how}")

    reference = reference_loop(rows, sink, wire=False)
    ceiling = reference_loop(rows, sink, wire=True)

    worker = build_delivery_worker(app)
    me = SimpleNamespace(pid=os.getpid(), application_name=APPLICATION_NAME)
    before = sink.count
    with harness.CpuMeter(me, url) as meter:  # type: ignore[arg-type,unused-ignore]
        cpu_started = time.process_time()
        started = time.perf_counter()
        sent = worker.run_once()
        elapsed = time.perf_counter() - started
        cpu_s = time.process_time() - cpu_started
    with factory() as session:
        statuses = dict(session.execute(select(Delivery.status, func.count())
                                        .group_by(Delivery.status)).all())
    app.extensions["db_engine"].dispose()
    assert sent == n and statuses == {"sent": n}, (sent, statuses)
    assert sink.wait_for(before + n), f"the sink counted {sink.count - before} of {n}"
    product = n / elapsed
    harness.say(f"reminders: {product:,.0f} e-mails/s from one notifier process "
                f"({cpu_s * 1000 / n:.2f} CPU ms/e-mail, PostgreSQL "
                f"{meter.postgres_ms / n:.2f}); bare smtplib loop {reference:,.0f}/s with "
                f"build_message, {ceiling:,.0f}/s with ready wire bytes")
    harness.emit(harness.make_row(
        "notifier.reminders.emails_per_s", "e-mails/s", product, reference=reference,
        goal=GOAL, data_size=n, backend="postgresql",
        cpu_ms_per_req_service=cpu_s * 1000 / n,
        cpu_ms_per_req_postgres=meter.postgres_ms / n,
        notes=(f"one DeliveryWorker pass, one SMTP connection, one delivery claimed at a time "
               f"(outcome + next claim = one statement, autocommit, keyset claim), wire "
               f"bytes, SMTP pipelining; postfix smtp-sink; {how}; "
               f"{per_event} owners per event, 1 in 5 in Chinese; reference: smtplib loop, "
               f"build_message + send_message, one connection, no database; the same loop "
               f"with ready wire bytes: {ceiling:,.0f}/s")))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="CI size (300 e-mails)")
    parser.add_argument("--mails", type=int, help="reminder e-mails (default 10,000)")
    parser.add_argument("--per-event", type=int, default=4,
                        help="owners per reminder event (default 4)")
    args = parser.parse_args(argv)
    n = args.mails or (300 if args.smoke else 10_000)
    for name in ("SMTP_URL", "KAFKA_BOOTSTRAP_SERVERS"):
        os.environ.pop(name, None)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    exe = smtp_sink_path()
    if exe is None:
        print("BENCH_SKIP smtp-sink (Debian's postfix) is not installed and could not be",
              flush=True)
        return

    from shared import migrate

    sink = SmtpSink(exe)
    try:
        with harness.fresh_database("reminders") as url:
            migrate.upgrade("notifier", url)
            measure(url, sink, n, max(1, args.per_event))
    finally:
        sink.close()


if __name__ == "__main__":
    sys.stdout = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", line_buffering=True)
    main()
