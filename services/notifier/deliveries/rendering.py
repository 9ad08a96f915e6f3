"""E-mails as data: which template and subject line each kind of message has, and how a
message is built from an initiative event (plain text + HTML alternative, escaped).

Templates live in ``templates/email/<name>.txt`` and ``<name>.html``; the HTML ones are
autoescaped (titles, comments and names come from users), the text ones are plain text.
Every sentence goes through gettext: a message is rendered in the recipient's language
(``render(..., locale=...)``) from the same ``.po`` catalogues as the pages (the shared one
and ``services/notifier/translations``, via :func:`shared.i18n.load_translations`). The
consumer renders outside any request, so the translations are chosen per call (a context
variable), not by Flask-Babel's request locale.
"""

from __future__ import annotations

import hashlib
import re
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy as email_policy
from email.headerregistry import HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from babel.support import NullTranslations, Translations
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from shared.i18n import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    SHARED_TRANSLATIONS,
    load_translations,
    supported_language,
)

#: The catalogues of the e-mails: the shared one, then the notifier's (wins on a clash).
MAIL_CATALOGUES = (str(SHARED_TRANSLATIONS),
                   str(Path(__file__).resolve().parents[1] / "translations"))


def N_(message: str) -> str:  # noqa: N802 (gettext's marker name)
    """Mark ``message`` for extraction; translated when the mail is rendered."""
    return message


#: template name -> subject line (gettext msgid, ``%`` with ``title``, ``public_id`` and
#: ``number``, the revision's); the templates of :data:`NOTICES` are added below
SUBJECTS: dict[str, str] = {
    "submitted_contact": N_("Submitted for review: %(title)s"),
    "submitted_secretariat": N_("Submitted for review: %(title)s"),
    "approved": N_("Published: %(title)s (%(public_id)s)"),
    "changes_requested": N_("Changes requested: %(title)s"),
    "rejected": N_("Not accepted: %(title)s"),
}


@dataclass(frozen=True)
class Notice:
    """An e-mail of the review desk (issue 8) written as data, rendered by the one template
    pair ``templates/email/notice.{txt,html}``: every field a gettext msgid.

    ``lead`` is the opening sentence (``%`` with ``title``, ``public_id``, ``number`` — the
    revision's — and ``author``, who wrote a comment); ``follow_up`` an optional second
    sentence; ``comment_heading`` heads the step's comment (closing note, reason...), shown
    when there is one; ``link`` is ``owner`` (the owner's page, ``owner_url``) or ``review``
    (the review page, ``review_url``); ``show_actor``: add "Recorded by <name>." (staff
    mails, when the actor's name is known); ``entry``: quote the thread entry's body (comments).
    """

    subject: str
    heading: str
    lead: str
    follow_up: str | None = None
    comment_heading: str = N_("Comment from the secretariat")
    link: str = "owner"
    show_actor: bool = False
    entry: bool = False
    link_label: str | None = None

    @property
    def link_sentence(self) -> str:
        """The msgid introducing the link (``%`` with ``url``)."""
        return self.link_label or LINK_LABELS[self.link]


#: default sentence of a notice's link, per kind of link
LINK_LABELS = {"owner": N_("Open it in the registry: %(url)s"),
               "review": N_("Open the review page: %(url)s")}
#: the link sentence of a mail that asks the secretariat to act
REVIEW_IT = N_("Review it: %(url)s")


def _staff(subject: str, heading: str, lead: str) -> Notice:
    """A notice telling the staff side (the assigned reviewer) of a step someone else took:
    links to the review page, names who recorded it."""
    return Notice(subject, heading, lead, link="review", show_actor=True,
                  comment_heading=N_("Comment"))


