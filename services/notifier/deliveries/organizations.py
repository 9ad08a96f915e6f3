"""E-mails about organisations' members (issue 7): an invitation to join, a join request to
the organisation's admins. The consumer only decides and renders (in the recipient's
language: English or Simplified Chinese here, English for any other), writing ``pending``
deliveries in the transaction of its ``processed_events`` row; the delivery worker sends
them like every other e-mail (``notifier.deliveries.service``).

Rendered like the initiative e-mails (``rendering.render_mail``): one template per e-mail
under ``templates/organizations``, every sentence through the notifier's gettext catalogue.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from babel.dates import format_date
from sqlalchemy.orm import Session

from notifier.deliveries.rendering import (
    N_,
    MailSettings,
    RenderedMail,
    one_line,
    render_mail,
    storable_data,
    storable_text,
)
from notifier.deliveries.service import delivery_row, insert_deliveries
from shared.consumer import EventHandler
from shared.events.envelope import CloudEvent
from shared.events.types import (
    ORGANIZATION_INVITATION_CREATED,
    ORGANIZATION_JOIN_REQUESTED,
    TOPIC_ORGANIZATIONS,
)
from shared.i18n import DEFAULT_LANGUAGE, supported_language

log = logging.getLogger(__name__)

#: topics these handlers read (``organization.created/verified/merged`` on it mail nobody)
TOPICS = (TOPIC_ORGANIZATIONS,)
#: template -> subject (gettext msgid, ``%`` with ``organization``, ``requester``)
SUBJECTS: dict[str, str] = {
    "invitation": N_("Invitation to join %(organization)s"),
    "join_request": N_("%(requester)s asks to join %(organization)s"),
}


def _date(value: Any, locale: str | None) -> str:
    """A date in the recipient's language (CLDR long format, e.g. 16 December 2026 /
    2026年12月16日)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        return ""
    return format_date(value.date(), format="long",
                       locale=supported_language(locale) or DEFAULT_LANGUAGE)


def render_organization_mail(template: str, locale: str | None,
                             context: dict[str, Any]) -> RenderedMail:
    """Render ``template`` (``invitation`` or ``join_request``) in ``locale`` from the
    notifier's catalogues (unsupported: English)."""
    return render_mail(f"organizations/{template}", SUBJECTS[template], {
        "organization": one_line(context["organization"], 120),
        "requester": one_line(context.get("requester") or "", 80)},
        {"comment": None, **context}, locale)


def _person(person: dict[str, Any]) -> str:
    return (person.get("display_name") or person.get("email") or "").strip() or "—"


def mails_for(event_type: str, data: dict[str, Any],
              settings: MailSettings) -> list[tuple[str, str, RenderedMail]]:
    """``[(recipient, template, rendered mail)]`` for an organisation event (empty for the
    types that mail nobody)."""
    base = settings.public_base_url.rstrip("/")
    organization = data["organization"]["name"]
    out = []
    if event_type == ORGANIZATION_INVITATION_CREATED:
        locale = data.get("locale")
        context = {"organization": organization, "inviter": _person(data["inviter"]),
                   "role": data["role"], "link": data["link"],
                   "expires": _date(data["expires_at"], locale), "base_url": base}
        out.append((data["recipient"], "invitation",
                    render_organization_mail("invitation", locale, context)))
    elif event_type == ORGANIZATION_JOIN_REQUESTED:
        seen: set[str] = set()
        for recipient in data.get("recipients") or []:
            address = (recipient.get("email") or "").strip()
            if not address or address.casefold() in seen:
                continue
            seen.add(address.casefold())
            context = {"organization": organization, "requester": _person(data["requester"]),
                       "message": (data.get("message") or "").strip() or None,
                       "link": data["link"], "base_url": base}
            out.append((address, "join_request", render_organization_mail(
                "join_request", recipient.get("locale") or "en", context)))
    return out


def plan_organization_event(session: Session, event: CloudEvent, data: dict[str, Any], *,
                            settings: MailSettings) -> int:
    """Write one delivery per recipient of an organisation event (``ON CONFLICT DO
    NOTHING``: a redelivered event adds nothing); returns how many rows. Does not commit."""
    data = storable_data(data)
    mails = mails_for(event.type, data, settings)
    if not mails:
        return 0
    event_id = storable_text(event.id, 200)
    rows = []
    from shared.db import utcnow

    now = utcnow()
    for recipient, template, mail in mails:
        recipient = storable_text(recipient, 320)
        rows.append(delivery_row(event=event, event_id=event_id, recipient=recipient,
                                 template=f"organization_{template}", mail=mail,
                                 settings=settings, now=now))
    insert_deliveries(session, rows)
    log.info("organisation e-mails planned", extra={"deliveries": len(rows)})
    return len(rows)


def organization_handlers(*, settings: MailSettings) -> dict[str, EventHandler]:
    """The consumer's handlers for the organisation e-mails (invitation, join request)."""

    def handle(session: Session, event: CloudEvent, data: dict[str, Any]) -> None:
        plan_organization_event(session, event, data, settings=settings)

    return dict.fromkeys((ORGANIZATION_INVITATION_CREATED, ORGANIZATION_JOIN_REQUESTED),
                         handle)
