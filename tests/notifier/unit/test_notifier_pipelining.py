"""SMTP command pipelining (RFC 2920) of the worker's session, against a real aiosmtpd server
that offers PIPELINING: messages arrive whole (dot-stuffed lines intact), refusals are
classified as without pipelining (5xx: DeliveryRefused, 4xx: TransientError) and the same
connection goes on sending after one."""

from __future__ import annotations

import smtplib
import socket
from email import message_from_bytes, policy

import pytest

from notifier.deliveries.rendering import MailSettings, RenderedMail
from notifier.deliveries.transport import DeliveryRefused, SmtpTransport, wire_message
from shared.consumer import TransientError

SETTINGS = MailSettings("Partnership Registry <noreply@registry.example>",
                        "secretariat@un.example", "https://registry.example")


class _Pipelining:
    """aiosmtpd handler: offers PIPELINING; refuses "nobody" (550) and "later" (451)."""

    def __init__(self):
        self.received: list[tuple[str, list[str], bytes]] = []
        self.sessions: set[int] = set()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address.startswith("nobody"):
            return "550 5.1.1 No such user"
        if address.startswith("later"):
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.sessions.add(id(session))
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos),
                              envelope.original_content))
        return "250 OK"


@pytest.fixture
def server():
    from aiosmtpd.controller import Controller

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    handler = _Pipelining()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield SmtpTransport("127.0.0.1", port, timeout=5), handler
    controller.stop()


def _wire(recipient: str, text: str = "Hello\n.leading dot\n..two dots\n") -> bytes:
    data = wire_message(RenderedMail("Progress report due", text, "<p>Hello</p>"),
                        recipient=recipient, msg_id=f"<{recipient}@registry.example>",
                        settings=SETTINGS)
    assert data is not None
    return data


@pytest.fixture
def no_plain_sendmail(monkeypatch):
    """The pipelined path must not fall back to smtplib's four round trips."""
    def refuse(*_a, **_kw):
        raise AssertionError("smtplib's sendmail used although the server pipelines")

    monkeypatch.setattr(smtplib.SMTP, "sendmail", refuse)


def test_pipelined_messages_arrive_whole_on_one_connection(server, no_plain_sendmail):
    transport, handler = server

    with transport.open() as session:
        for i in range(3):
            session.send(_wire(f"owner{i}@example.org"), sender=SETTINGS.sender,
                         recipient=f"owner{i}@example.org", event_id="e")

    assert [(f, r) for f, r, _ in handler.received] == [
        ("noreply@registry.example", [f"owner{i}@example.org"]) for i in range(3)]
    assert len(handler.sessions) == 1
    msg = message_from_bytes(handler.received[0][2], policy=policy.default)
    assert msg.get_body(("plain",)).get_content().splitlines() == [
        "Hello", ".leading dot", "..two dots"]


@pytest.mark.parametrize(("recipient", "error", "code"), [
    ("nobody@example.org", DeliveryRefused, 550), ("later@example.org", TransientError, 451)])
def test_a_refused_recipient_is_classified_and_the_connection_goes_on(
        server, no_plain_sendmail, recipient, error, code):
    transport, handler = server

    with transport.open() as session:
        with pytest.raises(error, match=str(code)):
            session.send(_wire(recipient), sender=SETTINGS.sender, recipient=recipient,
                         event_id="e")
        session.send(_wire("owner@example.org"), sender=SETTINGS.sender,
                     recipient="owner@example.org", event_id="e")

    assert [r for _, r, _ in handler.received] == [["owner@example.org"]]
    assert len(handler.sessions) == 1
