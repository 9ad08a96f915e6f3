"""Mail transports: SMTP (``SMTP_URL``) or, in the embedded mode, ``.eml`` files under VAR_DIR.

``SMTP_URL`` forms::

    smtp://[user:pass@]host[:port]           plain SMTP (default port 25)
    smtp+starttls://[user:pass@]host[:port]  STARTTLS upgrade (default port 587)
    smtps://[user:pass@]host[:port]          implicit TLS (default port 465)

User and password are percent-decoded. Errors are split by what the consumer should do:
:class:`~shared.consumer.TransientError` (server unreachable, 4xx replies, authentication
failure: retry later) and :class:`DeliveryRefused` (5xx for this message: record it as
``failed``, never retry).

A transport sends either an :class:`~email.message.EmailMessage` or the message's bytes as
they go on the wire (RFC 5322, CRLF line endings). The delivery worker hands bytes composed by
:func:`wire_message`: the message :func:`~notifier.deliveries.rendering.build_message` builds,
written straight as bytes — about ten times cheaper than building an ``EmailMessage`` with the
standard library's default policy (which parses every header it is given) and flattening it,
the largest cost per e-mail of a reminder fan-out (``bench/bench_reminders.py``).
"""

from __future__ import annotations

import base64
import logging
import os
import re
import secrets
import smtplib
import ssl
import time
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from notifier.deliveries.rendering import (
    EXTRA_HEADERS,
    LINK_MAX,
    MailSettings,
    RenderedMail,
    one_line,
)
from shared.config import var_dir
from shared.consumer import TransientError

log = logging.getLogger(__name__)

SMTP_TIMEOUT_SECONDS = 30.0
_DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


