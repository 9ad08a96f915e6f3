"""Account e-mails: the registry's ``account.*`` and ``contact.*`` events
(``shared.events.types``, block ``accounts``) become one delivery each, in the recipient's
language.

The registry never sends mail; it writes the event with the recipient, the locale and the
one-time link. Here the consumer renders the message from ``templates/email/account/`` with the
gettext catalogues of the notifier (``services/notifier/translations``, plus the shared one)
and writes a ``pending`` delivery in the transaction of its ``processed_events`` row, exactly
as for initiative e-mails (:mod:`notifier.deliveries.service`); the delivery worker sends it.
The messages carry no text chosen by another user (a contact verification names neither the
initiative nor the partner), so the registry cannot be made to carry someone's words to an
arbitrary address.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy.orm import Session

from notifier.deliveries.rendering import (
    MailSettings,
    RenderedMail,
    one_line,
    storable_text,
)
from notifier.deliveries.service import delivery_row, insert_deliveries
from shared.consumer import EventHandler
from shared.events.envelope import CloudEvent
from shared.events.types import (
    ACCOUNT_EMAIL_VERIFICATION_REQUESTED,
    ACCOUNT_LOCALES,
    ACCOUNT_PASSWORD_RESET_REQUESTED,
    CONTACT_EMAIL_VERIFICATION_REQUESTED,
)

log = logging.getLogger(__name__)

#: event type -> template name (``templates/email/account/<name>.txt`` and ``.html``)
ACCOUNT_MAILS: dict[str, str] = {
    ACCOUNT_EMAIL_VERIFICATION_REQUESTED: "verify_email",
    ACCOUNT_PASSWORD_RESET_REQUESTED: "reset_password",
    CONTACT_EMAIL_VERIFICATION_REQUESTED: "verify_contact",
}

NOTIFIER_TRANSLATIONS = Path(__file__).resolve().parents[1] / "translations"


def translations(locale: str):
    """gettext translations of ``locale`` (notifier catalogue over the shared one; English:
    none)."""
    from shared.i18n import SHARED_TRANSLATIONS, load_translations

    return load_translations(locale, [str(SHARED_TRANSLATIONS), str(NOTIFIER_TRANSLATIONS)])


@cache
def _environment(locale: str) -> Environment:
    """A Jinja environment with ``locale``'s translations installed (one per language, so
    concurrent renders in two languages never share one)."""
    env = Environment(
        loader=PackageLoader("notifier.deliveries", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True, extensions=["jinja2.ext.i18n"])
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    return env


def format_expiry(moment: datetime, locale: str) -> str:
    """``moment`` in UTC, written the way ``locale`` writes dates and times (Babel), with
    the zone named."""
    from babel.dates import format_datetime

    moment = moment.astimezone(UTC)
    return format_datetime(moment, "medium", tzinfo=UTC,
                           locale="zh_Hans" if locale == "zh" else locale) + " UTC"


def render_account_mail(template: str, data: dict[str, Any], settings: MailSettings
                        ) -> RenderedMail:
    """Render account mail ``template`` for a loaded ``AccountMailData`` in its ``locale``;
    raises ``KeyError``/``jinja2.TemplateNotFound`` for an unknown template."""
    locale = str(data["locale"]) if data.get("locale") in ACCOUNT_LOCALES else "en"
    env = _environment(locale)
    expires: datetime = data["expires_at"]
    context = {
        "recipient": data["recipient"],
        "display_name": one_line(data.get("display_name") or "", 100),
        "link": data["link"],
        "expires": format_expiry(expires, locale),
        "base_url": settings.public_base_url.rstrip("/"),
        "lang": locale,
    }
    subject_template = env.get_template(f"email/account/{template}.subject.txt")
    subject = one_line(subject_template.render(**context), 200)
    text = env.get_template(f"email/account/{template}.txt").render(subject=subject, **context)
    html = env.get_template(f"email/account/{template}.html").render(subject=subject, **context)
    return RenderedMail(subject=subject, text=text, html=html)


def plan_account_mail(session: Session, event: CloudEvent, data: dict[str, Any], *,
                      settings: MailSettings) -> int:
    """Write the one delivery of an account e-mail event (``pending``; ``failed`` for an
    undeliverable address); returns 1. Idempotent on (event id, channel, recipient). Does not
    commit."""
    template = ACCOUNT_MAILS[event.type]
    recipient = storable_text(data["recipient"], 320)
    mail = render_account_mail(template, data, settings)
    now = datetime.now(UTC)
    insert_deliveries(session, [delivery_row(
        event=event, event_id=storable_text(event.id, 200), recipient=recipient,
        template=f"account/{template}", mail=mail, settings=settings, now=now)])
    log.info("account e-mail planned", extra={"event_type": event.type})
    return 1


def account_handlers(*, settings: MailSettings) -> dict[str, EventHandler]:
    """The consumer's handlers of the account e-mail events."""

    def handle(session: Session, event: CloudEvent, data: dict[str, Any]) -> None:
        plan_account_mail(session, event, data, settings=settings)

    return dict.fromkeys(ACCOUNT_MAILS, handle)
