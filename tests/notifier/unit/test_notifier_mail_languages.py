"""E-mails in the recipient's language, from the same gettext catalogues as the pages."""

from __future__ import annotations

from sqlalchemy import select

from notifier.app import build_consumer
from notifier.deliveries.models import Delivery
from notifier.deliveries.rendering import MailSettings, mail_context, render
from shared.events.envelope import new_event
from shared.events.types import (
    INITIATIVE_APPROVED,
    INITIATIVE_CHANGES_REQUESTED,
    INITIATIVE_SUBMITTED,
    dump_data,
    load_data,
)

SETTINGS = MailSettings(mail_from="Partnership Registry <noreply@registry.example>",
                        secretariat_email="secretariat@un.example",
                        public_base_url="https://registry.example/")


def _context(event):
    return mail_context(load_data(event.type, event.data), SETTINGS)


def test_chinese_mail_subject_body_and_lang(make_event):
    event = make_event(INITIATIVE_APPROVED, title="<Reefs> & Co", comment="请补充具体目标。")
    mail = render("approved", _context(event), locale="zh-CN")

    assert mail.subject == "已发布：<Reefs> & Co（PR-2026-00042）"
    assert "您的倡议“<Reefs> & Co”已获秘书处批准" in mail.text
    assert "秘书处的意见" in mail.text and "请勿回复" in mail.text
    assert '<html lang="zh-Hans" dir="ltr">' in mail.html
    assert "您的倡议<strong>&lt;Reefs&gt; &amp; Co</strong>已获秘书处批准" in mail.html
    assert "<Reefs>" not in mail.html


def test_arabic_mail_is_right_to_left_and_falls_back_to_english_per_string(make_event):
    mail = render("changes_requested", _context(make_event(INITIATIVE_CHANGES_REQUESTED)),
                  locale="ar")
    assert '<html lang="ar" dir="rtl">' in mail.html
    assert mail.subject == "Changes requested: Clean Oceans Alliance"  # not yet translated
    assert "طُلبت تعديلات" in mail.text  # the heading is


def test_unknown_or_missing_language_is_english(make_event):
    context = _context(make_event(INITIATIVE_SUBMITTED))
    for locale in (None, "", "de", "xx-YY"):
        mail = render("submitted_contact", context, locale=locale)
        assert mail.subject == "Submitted for review: Clean Oceans Alliance"
        assert '<html lang="en" dir="ltr">' in mail.html


def test_consumer_mails_the_contact_in_their_language_and_the_secretariat_in_english(
        notifier_app, make_event, to_message):
    base = make_event(INITIATIVE_SUBMITTED)
    data = load_data(base.type, base.data) | {"contact_locale": "zh"}
    event = new_event(base.type, source="/registry", subject=base.subject,
                      data=dump_data(base.type, data))

    build_consumer(notifier_app).handle(to_message(event))

    with notifier_app.app_context():
        factory = notifier_app.extensions["db_session_factory"]
        with factory() as session:
            rows = {d.recipient: d for d in session.scalars(select(Delivery))}
    assert rows["contact@example.org"].subject == "已提交审核：Clean Oceans Alliance"
    assert "已提交秘书处审核" in rows["contact@example.org"].body_text
    assert rows["secretariat@un.example"].subject == "Submitted for review: Clean Oceans Alliance"