class DeliveryRefused(Exception):
    """The server refused this message or recipient for good (a 5xx reply); ``code`` is it."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


#: a message as a transport takes it: an ``EmailMessage`` or its wire bytes (CRLF)
Mail = EmailMessage | bytes


class MailTransport(Protocol):
    """Hands one message for one recipient to the outside world."""

    def send(self, message: Mail, *, sender: str, recipient: str, event_id: str) -> None:
        """Deliver ``message`` to ``recipient``; raises TransientError or DeliveryRefused."""


# -- the message as bytes ----------------------------------------------------------------------
_ASCII_LINE_MAX = 78  # RFC 5322 2.1.1: lines SHOULD be at most 78 characters


def wire_message(mail: RenderedMail, *, recipient: str, msg_id: str, settings: MailSettings,
                 headers: dict[str, str] | None = None,
                 now: datetime | None = None) -> bytes | None:
    """The message :func:`~notifier.deliveries.rendering.build_message` builds, as wire bytes
    (RFC 5322 with CRLF line endings), or None when it is not one this function writes (a
    non-ASCII address, a subject that looks like an RFC 2047 encoded word, an unusual
    ``MAIL_FROM``): the caller then builds it with ``build_message``.

    Same headers in the same order (Subject, From, To, Date, Message-ID, Auto-Submitted,
    X-Auto-Response-Suppress, the ``headers`` named in ``rendering.EXTRA_HEADERS`` — a
    reminder's List-Unsubscribe, List-Unsubscribe-Post, List-Id, on one line each, so an
    ASCII value of at most 998 characters with its name — MIME-Version, Content-Type
    ``multipart/alternative``), the text
    part then the HTML part, each ``charset="utf-8"``: ``7bit`` when ASCII with lines of at
    most 78 characters, else ``base64`` of the text with CRLF line breaks (RFC 2045/2049).
    Non-ASCII subjects and display names become RFC 2047 encoded words (``email.header``).
    ``tests/notifier/unit/test_notifier_wire.py`` checks that both parse to the same message.
    """
    if (not (recipient.isascii() and msg_id.isascii()) or "=?" in mail.subject
            or any(c in line for line in (recipient, msg_id, mail.subject) for c in "\r\n")):
        return None
    from_header = _from_header(settings.mail_from)
    if from_header is None:
        return None
    extra = ""
    for name in EXTRA_HEADERS:
        value = (headers or {}).get(name)
        if isinstance(value, str) and value:
            line = f"{name}: {one_line(value, LINK_MAX + 100)}"
            if not line.isascii() or len(line) > 998:
                return None
            extra += line + "\r\n"
    try:
        text = _body_part("plain", mail.text)
        html = _body_part("html", mail.html)
    except UnicodeEncodeError:  # a lone surrogate (stored text has none: storable_text)
        return None
    boundary = "=" * 15 + secrets.token_hex(12) + "=="
    while boundary.encode() in text or boundary.encode() in html:  # pragma: no cover
        boundary = "=" * 15 + secrets.token_hex(12) + "=="
    head = (
        f"Subject: {_subject(mail.subject)}\r\n"
        f"From: {from_header}\r\n"
        f"To: {recipient}\r\n"
        f"Date: {format_datetime(now or datetime.now(UTC))}\r\n"
        f"Message-ID: {msg_id}\r\n"
        "Auto-Submitted: auto-generated\r\n"
        "X-Auto-Response-Suppress: All\r\n"
        f"{extra}"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n'
        "\r\n").encode("ascii")
    delimiter = b"--" + boundary.encode("ascii")
    return b"".join((head, delimiter, b"\r\n", text, b"\r\n", delimiter, b"\r\n", html,
                     b"\r\n", delimiter, b"--\r\n"))


#: raw bytes per RFC 2047 encoded word: 56 base64 characters, 68 with ``=?utf-8?b?``/``?=``
#: (at most 75), so even the first line, after ``Subject: ``, stays within 78
_WORD_BYTES = 42


def _subject(subject: str) -> str:
    """The Subject's value: ASCII folded at spaces within 78-character lines; otherwise
    RFC 2047 ``B`` encoded words of UTF-8 (never splitting a character), one per line."""
    if subject.isascii():
        return _folded(subject, len("Subject: "))
    words: list[bytes] = []
    chunk = b""
    for char in subject:
        encoded = char.encode("utf-8")
        if len(chunk) + len(encoded) > _WORD_BYTES:
            words.append(chunk)
            chunk = b""
        chunk += encoded
    words.append(chunk)
    return "\r\n ".join(f"=?utf-8?b?{base64.b64encode(w).decode('ascii')}?=" for w in words)


def _folded(text: str, used: int) -> str:
    """``text`` folded (CRLF + space before a word) so that lines stay within 78 characters
    where its words allow; ``used``: characters already on the first line. Unfolding
    (RFC 5322 2.2.3) gives ``text`` back."""
    if used + len(text) <= _ASCII_LINE_MAX:
        return text
    lines: list[str] = []
    parts = text.split(" ")
    line, width = parts[0], used + len(parts[0])
    for part in parts[1:]:
        if width + 1 + len(part) > _ASCII_LINE_MAX and line.strip():
            lines.append(line)
            line, width = part, 1 + len(part)
        else:
            line += " " + part
            width += 1 + len(part)
    lines.append(line)
    return "\r\n ".join(lines)


@lru_cache(maxsize=1024)
def _angle_address(address: str) -> str:
    """``<address>`` for MAIL FROM / RCPT TO (``smtplib.quoteaddr``, skipped for a plain
    ``local@domain``: the same result without parsing it per e-mail)."""
    if _PLAIN_ADDRESS.match(address):
        return f"<{address}>"
    return smtplib.quoteaddr(address)


_PLAIN_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+$")


@lru_cache(maxsize=16)
def _from_header(mail_from: str) -> str | None:
    """``MAIL_FROM`` as a From: value (display name encoded when not ASCII); None when it is
    not one ``name <address>`` with an ASCII address."""
    name, address = parseaddr(mail_from)
    if not address or not address.isascii() or "@" not in address or any(
            c in mail_from for c in "\r\n,;"):
        return None
    return formataddr((name, address), charset="utf-8")


def _body_part(subtype: str, content: str) -> bytes:
    """One ``text/<subtype>`` part (headers, blank line, body) with CRLF line endings."""
    lines = content.encode("utf-8", "surrogateescape").splitlines() or [b""]
    if content.isascii() and max(map(len, lines)) <= _ASCII_LINE_MAX:
        cte, body = "7bit", b"\r\n".join(lines) + b"\r\n"
    else:
        cte = "base64"  # 76-character lines (RFC 2045 6.8), CRLF
        body = base64.encodebytes(b"\r\n".join(lines) + b"\r\n").replace(b"\n", b"\r\n")
    return (f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
            f"Content-Transfer-Encoding: {cte}\r\n\r\n").encode("ascii") + body


@dataclass(frozen=True)
class SmtpTransport:
    """SMTP client (``smtplib``), one connection per message, ``timeout`` in seconds."""

    host: str
    port: int
    security: str = "plain"  # "plain" | "starttls" | "tls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = SMTP_TIMEOUT_SECONDS

    def send(self, message: Mail, *, sender: str, recipient: str, event_id: str) -> None:
        """Send over SMTP on a connection of its own: a 5xx for it -> DeliveryRefused;
        anything else -> TransientError."""
        try:
            with self._connect() as smtp:
                if self.username:
                    smtp.login(self.username, self.password or "")
                _submit(smtp, message, sender, recipient)
        except Exception as exc:
            raise _classified(exc) from exc

    def open(self) -> SmtpSession:
        """A :class:`SmtpSession`: one connection for many messages (a worker's pass)."""
        return SmtpSession(self)

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                    context=ssl.create_default_context())
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.security == "starttls":
            try:
                smtp.starttls(context=ssl.create_default_context())
            except BaseException:
                smtp.close()
                raise
        return smtp


