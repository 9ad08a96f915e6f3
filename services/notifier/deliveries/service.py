"""Who is told what when an initiative changes state, and the record of each delivery.

Rules (the issue "notify contacts and the secretariat of review steps"):

* ``submitted``          -> the initiative's contact, and the secretariat (``SECRETARIAT_EMAIL``);
* ``approved``           -> the contact ("Published: <title> (<public id>)", link to the page);
* ``changes_requested``  -> the contact, with the reviewer's comment;
* ``rejected``           -> the contact, with the reviewer's comment;
* ``created``, ``updated``, ``imported`` -> nobody (a 2,000-record import must not mail anyone).

A null contact e-mail means nobody but the secretariat (on submission). Each recipient gets a
``deliveries`` row committed right after the send, so a retried event skips recipients already
``sent``. Exactly-once is not possible with SMTP; the window for a duplicate is between the
server's acceptance and that commit.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from notifier.deliveries.models import Delivery
from notifier.deliveries.rendering import (
    MailSettings,
    build_message,
    mail_context,
    message_id,
    render,
)
from notifier.deliveries.transport import DeliveryRefused, MailTransport
from shared.consumer import EventHandler, PoisonEvent
from shared.db import utcnow
from shared.events.envelope import CloudEvent
from shared.events.types import (
    INITIATIVE_APPROVED,
    INITIATIVE_CHANGES_REQUESTED,
    INITIATIVE_REJECTED,
    INITIATIVE_SUBMITTED,
)

log = logging.getLogger(__name__)

CHANNEL_EMAIL = "email"

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
            address = (data["initiative"].get("contact_email") or "").strip()
        else:
            address = (settings.secretariat_email or "").strip()
        if not address or address.casefold() in seen:
            continue
        seen.add(address.casefold())
        out.append((address, template))
    return out


def notify_initiative_event(session: Session, event: CloudEvent, data: dict[str, Any], *,
                            transport: MailTransport, settings: MailSettings) -> list[Delivery]:
    """E-mail everyone an initiative event concerns; returns the deliveries touched.

    ``data`` is a loaded ``InitiativeEventData``. For each recipient: skip when a ``sent``
    delivery exists for ``(event id, "email", recipient)``; otherwise render, send, and commit a
    ``sent`` row, or a ``failed`` row when the address is not deliverable or the server refused
    it (5xx, never retried). Raises :class:`~shared.consumer.TransientError` when the server is
    unreachable (the consumer retries the event) and :class:`~shared.consumer.PoisonEvent` for an
    approval without a public id (the registry always assigns one).
    """
    if event.type == INITIATIVE_APPROVED and not data["initiative"].get("public_id"):
        raise PoisonEvent("approved initiative has no public_id")
    touched: list[Delivery] = []
    targets = recipients_for(event.type, data, settings)
    if not targets:
        return touched
    context = mail_context(data, settings)
    for recipient, template in targets:
        delivery = session.scalar(select(Delivery).where(
            Delivery.event_id == event.id, Delivery.channel == CHANNEL_EMAIL,
            Delivery.recipient == recipient))
        if delivery is not None and delivery.status == "sent":
            continue
        mail = render(template, context)
        if delivery is None:
            delivery = Delivery(event_id=event.id, channel=CHANNEL_EMAIL, recipient=recipient)
            session.add(delivery)
        delivery.event_type = event.type
        delivery.initiative_id = data["initiative"]["id"]
        delivery.template = template
        delivery.subject = mail.subject
        delivery.message_id = message_id(event.id, recipient, settings)
        _send(delivery, mail, transport=transport, settings=settings)
        session.commit()  # the row survives a later recipient's transient failure
        touched.append(delivery)
        log.info("e-mail delivery recorded", extra={"delivery_id": str(delivery.id),
                                                    "template": template,
                                                    "status": delivery.status})
    return touched


def _send(delivery: Delivery, mail, *, transport: MailTransport, settings: MailSettings) -> None:
    """Send one rendered mail and set the delivery's status (TransientError propagates)."""
    if not is_deliverable_address(delivery.recipient):
        delivery.status, delivery.error, delivery.sent_at = "failed", "undeliverable address", None
        return
    msg = build_message(mail, recipient=delivery.recipient, msg_id=delivery.message_id or "",
                        settings=settings)
    try:
        transport.send(msg, sender=settings.sender, recipient=delivery.recipient,
                       event_id=delivery.event_id)
    except DeliveryRefused as exc:
        delivery.status, delivery.error, delivery.sent_at = "failed", str(exc)[:2000], None
        return
    delivery.status, delivery.error, delivery.sent_at = "sent", None, utcnow()


def initiative_handlers(*, transport: MailTransport,
                        settings: MailSettings) -> dict[str, EventHandler]:
    """The consumer's handlers: one per event type that mails someone (see ``NOTIFICATIONS``)."""

    def handle(session: Session, event: CloudEvent, data: dict[str, Any]) -> None:
        notify_initiative_event(session, event, data, transport=transport, settings=settings)

    return {event_type: handle for event_type in NOTIFICATIONS}
