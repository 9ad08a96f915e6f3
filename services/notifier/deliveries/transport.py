"""Mail transports: SMTP (``SMTP_URL``) or, in the embedded mode, ``.eml`` files under VAR_DIR.

``SMTP_URL`` forms::

    smtp://[user:pass@]host[:port]           plain SMTP (default port 25)
    smtp+starttls://[user:pass@]host[:port]  STARTTLS upgrade (default port 587)
    smtps://[user:pass@]host[:port]          implicit TLS (default port 465)

User and password are percent-decoded. Errors are split by what the consumer should do:
:class:`~shared.consumer.TransientError` (server unreachable, 4xx replies, authentication
failure: retry later) and :class:`DeliveryRefused` (5xx for this message: record it as
``failed``, never retry).
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
import ssl
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

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


class MailTransport(Protocol):
    """Hands one message for one recipient to the outside world."""

    def send(self, message: EmailMessage, *, sender: str, recipient: str, event_id: str) -> None:
        """Deliver ``message`` to ``recipient``; raises TransientError or DeliveryRefused."""


@dataclass(frozen=True)
class SmtpTransport:
    """SMTP client (``smtplib``), one connection per message, ``timeout`` in seconds."""

    host: str
    port: int
    security: str = "plain"  # "plain" | "starttls" | "tls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = SMTP_TIMEOUT_SECONDS

    def send(self, message: EmailMessage, *, sender: str, recipient: str, event_id: str) -> None:
        """Send over SMTP on a connection of its own: a 5xx for it -> DeliveryRefused;
        anything else -> TransientError."""
        try:
            with self._connect() as smtp:
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(message, from_addr=sender, to_addrs=[recipient])
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

    def send(self, message: EmailMessage, *, sender: str, recipient: str, event_id: str) -> None:
        """Send on the session's connection (see the class)."""
        if self._smtp is not None and time.monotonic() - self._last_used > self.IDLE_SECONDS:
            self.close()
        try:
            if self._smtp is None:
                self._smtp = self.transport._connect()
                if self.transport.username:
                    self._smtp.login(self.transport.username, self.transport.password or "")
            self._smtp.send_message(message, from_addr=sender, to_addrs=[recipient])
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

    def send(self, message: EmailMessage, *, sender: str, recipient: str, event_id: str) -> None:
        """Write the file atomically (temporary name, then rename); OSError -> TransientError."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        name = f"{stamp}_{_UNSAFE.sub('_', event_id)[:100]}_{_UNSAFE.sub('_', recipient)[:100]}"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            target = self.folder / f"{name}.eml"
            tmp = self.folder / f".{name}.tmp"
            tmp.write_bytes(message.as_bytes(policy=policy.SMTP))
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
