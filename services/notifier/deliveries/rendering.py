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
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import quote

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


#: template name -> subject line (gettext msgid, ``%`` with ``title`` and ``public_id``)
SUBJECTS: dict[str, str] = {
    "submitted_contact": N_("Submitted for review: %(title)s"),
    "submitted_secretariat": N_("Submitted for review: %(title)s"),
    "approved": N_("Published: %(title)s (%(public_id)s)"),
    "changes_requested": N_("Changes requested: %(title)s"),
    "rejected": N_("Not accepted: %(title)s"),
}

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
    """``MAIL_FROM`` (a From: header), ``SECRETARIAT_EMAIL``, ``PUBLIC_BASE_URL`` (no slash)."""

    mail_from: str
    secretariat_email: str
    public_base_url: str

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


def mail_context(event_data: dict[str, Any], settings: MailSettings) -> dict[str, Any]:
    """Template variables from a loaded ``InitiativeEventData``: initiative fields and links.

    ``initiative_url`` (public page, only when the initiative has a ``public_id``) is
    ``PUBLIC_BASE_URL/initiatives/<public_id>``; ``api_url`` is
    ``PUBLIC_BASE_URL/api/v1/initiatives/<id>`` (the secretariat's view). Path parts are
    percent-encoded.
    """
    initiative = event_data["initiative"]
    base = settings.public_base_url.rstrip("/")
    public_id = initiative.get("public_id")
    lead = initiative.get("lead_organization") or {}
    comment = (event_data.get("comment") or "").strip()
    return {
        "title": initiative["title"],
        "public_id": public_id,
        "lead_organization": lead.get("name"),
        "comment": comment or None,
        "from_status": event_data.get("from_status"),
        "to_status": event_data["to_status"],
        "initiative_url": f"{base}/initiatives/{quote(public_id, safe='')}" if public_id else None,
        "api_url": f"{base}/api/v1/initiatives/{quote(initiative['id'], safe='')}",
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
    """Render the initiative e-mail ``template`` (a key of :data:`SUBJECTS`) in ``locale``
    (see :func:`render_mail`). Raises ``KeyError`` for an unknown template."""
    return render_mail(f"email/{template}", SUBJECTS[template], {
        "title": one_line(context["title"]),
        "public_id": one_line(context.get("public_id") or "", 40)}, context, locale)


def message_id(event_id: str, recipient: str, settings: MailSettings) -> str:
    """``<hash@domain>``: the same event and recipient always give the same Message-ID, so a
    duplicate that slipped through is recognisable; domain from ``MAIL_FROM``."""
    digest = hashlib.sha256(f"{event_id}\n{recipient.lower()}".encode()).hexdigest()[:40]
    domain = settings.sender.rpartition("@")[2] or "partnership-registry.invalid"
    return f"<{digest}@{re.sub(r'[^A-Za-z0-9.-]', '-', domain)}>"


def build_message(mail: RenderedMail, *, recipient: str, msg_id: str,
                  settings: MailSettings) -> EmailMessage:
    """An RFC 5322 ``multipart/alternative`` message (text first, then HTML) with
    ``Auto-Submitted: auto-generated`` (RFC 3834) so auto-responders stay quiet."""
    msg = EmailMessage()
    msg["Subject"] = mail.subject
    msg["From"] = settings.mail_from
    msg["To"] = recipient
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = msg_id
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(mail.text)
    msg.add_alternative(mail.html, subtype="html")
    return msg