#: template name -> :class:`Notice`: the owner side's mails (the owner organisation's
#: members and the contact) and the staff side's (the secretariat's address, the assigned
#: reviewer). Who gets which: ``notifier.deliveries.service.NOTIFICATIONS``.
NOTICES: dict[str, Notice] = {
    # -- completion (owner declares, the secretariat confirms or declines) --
    "completion_declared_owner": Notice(
        N_("Completion declared: %(title)s"), N_("Completion declared"),
        N_("The completion of your initiative %(title)s was declared. The secretariat will "
           "now confirm it."),
        comment_heading=N_("Closing note")),
    "completion_declared_secretariat": Notice(
        N_("Completion to confirm: %(title)s"), N_("Completion to confirm"),
        N_("The owner of the initiative %(title)s declared it completed."),
        N_("Please confirm or decline the completion on the review page."),
        comment_heading=N_("Closing note"), link="review", show_actor=True,
        link_label=REVIEW_IT),
    "completion_declined": Notice(
        N_("Completion not confirmed: %(title)s"), N_("Completion not confirmed"),
        N_("The secretariat did not confirm the completion of your initiative %(title)s. "
           "It remains published.")),
    "completion_declined_staff": _staff(
        N_("Completion not confirmed: %(title)s"), N_("Completion not confirmed"),
        N_("The completion of the initiative %(title)s was not confirmed; it remains "
           "published.")),
    "completed": Notice(
        N_("Completed: %(title)s"), N_("Completed"),
        N_("The secretariat confirmed that your initiative %(title)s is completed. Its "
           "public page now shows it as completed.")),
    "completed_staff": _staff(
        N_("Completed: %(title)s"), N_("Completed"),
        N_("The completion of the initiative %(title)s was confirmed.")),
    "archived": Notice(
        N_("Archived: %(title)s"), N_("Archived"),
        N_("Your completed initiative %(title)s was archived. It stays visible in the "
           "registry.")),
    "archived_staff": _staff(
        N_("Archived: %(title)s"), N_("Archived"),
        N_("The initiative %(title)s was archived.")),
    # -- withdrawal (owner), suspension and reinstatement (secretariat) --
    "withdrawn": Notice(
        N_("Withdrawn: %(title)s"), N_("Withdrawn"),
        N_("Your initiative %(title)s was withdrawn. Its public page now shows it as "
           "withdrawn."),
        comment_heading=N_("Reason")),
    "withdrawn_staff": Notice(
        N_("Withdrawn: %(title)s"), N_("Withdrawn"),
        N_("The owner withdrew the initiative %(title)s."),
        link="review", show_actor=True, comment_heading=N_("Reason")),
    "suspended": Notice(
        N_("Suspended: %(title)s"), N_("Suspended"),
        N_("The secretariat suspended your initiative %(title)s. The public does not see it "
           "until it is reinstated."),
        comment_heading=N_("Reason given by the secretariat")),
    "suspended_staff": Notice(
        N_("Suspended: %(title)s"), N_("Suspended"),
        N_("The initiative %(title)s was suspended."),
        link="review", show_actor=True, comment_heading=N_("Reason")),
    "reinstated": Notice(
        N_("Reinstated: %(title)s"), N_("Reinstated"),
        N_("The secretariat reinstated your initiative %(title)s. It is published again.")),
    "reinstated_staff": _staff(
        N_("Reinstated: %(title)s"), N_("Reinstated"),
        N_("The initiative %(title)s was reinstated and is published again.")),
    # -- decisions on a submission, told to the assigned reviewer who did not take them --
    "approved_staff": _staff(
        N_("Published: %(title)s (%(public_id)s)"), N_("Published"),
        N_("The initiative %(title)s was approved and published as %(public_id)s.")),
    "changes_requested_staff": _staff(
        N_("Changes requested: %(title)s"), N_("Changes requested"),
        N_("Changes were requested on the initiative %(title)s.")),
    "rejected_staff": _staff(
        N_("Not accepted: %(title)s"), N_("Not accepted"),
        N_("The initiative %(title)s was not accepted.")),
    # -- revisions of a published initiative --
    "revision_submitted_owner": Notice(
        N_("Revision %(number)s submitted: %(title)s"), N_("Revision submitted"),
        N_("Revision %(number)s of your initiative %(title)s was submitted to the secretariat "
           "for review."),
        N_("The public keeps seeing the approved version until the secretariat approves the "
           "revision."), comment_heading=N_("Comment")),
    "revision_submitted_secretariat": Notice(
        N_("Revision %(number)s to review: %(title)s"), N_("Revision to review"),
        N_("Revision %(number)s of the published initiative %(title)s was submitted for "
           "review."),
        link="review", show_actor=True, comment_heading=N_("Comment from the submitter"),
        link_label=REVIEW_IT),
    "revision_approved": Notice(
        N_("Revision %(number)s approved: %(title)s"), N_("Revision approved"),
        N_("The secretariat approved revision %(number)s of your initiative %(title)s. Its "
           "public page now shows the revised content.")),
    "revision_approved_staff": _staff(
        N_("Revision %(number)s approved: %(title)s"), N_("Revision approved"),
        N_("Revision %(number)s of the initiative %(title)s was approved.")),
    "revision_changes_requested": Notice(
        N_("Changes requested on revision %(number)s: %(title)s"), N_("Changes requested"),
        N_("The secretariat reviewed revision %(number)s of your initiative %(title)s and "
           "asks for changes."),
        N_("Please edit the revision and submit it again.")),
    "revision_changes_requested_staff": _staff(
        N_("Changes requested on revision %(number)s: %(title)s"), N_("Changes requested"),
        N_("Changes were requested on revision %(number)s of the initiative %(title)s.")),
    "revision_rejected": Notice(
        N_("Revision %(number)s not accepted: %(title)s"), N_("Revision not accepted"),
        N_("The secretariat did not accept revision %(number)s of your initiative %(title)s. "
           "The public keeps seeing the approved version.")),
    "revision_rejected_staff": _staff(
        N_("Revision %(number)s not accepted: %(title)s"), N_("Revision not accepted"),
        N_("Revision %(number)s of the initiative %(title)s was not accepted.")),
    # -- the thread and the queue --
    "commented_owner": Notice(
        N_("New comment: %(title)s"), N_("New comment"),
        N_("%(author)s commented on your initiative %(title)s:"), entry=True,
        link_label=N_("Reply in the registry: %(url)s")),
    "commented_staff": Notice(
        N_("New comment: %(title)s"), N_("New comment"),
        N_("%(author)s commented on the initiative %(title)s:"), link="review", entry=True,
        link_label=N_("Reply on the review page: %(url)s")),
    "review_assigned": Notice(
        N_("Assigned to you: %(title)s"), N_("Assigned to you"),
        N_("You were assigned to review the initiative %(title)s."), link="review",
        link_label=REVIEW_IT),
    "revision_review_assigned": Notice(
        N_("Assigned to you: %(title)s"), N_("Assigned to you"),
        N_("You were assigned to review revision %(number)s of the initiative %(title)s."),
        link="review", link_label=REVIEW_IT),
}
SUBJECTS.update({name: notice.subject for name, notice in NOTICES.items()})

