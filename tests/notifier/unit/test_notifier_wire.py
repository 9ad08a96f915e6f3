"""The delivery worker's wire bytes (``transport.wire_message``) are the message
``rendering.build_message`` builds: same headers, same parts, same decoded text — for ASCII,
Chinese, long lines and odd line endings; and what it does not write it leaves to
``build_message`` (None)."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from notifier.deliveries.rendering import MailSettings, RenderedMail, build_message
from notifier.deliveries.transport import wire_message

SETTINGS = MailSettings("Partnership Registry <noreply@registry.example>",
                        "secretariat@un.example", "https://registry.example")
MSG_ID = "<0123456789abcdef@registry.example>"
#: a reminder's list headers (``unsubscribes.service.list_headers``), plus one not allowed
LIST_HEADERS = {
    "List-Unsubscribe": "<https://registry.example/unsubscribe/" + "eyJhIjoiYiJ9." * 12
                        + "sig?lang=zh>",
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    "List-Id": "<progress-reminders.registry.example>",
    "Bcc": "someone@example.org",
}

MAILS = {
    "ascii": RenderedMail("Progress report due: Clean Oceans (PR-2026-00042)",
                          "Hello,\n\nPlease report: https://registry.example/my/x/progress/new\n",
                          "<p>Hello,</p>\n<p><a href=\"https://registry.example/\">report</a></p>"),
    "chinese": RenderedMail("进展报告到期：清洁海洋联盟 " + "很长的标题" * 20,
                            "您好，\n\n请提交进展报告。\n" + "海洋" * 200 + "\n",
                            "<p>您好，</p><p>请提交进展报告。</p>"),
    "long ascii line": RenderedMail("Due " + "word " * 40, "x" * 300 + "\n.leading dot\n",
                                    "<p>" + "y" * 500 + "</p>"),
    "crlf and cr": RenderedMail("Line endings", "one\r\ntwo\rthree\nfour", "<p>a</p>\r\n"),
    "french name": RenderedMail("Rapport : Été", "Réseau\n", "<p>Réseau</p>"),
    "empty bodies": RenderedMail("Nothing", "", ""),
    "emoji and accents": RenderedMail("Océan 🌊 réseau " * 9, "🌊\n", "<p>🌊</p>"),
    "one long word": RenderedMail("Due:  two  spaces " + "x" * 150, "a\n", "<p>a</p>"),
}


def _parsed(data: bytes):
    return message_from_bytes(data, policy=policy.default)


def _lines(text: str) -> list[str]:
    return text.splitlines()


@pytest.mark.parametrize("name", sorted(MAILS))
@pytest.mark.parametrize("mail_from", [SETTINGS.mail_from,
                                       "海洋登记处 <noreply@registry.example>",
                                       "noreply@registry.example"])
@pytest.mark.parametrize("headers", [None, LIST_HEADERS], ids=["plain", "list headers"])
def test_wire_bytes_parse_to_the_message_build_message_builds(name, mail_from, headers):
    mail = MAILS[name]
    settings = MailSettings(mail_from, SETTINGS.secretariat_email, SETTINGS.public_base_url)
    now = datetime(2026, 12, 2, 14, 30, tzinfo=UTC)

    wire = wire_message(mail, recipient="owner@example.org", msg_id=MSG_ID, settings=settings,
                        headers=headers, now=now)
    built = _parsed(build_message(mail, recipient="owner@example.org", msg_id=MSG_ID,
                                  settings=settings, headers=headers)
                    .as_bytes(policy=policy.SMTP))

    assert wire is not None
    assert all(len(line) <= 998 for line in wire.split(b"\r\n"))  # RFC 5322 2.1.1
    if headers is None and name != "one long word":  # a long URL or word cannot be folded
        head = wire.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        assert all(len(line) <= 78 for line in head)  # RFC 5322: SHOULD
    assert b"\n" not in wire.replace(b"\r\n", b"")  # CRLF only
    got = _parsed(wire)
    assert [k for k in got.keys()] == [k for k in built.keys()]
    for key in got.keys():
        if key == "Date":
            assert got[key].datetime == now
        elif key == "Content-Type":
            assert got.get_content_type() == built.get_content_type() == "multipart/alternative"
        else:
            assert str(got[key]) == str(built[key]), key
    assert [(p.get_content_type(), p.get_content_charset()) for p in got.iter_parts()] == \
        [(p.get_content_type(), p.get_content_charset()) for p in built.iter_parts()]
    for subtype in ("plain", "html"):
        assert _lines(got.get_body((subtype,)).get_content()) == \
            _lines(built.get_body((subtype,)).get_content())
    assert not got.defects and all(not p.defects for p in got.walk())
    assert "Bcc" not in got
    if headers:
        assert got["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


@pytest.mark.parametrize(("recipient", "subject", "mail_from", "headers"), [
    ("用户@example.org", "Due", SETTINGS.mail_from, None),                 # SMTPUTF8 address
    ("owner@example.org", "=?utf-8?b?Zm9v?= forged", SETTINGS.mail_from, None),  # encoded word
    ("owner@example.org", "Two\r\nBcc: x@example.org", SETTINGS.mail_from, None),
    ("owner@example.org", "Due", "Registry <noreply@登记处.example>", None),
    ("owner@example.org", "Due", SETTINGS.mail_from, {"List-Id": "<列表.registry.example>"}),
    ("owner@example.org", "Due", SETTINGS.mail_from, {"List-Id": "<" + "x" * 1200 + ">"}),
])
def test_what_it_does_not_write_is_left_to_build_message(recipient, subject, mail_from,
                                                         headers):
    settings = MailSettings(mail_from, SETTINGS.secretariat_email, SETTINGS.public_base_url)
    mail = RenderedMail(subject, "text", "<p>html</p>")

    assert wire_message(mail, recipient=recipient, msg_id=MSG_ID, settings=settings,
                        headers=headers) is None


def test_each_message_gets_its_own_boundary():
    mail = MAILS["ascii"]
    first, second = (_parsed(wire_message(mail, recipient="a@example.org", msg_id=MSG_ID,
                                          settings=SETTINGS) or b"") for _ in range(2))

    assert first.get_boundary() != second.get_boundary()
