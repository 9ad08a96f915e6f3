"""Who is told what on each review-desk step (issue 8): the owner organisation's members and
the assigned reviewer from ``data.recipients`` in their own language, the secretariat's address
for what it must act on, the contact as before, never the actor; links to the review page /
the owner's page; hostile payloads (SQLite, the consumer's real handler, in-process bus)."""

from __future__ import annotations

import re

import pytest
from marshmallow import ValidationError
from sqlalchemy import select

from notifier.app import build_consumer, start_workers
from notifier.deliveries.models import Delivery
from notifier.deliveries.rendering import NOTICES, MailSettings, mail_context, render
from notifier.deliveries.service import MAX_RECIPIENTS, NOTIFICATIONS
from shared.bus import InProcessBus, Message
from shared.events import event_to_message
from shared.events.types import (
    EVENT_TYPES,
    INITIATIVE_APPROVED,
    INITIATIVE_ARCHIVED,
    INITIATIVE_CHANGES_REQUESTED,
    INITIATIVE_COMMENTED,
    INITIATIVE_COMPLETED,
    INITIATIVE_COMPLETION_DECLARED,
    INITIATIVE_COMPLETION_DECLINED,
    INITIATIVE_REINSTATED,
    INITIATIVE_REJECTED,
    INITIATIVE_REVIEW_ASSIGNED,
    INITIATIVE_REVISION_APPROVED,
    INITIATIVE_REVISION_CHANGES_REQUESTED,
    INITIATIVE_REVISION_REJECTED,
    INITIATIVE_REVISION_SUBMITTED,
    INITIATIVE_SUBMITTED,
    INITIATIVE_SUSPENDED,
    INITIATIVE_WITHDRAWN,
    TOPIC_INITIATIVES,
    dump_data,
    load_data,
    topic_name,
)

SETTINGS = MailSettings(mail_from="Partnership Registry <noreply@registry.example>",
                        secretariat_email="secretariat@un.example",
                        public_base_url="https://registry.example/")
CJK = re.compile("[\u4e00-\u9fff]")

ANN = {"email": "ann@partner.example", "locale": "en", "role": "owner", "user_id": "u-ann"}
LI = {"email": "li@partner.example", "locale": "zh", "role": "owner", "user_id": "u-li"}
REVIEWER = {"email": "rev@un.example", "locale": "en", "role": "reviewer", "user_id": "u-rev"}
OFFICER = {"email": "officer@un.example", "locale": "en", "role": "secretariat",
           "user_id": "u-off"}
OWNER_ACTS = {"role": "partner", "email": "ann@partner.example", "name": "Ann Kim",
              "user_id": "u-ann", "organization_id": "org-1"}
SECRETARIAT_ACTS = {"role": "secretariat", "email": "officer@un.example",
                    "name": "Wei Officer", "user_id": "u-off"}
CONTACT = "contact@example.org"
SECRETARIAT = "secretariat@un.example"

#: decisions of the secretariat: contact + members + the assigned reviewer (someone else)
SECRETARIAT_DECIDES = [INITIATIVE_APPROVED, INITIATIVE_CHANGES_REQUESTED, INITIATIVE_REJECTED,
                       INITIATIVE_COMPLETION_DECLINED, INITIATIVE_COMPLETED,
                       INITIATIVE_ARCHIVED, INITIATIVE_SUSPENDED, INITIATIVE_REINSTATED,
                       INITIATIVE_REVISION_APPROVED, INITIATIVE_REVISION_CHANGES_REQUESTED,
                       INITIATIVE_REVISION_REJECTED]
#: requests of the owner the secretariat acts on: + the secretariat's address
OWNER_ASKS = [INITIATIVE_SUBMITTED, INITIATIVE_COMPLETION_DECLARED,
              INITIATIVE_REVISION_SUBMITTED]


