"""Who is told what when an initiative changes state, and the life of each delivery.

Rules (the issue "notify contacts and the secretariat of review steps"):

* ``submitted``          -> the initiative's contact, and the secretariat (``SECRETARIAT_EMAIL``);
* ``approved``           -> the contact ("Published: <title> (<public id>)", link to the page);
* ``changes_requested``  -> the contact, with the reviewer's comment;
* ``rejected``           -> the contact, with the reviewer's comment;
* ``created``, ``updated``, ``imported`` -> nobody (a 2,000-record import must not mail anyone;
  the consumer has no handler for them, so they cost no database work at all).

A null contact e-mail means nobody but the secretariat (on submission); so does one the
registry has not verified (``contact_email_verified`` false in the event: issue 7, no mail to
an address a partner merely typed in).

Delivery (issue 10 "Delivery, redesigned", issue 6 "Faults"): the consumer only DECIDES — in
the transaction of its ``processed_events`` row it writes one ``pending`` delivery per (event,
recipient, channel) with the rendered message (:func:`plan_initiative_event`); it never talks
to SMTP. A delivery worker (``notifier.deliveries.worker``) claims due deliveries
(:func:`claim_due_deliveries`), sends each and records the outcome right after
(:func:`record_sent`, :func:`record_refused`, :func:`record_transient_failure`). A failing
delivery is retried on its own schedule and never holds up the others.

Exactly-once is not possible with SMTP. A delivery is ``sending`` (committed) before its send
and ``sent`` (committed) right after the server accepted it, so nothing accepted is sent again
by this code (the worker writes ``sent`` until the database answers, on a fresh connection if
PostgreSQL cut the old one) — except when the process dies (or is stopped while the database
does not answer) between the server's acceptance and that commit: the claim then expires
(``DELIVERY_CLAIM_SECONDS``) and the message is sent once more, with the same ``Message-ID``
(derived from event id and recipient) so receivers can drop the duplicate. The worker claims
one delivery at a time, so only that one delivery waits for its claim after a crash.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from notifier.deliveries.models import DELIVERY_STATUSES, Delivery
from notifier.deliveries.rendering import (
    MailSettings,
    RenderedMail,
    mail_context,
    message_id,
    render,
    storable_data,
    storable_text,
)
from shared.consumer import EventHandler, PoisonEvent
from shared.db import utcnow
from shared.events.envelope import CloudEvent
from shared.events.types import (
    INITIATIVE_APPROVED,
    INITIATIVE_CHANGES_REQUESTED,
    INITIATIVE_REJECTED,
    INITIATIVE_SUBMITTED,
)
from shared.problems import InvalidTransition, NotFound, ValidationError

log = logging.getLogger(__name__)

CHANNEL_EMAIL = "email"
#: ``session.info`` key set when a transaction wrote new pending deliveries (wakes the worker)
PLANNED_KEY = "notifier.deliveries_planned"
ERROR_MAX = 2000

#: event type -> ((audience, template), ...); audience is "contact" or "secretariat".
NOTIFICATIONS: dict[str, tuple[tuple[str, str], ...]] = {
    INITIATIVE_SUBMITTED: (("contact", "submitted_contact"),
                           ("secretariat", "submitted_secretariat")),
    INITIATIVE_APPROVED: (("contact", "approved"),),
    INITIATIVE_CHANGES_REQUESTED: (("contact", "changes_requested"),),
    INITIATIVE_REJECTED: (("contact", "rejected"),),
}

# a deliverable address: one @, no spaces, quotes, brackets or separators (RFC 5321 max 254)
_ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"\\]+@[^@\s<>()\[\],;:\"\\]+\.[^@\s<>()\[\],;:\"\\]+$")
_LOCAL_ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"\\]+@localhost$")


def is_deliverable_address(address: str) -> bool:
    """True for a plain ``local@domain.tld`` (or ``@localhost``) address of at most 254 chars."""
    return len(address) <= 254 and bool(_ADDRESS.match(address) or _LOCAL_ADDRESS.match(address))


def recipients_for(event_type: str, data: dict[str, Any],
                   settings: MailSettings) -> list[tuple[str, str]]:
    """``[(recipient, template), ...]`` for one event (empty for types that mail nobody).

    The contact comes first; the secretariat is not mailed twice when it is also the contact.
    """
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for audience, template in NOTIFICATIONS.get(event_type, ()):
        if audience == "contact":
            # issue 7: a contact address gets mail only once the registry says it is verified
            # (its holder followed a verification link, or it is a verified account's)
            if not data["initiative"].get("contact_email_verified"):
                continue
            address = (data["initiative"].get("contact_email") or "").strip()
        else:
            address = (settings.secretariat_email or "").strip()
        if not address or address.casefold() in seen:
            continue
        seen.add(address.casefold())
        out.append((address, template))
    return out


# -- the consumer: decide who gets what ------------------------------------------------------
def _insert_ignoring_duplicates(session: Session):
    """``INSERT … ON CONFLICT DO NOTHING`` on (event_id, channel, recipient) for the dialect."""
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(Delivery).on_conflict_do_nothing(
        index_elements=["event_id", "channel", "recipient"])


def plan_initiative_event(session: Session, event: CloudEvent, data: dict[str, Any], *,
                          settings: MailSettings) -> int:
    """Write one delivery per recipient of an initiative event; returns how many rows.

    ``data`` is a loaded ``InitiativeEventData``. Every string of it is made storable first
    (:func:`~notifier.deliveries.rendering.storable_data`: no NUL, control characters or lone
    surrogates; at most 20,000 characters). A deliverable recipient gets a ``pending`` row due
    now with the rendered subject and bodies; an undeliverable address a ``failed`` row
    ("undeliverable address"), never sent. Rows are inserted with ``ON CONFLICT DO NOTHING``
    on (event id, channel, recipient): a redelivered event adds nothing. Does not commit: the
    consumer commits the rows with its ``processed_events`` row. Raises
    :class:`~shared.consumer.PoisonEvent` for an approval without a public id (the registry
    always assigns one).
    """
    if event.type == INITIATIVE_APPROVED and not data["initiative"].get("public_id"):
        raise PoisonEvent("approved initiative has no public_id")
    targets = recipients_for(event.type, data, settings)
    if not targets:
        return 0
    data = storable_data(data)
    context = mail_context(data, settings)
    event_id = storable_text(event.id, 200)
    now = utcnow()
    rows = []
    for recipient, template in targets:
        recipient = storable_text(recipient, 320)
        # the contact in their language (when the registry knows it), the secretariat in English
        locale = None if template == "submitted_secretariat" else data.get("contact_locale")
        mail = render(template, context, locale=locale)
        rows.append(delivery_row(
            event=event, event_id=event_id, recipient=recipient, template=template, mail=mail,
            settings=settings, now=now,
            initiative_id=storable_text(data["initiative"]["id"], 200)))
    insert_deliveries(session, rows)
    log.info("e-mail deliveries planned", extra={"deliveries": len(rows)})
    return len(rows)


def delivery_row(*, event: CloudEvent, event_id: str, recipient: str, template: str,
                 mail: RenderedMail, settings: MailSettings, now: datetime,
                 initiative_id: str | None = None) -> dict[str, Any]:
    """One ``deliveries`` row for an e-mail planned from ``event``: ``pending`` and due now with
    the rendered subject and bodies, or ``failed`` ("undeliverable address", never sent).
    ``recipient`` is already bounded (``storable_text``). Shared by every kind of e-mail
    (initiatives, accounts, organisations)."""
    row: dict[str, Any] = {
        "id": uuid.uuid4(), "event_id": event_id, "event_type": event.type,
        "initiative_id": initiative_id, "channel": CHANNEL_EMAIL, "template": template,
        "recipient": recipient, "subject": mail.subject,
        "message_id": message_id(event.id, recipient, settings), "created_at": now,
        "attempts": 0}
    if is_deliverable_address(recipient):
        row.update(status="pending", body_text=mail.text, body_html=mail.html,
                   next_attempt_at=now, error=None)
    else:
        row.update(status="failed", body_text=None, body_html=None, next_attempt_at=None,
                   error="undeliverable address")
    return row


def insert_deliveries(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert planned delivery rows in the consumer's transaction (Core on the session's
    connection, one executemany, ``ON CONFLICT DO NOTHING`` on (event, channel, recipient), so
    a redelivered event adds nothing) and wake the delivery worker after commit."""
    session.connection().execute(_insert_ignoring_duplicates(session), rows)
    session.info[PLANNED_KEY] = True