#: who wrote a comment when the event names nobody (``actor.name`` empty), per actor role
AUTHOR_BY_ROLE = {"secretariat": N_("The secretariat"),
                  "partner": N_("A member of the owner organisation"),
                  "client": N_("The owner organisation")}
AUTHOR_UNKNOWN = N_("Someone")

#: Quotation marks around a title in running text, per language (CLDR delimiters).
QUOTES = {"en": ("“", "”"), "zh": ("“", "”"), "fr": ("« ", " »"), "ru": ("«", "»"),
          "es": ("«", "»"), "ar": ("«", "»")}

SUBJECT_TITLE_MAX = 150
#: Longest text kept from any string field of an event (comments, names, titles), in characters.
TEXT_FIELD_MAX = 20_000

# NUL (PostgreSQL text cannot hold it), the other C0 controls but TAB/LF/CR, DEL, and lone UTF-16
# surrogates (JSON "\\ud800" decodes to one; no UTF-8 encoding exists, so no database stores it)
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")

_translations: ContextVar[Translations | NullTranslations | None] = ContextVar(
    "mail_translations", default=None)
_NULL = NullTranslations()

_env = Environment(
    loader=PackageLoader("notifier.deliveries", "templates"),
    # templates are part of the release: no stat() of every template file per render (8 per
    # mail with the extends/include chain; ~15 % of planning an e-mail)
    auto_reload=False,
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    extensions=["jinja2.ext.i18n"],
)
_env.install_gettext_callables(  # type: ignore[attr-defined]
    gettext=lambda s: (_translations.get() or _NULL).ugettext(s),
    ngettext=lambda s, p, n: (_translations.get() or _NULL).ungettext(s, p, n),
    newstyle=True)


