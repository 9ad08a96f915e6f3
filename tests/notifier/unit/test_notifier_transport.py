"""Mail transports: SMTP_URL parsing, .eml files, and how SMTP failures are classified."""

from __future__ import annotations

import socket
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from notifier.deliveries.transport import (
    DeliveryRefused,
    FileTransport,
    SmtpTransport,
    transport_from_url,
)
from shared.config import var_dir
from shared.consumer import TransientError


def _message(to: str = "contact@example.org") -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = "Submitted for review: Été"
    msg["From"] = "noreply@registry.example"
    msg["To"] = to
    msg["Message-ID"] = "<abc@registry.example>"
    msg.set_content("plain")
    msg.add_alternative("<p>html</p>", subtype="html")
    return msg


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(("url", "expected"), [
    ("smtp://mail.example:2525", SmtpTransport("mail.example", 2525, "plain")),
    ("smtp://mail.example", SmtpTransport("mail.example", 25, "plain")),
    ("smtps://mail.example", SmtpTransport("mail.example", 465, "tls")),
    ("smtp+starttls://u%40x:p%3Ass@mail.example:587",
     SmtpTransport("mail.example", 587, "starttls", "u@x", "p:ss")),
])
def test_smtp_url_forms(url, expected):
    assert transport_from_url(url) == expected


def test_smtp_password_never_in_repr():
    assert "s3cret" not in repr(transport_from_url("smtp://user:s3cret@mail.example:25"))


@pytest.mark.parametrize("url", ["http://mail.example", "smtp://", "mailto:a@b"])
def test_bad_smtp_url_is_refused(url):
    with pytest.raises(ValueError, match="SMTP_URL"):
        transport_from_url(url)


def test_unset_smtp_url_writes_files_under_var_dir():
    transport = transport_from_url(None)

    assert transport == FileTransport(var_dir() / "mail")


def test_file_transport_writes_one_rfc5322_file_named_after_event_and_recipient(tmp_path):
    FileTransport(tmp_path).send(_message(), sender="noreply@registry.example",
                                 recipient="contact@example.org", event_id="evt-1")

    [eml] = list(tmp_path.glob("*.eml"))
    stamp, rest = eml.name.split("_", 1)
    assert rest == "evt-1_contact@example.org.eml"
    assert stamp.endswith("Z") and "T" in stamp
    raw = eml.read_bytes()
    assert b"\r\n" in raw  # SMTP line endings, as on the wire
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Subject"] == "Submitted for review: Été"
    assert not list(tmp_path.glob(".*.tmp"))


def test_file_name_cannot_escape_the_folder(tmp_path):
    folder = tmp_path / "mail"

    FileTransport(folder).send(_message(), sender="a@b.c", recipient="../../x@y.z",
                               event_id="../../etc/passwd")

    assert [p.parent for p in tmp_path.rglob("*.eml")] == [folder]


def test_unreachable_smtp_server_is_transient():
    transport = SmtpTransport("127.0.0.1", _closed_port(), timeout=2)

    with pytest.raises(TransientError):
        transport.send(_message(), sender="a@registry.example", recipient="b@example.org",
                       event_id="e")


class _Refusing:
    """aiosmtpd handler: refuses recipients starting with "nobody", 451 for "later"."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address.startswith("nobody"):
            return "550 5.1.1 No such user"
        if address.startswith("later"):
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        return "250 OK"


@pytest.fixture
def refusing_smtp():
    from aiosmtpd.controller import Controller

    port = _closed_port()
    controller = Controller(_Refusing(), hostname="127.0.0.1", port=port)
    controller.start()
    yield SmtpTransport("127.0.0.1", port, timeout=5)
    controller.stop()


def test_refused_recipient_is_permanent(refusing_smtp):
    with pytest.raises(DeliveryRefused, match="550") as info:
        refusing_smtp.send(_message("nobody@example.org"), sender="a@registry.example",
                           recipient="nobody@example.org", event_id="e")
    assert info.value.code == 550


def test_temporary_refusal_is_transient(refusing_smtp):
    with pytest.raises(TransientError, match="451"):
        refusing_smtp.send(_message("later@example.org"), sender="a@registry.example",
                           recipient="later@example.org", event_id="e")


def test_smtp_delivery_reaches_the_server(smtp_server):
    transport = transport_from_url(smtp_server.url)

    transport.send(_message(), sender="noreply@registry.example",
                   recipient="contact@example.org", event_id="e")

    [msg] = smtp_server.wait_for(1)
    assert smtp_server.envelopes == [("noreply@registry.example", ["contact@example.org"])]
    assert msg["Message-ID"] == "<abc@registry.example>"