def _plan(app, event) -> dict[str, Delivery]:
    """Run the notifier's consumer on ``event`` (its real handler, one transaction); the
    planned deliveries by recipient."""
    key, headers, value = event_to_message(event.to_dict())
    build_consumer(app).handle(Message(topic=topic_name(TOPIC_INITIATIVES), key=key,
                                       value=value, headers=headers))
    with app.extensions["db_session_factory"]() as s:
        return {d.recipient: d for d in s.scalars(select(Delivery)
                                                  .where(Delivery.event_id == event.id))}


def test_every_review_desk_type_mails_someone(notifier_app):
    """No initiative event type of the contract is silently ignored but the three that
    never mail (created, updated, imported) and the light's change (issue 9: the reminder
    events tell the owners); the review desk's are the types of ``NOTIFICATIONS``."""
    initiative_types = {t for t, (topic, _) in EVENT_TYPES.items() if topic == TOPIC_INITIATIVES}
    silent = {t for t in initiative_types if t.rsplit(".", 2)[-2] in
              ("created", "updated", "imported", "reporting-status-changed")}
    handled = set(build_consumer(notifier_app).handlers)
    assert initiative_types - silent <= handled
    assert not silent & handled
    assert set(NOTIFICATIONS) == {t for t in initiative_types
                                  if t.split(".")[-3] == "initiative"} - silent - {
        t for t in initiative_types if t.endswith("progress-reminder-due.v1")}


@pytest.mark.parametrize("type_", SECRETARIAT_DECIDES)
def test_secretariat_decision_tells_contact_members_and_reviewer_not_the_actor(
        notifier_app, make_event, type_):
    event = make_event(type_, actor=SECRETARIAT_ACTS, comment="Reason <given>.",
                       recipients=[ANN, LI, REVIEWER, OFFICER])

    rows = _plan(notifier_app, event)

    assert set(rows) == {CONTACT, ANN["email"], LI["email"], REVIEWER["email"]}
    assert OFFICER["email"] not in rows and SECRETARIAT not in rows
    assert CJK.search(rows[LI["email"]].subject), rows[LI["email"]].subject
    for english in (CONTACT, ANN["email"], REVIEWER["email"]):
        assert not CJK.search(rows[english].subject)
    assert rows[ANN["email"]].template == rows[CONTACT].template
    assert rows[REVIEWER["email"]].template.endswith("_staff")
    # the owner side is led to the owner's page, the reviewer to the review page
    assert "https://registry.example/my/initiatives/" in rows[ANN["email"]].body_text or \
        type_ == INITIATIVE_APPROVED
    assert "https://registry.example/secretariat/review/" in rows[REVIEWER["email"]].body_text
    assert "Reason <given>." in rows[ANN["email"]].body_text
    assert "Reason &lt;given&gt;." in rows[ANN["email"]].body_html


@pytest.mark.parametrize("type_", OWNER_ASKS)
def test_owner_request_tells_the_secretariat_with_the_review_link(notifier_app, make_event,
                                                                  type_):
    review_url = "https://registry.example/secretariat/review/abc?tab=diff"
    event = make_event(type_, actor=OWNER_ACTS, comment="All deliverables achieved.",
                       recipients=[ANN, LI, REVIEWER], review_url=review_url,
                       owner_url="https://registry.example/my/initiatives/abc")

    rows = _plan(notifier_app, event)

    assert set(rows) == {CONTACT, LI["email"], REVIEWER["email"], SECRETARIAT}
    secretariat = rows[SECRETARIAT]
    assert not CJK.search(secretariat.subject)
    assert review_url in secretariat.body_text
    assert f'href="{review_url.replace("&", "&amp;")}"' in secretariat.body_html
    assert "/api/v1/" not in secretariat.body_text
    assert rows[REVIEWER["email"]].template == secretariat.template
    assert "https://registry.example/my/initiatives/abc" in rows[LI["email"]].body_text
    assert CJK.search(rows[LI["email"]].subject)
    assert "All deliverables achieved." in secretariat.body_text


