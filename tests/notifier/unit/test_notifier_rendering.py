"""Rendering of the notifier's e-mails: subjects, both parts, links, escaping, headers."""

from __future__ import annotations

import pytest

from notifier.deliveries.rendering import (
    MailSettings,
    build_message,
    mail_context,
    message_id,
    render,
)
from shared.events.types import (
    INITIATIVE_APPROVED,
    INITIATIVE_CHANGES_REQUESTED,
    INITIATIVE_REJECTED,
    INITIATIVE_SUBMITTED,
    load_data,
)

SETTINGS = MailSettings(mail_from="Partnership Registry <noreply@registry.example>",
                        secretariat_email="secretariat@un.example",
                        public_base_url="https://registry.example/")


def _context(event):
    return mail_context(load_data(event.type, event.data), SETTINGS)


@pytest.mark.parametrize(("type_", "template", "subject"), [
    (INITIATIVE_SUBMITTED, "submitted_contact", "Submitted for review: Clean Oceans Alliance"),
    (INITIATIVE_SUBMITTED, "submitted_secretariat",
     "Submitted for review: Clean Oceans Alliance"),
    (INITIATIVE_APPROVED, "approved", "Published: Clean Oceans Alliance (PR-2026-00042)"),
    (INITIATIVE_CHANGES_REQUESTED, "changes_requested",
     "Changes requested: Clean Oceans Alliance"),
    (INITIATIVE_REJECTED, "rejected", "Not accepted: Clean Oceans Alliance"),
])
def test_each_mail_has_its_subject_and_names_the_initiative(make_event, type_, template,
                                                            subject):
    mail = render(template, _context(make_event(type_)))

    assert mail.subject == subject
    assert "Clean Oceans Alliance" in mail.text
    assert "Clean Oceans Alliance" in mail.html
    assert mail.html.lstrip().startswith("<!DOCTYPE html>")


def test_published_mail_links_to_the_public_page(make_event):
    mail = render("approved", _context(make_event(INITIATIVE_APPROVED,
                                                  public_id="PR-2026-00042")))

    assert "https://registry.example/initiatives/PR-2026-00042" in mail.text
    assert 'href="https://registry.example/initiatives/PR-2026-00042"' in mail.html


def test_secretariat_mail_links_to_the_review_page(make_event):
    """Issue 8: the secretariat's mail leads to the review page (built from PUBLIC_BASE_URL
    when the event carries no ``review_url``), never to the JSON record."""
    event = make_event(INITIATIVE_SUBMITTED, initiative_id="3f0c1d7e-0000-4000-8000-000000000001")

    mail = render("submitted_secretariat", _context(event))

    url = "https://registry.example/secretariat/review/3f0c1d7e-0000-4000-8000-000000000001"
    assert url in mail.text
    assert f'href="{url}"' in mail.html
    assert "/api/v1/" not in mail.text + mail.html


@pytest.mark.parametrize("template", ["changes_requested", "rejected"])
def test_reviewer_comment_is_in_both_parts(make_event, template):
    type_ = INITIATIVE_REJECTED if template == "rejected" else INITIATIVE_CHANGES_REQUESTED
    mail = render(template, _context(make_event(type_, comment="Please add SDG targets.")))

    assert "Please add SDG targets." in mail.text
    assert "Please add SDG targets." in mail.html


def test_no_comment_section_without_a_comment(make_event):
    mail = render("rejected", _context(make_event(INITIATIVE_REJECTED, comment="  ")))

    assert "Comment" not in mail.text
    assert "<blockquote" not in mail.html


def test_user_text_is_escaped_in_html(make_event):
    event = make_event(INITIATIVE_CHANGES_REQUESTED,
                       title='<script>alert("t")</script> & Co',
                       comment='<img src=x onerror="alert(1)">')

    mail = render("changes_requested", _context(event))

    assert "<script>" not in mail.html
    assert "<img" not in mail.html
    assert "&lt;script&gt;alert(&#34;t&#34;)&lt;/script&gt; &amp; Co" in mail.html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in mail.html
    # the plain-text part shows the text as typed
    assert '<script>alert("t")</script> & Co' in mail.text


def test_link_parts_are_percent_encoded(make_event):
    event = make_event(INITIATIVE_APPROVED, public_id='PR-1"><script>x</script>')

    mail = render("approved", _context(event))

    assert "<script>" not in mail.html
    assert "https://registry.example/initiatives/PR-1%22%3E%3Cscript%3Ex%3C%2Fscript%3E" in (
        mail.text)


def test_subject_is_one_line_and_bounded(make_event):
    event = make_event(INITIATIVE_SUBMITTED,
                       title="Line one\r\nBcc: victim@example.org " + "x" * 300)

    mail = render("submitted_contact", _context(event))

    assert "\n" not in mail.subject and "\r" not in mail.subject
    assert len(mail.subject) <= len("Submitted for review: ") + 150
    assert mail.subject.endswith("…")


def test_message_is_multipart_alternative_with_auto_submitted(make_event):
    mail = render("submitted_contact", _context(make_event(INITIATIVE_SUBMITTED)))
    msg = build_message(mail, recipient="contact@example.org",
                        msg_id=message_id("e1", "contact@example.org", SETTINGS),
                        settings=SETTINGS)

    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["From"] == "Partnership Registry <noreply@registry.example>"
    assert msg["To"] == "contact@example.org"
    assert msg["Date"]


def test_message_id_is_deterministic_per_event_and_recipient():
    a = message_id("event-1", "Contact@Example.org", SETTINGS)

    assert a == message_id("event-1", "contact@example.org", SETTINGS)
    assert a != message_id("event-2", "contact@example.org", SETTINGS)
    assert a != message_id("event-1", "secretariat@un.example", SETTINGS)
    assert a.startswith("<") and a.endswith("@registry.example>")