def _strong(value: str) -> Markup:
    """``<strong>value</strong>`` with ``value`` escaped (a title inside a sentence)."""
    return Markup("<strong>%s</strong>") % value


@dataclass(frozen=True)
class MailSettings:
    """``MAIL_FROM`` (a From: header), ``SECRETARIAT_EMAIL``, ``PUBLIC_BASE_URL`` (no slash)
    and ``SECRET_KEY`` (signs the unsubscribe links: ``notifier.unsubscribes.service``)."""

    mail_from: str
    secretariat_email: str
    public_base_url: str
    secret_key: str = field(default="", repr=False)

    @property
    def sender(self) -> str:
        """The bare address of ``mail_from`` (SMTP envelope sender)."""
        return parseaddr(self.mail_from)[1] or self.mail_from


@dataclass(frozen=True)
class RenderedMail:
    """A rendered message: subject line, plain-text body and HTML body."""

    subject: str
    text: str
    html: str


def storable_text(value: str, limit: int = TEXT_FIELD_MAX) -> str:
    """``value`` without the characters no database column can store (NUL, other C0 controls
    but TAB/LF/CR, DEL, lone surrogates), cut to ``limit`` characters. Text from the bus is
    never trusted: one such character used to make a delivery row unstorable."""
    cleaned = _UNSTORABLE.sub("", value)
    return cleaned if len(cleaned) <= limit else cleaned[:limit]