def test_withdrawal_tells_members_contact_and_reviewer_not_the_secretariat(notifier_app,
                                                                         make_event):
    event = make_event(INITIATIVE_WITHDRAWN, actor=OWNER_ACTS, comment="Funding ended.",
                       recipients=[ANN, LI, REVIEWER])

    rows = _plan(notifier_app, event)

    assert set(rows) == {CONTACT, LI["email"], REVIEWER["email"]}
    assert rows[LI["email"]].subject == "已撤回：Clean Oceans Alliance"
    assert "Funding ended." in rows[REVIEWER["email"]].body_text
    assert "Recorded by Ann Kim." in rows[REVIEWER["email"]].body_text


def test_actor_is_never_mailed_even_as_contact_or_by_address_only(notifier_app, make_event):
    actor = {**OWNER_ACTS, "user_id": None, "email": "Contact@Example.org"}
    event = make_event(INITIATIVE_COMPLETION_DECLARED, actor=actor, comment="Done.",
                       recipients=[ANN, {**LI, "email": "contact@example.org"}])

    rows = _plan(notifier_app, event)

    assert set(rows) == {ANN["email"], SECRETARIAT}


def test_comment_goes_to_the_other_side_with_its_text(notifier_app, make_event):
    body = "Is the <budget> final?\nThanks & regards"
    entry = {"id": "e-1", "body": body, "visibility": "participants", "reply_to": None}
    event = make_event(INITIATIVE_COMMENTED, actor=OWNER_ACTS, thread_entry=entry,
                       recipients=[ANN, LI, {**REVIEWER, "locale": "zh-CN"}])

    rows = _plan(notifier_app, event)

    # never the contact (the thread is the participants'), nor the secretariat's address
    # when a reviewer is named
    assert set(rows) == {LI["email"], REVIEWER["email"]}
    reviewer = rows[REVIEWER["email"]]
    assert reviewer.subject == "新评论：Clean Oceans Alliance"
    assert "Ann Kim" in reviewer.body_text and body in reviewer.body_text
    assert "Is the &lt;budget&gt; final?\nThanks &amp; regards" in reviewer.body_html
    assert "<budget>" not in reviewer.body_html
    assert "/secretariat/review/" in reviewer.body_text
    assert "/my/initiatives/" in rows[LI["email"]].body_text


@pytest.mark.parametrize(("actor", "author"), [
    (OWNER_ACTS, "Ann Kim"),
    ({"role": "partner", "user_id": "u-ann"}, "A member of the owner organisation"),
    ({"role": "client", "organization_id": "org-1"}, "The owner organisation"),
])
def test_partner_comment_with_nobody_assigned_reaches_the_secretariat(notifier_app,
                                                                       make_event, actor,
                                                                       author):
    event = make_event(INITIATIVE_COMMENTED, actor=actor, recipients=[ANN])

    rows = _plan(notifier_app, event)

    assert set(rows) - {ANN["email"]} == {SECRETARIAT}
    assert "Could you add the budget?" in rows[SECRETARIAT].body_text
    assert f"{author} commented on the initiative" in rows[SECRETARIAT].body_text


def test_secretariat_comment_goes_to_the_members_only(notifier_app, make_event):
    event = make_event(INITIATIVE_COMMENTED, actor=SECRETARIAT_ACTS, recipients=[ANN, LI])

    assert set(_plan(notifier_app, event)) == {ANN["email"], LI["email"]}


def test_review_assignment_mails_only_the_reviewer_in_their_language(notifier_app,
                                                                      make_event):
    event = make_event(INITIATIVE_REVIEW_ASSIGNED, actor=SECRETARIAT_ACTS,
                       recipients=[{**REVIEWER, "locale": "zh"}],
                       review_url="https://registry.example/secretariat/review/x")

    rows = _plan(notifier_app, event)

    assert set(rows) == {REVIEWER["email"]}
    assert rows[REVIEWER["email"]].subject == "已分配给您：Clean Oceans Alliance"
    assert "https://registry.example/secretariat/review/x" in rows[REVIEWER["email"]].body_text


