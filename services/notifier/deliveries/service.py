"""Who is told what when an initiative changes state, and the life of each delivery.

Audiences (issue 8 "Events and notifications"; table per event type in :data:`NOTIFICATIONS`
and in the README, "Who is told what"):

* ``contact`` — the initiative's contact address, only when the registry says it is verified
  (``contact_email_verified``, issue 7), in ``contact_locale``;
* ``owners`` — the event's ``recipients`` with role ``owner`` (the owner organisation's
  verified members), each in their own ``locale``; links go to ``owner_url``;
* ``staff`` — the event's ``recipients`` with role ``reviewer`` (the assigned reviewer) or
  ``secretariat``, each in their own ``locale``; links go to ``review_url``;
* ``secretariat`` — ``SECRETARIAT_EMAIL`` (English), for what the secretariat must act on:
  submissions, revisions and completion declarations;
* ``secretariat_unheard`` — ``SECRETARIAT_EMAIL`` for a partner's comment that names no
  staff recipient (nobody assigned yet), so no question goes unread.

Nobody is told of their own step: a recipient whose ``user_id`` or address is the actor's
(``actor.user_id`` / ``actor.email``) is left out, whichever audience they are in. An address
gets one e-mail per event (the first audience wins; ``contact`` comes first). Languages: a
supported language (en, zh, and the started ar/fr/ru/es, English per string they lack) or
English. ``created``, ``updated``, ``imported`` mail nobody (a 2,000-record import must not
mail anyone; the consumer has no handler for them, so they cost no database work at all).

Untrusted input: every string is made storable first (``storable_data``); ``review_url`` /
``owner_url`` are linked only when plain http(s) (``rendering.safe_link``, else the page
built from ``PUBLIC_BASE_URL``); an address that is not deliverable gets a ``failed`` row,
never a send. Poison (dead-letter topic): an approval without a public id, a
``revision-*`` event without ``revision``, a ``commented`` event without ``thread_entry``,
more than :data:`MAX_RECIPIENTS` recipients. Internal notes cannot arrive: the event schema
only admits ``public`` and ``participants`` thread entries (else the payload is invalid and
dead-lettered). Cost: no database read; one render per (template, language), one INSERT.

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
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Integer, bindparam, func, select, update
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
    INITIATIVE_ARCHIVED,
    INITIATIVE_CHANGES_REQUESTED,
    INITIATIVE_COMMENTED,
    INITIATIVE_COMPLETED,
    INITIATIVE_COMPLETION_DECLARED,
    INITIATIVE_COMPLETION_DECLINED,
    INITIATIVE_REINSTATED,
    INITIATIVE_REJECTED,
    INITIATIVE_REVIEW_ASSIGNED,
    INITIATIVE_REVISION_APPROVED,
    INITIATIVE_REVISION_CHANGES_REQUESTED,
    INITIATIVE_REVISION_REJECTED,
    INITIATIVE_REVISION_SUBMITTED,
    INITIATIVE_SUBMITTED,
    INITIATIVE_SUSPENDED,
    INITIATIVE_WITHDRAWN,
)
from shared.i18n import DEFAULT_LANGUAGE, supported_language
from shared.problems import InvalidTransition, NotFound, ValidationError

log = logging.getLogger(__name__)

CHANNEL_EMAIL = "email"
#: ``session.info`` key set when a transaction wrote new pending deliveries (wakes the worker)
PLANNED_KEY = "notifier.deliveries_planned"
ERROR_MAX = 2000

Route = tuple[tuple[str, str], ...]


def _owner_side(owner_template: str, staff_template: str) -> Route:
    """A secretariat decision: the contact and the owner organisation are told, and the
    assigned reviewer when someone else took it."""
    return (("contact", owner_template), ("owners", owner_template), ("staff", staff_template))


def _secretariat_side(owner_template: str, staff_template: str) -> Route:
    """An owner's request the secretariat must act on: its address and the assigned
    reviewer get the review link; the contact and the other members are told it was sent."""
    return (("contact", owner_template), ("owners", owner_template),
            ("secretariat", staff_template), ("staff", staff_template))


#: event type -> ((audience, template), ...) in order (the first audience of an address
#: wins). Audiences: see the module docstring; templates: ``rendering.SUBJECTS``.
NOTIFICATIONS: dict[str, Route] = {
    INITIATIVE_SUBMITTED: _secretariat_side("submitted_contact", "submitted_secretariat"),
    INITIATIVE_APPROVED: _owner_side("approved", "approved_staff"),
    INITIATIVE_CHANGES_REQUESTED: _owner_side("changes_requested", "changes_requested_staff"),
    INITIATIVE_REJECTED: _owner_side("rejected", "rejected_staff"),
    INITIATIVE_COMPLETION_DECLARED: _secretariat_side("completion_declared_owner",
                                                      "completion_declared_secretariat"),
    INITIATIVE_COMPLETION_DECLINED: _owner_side("completion_declined",
                                                "completion_declined_staff"),
    INITIATIVE_COMPLETED: _owner_side("completed", "completed_staff"),
    INITIATIVE_ARCHIVED: _owner_side("archived", "archived_staff"),
    # the owner withdraws: the other members and the contact, and the assigned reviewer
    INITIATIVE_WITHDRAWN: _owner_side("withdrawn", "withdrawn_staff"),
    INITIATIVE_SUSPENDED: _owner_side("suspended", "suspended_staff"),
    INITIATIVE_REINSTATED: _owner_side("reinstated", "reinstated_staff"),
    INITIATIVE_REVISION_SUBMITTED: _secretariat_side("revision_submitted_owner",
                                                     "revision_submitted_secretariat"),
    INITIATIVE_REVISION_APPROVED: _owner_side("revision_approved", "revision_approved_staff"),
    INITIATIVE_REVISION_CHANGES_REQUESTED: _owner_side("revision_changes_requested",
                                                       "revision_changes_requested_staff"),
    INITIATIVE_REVISION_REJECTED: _owner_side("revision_rejected", "revision_rejected_staff"),
    # a comment goes to "the other side" the registry names (never the contact: the thread
    # is the participants'); a partner's question with nobody assigned to the secretariat
    INITIATIVE_COMMENTED: (("owners", "commented_owner"), ("staff", "commented_staff"),
                           ("secretariat_unheard", "commented_staff")),
    INITIATIVE_REVIEW_ASSIGNED: (("staff", "review_assigned"),),
}
#: the event types about a revision (``data.revision`` required)
REVISION_EVENTS = frozenset((INITIATIVE_REVISION_SUBMITTED, INITIATIVE_REVISION_APPROVED,
                             INITIATIVE_REVISION_CHANGES_REQUESTED,
                             INITIATIVE_REVISION_REJECTED))
#: most people an event may name in ``recipients`` (an organisation's members and a
#: reviewer); more is a producer bug or an attack and the event is dead-lettered
MAX_RECIPIENTS = 500
#: roles of ``recipients`` on the staff side
STAFF_ROLES = ("reviewer", "secretariat")


@dataclass(frozen=True)
class Target:
    """One planned e-mail: ``address``, ``template`` and the language to write it in
    (``locale``: a code for ``rendering.render``; None: English)."""

    address: str
    template: str
    locale: str | None


# a deliverable address: one @, no spaces, quotes, brackets or separators (RFC 5321 max 254)
_ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"\\]+@[^@\s<>()\[\],;:\"\\]+\.[^@\s<>()\[\],;:\"\\]+$")
_LOCAL_ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"\\]+@localhost$")


def is_deliverable_address(address: str) -> bool:
    """True for a plain ``local@domain.tld`` (or ``@localhost``) address of at most 254 chars."""
    return len(address) <= 254 and bool(_ADDRESS.match(address) or _LOCAL_ADDRESS.match(address))


def _audience(audience: str, data: dict[str, Any],
              settings: MailSettings) -> list[tuple[str, str | None]]:
    """``[(address, locale), ...]`` of one audience for one event (see the module docstring)."""
    if audience == "contact":
        # issue 7: a contact address gets mail only once the registry says it is verified
        # (its holder followed a verification link, or it is a verified account's)
        if not data["initiative"].get("contact_email_verified"):
            return []
        return [(data["initiative"].get("contact_email") or "", data.get("contact_locale"))]
    if audience == "secretariat":
        return [(settings.secretariat_email or "", None)]
    recipients = data.get("recipients") or []
    if audience == "owners":
        return [(r["email"], r.get("locale")) for r in recipients if r["role"] == "owner"]
    staff = [(r["email"], r.get("locale")) for r in recipients if r["role"] in STAFF_ROLES]
    if audience == "staff":
        return staff
    if audience == "secretariat_unheard":
        actor_role = (data.get("actor") or {}).get("role")
        return [] if staff or actor_role == "secretariat" else [
            (settings.secretariat_email or "", None)]
    raise KeyError(audience)


def recipients_for(event_type: str, data: dict[str, Any], settings: MailSettings,
                   routes: dict[str, Route] | None = None) -> list[Target]:
    """The e-mails one initiative event asks for, as :class:`Target` s in the order of
    ``routes`` (default :data:`NOTIFICATIONS`; empty for types that mail nobody).

    One per address (compared case-insensitively; the first audience wins); never to the
    actor (``actor.user_id`` matching a recipient's ``user_id``, or ``actor.email`` the
    address); empty addresses skipped. ``data`` is a loaded ``InitiativeEventData``.
    """
    actor = data.get("actor") or {}
    actor_user = (actor.get("user_id") or "").strip().casefold()
    actor_email = (actor.get("email") or "").strip().casefold()
    acting = {r["email"].strip().casefold() for r in data.get("recipients") or []
              if actor_user and (r.get("user_id") or "").strip().casefold() == actor_user}
    if actor_email:
        acting.add(actor_email)
    out: list[Target] = []
    seen: set[str] = set()
    for audience, template in (NOTIFICATIONS if routes is None else routes).get(event_type,
                                                                                 ()):
        if event_type == INITIATIVE_REVIEW_ASSIGNED and (data.get("revision") or None):
            template = "revision_review_assigned"
        for address, locale in _audience(audience, data, settings):
            address = address.strip()
            key = address.casefold()
            if not address or key in seen or key in acting:
                continue
            seen.add(key)
            out.append(Target(address, template, locale))
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
    always assigns one), a revision event without ``revision``, a comment without
    ``thread_entry`` and more than :data:`MAX_RECIPIENTS` recipients. Who gets what:
    :func:`recipients_for`; one render per (template, language), no database read.
    """
    if event.type == INITIATIVE_APPROVED and not data["initiative"].get("public_id"):
        raise PoisonEvent("approved initiative has no public_id")
    if event.type in REVISION_EVENTS and not data.get("revision"):
        raise PoisonEvent(f"{event.type} has no revision")
    if event.type == INITIATIVE_COMMENTED and not data.get("thread_entry"):
        raise PoisonEvent("commented event has no thread_entry")
    if len(data.get("recipients") or ()) > MAX_RECIPIENTS:
        raise PoisonEvent(f"more than {MAX_RECIPIENTS} recipients")
    data = storable_data(data)
    targets = recipients_for(event.type, data, settings)
    if not targets:
        return 0
    context = mail_context(data, settings)
    event_id = storable_text(event.id, 200)
    initiative_id = storable_text(data["initiative"]["id"], 200)
    now = utcnow()
    rows = []
    rendered: dict[tuple[str, str | None], RenderedMail] = {}
    for target in targets:
        recipient = storable_text(target.address, 320)
        # one render per (template, language): recipients of one side share the message
        key = (target.template, supported_language(target.locale) or DEFAULT_LANGUAGE)
        mail = rendered.get(key)
        if mail is None:
            mail = rendered[key] = render(target.template, context, locale=key[1])
        rows.append(delivery_row(
            event=event, event_id=event_id, recipient=recipient, template=target.template,
            mail=mail, settings=settings, now=now, initiative_id=initiative_id))
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
    #: extra header fields (``Delivery.headers``: List-Unsubscribe of a reminder), or None
    headers: dict[str, str] | None = None
    #: when it was due before this claim (PostgreSQL claims only; the next claim of the same
    #: worker starts its index scan there: :func:`record_sent_and_claim_next`)
    due_at: datetime | None = None


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
        if limit == 1 and conn.dialect.name == "postgresql":  # a worker's: with due_at
            rows = conn.execute(_CLAIM_AFTER[status], {"now": now, "expires": expires,
                                                       "after": _EVER}).all()
        else:
            rows = conn.execute(_CLAIM[status], {"now": now, "expires": expires,
                                                 "limit": limit - len(claimed)}).all()
        claimed.extend(_claimed(row, expires) for row in rows)
    if commit:
        conn.commit()
    return claimed