def initiative_handlers(*, settings: MailSettings) -> dict[str, EventHandler]:
    """The consumer's handlers: one per event type that mails someone (see ``NOTIFICATIONS``).
    Types without a handler (created/updated/imported) are acknowledged without any work."""

    def handle(session: Session, event: CloudEvent, data: dict[str, Any]) -> None:
        plan_initiative_event(session, event, data, settings=settings)

    return dict.fromkeys(NOTIFICATIONS, handle)


# -- the worker: claim, send, record ----------------------------------------------------------
@dataclass(frozen=True)
class ClaimedDelivery:
    """What a worker needs to send one delivery (a detached copy of the row)."""

    id: uuid.UUID
    event_id: str
    event_type: str
    recipient: str
    subject: str
    body_text: str | None
    body_html: str | None
    message_id: str | None
    attempts: int
    claim_expires_at: datetime


def claim_due_deliveries(conn: Connection, *, limit: int, claim_seconds: float,
                         commit: bool = True) -> list[ClaimedDelivery]:
    """Claim up to ``limit`` due deliveries: ``pending`` ones oldest due first, then claims that
    expired (their worker died mid-send), committed unless ``commit=False``.

    Per status one ``UPDATE … WHERE id IN (SELECT … WHERE status = s AND next_attempt_at <= now
    ORDER BY next_attempt_at LIMIT n FOR UPDATE SKIP LOCKED) RETURNING …`` (the second only
    when the first found fewer than ``limit``): one status per statement so that the index on
    (status, next_attempt_at) yields the rows in order and ``LIMIT`` stops the scan — with
    ``status IN (…)`` every due row was read and sorted per claim, which made claiming one
    delivery at a time cost O(backlog). Each row becomes ``sending`` with ``attempts + 1`` and
    its claim expiring ``claim_seconds`` from now (stored in ``next_attempt_at``). On
    PostgreSQL concurrent workers (threads or notifier processes) skip each other's rows;
    SQLite serialises writers (``BEGIN IMMEDIATE``). ``conn`` is a Core connection;
    ``commit=False`` leaves the commit to the caller (the worker commits a delivery's outcome
    and the next claim together).
    """
    now = utcnow()
    expires = now + timedelta(seconds=claim_seconds)
    claimed: list[ClaimedDelivery] = []
    for status in ("pending", "sending"):
        if len(claimed) >= limit:
            break
        due = (select(Delivery.id)
               .where(Delivery.status == status, Delivery.next_attempt_at <= now)
               .order_by(Delivery.next_attempt_at).limit(limit - len(claimed))
               .with_for_update(skip_locked=True).scalar_subquery())
        rows = conn.execute(
            update(Delivery).where(Delivery.id.in_(due))
            .values(status="sending", attempts=Delivery.attempts + 1, next_attempt_at=expires)
            .returning(Delivery.id, Delivery.event_id, Delivery.event_type, Delivery.recipient,
                       Delivery.subject, Delivery.body_text, Delivery.body_html,
                       Delivery.message_id, Delivery.attempts)).all()
        claimed.extend(ClaimedDelivery(*row, claim_expires_at=expires) for row in rows)
    if commit:
        conn.commit()
    return claimed


