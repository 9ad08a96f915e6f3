"""Notices of the progress report workflow (issue 9), like the review desk's (issue 8):
``progress-report.{submitted,approved,changes-requested}.v1`` -> e-mails to the people the
registry names in ``recipients``, each in their language, never to the actor.

Who is told what (:data:`PROGRESS_NOTIFICATIONS`, audiences as in
``notifier.deliveries.service``):

* submitted — the secretariat's address and the assigned reviewer (or the secretariat members
  the registry names) get "to review" with the review page's link; the owner organisation's
  other members are told it was sent;
* approved / changes requested — the owner organisation's members (the owner's page of the
  report), and the assigned reviewer when someone else decided (the review page).

The initiative's contact address is not told (progress reports are the owner organisation's
work; the contact hears of the initiative's own review steps). Links: the event's
``review_url`` / ``owner_url`` when plain http(s), else ``PUBLIC_BASE_URL/secretariat/review/
progress/<report id>`` and ``PUBLIC_BASE_URL/my/initiatives/<initiative id>/progress/<number>``.
Rendered by the notice template pair with the sentences of :data:`PROGRESS_NOTICES`. Poison:
more than ``MAX_RECIPIENTS`` recipients. Exactly once per (event, recipient).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session

from notifier.deliveries.rendering import (
    N_,
    REVIEW_IT,
    MailSettings,
    Notice,
    RenderedMail,
    mail_context,
    one_line,
    render_mail,
    safe_link,
    storable_data,
    storable_text,
)
from notifier.deliveries.service import (
    MAX_RECIPIENTS,
    Route,
    delivery_row,
    insert_deliveries,
    recipients_for,
)
from shared.consumer import EventHandler, PoisonEvent
from shared.db import utcnow
from shared.events.envelope import CloudEvent
from shared.events.types import (
    PROGRESS_REPORT_APPROVED,
    PROGRESS_REPORT_CHANGES_REQUESTED,
    PROGRESS_REPORT_SUBMITTED,
)
from shared.i18n import DEFAULT_LANGUAGE, supported_language

log = logging.getLogger(__name__)

#: event type -> ((audience, template), ...): see the module docstring
PROGRESS_NOTIFICATIONS: dict[str, Route] = {
    PROGRESS_REPORT_SUBMITTED: (("owners", "progress_submitted_owner"),
                                ("secretariat", "progress_submitted_secretariat"),
                                ("staff", "progress_submitted_secretariat")),
    PROGRESS_REPORT_APPROVED: (("owners", "progress_approved"),
                               ("staff", "progress_approved_staff")),
    PROGRESS_REPORT_CHANGES_REQUESTED: (("owners", "progress_changes_requested"),
                                        ("staff", "progress_changes_requested_staff")),
}

#: template -> :class:`~notifier.deliveries.rendering.Notice` (``number``: the report's)
PROGRESS_NOTICES: dict[str, Notice] = {
    "progress_submitted_owner": Notice(
        N_("Progress report %(number)s submitted: %(title)s"), N_("Progress report submitted"),
        N_("Progress report %(number)s on your initiative %(title)s was submitted to the "
           "secretariat for review."),
        N_("It becomes public on the initiative's page once the secretariat approves it."),
        comment_heading=N_("Comment")),
    "progress_submitted_secretariat": Notice(
        N_("Progress report %(number)s to review: %(title)s"),
        N_("Progress report to review"),
        N_("Progress report %(number)s on the initiative %(title)s was submitted for review."),
        N_("Please approve it or request changes on the review page."),
        comment_heading=N_("Comment from the submitter"), link="review", show_actor=True,
        link_label=REVIEW_IT),
    "progress_approved": Notice(
        N_("Progress report %(number)s approved: %(title)s"), N_("Progress report approved"),
        N_("The secretariat approved progress report %(number)s on your initiative %(title)s. "
           "It is now public on the initiative's page."),
        N_("Your initiative's reporting status is green again; the next progress report is "
           "due in a year.")),
    "progress_approved_staff": Notice(
        N_("Progress report %(number)s approved: %(title)s"), N_("Progress report approved"),
        N_("Progress report %(number)s on the initiative %(title)s was approved."),
        link="review", show_actor=True, comment_heading=N_("Comment")),
    "progress_changes_requested": Notice(
        N_("Changes requested on progress report %(number)s: %(title)s"),
        N_("Changes requested"),
        N_("The secretariat reviewed progress report %(number)s on your initiative %(title)s "
           "and asks for changes."),
        N_("Please edit the report and submit it again.")),
    "progress_changes_requested_staff": Notice(
        N_("Changes requested on progress report %(number)s: %(title)s"),
        N_("Changes requested"),
        N_("Changes were requested on progress report %(number)s on the initiative "
           "%(title)s."),
        link="review", show_actor=True, comment_heading=N_("Comment")),
}


def progress_context(data: dict[str, Any], settings: MailSettings) -> dict[str, Any]:
    """Template variables of a loaded ``ProgressReportEventData``: those of
    :func:`~notifier.deliveries.rendering.mail_context`, with ``revision_number`` the
    report's number and the links pointing at the report (see the module docstring)."""
    context = mail_context(data, settings)
    base = settings.public_base_url.rstrip("/")
    report = data["report"]
    number = int(report["number"])
    initiative_key = quote(data["initiative"]["id"], safe="")
    report_key = quote(report["id"], safe="")
    context.update(
        revision_number=number,
        review_link=safe_link(data.get("review_url"))
        or f"{base}/secretariat/review/progress/{report_key}",
        owner_link=safe_link(data.get("owner_url"))
        or f"{base}/my/initiatives/{initiative_key}/progress/{number}")
    return context


