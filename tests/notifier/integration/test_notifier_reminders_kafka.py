"""Reminders to report progress on the real stack (issue 9): reminder events on a real Kafka
topic, the notifier's consumer group and delivery worker on PostgreSQL, messages received by a
real SMTP server (aiosmtpd). One e-mail per owner, in their language, with the one-click link
to the form and RFC 8058 headers; a redelivered event adds nothing; the one-click POST of the
header's URL suppresses every later reminder to that address; a forged reminder is
dead-lettered while the others go on."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, date, datetime
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from notifier.app import create_app, start_workers
from notifier.deliveries.models import Delivery
from notifier.unsubscribes.models import Unsubscribe
from shared import migrate
from shared.bus import KafkaPublisher
from shared.events import new_event
from shared.events.types import (
    COMPLIANCE_WEEKLY_DIGEST,
    INITIATIVE_PROGRESS_REMINDER_DUE,
    PROGRESS_REPORT_SUBMITTED,
    TOPIC_INITIATIVES,
    dump_data,
    topic_name,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore:(open_text|read_text) is deprecated:DeprecationWarning")

CJK = re.compile("[\u4e00-\u9fff]")
ANN = {"email": "ann@partner.example", "locale": "en", "role": "owner", "user_id": "u-ann"}
LI = {"email": "Li@Partner.example", "locale": "zh", "role": "owner", "user_id": "u-li"}
REVIEWER = {"email": "rev@un.example", "locale": "en", "role": "reviewer", "user_id": "u-rev"}


def reminder(kind: str, iid: str, recipients: list[dict], **extra):
    """A ``progress-reminder-due`` event as the registry's compliance job would publish it."""
    data = {"reminder_id": str(uuid.uuid4()), "kind": kind,
            "initiative": {"id": iid, "public_id": "PR-2017-00042",
                           "title": "Clean Oceans Alliance",
                           "owner_organization_id": str(uuid.uuid4()),
                           "owner_organization_name": "Blue Planet Trust",
                           "stakeholder_group": "ngo", "countries": ["KEN"],
                           "regions": ["002"], "sdg_goals": [14],
                           "url": "https://registry.example/initiatives/PR-2017-00042"},
            "reporting_status": "yellow", "anchor_on": date(2025, 1, 15),
            "due_on": date(2026, 1, 15), "recipients": recipients,
            "report_url": f"https://registry.example/my/initiatives/{iid}/progress/new",
            **extra}
    return new_event(INITIATIVE_PROGRESS_REMINDER_DUE, source="/registry", subject=iid,
                     data=dump_data(INITIATIVE_PROGRESS_REMINDER_DUE, data))


@pytest.fixture
def app(pg_url, kafka_env, smtp_server, monkeypatch):
    migrate.upgrade("notifier", pg_url)
    monkeypatch.setenv("SMTP_URL", smtp_server.url)
    app = create_app({"DATABASE_URL": pg_url, "SECRETARIAT_EMAIL": "secretariat@un.example",
                      "PUBLIC_BASE_URL": "https://registry.example",
                      "MAIL_FROM": "Partnership Registry <noreply@registry.example>"})
    yield app
    app.extensions["db_engine"].dispose()


def test_reminders_mail_each_owner_once_with_one_click_unsubscribe(
        app, kafka_env, smtp_server, to_message, read_topic):
    iid = str(uuid.uuid4())
    yellow = reminder("yellow", iid, [ANN, LI, {**ANN, "email": "ANN@partner.example"},
                                      REVIEWER])
    publisher = KafkaPublisher(kafka_env, client_id="notifier-reminder-tests")
    workers = start_workers(app)
    started = time.monotonic()
    try:
        publisher.publish([to_message(yellow)])
        smtp_server.wait_for(2, timeout=60)
        assert app.extensions["notifier_delivery_worker"].wait_idle(30)
        first = {m["To"]: m for m in smtp_server.messages}
        # one per owner (the upper-cased duplicate and the reviewer left out)
        assert sorted(first) == ["Li@Partner.example", "ann@partner.example"]
        ann, li = first["ann@partner.example"], first["Li@Partner.example"]
        assert ann["Subject"] == "Progress report overdue: Clean Oceans Alliance"
        assert li["Subject"] == "进展报告已逾期：Clean Oceans Alliance"
        for msg in (ann, li):
            assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            assert re.fullmatch(r"<https://registry\.example/unsubscribe/[\w.-]+(\?lang=zh)?>",
                                msg["List-Unsubscribe"])
            assert msg["List-Id"] == "<progress-reminders.registry.example>"
            text = msg.get_body(("plain",)).get_content()
            html = msg.get_body(("html",)).get_content()
            form = f"https://registry.example/my/initiatives/{iid}/progress/new"
            assert form in text and f'href="{form}"' in html
            # the footer's link is the header's (each recipient their own)
            assert msg["List-Unsubscribe"][1:-1] in text
        assert ann["List-Unsubscribe"] != li["List-Unsubscribe"]
        li_text = li.get_body(("plain",)).get_content()
        assert CJK.search(li_text) and "2026年1月15日" in li_text
        assert "January 15, 2026" in ann.get_body(("plain",)).get_content()

        # Li clicks "unsubscribe" in her mail client: RFC 8058 one-click POST to the header URL
        url = urlsplit(li["List-Unsubscribe"][1:-1])
        answer = app.test_client().post(
            f"{url.path}?{url.query}", data="List-Unsubscribe=One-Click",
            content_type="application/x-www-form-urlencoded")
        assert answer.status_code == 200
        assert "li@partner.example" in answer.get_data(as_text=True)

        # the yellow reminder redelivered (same event id), then the red one, then a forged one
        forged = reminder("red", iid, [ANN]).to_dict()
        forged["data"]["kind"] = "weekly"
        red = reminder("red", iid, [ANN, LI])
        publisher.publish([to_message(yellow), to_message(forged), to_message(red)])
        smtp_server.wait_for(3, timeout=60)
        assert app.extensions["notifier_delivery_worker"].wait_idle(30)
        [dead] = read_topic(kafka_env, topic_name(TOPIC_INITIATIVES) + ".dlt", 1)
        time.sleep(1.0)  # anything more (a duplicate, a mail to Li) would arrive meanwhile
    finally:
        workers.stop()
        publisher.close()
    elapsed = time.monotonic() - started

    assert len(smtp_server.messages) == 3
    [red_mail] = smtp_server.messages[2:]
    assert red_mail["To"] == "ann@partner.example"
    assert red_mail["Subject"] == "Initiative shown as inactive: Clean Oceans Alliance"
    assert dict(dead.headers)["dlt_reason"] == b"invalid-data"
    with app.extensions["db_session_factory"]() as s:
        rows = {(r.event_id, r.recipient): r.status for r in s.scalars(select(Delivery))}
        [left] = s.scalars(select(Unsubscribe)).all()
    assert rows == {(yellow.id, "ann@partner.example"): "sent",
                    (yellow.id, "Li@Partner.example"): "sent",
                    (red.id, "ann@partner.example"): "sent",
                    (red.id, "Li@Partner.example"): "suppressed"}
    assert (left.address, left.list_id, left.via) == (
        "li@partner.example", "progress-reminders", "web")
    print(f"\n3 reminder events + 1 forged -> 3 e-mails, 1 suppressed, via Kafka + SMTP in "
          f"{elapsed:.1f} s")