def test_self_assignment_mails_nobody(notifier_app, make_event):
    event = make_event(INITIATIVE_REVIEW_ASSIGNED, actor=SECRETARIAT_ACTS, recipients=[OFFICER])

    assert _plan(notifier_app, event) == {}


def test_revision_mails_name_the_revision_and_link_its_review_page(notifier_app, make_event):
    event = make_event(INITIATIVE_REVISION_SUBMITTED, actor=OWNER_ACTS, recipients=[ANN, LI],
                       revision={"number": 3, "status": "submitted"})

    rows = _plan(notifier_app, event)

    assert rows[SECRETARIAT].subject == "Revision 3 to review: Clean Oceans Alliance"
    assert f"/secretariat/review/{event.subject}/revisions/3" in rows[SECRETARIAT].body_text
    assert rows[LI["email"]].subject == "第 3 版修订已提交：Clean Oceans Alliance"


@pytest.mark.parametrize("locale", ["fr", "ar", "ru", "es", "de", "../../etc", ""])
def test_other_languages_fall_back_to_english_subjects(notifier_app, make_event, locale):
    event = make_event(INITIATIVE_SUSPENDED, actor=SECRETARIAT_ACTS, comment="Audit.",
                       recipients=[{**ANN, "locale": locale}])

    rows = _plan(notifier_app, event)

    assert rows[ANN["email"]].subject == "Suspended: Clean Oceans Alliance"


@pytest.mark.parametrize("template", sorted(NOTICES))
def test_every_notice_renders_in_english_and_completely_in_chinese(make_event, template):
    event = make_event(INITIATIVE_REVISION_APPROVED, actor=SECRETARIAT_ACTS,
                       comment="A note.")
    context = mail_context(load_data(event.type, event.data), SETTINGS)
    english = render(template, context)
    chinese = render(template, context, locale="zh")

    notice = NOTICES[template]
    assert "Clean Oceans Alliance" in english.subject
    assert CJK.search(chinese.subject) and CJK.search(chinese.text)
    for part in (chinese.text, chinese.html):
        # no English sentence of the notice is left in the Chinese mail
        for msgid in (notice.heading, notice.link_sentence.split("%")[0].strip()):
            assert msgid not in part
    assert '<html lang="zh-Hans"' in chinese.html
    assert "{{" not in english.text and "None" not in english.text


# -- untrusted payloads -------------------------------------------------------------------
@pytest.mark.parametrize("bad_url", ["javascript:alert(1)", "JaVaScRiPt:alert(1)",
                                     "data:text/html,<script>alert(1)</script>",
                                     "https://x.example/\" onmouseover=\"alert(1)",
                                     "//evil.example/x", "ftp://files.example/x",
                                     "https:///nohost", "x" * 3000])
def test_a_url_that_is_not_plain_http_is_never_linked(notifier_app, make_event, bad_url):
    event = make_event(INITIATIVE_COMPLETION_DECLARED, actor=OWNER_ACTS, comment="Done.",
                       recipients=[LI], review_url=bad_url, owner_url=bad_url)

    rows = _plan(notifier_app, event)

    for row in rows.values():
        for part in (row.body_text, row.body_html):
            assert "javascript" not in part.lower() and "data:text" not in part
            assert "onmouseover" not in part and "evil.example" not in part
            assert "ftp://" not in part and "x" * 100 not in part
    # the mails still lead to the right pages, built from PUBLIC_BASE_URL
    assert f"https://registry.example/secretariat/review/{event.subject}" in \
        rows[SECRETARIAT].body_text
    assert f"https://registry.example/my/initiatives/{event.subject}" in \
        rows[LI["email"]].body_text