def _finish(conn: Connection, delivery_id: uuid.UUID, *, commit: bool = True,
            **values: Any) -> None:
    """Set the outcome of a claimed delivery (only while it is still ``sending``): one
    statement, committed unless ``commit=False`` (the caller commits)."""
    conn.execute(update(Delivery)
                 .where(Delivery.id == delivery_id, Delivery.status == "sending")
                 .values(**values))
    if commit:
        conn.commit()


def record_sent(conn: Connection, delivery_id: uuid.UUID, *, commit: bool = True) -> None:
    """The server accepted it: ``sent`` with ``sent_at`` now (committed unless told not to)."""
    _finish(conn, delivery_id, status="sent", sent_at=utcnow(), error=None,
            next_attempt_at=None, commit=commit)


def record_refused(conn: Connection, delivery_id: uuid.UUID, error: str, *,
                   commit: bool = True) -> None:
    """Refused for good (5xx, or the message could not be built): ``failed``, never retried."""
    _finish(conn, delivery_id, status="failed", error=error[:ERROR_MAX], next_attempt_at=None,
            commit=commit)


def record_transient_failure(conn: Connection, claimed: ClaimedDelivery, error: str, *,
                             max_attempts: int, delay_seconds: float,
                             commit: bool = True) -> str:
    """A temporary failure (4xx, server unreachable): back to ``pending``, due in
    ``delay_seconds``, or ``dead`` when this was attempt ``max_attempts``. Returns the status."""
    if claimed.attempts >= max_attempts:
        _finish(conn, claimed.id, status="dead", error=error[:ERROR_MAX], next_attempt_at=None,
                commit=commit)
        return "dead"
    _finish(conn, claimed.id, status="pending", error=error[:ERROR_MAX],
            next_attempt_at=utcnow() + timedelta(seconds=delay_seconds), commit=commit)
    return "pending"