def render_progress_notice(template: str, context: dict[str, Any],
                           locale: str | None) -> RenderedMail:
    """Render the notice ``template`` (a key of :data:`PROGRESS_NOTICES`) in ``locale``."""
    notice = PROGRESS_NOTICES[template]
    return render_mail("email/notice", notice.subject, {
        "title": one_line(context["title"]),
        "public_id": one_line(context.get("public_id") or "", 40),
        "number": str(context["revision_number"])}, {**context, "notice": notice}, locale)


def plan_progress_event(session: Session, event: CloudEvent, data: dict[str, Any], *,
                        settings: MailSettings) -> int:
    """Write one delivery per recipient of a progress report event; returns how many rows.
    Who: :data:`PROGRESS_NOTIFICATIONS` through ``service.recipients_for`` (never the actor,
    one per address). ``ON CONFLICT DO NOTHING`` per (event, recipient); does not commit.
    Raises :class:`~shared.consumer.PoisonEvent` for more than ``MAX_RECIPIENTS``
    recipients."""
    if len(data.get("recipients") or ()) > MAX_RECIPIENTS:
        raise PoisonEvent(f"more than {MAX_RECIPIENTS} recipients")
    data = storable_data(data)
    targets = recipients_for(event.type, data, settings, routes=PROGRESS_NOTIFICATIONS)
    if not targets:
        return 0
    context = progress_context(data, settings)
    event_id = storable_text(event.id, 200)
    initiative_id = storable_text(data["initiative"]["id"], 200)
    now = utcnow()
    rendered: dict[tuple[str, str], RenderedMail] = {}
    rows = []
    for target in targets:
        key = (target.template, supported_language(target.locale) or DEFAULT_LANGUAGE)
        mail = rendered.get(key)
        if mail is None:
            mail = rendered[key] = render_progress_notice(target.template, context, key[1])
        row = delivery_row(event=event, event_id=event_id,
                           recipient=storable_text(target.address, 320),
                           template=target.template, mail=mail, settings=settings, now=now,
                           initiative_id=initiative_id)
        row.update(headers=None, list_id=None)
        rows.append(row)
    insert_deliveries(session, rows)
    log.info("progress report notices planned", extra={"deliveries": len(rows)})
    return len(rows)


def progress_report_handlers(*, settings: MailSettings) -> dict[str, EventHandler]:
    """The consumer's handlers of the three progress report events."""

    def handle(session: Session, event: CloudEvent, data: dict[str, Any]) -> None:
        plan_progress_event(session, event, data, settings=settings)

    return dict.fromkeys(PROGRESS_NOTIFICATIONS, handle)