def test_digest_and_progress_notices_on_the_real_stack(app, kafka_env, smtp_server,
                                                       to_message):
    """The weekly digest reaches the secretariat grouped by stakeholder group then region,
    without List-Unsubscribe; a submitted progress report reaches the secretariat and the
    other owner, not its author; a redelivered digest adds nothing."""
    def ref(title, group, countries):
        return {"id": str(uuid.uuid4()), "public_id": None, "title": title,
                "stakeholder_group": group, "countries": countries, "regions": [],
                "sdg_goals": [14]}

    digest = new_event(
        COMPLIANCE_WEEKLY_DIGEST, source="/registry", subject="compliance-digest",
        data=dump_data(COMPLIANCE_WEEKLY_DIGEST, {
            "digest_id": str(uuid.uuid4()), "week_start": date(2026, 11, 23),
            "week_end": date(2026, 11, 30),
            "recipients": [{"email": "wei@un.example", "locale": "zh", "role": "secretariat"}],
            "turned_yellow": [ref("Seagrass", "ngo", ["FJI"]), ref("Nets", "ngo", ["KEN"]),
                              ref("Ports", "government", ["KEN"])],
            "turned_red": [], "counts": {"green": 40, "yellow": 3, "red": 0}}))
    iid = str(uuid.uuid4())
    now = datetime.now(UTC)
    submitted = new_event(
        PROGRESS_REPORT_SUBMITTED, source="/registry", subject=iid,
        data=dump_data(PROGRESS_REPORT_SUBMITTED, {
            "action": "submit", "from_status": "draft", "to_status": "submitted",
            "actor": {"role": "partner", "email": ANN["email"], "name": "Ann Kim",
                      "user_id": "u-ann"},
            "report": {"id": str(uuid.uuid4()), "number": 1, "status": "submitted"},
            "initiative": {"id": iid, "public_id": "PR-2017-00042", "status": "published",
                           "version": 2, "title": "Clean Oceans Alliance", "created_at": now,
                           "updated_at": now},
            "recipients": [ANN, LI]}))
    publisher = KafkaPublisher(kafka_env, client_id="notifier-digest-tests")
    workers = start_workers(app)
    try:
        publisher.publish([to_message(digest), to_message(submitted), to_message(digest)])
        smtp_server.wait_for(4, timeout=60)
        assert app.extensions["notifier_delivery_worker"].wait_idle(30)
        time.sleep(1.0)
    finally:
        workers.stop()
        publisher.close()

    by_to = {m["To"]: m for m in smtp_server.messages}
    assert len(smtp_server.messages) == 4
    assert sorted(by_to) == ["Li@Partner.example", "secretariat@un.example", "wei@un.example"]
    secretariat = [m for m in smtp_server.messages if m["To"] == "secretariat@un.example"]
    [digest_mail] = [m for m in secretariat if m["Subject"].startswith("Weekly")]
    [to_review] = [m for m in secretariat if m is not digest_mail]
    assert digest_mail["List-Unsubscribe"] is None
    text = digest_mail.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "Government (1)\n  Africa\n    - Ports\n" in text
    assert ("Non-governmental organization (NGO) (2)\n  Africa\n    - Nets\n"
            "  Oceania\n    - Seagrass\n") in text
    assert "40 green, 3 yellow, 0 red" in text
    assert "非政府组织（2）" in by_to["wei@un.example"].get_body(("plain",)).get_content()
    assert to_review["Subject"] == "Progress report 1 to review: Clean Oceans Alliance"
    assert by_to["Li@Partner.example"]["Subject"] == "第1份进展报告已提交：Clean Oceans Alliance"