def _submit(smtp: smtplib.SMTP, message: Mail, sender: str, recipient: str) -> None:
    """One SMTP transaction (MAIL, RCPT, DATA) on an open connection: pipelined when the
    message is wire bytes and the server offers PIPELINING, else smtplib's own."""
    if isinstance(message, bytes):
        smtp.ehlo_or_helo_if_needed()
        if smtp.has_extn("pipelining"):
            _pipelined(smtp, message, sender, recipient)
        else:
            smtp.sendmail(sender, [recipient], message)
    else:
        smtp.send_message(message, from_addr=sender, to_addrs=[recipient])


_LEADING_DOT = re.compile(rb"(?m)^\.")


def _pipelined(smtp: smtplib.SMTP, data: bytes, sender: str, recipient: str) -> None:
    """RFC 2920 command pipelining: MAIL, RCPT and DATA in one write and their three replies
    read after it, then the message (dot-stuffed, RFC 5321 4.5.2) and its reply — two round
    trips instead of smtplib's four. Raises what ``smtplib.SMTP.sendmail`` raises for the
    same replies (``SMTPSenderRefused``, ``SMTPRecipientsRefused``, ``SMTPDataError``), after
    ending a DATA the server accepted anyway with an empty message and resetting the
    transaction (RSET), so the connection stays usable."""
    smtp.send(f"MAIL FROM:{_angle_address(sender)}\r\n"
              f"RCPT TO:{_angle_address(recipient)}\r\nDATA\r\n")
    mail, rcpt, go = smtp.getreply(), smtp.getreply(), smtp.getreply()
    if mail[0] != 250 or rcpt[0] not in (250, 251) or go[0] != 354:
        if go[0] == 354:  # nothing valid to deliver: end the (empty) message at once
            smtp.send(b".\r\n")
            smtp.getreply()
        with suppress(smtplib.SMTPException, OSError):
            smtp.rset()
        if mail[0] != 250:
            raise smtplib.SMTPSenderRefused(mail[0], mail[1], sender)
        if rcpt[0] not in (250, 251):
            raise smtplib.SMTPRecipientsRefused({recipient: rcpt})
        raise smtplib.SMTPDataError(*go)
    body = _LEADING_DOT.sub(b"..", data)
    smtp.send(body + (b".\r\n" if body.endswith(b"\r\n") else b"\r\n.\r\n"))
    code, reply = smtp.getreply()
    if code != 250:
        with suppress(smtplib.SMTPException, OSError):
            smtp.rset()
        raise smtplib.SMTPDataError(code, reply)