def _claim_statement(status: str):
    """``UPDATE … RETURNING`` claiming up to ``:limit`` rows of ``status`` due at ``:now``,
    their claim expiring at ``:expires`` (see :func:`claim_due_deliveries`). Built once per
    status: a statement object reused keeps SQLAlchemy's cache key and compiled form, and
    psycopg prepares it on the server after a few executions."""
    due = (select(Delivery.id)
           .where(Delivery.status == status, Delivery.next_attempt_at <= bindparam("now"))
           .order_by(Delivery.next_attempt_at).limit(bindparam("limit", type_=Integer))
           .with_for_update(skip_locked=True).scalar_subquery())
    return (update(Delivery).where(Delivery.id.in_(due))
            .values(status="sending", attempts=Delivery.attempts + 1,
                    next_attempt_at=bindparam("expires"))
            .returning(Delivery.id, Delivery.event_id, Delivery.event_type, Delivery.recipient,
                       Delivery.subject, Delivery.body_text, Delivery.body_html,
                       Delivery.message_id, Delivery.attempts, Delivery.headers))


_CLAIM = {status: _claim_statement(status) for status in ("pending", "sending")}


def _claim_after_statement(status: str):
    """PostgreSQL: like :func:`_claim_statement` for one row due at or after ``:after`` (a
    keyset bound), also returning when it was due (``UPDATE … FROM``: the old value)."""
    due = (select(Delivery.id, Delivery.next_attempt_at)
           .where(Delivery.status == status, Delivery.next_attempt_at <= bindparam("now"),
                  Delivery.next_attempt_at >= bindparam("after"))
           .order_by(Delivery.next_attempt_at).limit(1)
           .with_for_update(skip_locked=True).subquery("due"))
    return (update(Delivery).where(Delivery.id == due.c.id)
            .values(status="sending", attempts=Delivery.attempts + 1,
                    next_attempt_at=bindparam("expires"))
            .returning(Delivery.id, Delivery.event_id, Delivery.event_type, Delivery.recipient,
                       Delivery.subject, Delivery.body_text, Delivery.body_html,
                       Delivery.message_id, Delivery.attempts, Delivery.headers,
                       due.c.next_attempt_at))


