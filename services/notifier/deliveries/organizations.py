"""E-mails about organisations' members (issue 7): an invitation to join, a join request to
the organisation's admins. The consumer only decides and renders (in the recipient's
language: English or Simplified Chinese here, English for any other), writing ``pending``
deliveries in the transaction of its ``processed_events`` row; the delivery worker sends
them like every other e-mail (``notifier.deliveries.service``).

Kept apart from the initiative e-mails (its own templates under ``templates/organizations``
and its own subjects) so the move of e-mail rendering onto the Babel catalogues can take
these over in one step.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy.orm import Session

from notifier.deliveries.rendering import (
    MailSettings,
    RenderedMail,
    message_id,
    one_line,
    storable_data,
    storable_text,
)
from notifier.deliveries.service import (
    CHANNEL_EMAIL,
    PLANNED_KEY,
    _insert_ignoring_duplicates,
    is_deliverable_address,
)
from shared.consumer import EventHandler
from shared.events.envelope import CloudEvent
from shared.events.types import (
    ORGANIZATION_INVITATION_CREATED,
    ORGANIZATION_JOIN_REQUESTED,
    TOPIC_ORGANIZATIONS,
)

log = logging.getLogger(__name__)

#: topics these handlers read (``organization.created/verified/merged`` on it mail nobody)
TOPICS = (TOPIC_ORGANIZATIONS,)
LOCALES = ("en", "zh")

#: template -> locale -> subject (``str.format`` with ``organization``, ``requester``)
SUBJECTS: dict[str, dict[str, str]] = {
    "invitation": {"en": "Invitation to join {organization}",
                   "zh": "邀请您加入{organization}"},
    "join_request": {"en": "{requester} asks to join {organization}",
                     "zh": "{requester} 申请加入{organization}"},
}
FOOTERS = {
    "en": "This message was sent automatically by the Partnership Registry ({base_url}). "
          "Please do not reply to it.",
    "zh": "本邮件由伙伴关系登记册（{base_url}）自动发送，请勿回复。",
}
ROLE_LABELS = {"en": {"member": "a member", "admin": "an admin"},
               "zh": {"member": "成员", "admin": "管理员"}}

_env = Environment(
    loader=PackageLoader("notifier.deliveries", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
    undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    keep_trailing_newline=True,
)


def _locale(value: str | None) -> str:
    return value if value in LOCALES else "en"


def _date(value: Any, locale: str) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        return ""
    return (f"{value:%Y}年{value.month}月{value.day}日" if locale == "zh"
            else f"{value:%d %B %Y} (UTC)")


def render_organization_mail(template: str, locale: str,
                             context: dict[str, Any]) -> RenderedMail:
    """Render ``template`` (``invitation`` or ``join_request``) in ``locale`` (``en``,
    ``zh``; others fall back to English)."""
    locale = _locale(locale)
    subject = SUBJECTS[template][locale].format(
        organization=one_line(context["organization"], 120),
        requester=one_line(context.get("requester") or "", 80))
    values = {**context, "subject": subject, "locale": locale,
              "footer": FOOTERS[locale].format(base_url=context["base_url"])}
    text = _env.get_template(f"organizations/{template}.{locale}.txt").render(**values)
    html = _env.get_template(f"organizations/{template}.{locale}.html").render(**values)
    return RenderedMail(subject=subject, text=text, html=html)


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
        locale = _locale(data.get("locale"))
        context = {"organization": organization, "inviter": _person(data["inviter"]),
                   "role_label": ROLE_LABELS[locale].get(data["role"], data["role"]),
                   "link": data["link"], "expires": _date(data["expires_at"], locale),
                   "base_url": base}
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
        row = {"id": uuid.uuid4(), "event_id": event_id, "event_type": event.type,
               "initiative_id": None, "channel": CHANNEL_EMAIL,
               "template": f"organization_{template}", "recipient": recipient,
               "subject": mail.subject, "message_id": message_id(event.id, recipient, settings),
               "created_at": now, "attempts": 0}
        if is_deliverable_address(recipient):
            row.update(status="pending", body_text=mail.text, body_html=mail.html,
                       next_attempt_at=now, error=None)
        else:
            row.update(status="failed", body_text=None, body_html=None, next_attempt_at=None,
                       error="undeliverable address")
        rows.append(row)
    session.connection().execute(_insert_ignoring_duplicates(session), rows)
    session.info[PLANNED_KEY] = True
    log.info("organisation e-mails planned", extra={"deliveries": len(rows)})
    return len(rows)


def organization_handlers(*, settings: MailSettings) -> dict[str, EventHandler]:
    """The consumer's handlers for the organisation e-mails (invitation, join request)."""

    def handle(session: Session, event: CloudEvent, data: dict[str, Any]) -> None:
        plan_organization_event(session, event, data, settings=settings)

    return dict.fromkeys((ORGANIZATION_INVITATION_CREATED, ORGANIZATION_JOIN_REQUESTED),
                         handle)
