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
        """Send over SMTP: a 5xx for it -> DeliveryRefused; anything else -> TransientError."""
        try:
            with self._connect() as smtp:
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(message, from_addr=sender, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()), (None, b""))
            raise _refused_or_transient(code, reply, "recipient refused") from exc
        except smtplib.SMTPAuthenticationError as exc:
            # a configuration problem: retrying lets the operator fix it without losing mail
            raise TransientError(f"SMTP authentication failed: {exc.smtp_code}") from exc
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            raise _refused_or_transient(exc.smtp_code, exc.smtp_error, "message refused") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientError(f"SMTP server unavailable: {exc!r}") from exc

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
