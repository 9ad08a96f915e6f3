"""The review desk's e-mails on the real stack (issue 8): events on a real Kafka topic, the
notifier's consumer group and delivery worker on PostgreSQL, messages received by a real SMTP
server (aiosmtpd). Each step mails exactly its recipients in their language, never the actor;
the secretariat's mail links to the review page; a forged internal note is dead-lettered and a
hostile URL is never linked, while the events behind them are processed."""

from __future__ import annotations

import re
import time
import uuid

import pytest
from sqlalchemy import select

from notifier.app import create_app, start_workers
from notifier.deliveries.models import Delivery
from shared import migrate
from shared.bus import KafkaPublisher
from shared.events.types import (
    INITIATIVE_COMMENTED,
    INITIATIVE_COMPLETED,
    INITIATIVE_COMPLETION_DECLARED,
    INITIATIVE_REVIEW_ASSIGNED,
    INITIATIVE_SUSPENDED,
    TOPIC_INITIATIVES,
    topic_name,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore:(open_text|read_text) is deprecated:DeprecationWarning")

CJK = re.compile("[\u4e00-\u9fff]")
ANN = {"email": "ann@partner.example", "locale": "en", "role": "owner", "user_id": "u-ann"}
LI = {"email": "li@partner.example", "locale": "zh", "role": "owner", "user_id": "u-li"}
REVIEWER = {"email": "rev@un.example", "locale": "en", "role": "reviewer", "user_id": "u-rev"}
OWNER_ACTS = {"role": "partner", "email": ANN["email"], "name": "Ann Kim", "user_id": "u-ann"}
OFFICER_ACTS = {"role": "secretariat", "email": "officer@un.example", "name": "Wei Officer",
                "user_id": "u-off"}


@pytest.fixture
def app(pg_url, kafka_env, smtp_server, monkeypatch):
    migrate.upgrade("notifier", pg_url)
    monkeypatch.setenv("SMTP_URL", smtp_server.url)
    app = create_app({"DATABASE_URL": pg_url, "SECRETARIAT_EMAIL": "secretariat@un.example",
                      "PUBLIC_BASE_URL": "https://registry.example",
                      "MAIL_FROM": "Partnership Registry <noreply@registry.example>"})
    yield app
    app.extensions["db_engine"].dispose()


def test_review_desk_steps_mail_exactly_their_recipients(app, kafka_env, smtp_server,
                                                         make_event, to_message, read_topic):
    iid = str(uuid.uuid4())
    review_url = f"https://registry.example/secretariat/review/{iid}"
    declared = make_event(INITIATIVE_COMPLETION_DECLARED, initiative_id=iid, actor=OWNER_ACTS,
                          comment="All 4 deliverables achieved.",
                          recipients=[ANN, LI, REVIEWER], review_url=review_url,
                          owner_url=f"https://registry.example/my/initiatives/{iid}")
    commented = make_event(INITIATIVE_COMMENTED, initiative_id=iid, actor=OFFICER_ACTS,
                           recipients=[ANN, LI],
                           thread_entry={"id": "e-1", "body": "Please attach <the report>.",
                                         "visibility": "participants", "reply_to": None})
    forged_note = make_event(INITIATIVE_COMMENTED, initiative_id=iid, actor=OFFICER_ACTS,
                             recipients=[ANN]).to_dict()
    forged_note["data"]["thread_entry"]["visibility"] = "internal"
    assigned = make_event(INITIATIVE_REVIEW_ASSIGNED, initiative_id=iid, actor=OFFICER_ACTS,
                          recipients=[{**REVIEWER, "locale": "zh-CN"}], review_url=review_url)
    hostile = make_event(INITIATIVE_SUSPENDED, initiative_id=iid, actor=OFFICER_ACTS,
                         comment="Audit pending.", review_url="javascript:alert(document.cookie)",
                         owner_url="javascript:alert(1)",
                         recipients=[ANN, LI, REVIEWER, {**ANN, "email": "bad address@@"}])
    completed = make_event(INITIATIVE_COMPLETED, initiative_id=iid, actor=OFFICER_ACTS,
                           recipients=[ANN, LI, REVIEWER])
    publisher = KafkaPublisher(kafka_env, client_id="notifier-review-desk-tests")
    workers = start_workers(app)
    started = time.monotonic()
    try:
        publisher.publish([to_message(declared), to_message(commented),
                           to_message(forged_note), to_message(assigned),
                           to_message(hostile), to_message(completed)])
        smtp_server.wait_for(15, timeout=60)
        assert app.extensions["notifier_delivery_worker"].wait_idle(30)
    finally:
        workers.stop()
        publisher.close()
    elapsed = time.monotonic() - started

    received: dict[str, dict[str, str]] = {}  # subject -> To -> text
    for msg in smtp_server.messages:
        received.setdefault(msg["Subject"], {})[msg["To"]] = \
            msg.get_body(("plain",)).get_content()
    assert len(smtp_server.messages) == 15, sorted(received)

    # 1. completion declared by Ann: not Ann; Li in Chinese; the secretariat and the reviewer
    #    with the review page; the contact
    assert set(received["Completion to confirm: Clean Oceans Alliance"]) == {
        "secretariat@un.example", "rev@un.example"}
    assert set(received["已申报完成：Clean Oceans Alliance"]) == {"li@partner.example"}
    assert set(received["Completion declared: Clean Oceans Alliance"]) == {"contact@example.org"}
    secretariat = received["Completion to confirm: Clean Oceans Alliance"]["secretariat@un.example"]
    assert f"Review it: {review_url}" in secretariat
    assert "All 4 deliverables achieved." in secretariat
    assert "Recorded by Ann Kim." in secretariat
    # 2. the officer's comment: both members, its text; not the officer, not the contact
    assert set(received["New comment: Clean Oceans Alliance"]) == {"ann@partner.example"}
    assert set(received["新评论：Clean Oceans Alliance"]) == {"li@partner.example"}
    assert "Please attach <the report>." in \
        received["New comment: Clean Oceans Alliance"]["ann@partner.example"]
    # 3. the assignment: the reviewer alone, in Chinese
    assert received["已分配给您：Clean Oceans Alliance"].keys() == {"rev@un.example"}
    # 4. the forged internal note: nobody (the dead-letter topic has it)
    assert not any("partner seems" in text for to in received.values() for text in to.values())
    # 5. the hostile suspension: mailed, the script URL left out, the real pages linked
    suspended = received["Suspended: Clean Oceans Alliance"]
    assert set(suspended) == {"contact@example.org", "ann@partner.example", "rev@un.example"}
    assert set(received["已暂停：Clean Oceans Alliance"]) == {"li@partner.example"}
    for text in suspended.values():
        assert "javascript" not in text
    assert f"https://registry.example/my/initiatives/{iid}" in suspended["ann@partner.example"]
    assert review_url in suspended["rev@un.example"]
    # 6. completion confirmed by the officer: contact, both members, the reviewer
    assert set(received["Completed: Clean Oceans Alliance"]) == {
        "contact@example.org", "ann@partner.example", "rev@un.example"}
    assert set(received["已完成：Clean Oceans Alliance"]) == {"li@partner.example"}
    # nobody is told of their own step; the actor's address never appears as a recipient
    assert "officer@un.example" not in {m["To"] for m in smtp_server.messages}

    [dead] = read_topic(kafka_env, topic_name(TOPIC_INITIATIVES) + ".dlt", 1)
    assert b"thread_entry" in dict(dead.headers)["dlt_error"]
    with app.extensions["db_session_factory"]() as s:
        rows = list(s.scalars(select(Delivery)))
    assert [r.recipient for r in rows if r.status == "failed"] == ["bad address@@"]
    assert sum(r.status == "sent" for r in rows) == 15
    print(f"\n6 review-desk events -> 15 e-mails via Kafka + SMTP in {elapsed:.1f} s")
