"""E-mails about organisations' members: an invitation goes to its recipient, a join request
to the organisation's admins, each in the recipient's language (SQLite, in-process bus,
.eml files)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from notifier.app import start_workers
from shared.bus import InProcessBus
from shared.events.envelope import new_event
from shared.events.types import (
    ORGANIZATION_INVITATION_CREATED,
    ORGANIZATION_JOIN_REQUESTED,
    ORGANIZATION_VERIFIED,
    TOPIC_ORGANIZATIONS,
    dump_data,
    topic_name,
)
from tests.notifier.unit.test_notifier_deliveries import _deliveries, _SettlingBus

ORG = {"id": str(uuid.uuid4()), "name": "Reef Keepers", "acronym": None,
       "stakeholder_group": "ngo", "country": "FJI"}


@pytest.fixture
def bus(notifier_app):
    bus = InProcessBus()
    workers = start_workers(notifier_app, bus)
    yield _SettlingBus(bus, notifier_app)
    workers.stop()


def _event(type_, data):
    return new_event(type_, source="/registry", subject=ORG["id"], data=dump_data(type_, data))


def _invitation(locale: str):
    return _event(ORGANIZATION_INVITATION_CREATED, {
        "recipient": "zhao@reef.test", "locale": locale, "organization": ORG, "role": "admin",
        "inviter": {"email": "ana@reef.test", "display_name": "Ana\u202e Lima",
                    "user_id": None},
        "link": "https://registry.example/organizations/invitations/tok123456789",
        "expires_at": datetime(2026, 12, 16, tzinfo=UTC) + timedelta(hours=1),
        "invitation_id": str(uuid.uuid4())})


@pytest.mark.parametrize(("locale", "subject", "phrase"), [
    ("en", "Invitation to join Reef Keepers", "as an admin"),
    ("zh", "邀请您加入Reef Keepers", "以管理员身份加入"),
    ("fr", "Invitation to join Reef Keepers", "as an admin"),  # no catalogue yet: English
])
def test_invitation_is_mailed_to_its_recipient_in_its_language(bus, to_message, read_mails,
                                                               locale, subject, phrase):
    bus.publish([to_message(_invitation(locale), topic_name(TOPIC_ORGANIZATIONS))])
    [(_path, mail)] = read_mails()
    assert mail["To"] == "zhao@reef.test" and mail["Subject"] == subject
    text = mail.get_body(("plain",)).get_content()
    assert phrase in text
    assert "https://registry.example/organizations/invitations/tok123456789" in text
    html = mail.get_body(("html",)).get_content()
    assert f'lang="{ {"zh": "zh-Hans"}.get(locale, locale) }"' in html


def test_join_request_goes_to_each_admin_once_in_their_language(notifier_app, bus, to_message,
                                                                read_mails):
    event = _event(ORGANIZATION_JOIN_REQUESTED, {
        "organization": ORG, "requester": {"email": "bob@reef.test", "display_name": "Bob",
                                           "user_id": str(uuid.uuid4())},
        "recipients": [{"email": "ana@reef.test", "locale": "zh"},
                       {"email": "ANA@reef.test", "locale": "zh"},
                       {"email": "lee@reef.test", "locale": "en"}],
        "message": "<b>I run the Suva chapter</b>",
        "link": "https://registry.example/my/organizations",
        "join_request_id": str(uuid.uuid4())})
    bus.publish([to_message(event, topic_name(TOPIC_ORGANIZATIONS))])
    mails = {m["To"]: m for _, m in read_mails()}
    assert set(mails) == {"ana@reef.test", "lee@reef.test"}
    assert mails["ana@reef.test"]["Subject"] == "Bob 申请加入Reef Keepers"
    assert mails["lee@reef.test"]["Subject"] == "Bob asks to join Reef Keepers"
    html = mails["lee@reef.test"].get_body(("html",)).get_content()
    assert "&lt;b&gt;I run the Suva chapter&lt;/b&gt;" in html  # escaped
    rows = _deliveries(notifier_app)
    assert {r.template for r in rows} == {"organization_join_request"}
    assert all(r.initiative_id is None and r.status == "sent" for r in rows)


def test_other_organisation_events_mail_nobody(notifier_app, bus, to_message, read_mails):
    event = _event(ORGANIZATION_VERIFIED, {"organization": ORG,
                                           "verified_at": datetime.now(UTC)})
    bus.publish([to_message(event, topic_name(TOPIC_ORGANIZATIONS))])
    assert read_mails() == [] and _deliveries(notifier_app) == []
    assert bus.dead_letters == [] or not any(bus.dead_letters.values())