def storable_data(value: Any) -> Any:
    """A copy of a loaded event payload with :func:`storable_text` applied to every string
    (dict keys included), through nested dicts and lists; other values unchanged."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {storable_data(k): storable_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable_data(v) for v in value]
    return value


def one_line(value: str, limit: int = SUBJECT_TITLE_MAX) -> str:
    """Collapse whitespace (no header injection through line breaks) and cut to ``limit``."""
    flat = re.sub(r"\s+", " ", value or "").strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


#: Longest URL the registry may hand us to link (``review_url``, ``owner_url``), characters.
LINK_MAX = 2000


def safe_link(value: Any) -> str | None:
    """``value`` when it may be linked in an e-mail: an absolute ``http``/``https`` URL with a
    host, no whitespace, quotes or angle brackets, at most :data:`LINK_MAX` characters; else
    None. URLs in events are untrusted: ``javascript:``, ``data:`` and friends are left out."""
    if not isinstance(value, str) or not value or len(value) > LINK_MAX:
        return None
    if re.search(r"[\s\"'<>\\`]", value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return value


def _author(event_data: dict[str, Any]) -> tuple[str | None, str]:
    """Who acted: their name (``actor.name`` on one line, None when empty) and their role in
    words (a msgid of :data:`AUTHOR_BY_ROLE`, used when there is no name)."""
    actor = event_data.get("actor") or {}
    name = one_line(actor.get("name") or "", 120)
    return name or None, AUTHOR_BY_ROLE.get(actor.get("role") or "", AUTHOR_UNKNOWN)


def mail_context(event_data: dict[str, Any], settings: MailSettings) -> dict[str, Any]:
    """Template variables from a loaded ``InitiativeEventData``: initiative fields and links.

    ``initiative_url`` (public page, only when the initiative has a ``public_id``) is
    ``PUBLIC_BASE_URL/initiatives/<public_id>``; ``api_url`` is
    ``PUBLIC_BASE_URL/api/v1/initiatives/<id>``. Issue 8: ``review_link`` is the event's
    ``review_url`` (the secretariat's review page) and ``owner_link`` its ``owner_url`` (the
    owner's page) when :func:`safe_link` accepts them, else the same pages built from
    ``PUBLIC_BASE_URL`` (``/secretariat/review/<id>[/revisions/<n>]``,
    ``/my/initiatives/<id>``), so a bad URL is never linked and the mail still leads to
    the page; ``revision_number`` (or None), ``entry_body`` (a comment's text, plain; None
    when the event has no thread entry), ``author`` (the actor's name, one line, or None) and
    ``author_role`` (their role in words: a msgid the templates translate when there is no
    name). Path parts are percent-encoded.
    """
    initiative = event_data["initiative"]
    base = settings.public_base_url.rstrip("/")
    public_id = initiative.get("public_id")
    lead = initiative.get("lead_organization") or {}
    comment = (event_data.get("comment") or "").strip()
    key = quote(initiative["id"], safe="")
    revision = event_data.get("revision") or {}
    number = revision.get("number")
    review_page = f"{base}/secretariat/review/{key}"
    if number is not None:
        review_page += f"/revisions/{int(number)}"
    entry = event_data.get("thread_entry") or {}
    entry_body = (entry.get("body") or "").strip()
    author, author_role = _author(event_data)
    return {
        "title": initiative["title"],
        "public_id": public_id,
        "lead_organization": lead.get("name"),
        "comment": comment or None,
        "from_status": event_data.get("from_status"),
        "to_status": event_data["to_status"],
        "initiative_url": f"{base}/initiatives/{quote(public_id, safe='')}" if public_id else None,
        "api_url": f"{base}/api/v1/initiatives/{key}",
        "review_link": safe_link(event_data.get("review_url")) or review_page,
        "owner_link": safe_link(event_data.get("owner_url")) or f"{base}/my/initiatives/{key}",
        "revision_number": number,
        "entry_body": entry_body or None,
        "author": author,
        "author_role": author_role,
        "base_url": base,
    }


def render_mail(template: str, subject: str, subject_values: dict[str, str],
                context: dict[str, Any], locale: str | None = None) -> RenderedMail:
    """Render ``<template>.txt`` and ``<template>.html`` (paths under ``templates/``, e.g.
    ``email/approved``) and the ``subject`` msgid (``%`` with ``subject_values``) in
    ``locale`` (a language code such as ``zh`` or ``zh-CN``; unsupported or None: English,
    and English per string a catalogue lacks)."""
    lang = supported_language(locale) or DEFAULT_LANGUAGE
    translations = load_translations(lang, MAIL_CATALOGUES)
    token = _translations.set(translations)
    try:
        subject_text = translations.ugettext(subject) % subject_values
        opening, closing = QUOTES.get(lang, QUOTES[DEFAULT_LANGUAGE])
        extra = {"subject": subject_text, "lang_tag": LANGUAGES[lang].tag,
                 "lang_dir": LANGUAGES[lang].direction, "strong": _strong,
                 "quoted": lambda value: f"{opening}{value}{closing}"}
        text = _env.get_template(f"{template}.txt").render(**context, **extra)
        html = _env.get_template(f"{template}.html").render(**context, **extra)
    finally:
        _translations.reset(token)
    return RenderedMail(subject=subject_text, text=text, html=html)


def render(template: str, context: dict[str, Any], locale: str | None = None) -> RenderedMail:
    """Render the initiative e-mail ``template`` (a key of :data:`SUBJECTS`: a template pair
    of its own, or a :data:`NOTICES` entry rendered by ``email/notice``) in ``locale`` (see
    :func:`render_mail`). Raises ``KeyError`` for an unknown template."""
    notice = NOTICES.get(template)
    path = "email/notice" if notice is not None else f"email/{template}"
    number = context.get("revision_number")
    return render_mail(path, SUBJECTS[template], {
        "title": one_line(context["title"]),
        "public_id": one_line(context.get("public_id") or "", 40),
        "number": "" if number is None else str(number)},
        {**context, "notice": notice,
         # a comment's text is the thread entry, quoted once (not again as the step's comment)
         **({"comment": None} if notice is not None and notice.entry else {})}, locale)


def message_id(event_id: str, recipient: str, settings: MailSettings) -> str:
    """``<hash@domain>``: the same event and recipient always give the same Message-ID, so a
    duplicate that slipped through is recognisable; domain from ``MAIL_FROM``."""
    digest = hashlib.sha256(f"{event_id}\n{recipient.lower()}".encode()).hexdigest()[:40]
    domain = settings.sender.rpartition("@")[2] or "partnership-registry.invalid"
    return f"<{digest}@{re.sub(r'[^A-Za-z0-9.-]', '-', domain)}>"


#: Header fields a delivery may add to its message (``Delivery.headers``); any other name
#: stored there is left out. RFC 2369 ``List-Unsubscribe`` and ``List-Id`` (RFC 2919), RFC 8058
#: ``List-Unsubscribe-Post``.
EXTRA_HEADERS = ("List-Unsubscribe", "List-Unsubscribe-Post", "List-Id")


class _VerbatimHeader(UnstructuredHeader):
    """A header written on one line as it is (ASCII, at most 998 characters: RFC 5322 2.1.1).

    Python's email package folds a long unstructured header without whitespace — an
    unsubscribe URL in angle brackets — into RFC 2047 encoded words (``=?utf-8?q?…?=``),
    which mail clients do not decode in ``List-Unsubscribe``: the one-click button would not
    appear. Whatever policy the transport serialises with, this header class writes the value
    verbatim (``fold`` is the header object's, not the policy's)."""

    def fold(self, *, policy):  # noqa: D102 (see the class)
        # ``name`` comes from BaseHeader, which HeaderRegistry mixes in (not in the stubs)
        return f"{self.name}: {self}{policy.linesep}"  # type: ignore[attr-defined]


_HEADERS = HeaderRegistry()
for _name in EXTRA_HEADERS:
    _HEADERS.map_to_type(_name.lower(), _VerbatimHeader)  # type: ignore[arg-type] # a mixin
#: the policy of built messages: the default, with :class:`_VerbatimHeader` for the list headers
MESSAGE_POLICY = email_policy.default.clone(header_factory=_HEADERS)


def build_message(mail: RenderedMail, *, recipient: str, msg_id: str,
                  settings: MailSettings,
                  headers: dict[str, str] | None = None) -> EmailMessage:
    """An RFC 5322 ``multipart/alternative`` message (text first, then HTML) with
    ``Auto-Submitted: auto-generated`` (RFC 3834) so auto-responders stay quiet, plus the
    ``headers`` whose names are in :data:`EXTRA_HEADERS` (ASCII values, written on one line,
    never encoded: :class:`_VerbatimHeader`; others are left out)."""
    msg = EmailMessage(policy=MESSAGE_POLICY)
    msg["Subject"] = mail.subject
    msg["From"] = settings.mail_from
    msg["To"] = recipient
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = msg_id
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    for name in EXTRA_HEADERS:
        value = one_line((headers or {}).get(name) or "", 998 - len(name) - 2) \
            if isinstance((headers or {}).get(name), str) else ""
        if value and value.isascii():
            msg[name] = value
    msg.set_content(mail.text)
    msg.add_alternative(mail.html, subtype="html")
    return msg
