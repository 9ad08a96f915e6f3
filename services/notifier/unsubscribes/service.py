"""Leaving a list of e-mails with one click (RFC 8058), and the suppression list behind it.

A reminder's ``List-Unsubscribe`` header and its footer link point at
``PUBLIC_BASE_URL/unsubscribe/<token>``. The token is the proof: an itsdangerous
``URLSafeSerializer`` signature (HMAC-SHA1 over ``{"a": address, "l": list}`` with
``SECRET_KEY`` and the salt :data:`TOKEN_SALT`), so no sign-in and no CSRF token are needed
(RFC 8058 section 3.2: the one-click POST carries no cookie). Tokens do not expire (an
unsubscribe link must work as long as the e-mail is kept); changing ``SECRET_KEY`` voids
them all. The address inside is signed, not encrypted: the link holder sees the address it
was sent to, which is their own.

Honoured at once (:func:`unsubscribe`): the row is committed before the answer, the list's
e-mails still waiting for that address become ``suppressed`` in the same transaction, and the
consumer never plans another one for it (:func:`suppressed_addresses`). Unsubscribing twice
changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from notifier.deliveries.models import Delivery
from notifier.unsubscribes.models import LISTS, VIAS, Unsubscribe
from shared.db import utcnow
from shared.problems import NotFound, ValidationError

#: itsdangerous salt of unsubscribe tokens (a token of another purpose never validates here)
TOKEN_SALT = "notifier.unsubscribe"  # noqa: S105 (a salt, not a secret)
#: the reminders' list (``LISTS``)
PROGRESS_REMINDERS = "progress-reminders"
#: a token longer than this is refused before its signature is even checked
TOKEN_MAX = 1000


@dataclass(frozen=True)
class Subscription:
    """What a valid token names: ``address`` (lower-cased) and ``list_id``; ``unsubscribed_at``
    (UTC) when it already left the list, else None."""

    address: str
    list_id: str
    unsubscribed_at: datetime | None = None


def normalised(address: str) -> str:
    """The form addresses are compared and stored in: stripped, lower-cased."""
    return address.strip().lower()


def _serializer(secret_key: str) -> URLSafeSerializer:
    if not secret_key:
        raise RuntimeError("SECRET_KEY is needed to sign unsubscribe links")
    return URLSafeSerializer(secret_key, salt=TOKEN_SALT)


def make_token(address: str, list_id: str, *, secret_key: str) -> str:
    """The signed, URL-safe token for ``address`` leaving ``list_id`` (one of ``LISTS``;
    ``ValueError`` otherwise). The same inputs always give the same token."""
    if list_id not in LISTS:
        raise ValueError(f"unknown list {list_id!r}")
    return str(_serializer(secret_key).dumps({"a": normalised(address), "l": list_id}))


def read_token(token: str, *, secret_key: str) -> tuple[str, str]:
    """``(address, list_id)`` of a token made by :func:`make_token`; raises
    :class:`~shared.problems.NotFound` for a token that is too long, forged, altered or names
    no known list (never trusted: it arrives in a URL)."""
    if not token or len(token) > TOKEN_MAX:
        raise NotFound("This unsubscribe link is not valid.")
    try:
        payload: Any = _serializer(secret_key).loads(token)
    except BadData:
        raise NotFound("This unsubscribe link is not valid.") from None
    if (not isinstance(payload, dict) or not isinstance(payload.get("a"), str)
            or payload.get("l") not in LISTS or not payload["a"]):
        raise NotFound("This unsubscribe link is not valid.")
    return payload["a"], payload["l"]


def unsubscribe_url(address: str, list_id: str, *, base_url: str, secret_key: str,
                    locale: str | None = None) -> str:
    """``<base_url>/unsubscribe/<token>`` (``?lang=<locale>`` so the page answers in the
    e-mail's language): the link of the footer and of ``List-Unsubscribe``."""
    token = quote(make_token(address, list_id, secret_key=secret_key), safe="")
    url = f"{base_url.rstrip('/')}/unsubscribe/{token}"
    return f"{url}?lang={quote(locale, safe='')}" if locale and locale != "en" else url


def list_headers(address: str, list_id: str, *, base_url: str, secret_key: str,
                 locale: str | None = None) -> dict[str, str]:
    """The header fields of an e-mail of ``list_id`` to ``address``: ``List-Unsubscribe``
    (RFC 2369: the https link in angle brackets), ``List-Unsubscribe-Post:
    List-Unsubscribe=One-Click`` (RFC 8058) and ``List-Id`` (RFC 2919,
    ``<list_id>.<host of base_url>``)."""
    from urllib.parse import urlsplit

    host = urlsplit(base_url).hostname or "localhost"
    url = unsubscribe_url(address, list_id, base_url=base_url, secret_key=secret_key,
                          locale=locale)
    return {"List-Unsubscribe": f"<{url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "List-Id": f"<{list_id}.{host}>"}


def subscription(token: str, *, db_session: Session, secret_key: str) -> Subscription:
    """What ``token`` names and whether it already left the list (the confirmation page);
    raises :class:`~shared.problems.NotFound` for an invalid token."""
    address, list_id = read_token(token, secret_key=secret_key)
    at = db_session.scalar(select(Unsubscribe.created_at).where(
        Unsubscribe.address == address, Unsubscribe.list_id == list_id))
    return Subscription(address, list_id, at)


def _insert_ignoring_duplicates(session: Session):
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(Unsubscribe).on_conflict_do_nothing(
        index_elements=["address", "list_id"])


def unsubscribe(token: str, *, db_session: Session, secret_key: str,
                via: str = "web") -> Subscription:
    """Take the token's address off the token's list, at once, and commit.

    One transaction: the ``unsubscribes`` row (``INSERT … ON CONFLICT DO NOTHING``: a second
    click, or a mail client's one-click POST after the person's own, changes nothing) and the
    list's ``pending`` deliveries to that address made ``suppressed`` (a ``sending`` one is
    already with the SMTP server). Returns the subscription with its (first) unsubscribe
    time. Raises :class:`~shared.problems.NotFound` for an invalid token and ``ValueError`` for
    an unknown ``via``.
    """
    if via not in VIAS:
        raise ValueError(f"unknown via {via!r}")
    address, list_id = read_token(token, secret_key=secret_key)
    now = utcnow()
    db_session.execute(_insert_ignoring_duplicates(db_session).values(
        id=uuid.uuid4(), address=address, list_id=list_id, via=via, created_at=now))
    db_session.execute(
        update(Delivery)
        .where(Delivery.list_id == list_id, Delivery.status == "pending",
               func.lower(Delivery.recipient) == address)
        .values(status="suppressed", next_attempt_at=None,
                error=f"not sent: the address left the list {list_id}")
        .execution_options(synchronize_session=False))
    at = db_session.scalar(select(Unsubscribe.created_at).where(
        Unsubscribe.address == address, Unsubscribe.list_id == list_id))
    db_session.commit()
    return Subscription(address, list_id, at)


def suppressed_addresses(session: Session, list_id: str,
                         addresses: Iterable[str]) -> set[str]:
    """Which of ``addresses`` (compared lower-cased) left ``list_id``: one query."""
    wanted = sorted({normalised(a) for a in addresses if a})
    if not wanted:
        return set()
    return set(session.scalars(select(Unsubscribe.address).where(
        Unsubscribe.list_id == list_id, Unsubscribe.address.in_(wanted))))


# -- operators -------------------------------------------------------------------------------
def list_unsubscribes(*, db_session: Session, list_id: str | None = None,
                      address: str | None = None, limit: int = 1000) -> list[Unsubscribe]:
    """Unsubscribes newest first, optionally of one list (one of ``LISTS``) or one address;
    raises :class:`~shared.problems.ValidationError` for an unknown list."""
    query = select(Unsubscribe).order_by(Unsubscribe.created_at.desc(), Unsubscribe.id)
    if list_id is not None:
        if list_id not in LISTS:
            raise ValidationError(f"unknown list {list_id!r}; one of {', '.join(LISTS)}",
                                  errors=[{"field": "list", "message": "Unknown list."}])
        query = query.where(Unsubscribe.list_id == list_id)
    if address is not None:
        query = query.where(Unsubscribe.address == normalised(address))
    return list(db_session.scalars(query.limit(limit)))


def remove_unsubscribe(address: str, *, db_session: Session,
                       list_id: str = PROGRESS_REMINDERS) -> bool:
    """Subscribe ``address`` to ``list_id`` again (the person asked the secretariat): delete
    its row and commit. Returns False when it was not unsubscribed. E-mails suppressed
    meanwhile stay suppressed (they are not sent late)."""
    if list_id not in LISTS:
        raise ValidationError(f"unknown list {list_id!r}; one of {', '.join(LISTS)}",
                              errors=[{"field": "list", "message": "Unknown list."}])
    row = db_session.scalar(select(Unsubscribe).where(
        Unsubscribe.address == normalised(address), Unsubscribe.list_id == list_id))
    if row is None:
        return False
    db_session.delete(row)
    db_session.commit()
    return True