def _classified(exc: Exception) -> Exception:
    """The exception a failed SMTP exchange becomes: DeliveryRefused for a 5xx about this
    message, TransientError otherwise (4xx, authentication, connection problems); other
    exceptions unchanged."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(exc.recipients.values()), (None, b""))
        return _refused_or_transient(code, reply, "recipient refused")
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        # a configuration problem: retrying lets the operator fix it without losing mail
        return TransientError(f"SMTP authentication failed: {exc.smtp_code}")
    if isinstance(exc, smtplib.SMTPSenderRefused | smtplib.SMTPDataError):
        return _refused_or_transient(exc.smtp_code, exc.smtp_error, "message refused")
    if isinstance(exc, smtplib.SMTPException | OSError):
        return TransientError(f"SMTP server unavailable: {exc!r}")
    return exc


class SmtpSession:
    """One SMTP connection reused for consecutive messages (opened on the first send, and
    again after a failure or after ``IDLE_SECONDS`` without use, since servers drop idle
    clients); same errors as :meth:`SmtpTransport.send`. Use as a context manager; not
    thread-safe (one per worker pass)."""

    IDLE_SECONDS = 20.0

    def __init__(self, transport: SmtpTransport):
        self.transport = transport
        self.timeout = transport.timeout
        self._smtp: smtplib.SMTP | None = None
        self._last_used = 0.0

    def __enter__(self) -> SmtpSession:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def send(self, message: Mail, *, sender: str, recipient: str, event_id: str) -> None:
        """Send on the session's connection (see the class)."""
        if self._smtp is not None and time.monotonic() - self._last_used > self.IDLE_SECONDS:
            self.close()
        try:
            if self._smtp is None:
                self._smtp = self.transport._connect()
                if self.transport.username:
                    self._smtp.login(self.transport.username, self.transport.password or "")
            _submit(self._smtp, message, sender, recipient)
        except Exception as exc:
            if not isinstance(exc, smtplib.SMTPRecipientsRefused | smtplib.SMTPSenderRefused |
                              smtplib.SMTPDataError):
                self.close()  # the connection's state is unknown: start afresh next time
            raise _classified(exc) from exc
        finally:
            self._last_used = time.monotonic()

    def close(self) -> None:
        """QUIT (errors ignored) and forget the connection."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()


def _refused_or_transient(code: int | None, reply: bytes | str, what: str) -> Exception:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    detail = f"{what}: {code} {text}"[:1000]
    if code is not None and 500 <= code < 600:
        return DeliveryRefused(detail, code)
    return TransientError(detail)


_UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]")


@dataclass(frozen=True)
class FileTransport:
    """Writes each message as an RFC 5322 ``.eml`` file (CRLF line endings) into ``folder``.

    File name: ``<UTC time YYYYmmddTHHMMSSffffffZ>_<event id>_<recipient>.eml`` with anything
    but ``[A-Za-z0-9@._+-]`` replaced by ``_`` (event ids come from the bus: never trusted).
    """

    folder: Path

    def send(self, message: Mail, *, sender: str, recipient: str, event_id: str) -> None:
        """Write the file atomically (temporary name, then rename); OSError -> TransientError."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        name = f"{stamp}_{_UNSAFE.sub('_', event_id)[:100]}_{_UNSAFE.sub('_', recipient)[:100]}"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            target = self.folder / f"{name}.eml"
            tmp = self.folder / f".{name}.tmp"
            tmp.write_bytes(message if isinstance(message, bytes)
                            else message.as_bytes(policy=policy.SMTP))
            os.replace(tmp, target)
        except OSError as exc:
            raise TransientError(f"cannot write e-mail file: {exc!r}") from exc
        log.info("e-mail written to file", extra={"file": str(target)})


def transport_from_url(url: str | None) -> MailTransport:
    """The transport for ``SMTP_URL``; unset or empty -> :class:`FileTransport` on
    ``VAR_DIR/mail``. Raises ``ValueError`` for an unknown scheme or a missing host."""
    if not url:
        return FileTransport(var_dir() / "mail")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"SMTP_URL scheme must be smtp, smtps or smtp+starttls, not {scheme!r}")
    if not parts.hostname:
        raise ValueError("SMTP_URL has no host")
    security = {"smtp": "plain", "smtp+starttls": "starttls", "smtps": "tls"}[scheme]
    return SmtpTransport(
        host=parts.hostname,
        port=parts.port or _DEFAULT_PORTS[scheme],
        security=security,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )
