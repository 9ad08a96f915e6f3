"""Reminders to report progress (issue 9): ``initiative.progress-reminder-due.v1`` -> one e-mail
per member of the owner organisation, in their language, with the one-click link to the
progress report form and the RFC 8058 unsubscribe headers.

The registry's compliance job decides WHEN (UN DESA's rule since 2018: a progress report a year
after publication or after the last approved report; kinds ``upcoming`` 30 days before, ``due``
at the 12-month mark, ``yellow`` and ``red`` when the light turns, ``manual`` when the
secretariat asks) and sends one event per decision; this module only decides WHO and WHAT:

* recipients: the event's ``recipients`` with role ``owner`` (others are ignored: a reminder is
  the owners' business), one e-mail per address (compared case-insensitively), each in its
  ``locale`` (en, zh ...; English otherwise);
* an address that left the ``progress-reminders`` list (``notifier.unsubscribes``) gets a
  ``suppressed`` row, never a send; an undeliverable one a ``failed`` row;
* every other gets a ``pending`` delivery with ``List-Unsubscribe: <PUBLIC_BASE_URL/
  unsubscribe/<token>>``, ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` and ``List-Id``
  headers (``deliveries.headers``), and the same link in the footer.

Untrusted input: the payload was validated against ``ProgressReminderData`` (a bad one went to
the dead-letter topic before reaching here); strings are made storable; ``report_url`` is
linked only when plain http(s) (``rendering.safe_link``), else the form's page is built from
``PUBLIC_BASE_URL`` (``/my/initiatives/<id>/progress/new``). Poison: more than
``MAX_RECIPIENTS`` recipients, an initiative id that is not a UUID. Exactly once per (event,
recipient): rows are inserted ``ON CONFLICT DO NOTHING`` in the consumer's transaction.
Cost: one render per (kind, language) per event; the rows of a whole polled batch are written
just before its transaction commits with one SELECT (the suppression list) and one INSERT.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from datetime import date
from typing import Any
from urllib.parse import quote

from babel.dates import format_date
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from notifier.deliveries.rendering import (
    N_,
    MailSettings,
    RenderedMail,
    one_line,
    render_mail,
    safe_link,
    storable_data,
    storable_text,
)
from notifier.deliveries.service import (
    MAX_RECIPIENTS,
    delivery_row,
    insert_deliveries,
    is_deliverable_address,
)
from notifier.unsubscribes.service import PROGRESS_REMINDERS, list_headers, normalised
from notifier.unsubscribes.service import suppressed_addresses as left_list
from shared.consumer import EventHandler, PoisonEvent
from shared.db import utcnow
from shared.events.envelope import CloudEvent
from shared.events.types import INITIATIVE_PROGRESS_REMINDER_DUE
from shared.i18n import DEFAULT_LANGUAGE, supported_language

log = logging.getLogger(__name__)

#: replaced per recipient in the rendered bodies (their own unsubscribe link): a reminder is
#: rendered once per (kind, language), not once per person
UNSUBSCRIBE_MARK = "%%UNSUBSCRIBE_URL%%"


@dataclass(frozen=True)
class Reminder:
    """The sentences of one kind of reminder (gettext msgids; ``%`` with ``title``, ``date``
    — the due date — and ``anchor`` — the start of the cycle — in the recipient's language)."""

    subject: str
    heading: str
    lead: str
    follow_up: str


_ONCE_A_YEAR = N_("Partnerships registered with the United Nations report on their progress "
                  "once a year. Reporting on time keeps your initiative's record active.")

#: kind (``shared.events.types.REMINDER_KINDS``) -> :class:`Reminder`
REMINDERS: dict[str, Reminder] = {
    "upcoming": Reminder(
        N_("Progress report due on %(date)s: %(title)s"), N_("A progress report is due soon"),
        N_("A progress report on your initiative %(title)s is due on %(date)s."), _ONCE_A_YEAR),
    "due": Reminder(
        N_("Progress report due: %(title)s"), N_("A progress report is due"),
        N_("A progress report on your initiative %(title)s is due on %(date)s."), _ONCE_A_YEAR),
    "yellow": Reminder(
        N_("Progress report overdue: %(title)s"), N_("Progress report overdue"),
        N_("No progress report on your initiative %(title)s was approved since %(anchor)s, and "
           "one was due on %(date)s. Its reporting status is now yellow."),
        N_("If no progress report follows, the registry will show the initiative as "
           "inactive.")),
    "red": Reminder(
        N_("Initiative shown as inactive: %(title)s"), N_("Initiative shown as inactive"),
        N_("No progress report on your initiative %(title)s was approved since %(anchor)s. Its "
           "reporting status is now red, and the registry shows it as inactive."),
        N_("An approved progress report makes it active again at once.")),
    "manual": Reminder(
        N_("Reminder from the secretariat: progress report on %(title)s"),
        N_("Reminder from the secretariat"),
        N_("The secretariat asks you to report on the progress of your initiative %(title)s. "
           "The next progress report is due on %(date)s."), _ONCE_A_YEAR),
}
#: the lead of a ``manual`` reminder sent once the report's due date has passed
MANUAL_OVERDUE = N_("The secretariat asks you to report on the progress of your initiative "
                    "%(title)s. A progress report was due on %(date)s.")


def _as_date(value: Any) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _date(value: Any, lang: str) -> str:
    """A date in the recipient's language (CLDR long format: 2 December 2026 / 2026年12月2日)."""
    if isinstance(value, str):
        value = date.fromisoformat(value)
    return format_date(value, format="long", locale=lang) if isinstance(value, date) else ""


def report_link(data: dict[str, Any], settings: MailSettings) -> str:
    """The one-click link to the progress report form: the event's ``report_url`` when
    :func:`~notifier.deliveries.rendering.safe_link` accepts it, else
    ``PUBLIC_BASE_URL/my/initiatives/<id>/progress/new`` (the form's fixed URL)."""
    base = settings.public_base_url.rstrip("/")
    key = quote(data["initiative"]["id"], safe="")
    return safe_link(data.get("report_url")) or f"{base}/my/initiatives/{key}/progress/new"


def render_reminder(kind: str, data: dict[str, Any], settings: MailSettings,
                    locale: str | None) -> RenderedMail:
    """The reminder of ``kind`` for a loaded ``ProgressReminderData`` in ``locale`` (English
    when unsupported), with :data:`UNSUBSCRIBE_MARK` where each recipient's own unsubscribe
    link goes. Raises ``KeyError`` for an unknown kind."""
    reminder = REMINDERS[kind]
    if kind == "manual" and _as_date(data["due_on"]) < utcnow().date():
        reminder = replace(reminder, lead=MANUAL_OVERDUE)
    lang = supported_language(locale) or DEFAULT_LANGUAGE
    initiative = data["initiative"]
    due = _date(data["due_on"], lang)
    context = {
        "reminder": reminder, "title": initiative["title"], "due_date": due,
        "anchor_date": _date(data["anchor_on"], lang),
        "organization": one_line(initiative.get("owner_organization_name") or "", 200) or None,
        "report_link": report_link(data, settings),
        "public_link": safe_link(initiative.get("url")),
        "unsubscribe_url": UNSUBSCRIBE_MARK,
        "base_url": settings.public_base_url.rstrip("/"), "comment": None,
    }
    return render_mail("email/reminder", reminder.subject,
                       {"title": one_line(initiative["title"]), "date": due}, context, lang)


def _for_recipient(mail: RenderedMail, url: str) -> RenderedMail:
    return RenderedMail(mail.subject, mail.text.replace(UNSUBSCRIBE_MARK, url),
                        mail.html.replace(UNSUBSCRIBE_MARK, url))


def reminder_rows(event: CloudEvent, data: dict[str, Any], *,
                  settings: MailSettings) -> list[dict[str, Any]]:
    """The ``deliveries`` rows of one reminder event, as if nobody had unsubscribed (no
    database read: :func:`write_reminder_rows` decides that): one per owner recipient,
    ``pending`` with the unsubscribe headers and ``list_id`` ``progress-reminders``, or
    ``failed`` for an undeliverable address.

    ``data`` is a loaded ``ProgressReminderData``. Raises
    :class:`~shared.consumer.PoisonEvent` for more than ``MAX_RECIPIENTS`` recipients or an
    initiative id that is not a UUID.
    """
    if len(data.get("recipients") or ()) > MAX_RECIPIENTS:
        raise PoisonEvent(f"more than {MAX_RECIPIENTS} recipients")
    try:
        uuid.UUID(str(data["initiative"]["id"]))
    except ValueError:
        raise PoisonEvent("initiative.id is not a UUID") from None
    data = storable_data(data)
    targets: list[tuple[str, str]] = []  # (address, language)
    seen: set[str] = set()
    for recipient in data.get("recipients") or []:
        address = (recipient.get("email") or "").strip()
        if recipient.get("role") != "owner" or not address or normalised(address) in seen:
            continue
        seen.add(normalised(address))
        targets.append((storable_text(address, 320),
                        supported_language(recipient.get("locale")) or DEFAULT_LANGUAGE))
    kind = data["kind"]
    event_id = storable_text(event.id, 200)
    initiative_id = storable_text(data["initiative"]["id"], 200)
    now = utcnow()
    rendered: dict[str, RenderedMail] = {}
    rows = []
    for address, lang in targets:
        mail = rendered.get(lang)
        if mail is None:
            mail = rendered[lang] = render_reminder(kind, data, settings, lang)
        headers = None
        if is_deliverable_address(address):
            headers = list_headers(address, PROGRESS_REMINDERS,
                                   base_url=settings.public_base_url,
                                   secret_key=settings.secret_key, locale=lang)
            mail = _for_recipient(mail, headers["List-Unsubscribe"][1:-1])
        row = delivery_row(event=event, event_id=event_id, recipient=address,
                           template=f"reminder_{kind}", mail=mail, settings=settings,
                           now=now, initiative_id=initiative_id)
        row.update(headers=headers, list_id=PROGRESS_REMINDERS)
        rows.append(row)
    return rows


def write_reminder_rows(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert reminder rows (of any number of events) in the session's transaction: ONE
    SELECT of the suppression list for all their addresses — an address that left
    ``progress-reminders`` gets its row ``suppressed`` (no body, never sent) — and ONE
    ``INSERT … ON CONFLICT DO NOTHING`` (a redelivered event adds nothing). Returns how many
    rows were written (conflicts included)."""
    if not rows:
        return 0
    gone = left_list(session, PROGRESS_REMINDERS, (row["recipient"] for row in rows))
    for row in rows:
        if normalised(row["recipient"]) in gone and row["status"] == "pending":
            row.update(status="suppressed", body_text=None, body_html=None, headers=None,
                       next_attempt_at=None,
                       error=f"not sent: the address left the list {PROGRESS_REMINDERS}")
    insert_deliveries(session, rows)
    log.info("reminder e-mails planned",
             extra={"deliveries": len(rows),
                    "suppressed": sum(row["status"] == "suppressed" for row in rows)})
    return len(rows)


def plan_reminder(session: Session, event: CloudEvent, data: dict[str, Any], *,
                  settings: MailSettings) -> int:
    """Write one delivery per owner recipient of a reminder event now
    (:func:`reminder_rows` then :func:`write_reminder_rows`); returns how many rows. Does not
    commit. Raises :class:`~shared.consumer.PoisonEvent` as :func:`reminder_rows`."""
    return write_reminder_rows(session, reminder_rows(event, data, settings=settings))


#: ``session.info`` key: reminder rows of this transaction, written just before it commits
PENDING_KEY = "notifier.pending_reminders"
_HOOKED_KEY = "notifier.reminder_hooks"


def _queue(session: Session, rows: list[dict[str, Any]]) -> None:
    """Keep ``rows`` for :func:`flush_pending_reminders`, run by the session just before it
    commits (listeners put on the session the first time), so the reminders of a whole polled
    batch cost two statements, not two per event; a rollback forgets them."""
    if not session.info.get(_HOOKED_KEY):
        session.info[_HOOKED_KEY] = True
        sa_event.listen(session, "before_commit", flush_pending_reminders)
        sa_event.listen(session, "after_rollback",
                        lambda s: s.info.pop(PENDING_KEY, None))
    session.info.setdefault(PENDING_KEY, []).extend(rows)


def flush_pending_reminders(session: Session) -> int:
    """Write the reminder rows queued in this transaction (:func:`write_reminder_rows`)."""
    return write_reminder_rows(session, session.info.pop(PENDING_KEY, None) or [])


def reminder_handlers(*, settings: MailSettings) -> dict[str, EventHandler]:
    """The consumer's handler of ``initiative.progress-reminder-due.v1``."""

    def handle(session: Session, event: CloudEvent, data: dict[str, Any]) -> None:
        _queue(session, reminder_rows(event, data, settings=settings))

    return {INITIATIVE_PROGRESS_REMINDER_DUE: handle}