_CLAIM_AFTER = {status: _claim_after_statement(status) for status in ("pending", "sending")}
#: record ``:sent_id`` sent (a data-modifying WITH) and claim one pending delivery due at or
#: after ``:after``
_RECORD_SENT_AND_CLAIM = _CLAIM_AFTER["pending"].add_cte(
    update(Delivery)
    .where(Delivery.id == bindparam("sent_id"), Delivery.status == "sending")
    .values(status="sent", sent_at=bindparam("now"), error=None, next_attempt_at=None)
    .returning(Delivery.id).cte("recorded"))
#: the earliest bound: every due delivery
_EVER = datetime(1970, 1, 1, tzinfo=UTC)


def record_sent_and_claim_next(conn: Connection, sent: ClaimedDelivery, *,
                               claim_seconds: float) -> ClaimedDelivery | None:
    """:func:`record_sent` for ``sent`` and :func:`claim_due_deliveries` of one more delivery,
    in the caller's transaction (not committed); returns the claimed one or None.

    On PostgreSQL one statement: the outcome is a data-modifying ``WITH`` of the claim's
    ``UPDATE … RETURNING`` (executed exactly once, with the claim, whatever the claim finds),
    so a delivery costs one round trip to the database. The claim looks only at deliveries
    due at or after ``sent.due_at`` (keyset): every one due before it was claimed already when
    ``sent`` was (the claim takes the oldest due), and a scan from the start of the index
    would step over the entries of every delivery claimed since the last VACUUM (measured:
    ~100 buffers per e-mail after 500 e-mails, most of the database's work). When that finds
    nothing, one claim from the start (a delivery another worker gave back, a retry due
    earlier), then one of an expired claim (their worker died). Elsewhere (SQLite) the two
    functions one after the other.
    """
    if conn.dialect.name != "postgresql":
        record_sent(conn, sent.id, commit=False)
        claimed = claim_due_deliveries(conn, limit=1, claim_seconds=claim_seconds, commit=False)
        return claimed[0] if claimed else None
    now = utcnow()
    expires = now + timedelta(seconds=claim_seconds)
    row = conn.execute(_RECORD_SENT_AND_CLAIM, {"sent_id": sent.id, "now": now,
                                                "expires": expires,
                                                "after": sent.due_at or _EVER}).first()
    if row is None and sent.due_at is not None:
        row = conn.execute(_CLAIM_AFTER["pending"], {"now": now, "expires": expires,
                                                     "after": _EVER}).first()
    if row is None:
        row = conn.execute(_CLAIM_AFTER["sending"], {"now": now, "expires": expires,
                                                     "after": _EVER}).first()
    return None if row is None else _claimed(row, expires)


def _claimed(row: Any, expires: datetime) -> ClaimedDelivery:
    """A claim statement's ``RETURNING`` row as a :class:`ClaimedDelivery` (with ``due_at``
    when the statement returned it)."""
    (id_, event_id, event_type, recipient, subject, body_text, body_html, message_id,
     attempts, headers, *due_at) = row
    return ClaimedDelivery(id_, event_id, event_type, recipient, subject, body_text, body_html,
                           message_id, attempts, claim_expires_at=expires, headers=headers,
                           due_at=due_at[0] if due_at else None)


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

