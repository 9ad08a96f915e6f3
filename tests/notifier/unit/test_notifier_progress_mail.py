"""Issue 9's e-mails, planned by the notifier's consumer and sent by its delivery worker (SQLite,
a capturing transport): reminders per owner with RFC 8058 headers and their own unsubscribe
link, suppression honoured at once (even for a reminder already waiting), signed tokens that
cannot be forged, the CLI of the suppression list, the secretariat's weekly digest grouped by
stakeholder group and region without List-Unsubscribe, and the progress report notices that
never reach the actor."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from notifier.app import build_consumer, build_delivery_worker
from notifier.deliveries.digest import grouped
from notifier.deliveries.models import Delivery
from notifier.unsubscribes.service import make_token, read_token
from shared.events import new_event
from shared.events.types import (
    COMPLIANCE_WEEKLY_DIGEST,
    INITIATIVE_PROGRESS_REMINDER_DUE,
    PROGRESS_REPORT_APPROVED,
    PROGRESS_REPORT_CHANGES_REQUESTED,
    PROGRESS_REPORT_SUBMITTED,
    dump_data,
)
from shared.problems import NotFound

CJK = re.compile("[\u4e00-\u9fff]")
ANN = {"email": "ann@partner.example", "locale": "en", "role": "owner", "user_id": "u-ann"}
LI = {"email": "li.a-rather-long-address-for-a-long-token@partner.example", "locale": "zh",
      "role": "owner", "user_id": "u-li"}
REVIEWER = {"email": "rev@un.example", "locale": "en", "role": "reviewer", "user_id": "u-rev"}
WEI = {"email": "wei@un.example", "locale": "zh", "role": "secretariat", "user_id": "u-wei"}
OWNER_ACTS = {"role": "partner", "email": ANN["email"], "name": "Ann Kim", "user_id": "u-ann"}
OFFICER_ACTS = {"role": "secretariat", "email": "officer@un.example", "name": "Wei Officer",
                "user_id": "u-off"}
SECRETARIAT = "secretariat@un.example"


class _Capture:
    """A transport keeping what it was given, parsed (``sent``), and the bytes that would go
    on the wire (``raw``, by recipient): the worker hands an ``EmailMessage`` or wire bytes."""

    def __init__(self):
        self.sent: list[EmailMessage] = []
        self.raw: dict[str, bytes] = {}

    def send(self, message, *, sender, recipient, event_id):
        raw = message if isinstance(message, bytes) else message.as_bytes(
            policy=email_policy.SMTP)
        self.raw[recipient] = raw
        self.sent.append(message_from_bytes(raw, policy=email_policy.default))


def _ref(title: str, group: str | None, countries: list[str], regions: list[str] = (),
         public_id: str = "PR-2017-00001") -> dict:
    return {"id": str(uuid.uuid4()), "public_id": public_id, "title": title,
            "owner_organization_name": "Blue Planet Trust", "stakeholder_group": group,
            "countries": countries, "regions": list(regions), "sdg_goals": [14],
            "url": f"https://registry.example/initiatives/{public_id}"}


def reminder_event(kind: str = "upcoming", recipients=(ANN, LI), iid: str | None = None,
                   **extra):
    iid = iid or str(uuid.uuid4())
    data = {"reminder_id": str(uuid.uuid4()), "kind": kind,
            "initiative": {**_ref("Clean Oceans Alliance", "ngo", ["KEN"]), "id": iid},
            "reporting_status": "green", "anchor_on": date(2025, 3, 31),
            "due_on": date(2026, 3, 31), "recipients": list(recipients),
            "report_url": f"https://registry.example/my/initiatives/{iid}/progress/new", **extra}
    return new_event(INITIATIVE_PROGRESS_REMINDER_DUE, source="/registry", subject=iid,
                     data=dump_data(INITIATIVE_PROGRESS_REMINDER_DUE, data))


def progress_event(type_: str, *, actor: dict, recipients: list[dict], **extra):
    iid, rid = str(uuid.uuid4()), str(uuid.uuid4())
    action, before, after = {
        PROGRESS_REPORT_SUBMITTED: ("submit", "draft", "submitted"),
        PROGRESS_REPORT_APPROVED: ("approve", "submitted", "approved"),
        PROGRESS_REPORT_CHANGES_REQUESTED: ("request_changes", "submitted",
                                            "changes_requested")}[type_]
    now = datetime(2026, 12, 2, 10, tzinfo=UTC)
    data = {"action": action, "from_status": before, "to_status": after,
            "comment": extra.pop("comment", None), "actor": actor,
            "report": {"id": rid, "number": 2, "status": after, "reported_on": date(2026, 12, 1),
                       "overall_status": "on_track", "progress_percent": 60},
            "initiative": {"id": iid, "public_id": "PR-2017-00042", "status": "published",
                           "version": 4, "title": "Clean Oceans Alliance",
                           "contact_email": "contact@example.org",
                           "contact_email_verified": True, "created_at": now,
                           "updated_at": now, "published_at": now},
            "recipients": recipients, **extra}
    return new_event(type_, source="/registry", subject=iid, data=dump_data(type_, data))


def _rows(app) -> list[Delivery]:
    with app.extensions["db_session_factory"]() as s:
        return list(s.scalars(select(Delivery).order_by(Delivery.created_at, Delivery.recipient)))


def _send(app, transport: _Capture | None = None) -> list[EmailMessage]:
    transport = transport or _Capture()
    build_delivery_worker(app, transport).run_once()
    return transport.sent


# -- reminders -------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["upcoming", "due", "yellow", "red", "manual"])
def test_each_reminder_kind_mails_every_owner_in_their_language_with_headers(
        notifier_app, to_message, kind):
    event = reminder_event(kind, recipients=[ANN, LI, REVIEWER])
    build_consumer(notifier_app).handle(to_message(event))
    build_consumer(notifier_app).handle(to_message(event))  # redelivered: nothing more

    transport = _Capture()
    sent = {m["To"]: m for m in _send(notifier_app, transport)}

    assert sorted(sent) == [ANN["email"], LI["email"]]  # owners only, once each
    ann, li = sent[ANN["email"]], sent[LI["email"]]
    assert not CJK.search(ann["Subject"]) and CJK.search(li["Subject"])
    for msg in (ann, li):
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        url = msg["List-Unsubscribe"]
        assert url.startswith("<https://registry.example/unsubscribe/") and url.endswith(">")
        assert url[1:-1] in msg.get_body(("plain",)).get_content()
        assert f'href="{url[1:-1]}"' in msg.get_body(("html",)).get_content()
        assert f"/my/initiatives/{event.subject}/progress/new" in \
            msg.get_body(("plain",)).get_content()
    assert "?lang=zh" in li["List-Unsubscribe"] and "?lang" not in ann["List-Unsubscribe"]
    # on the wire, on ONE line and never RFC 2047-encoded (mail clients would not read it)
    raw = transport.raw[LI["email"]]
    assert f"\r\nList-Unsubscribe: {li['List-Unsubscribe']}\r\n".encode() in raw
    assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in raw


def test_a_manual_reminder_after_the_due_date_says_it_was_due(notifier_app, to_message):
    build_consumer(notifier_app).handle(to_message(reminder_event("manual", recipients=[ANN])))
    build_consumer(notifier_app).handle(to_message(reminder_event(
        "manual", recipients=[LI], due_on=date(2099, 1, 31))))

    sent = {m["To"]: m.get_body(("plain",)).get_content() for m in _send(notifier_app)}

    assert "A progress report was due on March 31, 2026." in sent[ANN["email"]]
    assert "下一份进展报告将于2099年1月31日到期" in sent[LI["email"]]


def test_a_hostile_report_url_is_not_linked_the_form_is(notifier_app, to_message):
    event = reminder_event("due", recipients=[ANN], report_url="javascript:alert(1)")
    build_consumer(notifier_app).handle(to_message(event))

    [msg] = _send(notifier_app)

    text = msg.get_body(("plain",)).get_content()
    assert "javascript" not in text
    assert f"https://registry.example/my/initiatives/{event.subject}/progress/new" in text


def test_one_click_suppresses_waiting_and_later_reminders_at_once(notifier_app, to_message):
    consumer = build_consumer(notifier_app)
    iid = str(uuid.uuid4())
    consumer.handle(to_message(reminder_event("upcoming", iid=iid)))  # planned, not yet sent
    [li_row] = [r for r in _rows(notifier_app) if r.recipient == LI["email"]]
    url = urlsplit(li_row.headers["List-Unsubscribe"][1:-1])
    client = notifier_app.test_client()

    page = client.get(f"{url.path}?{url.query}")
    assert page.status_code == 200 and "退订" in page.get_data(as_text=True)
    assert 'name="List-Unsubscribe" value="One-Click"' in page.get_data(as_text=True)
    clicked = client.post(url.path, data={"List-Unsubscribe": "One-Click"})
    assert clicked.status_code == 200
    assert client.post(url.path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    consumer.handle(to_message(reminder_event("due", iid=iid)))

    assert [m["To"] for m in _send(notifier_app)] == [ANN["email"], ANN["email"]]
    statuses = {(r.template, r.recipient): r.status for r in _rows(notifier_app)}
    assert statuses[("reminder_upcoming", LI["email"])] == "suppressed"
    assert statuses[("reminder_due", LI["email"])] == "suppressed"
    already = client.get(f"{url.path}?{url.query}").get_data(as_text=True)
    assert "不再接收" in already and "<form" not in already.split("<main", 1)[1]


def test_forged_or_altered_tokens_are_refused_without_a_500(notifier_app):
    secret = notifier_app.config["SECRET_KEY"]
    token = make_token("ann@partner.example", "progress-reminders", secret_key=secret)
    assert read_token(token, secret_key=secret) == ("ann@partner.example", "progress-reminders")
    forged = make_token("ann@partner.example", "progress-reminders", secret_key="another key")
    client = notifier_app.test_client()
    assert client.get("/unsubscribe/%00").status_code == 400  # refused before parsing
    for bad in (forged, token[:-2], token + "x", "x" * 2000, "a.b", "e30.abc"):
        with pytest.raises(NotFound):
            read_token(bad, secret_key=secret)
        assert client.get(f"/unsubscribe/{bad}").status_code == 404
        assert client.post(f"/unsubscribe/{bad}").status_code == 404
        answer = client.post(f"/api/v1/unsubscribe/{bad}")
        assert answer.status_code == 404
        assert answer.headers["Content-Type"] == "application/problem+json"


def test_api_unsubscribe_and_the_cli_list_and_remove(notifier_app, to_message, monkeypatch,
                                                     sqlite_url):
    from notifier.cli import cli

    token = make_token("LI@partner.example", "progress-reminders",
                       secret_key=notifier_app.config["SECRET_KEY"])
    client = notifier_app.test_client()
    assert client.get(f"/api/v1/unsubscribe/{token}").json["unsubscribed"] is False
    left = client.post(f"/api/v1/unsubscribe/{token}").json
    assert (left["address"], left["list"], left["unsubscribed"]) == (
        "li@partner.example", "progress-reminders", True)
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", sqlite_url)
    runner = notifier_app.test_cli_runner()

    listed = runner.invoke(cli, ["unsubscribes", "list"])
    assert listed.exit_code == 0 and "progress-reminders\tapi\tli@partner.example" in \
        listed.output
    assert runner.invoke(cli, ["unsubscribes", "remove", "Li@Partner.example"]).exit_code == 0
    again = runner.invoke(cli, ["unsubscribes", "remove", "li@partner.example"])
    assert again.exit_code == 1 and "was not unsubscribed" in again.output
    build_consumer(notifier_app).handle(to_message(reminder_event("due", recipients=[LI])))
    assert [m["To"] for m in _send(notifier_app)] == [LI["email"]]  # subscribed again


# -- the weekly digest -----------------------------------------------------------------------
def test_digest_groups_by_stakeholder_group_then_region():
    sections = grouped([_ref("Mangroves", "ngo", ["KEN", "FJI"], public_id="PR-1"),
                        _ref("Coral", "ngo", ["KEN"], public_id="PR-2"),
                        _ref("Nets", "government", [], public_id="PR-3"),
                        _ref("Global", None, [], ["001"], public_id="PR-4")],
                       lang="en", base_url="https://registry.example")

    assert [(s.label, s.count) for s in sections] == [
        ("Government", 1), ("Non-governmental organization (NGO)", 2),
        ("No stakeholder group", 1)]
    assert [(r.region, [i.title for i in r.initiatives]) for r in sections[1].regions] == [
        ("Africa", ["Coral", "Mangroves"]), ("Oceania", ["Mangroves"])]
    assert [r.region for r in sections[0].regions] == ["No region"]
    assert [r.region for r in sections[2].regions] == ["World"]
    zh = grouped([_ref("Coral", "ngo", ["KEN"])], lang="zh", base_url="https://r.example")
    assert (zh[0].label, zh[0].regions[0].region) == ("非政府组织", "非洲")


def test_digest_goes_to_the_secretariat_without_list_unsubscribe(notifier_app, to_message):
    data = {"digest_id": str(uuid.uuid4()), "week_start": date(2026, 11, 23),
            "week_end": date(2026, 11, 30), "recipients": [WEI, ANN],
            "turned_yellow": [_ref("Mangroves", "ngo", ["KEN"]),
                              _ref("Nets", "government", ["FRA"])],
            "turned_red": [_ref("Old <b>one</b>", "ngo", ["FJI"])],
            "counts": {"green": 1200, "yellow": 35, "red": 7},
            "dashboard_url": "https://registry.example/secretariat/compliance"}
    event = new_event(COMPLIANCE_WEEKLY_DIGEST, source="/registry", subject="compliance-digest",
                      data=dump_data(COMPLIANCE_WEEKLY_DIGEST, data))
    build_consumer(notifier_app).handle(to_message(event))

    sent = {m["To"]: m for m in _send(notifier_app)}

    assert sorted(sent) == [SECRETARIAT, WEI["email"]]  # secretariat role + SECRETARIAT_EMAIL
    english = sent[SECRETARIAT]
    assert english["Subject"] == ("Weekly reporting digest, November 23, 2026 to November 29, "
                                  "2026: 1 turned red, 2 turned yellow")
    assert english["List-Unsubscribe"] is None and english["List-Unsubscribe-Post"] is None
    text = english.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "1,200 green, 35 yellow, 7 red" in text
    red, yellow = text.split("Turned yellow this week")
    assert "Non-governmental organization (NGO) (1)\n  Oceania\n    - Old <b>one</b>" in red
    assert yellow.index("Government (1)\n  Europe\n    - Nets") < yellow.index(
        "Non-governmental organization (NGO) (1)\n  Africa\n    - Mangroves")
    assert "Old &lt;b&gt;one&lt;/b&gt;" in english.get_body(("html",)).get_content()
    assert CJK.search(sent[WEI["email"]]["Subject"])
    assert "大洋洲" in sent[WEI["email"]].get_body(("plain",)).get_content()


# -- progress report notices -----------------------------------------------------------------
def test_submitted_report_tells_the_secretariat_and_reviewer_and_other_members_not_the_actor(
        notifier_app, to_message):
    event = progress_event(PROGRESS_REPORT_SUBMITTED, actor=OWNER_ACTS,
                           recipients=[ANN, LI, REVIEWER])
    build_consumer(notifier_app).handle(to_message(event))

    sent = {m["To"]: m for m in _send(notifier_app)}

    assert sorted(sent) == [LI["email"], REVIEWER["email"], SECRETARIAT]  # not Ann, no contact
    assert sent[SECRETARIAT]["Subject"] == \
        "Progress report 2 to review: Clean Oceans Alliance"
    report_id = event.data["report"]["id"]
    assert (f"Review it: https://registry.example/secretariat/review/progress/{report_id}"
            in sent[REVIEWER["email"]].get_body(("plain",)).get_content())
    assert "Recorded by Ann Kim." in sent[SECRETARIAT].get_body(("plain",)).get_content()
    assert sent[LI["email"]]["Subject"] == "第2份进展报告已提交：Clean Oceans Alliance"
    assert sent[LI["email"]]["List-Unsubscribe"] is None


@pytest.mark.parametrize("type_, subject", [
    (PROGRESS_REPORT_APPROVED, "Progress report 2 approved: Clean Oceans Alliance"),
    (PROGRESS_REPORT_CHANGES_REQUESTED,
     "Changes requested on progress report 2: Clean Oceans Alliance")])
def test_decisions_tell_the_owners_and_the_reviewer_who_did_not_decide(
        notifier_app, to_message, type_, subject):
    event = progress_event(type_, actor=OFFICER_ACTS, comment="Add the 2026 <figures>.",
                           recipients=[ANN, LI, REVIEWER, {**WEI, "email": "officer@un.example",
                                                           "user_id": "u-off"}],
                           owner_url="javascript:alert(1)")
    build_consumer(notifier_app).handle(to_message(event))

    sent = {m["To"]: m for m in _send(notifier_app)}

    assert sorted(sent) == [ANN["email"], LI["email"], REVIEWER["email"]]
    assert sent[ANN["email"]]["Subject"] == subject
    text = sent[ANN["email"]].get_body(("plain",)).get_content()
    assert "Add the 2026 <figures>." in text and "javascript" not in text
    assert f"https://registry.example/my/initiatives/{event.subject}/progress/2" in text
    assert CJK.search(sent[LI["email"]]["Subject"])


def test_a_polled_batch_of_reminders_costs_one_lookup_and_one_insert(notifier_app,
                                                                    to_message):
    from sqlalchemy import event as sa_event

    token = make_token(LI["email"], "progress-reminders",
                       secret_key=notifier_app.config["SECRET_KEY"])
    assert notifier_app.test_client().post(f"/api/v1/unsubscribe/{token}").status_code == 200
    events = [reminder_event(kind) for kind in ("upcoming", "due", "yellow", "red")]
    statements: list[str] = []
    engine = notifier_app.extensions["db_engine"]

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    sa_event.listen(engine, "before_cursor_execute", record)
    try:
        build_consumer(notifier_app).handle_batch([to_message(e) for e in events])
    finally:
        sa_event.remove(engine, "before_cursor_execute", record)

    assert sum(s.startswith("INSERT INTO deliveries") for s in statements) == 1
    assert sum("FROM unsubscribes" in s for s in statements) == 1
    rows = _rows(notifier_app)
    assert len(rows) == 8
    assert {r.status for r in rows if r.recipient == LI["email"]} == {"suppressed"}
    assert {r.status for r in rows if r.recipient == ANN["email"]} == {"pending"}
    assert len(_send(notifier_app)) == 4