def test_bad_recipient_addresses_are_recorded_failed_and_the_rest_is_mailed(notifier_app,
                                                                           make_event):
    event = make_event(INITIATIVE_SUSPENDED, actor=SECRETARIAT_ACTS, comment="Audit.",
                       recipients=[{**ANN, "email": "ann@partner.example\r\nBcc: all@x.example"},
                                   {**LI, "email": "no-at-sign"}, REVIEWER])

    rows = _plan(notifier_app, event)

    assert rows[REVIEWER["email"]].status == "pending"
    failed = {r for r, d in rows.items() if d.status == "failed"}
    assert failed == {"ann@partner.example\r\nBcc: all@x.example", "no-at-sign"}
    assert all(rows[r].error == "undeliverable address" and rows[r].body_text is None
               for r in failed)


def test_internal_notes_cannot_be_produced_or_consumed(notifier_app, make_event, to_message):
    entry = {"id": "n-1", "body": "Internal: partner seems unreliable.",
             "visibility": "internal", "reply_to": None}
    good = make_event(INITIATIVE_COMMENTED, actor=SECRETARIAT_ACTS, recipients=[ANN])
    data = load_data(good.type, good.data)

    with pytest.raises(ValidationError) as produced:
        load_data(INITIATIVE_COMMENTED, {**dump_data(good.type, data), "thread_entry": entry})
    assert "thread_entry" in produced.value.messages

    # a forged message on the bus: dead-lettered, nobody mailed
    forged = good.to_dict()
    forged["data"]["thread_entry"] = entry
    bus = InProcessBus()
    workers = start_workers(notifier_app, bus)
    try:
        bus.publish([to_message(forged)])
    finally:
        workers.stop()
    [dead] = bus.dead_letters
    assert b"thread_entry" in dict(dead.headers)["dlt_error"]
    with notifier_app.app_context(), notifier_app.extensions["db_session_factory"]() as s:
        assert s.scalars(select(Delivery)).all() == []


@pytest.mark.parametrize(("change", "error"), [
    (lambda d: d.update(recipients="ann@partner.example"), b"recipients"),
    (lambda d: d.update(recipients=[{"email": "x@y.example", "role": "admin"}]), b"role"),
    (lambda d: d.update(recipients=[{"role": "owner"}]), b"email"),
    (lambda d: d.update(recipients=[{**ANN, "email": "a@b." + "c" * 400}]), b"email"),
    (lambda d: d.update(recipients=[{**ANN, "email": f"m{i}@p.example"}
                                    for i in range(MAX_RECIPIENTS + 1)]), b"recipients"),
    (lambda d: d.pop("thread_entry"), b"thread_entry"),
    (lambda d: d.update(thread_entry={"id": "e", "visibility": "public"}), b"body"),
])
def test_hostile_recipients_or_entries_are_dead_lettered_and_processing_goes_on(
        notifier_app, make_event, to_message, read_mails, change, error):
    bad = make_event(INITIATIVE_COMMENTED, actor=SECRETARIAT_ACTS, recipients=[ANN]).to_dict()
    change(bad["data"])
    good = make_event(INITIATIVE_REINSTATED, actor=SECRETARIAT_ACTS, recipients=[LI])
    bus = InProcessBus()
    workers = start_workers(notifier_app, bus)
    try:
        bus.publish([to_message(bad), to_message(good)])
        assert notifier_app.extensions["notifier_delivery_worker"].wait_idle(30)
    finally:
        workers.stop()

    [dead] = bus.dead_letters
    assert error in dict(dead.headers)["dlt_error"]
    assert sorted(m["To"] for _, m in read_mails()) == [CONTACT, LI["email"]]


def test_revision_event_without_its_revision_is_dead_lettered(notifier_app, make_event,
                                                             to_message):
    bad = make_event(INITIATIVE_REVISION_APPROVED, recipients=[ANN]).to_dict()
    bad["data"]["revision"] = None
    bus = InProcessBus()
    workers = start_workers(notifier_app, bus)
    try:
        bus.publish([to_message(bad)])
    finally:
        workers.stop()

    [dead] = bus.dead_letters
    assert b"has no revision" in dict(dead.headers)["dlt_error"]