def release_claims(conn: Connection, ids: list[uuid.UUID]) -> None:
    """Give back claimed deliveries that were not tried (due now, the attempt not counted)."""
    if not ids:
        return
    conn.execute(update(Delivery)
                 .where(Delivery.id.in_(ids), Delivery.status == "sending")
                 .values(status="pending", attempts=Delivery.attempts - 1,
                         next_attempt_at=utcnow()))
    conn.commit()


def next_due_at(session_factory: sessionmaker[Session]) -> datetime | None:
    """When the next pending delivery (or claim expiry) is due; None when there is none."""
    with session_factory() as session:
        return session.scalar(select(func.min(Delivery.next_attempt_at))
                              .where(Delivery.status.in_(("pending", "sending"))))


# -- operators: list and retry ---------------------------------------------------------------
def list_deliveries(*, db_session: Session, status: str | None = None,
                    limit: int = 100) -> list[Delivery]:
    """Deliveries newest first, optionally of one status (one of ``DELIVERY_STATUSES``);
    raises :class:`~shared.problems.ValidationError` for another status."""
    query = select(Delivery).order_by(Delivery.created_at.desc(), Delivery.id).limit(limit)
    if status is not None:
        if status not in DELIVERY_STATUSES:
            raise ValidationError(f"unknown status {status!r}; one of "
                                  f"{', '.join(DELIVERY_STATUSES)}")
        query = query.where(Delivery.status == status)
    return list(db_session.scalars(query))


def retry_delivery(delivery_id: str, *, db_session: Session) -> Delivery:
    """Make a ``dead``, ``failed`` or ``pending`` delivery due now with a fresh attempt budget
    (``attempts`` 0) and commit; returns it.

    Raises :class:`~shared.problems.NotFound` for an unknown id (or one that is not a UUID) and
    :class:`~shared.problems.InvalidTransition` for a ``sent`` one (it would be a second
    message) or a ``sending`` one (in flight). A ``failed`` row without a rendered body (an
    undeliverable address, or written before the delivery queue existed) cannot be retried
    either.
    """
    try:
        key = uuid.UUID(delivery_id)
    except ValueError:
        raise NotFound(f"no delivery {delivery_id!r}") from None
    delivery = db_session.get(Delivery, key, with_for_update=True)
    if delivery is None:
        raise NotFound(f"no delivery {delivery_id!r}")
    if delivery.status in ("sent", "sending"):
        raise InvalidTransition(f"delivery {delivery_id} is {delivery.status}: not retried")
    if delivery.body_text is None:
        raise InvalidTransition(f"delivery {delivery_id} has no rendered message "
                                f"({delivery.error or 'never rendered'}): not retried")
    delivery.status = "pending"
    delivery.attempts = 0
    delivery.next_attempt_at = utcnow()
    db_session.commit()
    return delivery


def delivery_counts(*, db_session: Session) -> dict[str, int]:
    """Deliveries per status (every status present)."""
    counts = dict.fromkeys(DELIVERY_STATUSES, 0)
    for status, count in db_session.execute(
            select(Delivery.status, func.count()).group_by(Delivery.status)):
        counts[status] = int(count)
    return counts

