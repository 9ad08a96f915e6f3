"""The secretariat's weekly digest (issue 9): ``compliance.weekly-digest.v1`` -> one e-mail per
secretariat address listing the initiatives whose reporting light turned red or yellow during
the week, grouped by stakeholder group and then by region, with the counts by colour and a link
to the compliance dashboard.

Recipients: the event's ``recipients`` with role ``secretariat`` (each in their language) and
``SECRETARIAT_EMAIL`` (English), one e-mail per address. The digest is the secretariat's own
working mail, not a list: no ``List-Unsubscribe`` (issue 9: "except the secretariat's own"), and
it is sent even when nothing changed (the secretariat then knows the job ran).

Grouping: stakeholder groups by their label in the recipient's language (the lead
organisation's group; "No stakeholder group" last), inside each the top-level UN M49 regions
the initiative covers (its countries' and tagged regions', ``shared.reference.region_codes_for``;
"No region" last). An initiative covering two regions is listed under both, so a region's list
is complete; the section's heading counts distinct initiatives.

Untrusted input: validated ``ComplianceDigestData``; strings made storable; links only when
plain http(s) (else the public page / dashboard built from ``PUBLIC_BASE_URL``); more than
:data:`MAX_LISTED` initiatives per list or ``MAX_RECIPIENTS`` recipients is poison. Exactly
once per (event, recipient) like every delivery.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from babel.dates import format_date
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations
from sqlalchemy.orm import Session

from notifier.deliveries.rendering import (
    MAIL_CATALOGUES,
    N_,
    MailSettings,
    RenderedMail,
    one_line,
    render_mail,
    safe_link,
    storable_data,
    storable_text,
)
from notifier.deliveries.service import MAX_RECIPIENTS, delivery_row, insert_deliveries
from shared import reference
from shared.consumer import EventHandler, PoisonEvent
from shared.db import utcnow
from shared.events.envelope import CloudEvent
from shared.events.types import COMPLIANCE_WEEKLY_DIGEST
from shared.i18n import DEFAULT_LANGUAGE, load_translations, supported_language

log = logging.getLogger(__name__)

#: most initiatives one list of a digest may carry (a week of a 100,000-record registry turning
#: yellow at once is a few thousand); more is a producer bug and the event is dead-lettered
MAX_LISTED = 20_000
SUBJECT = N_("Weekly reporting digest, %(start)s to %(end)s: %(red)s turned red, %(yellow)s "
             "turned yellow")
NO_GROUP = N_("No stakeholder group")
NO_REGION = N_("No region")
WORLD = N_("World")


@dataclass(frozen=True)
class Listed:
    """One initiative in a group: title, public id (or empty) and the link to its public
    page (None when it has none)."""

    title: str
    public_id: str
    url: str | None


@dataclass(frozen=True)
class RegionGroup:
    """The initiatives of one region inside a stakeholder group."""

    region: str
    initiatives: list[Listed]


@dataclass(frozen=True)
class StakeholderGroupSection:
    """One stakeholder group: its label, how many distinct initiatives, its regions."""

    label: str
    count: int
    regions: list[RegionGroup]


def _top_regions(initiative: dict[str, Any]) -> list[str]:
    """Codes of the top-level M49 regions (and World ``001`` when tagged) it covers."""
    table = reference.regions()
    codes = reference.region_codes_for(list(initiative.get("countries") or []),
                                       list(initiative.get("regions") or []))
    return sorted(c for c in codes if c == "001" or table[c].level == "region")


def _region_label(code: str, lang: str, tr: Translations | NullTranslations) -> str:
    if code == "001":
        return tr.ugettext(WORLD)
    region = reference.regions()[code]
    return region.name_zh if lang == "zh" and region.name_zh else region.name_en


def _group_label(code: str | None, tr: Translations | NullTranslations) -> str | None:
    group = reference.STAKEHOLDER_GROUPS.get(code or "")
    return tr.ugettext(group.label) if group else None


def grouped(initiatives: list[dict[str, Any]], *, lang: str,
            base_url: str) -> list[StakeholderGroupSection]:
    """``initiatives`` (``ComplianceInitiativeRef`` dicts) grouped by stakeholder group, then
    region, in ``lang`` (labels sorted in that language's order of Python's ``str``; the
    "none" groups last); initiatives by title. See the module docstring."""
    tr = load_translations(lang, MAIL_CATALOGUES)
    base = base_url.rstrip("/")
    by_group: dict[tuple[int, str], dict[tuple[int, str], list[Listed]]] = defaultdict(
        lambda: defaultdict(list))
    counts: dict[tuple[int, str], int] = defaultdict(int)
    for initiative in initiatives:
        label = _group_label(initiative.get("stakeholder_group"), tr)
        group_key = (0, label) if label else (1, tr.ugettext(NO_GROUP))
        counts[group_key] += 1
        public_id = initiative.get("public_id") or ""
        url = safe_link(initiative.get("url")) or (
            f"{base}/initiatives/{quote(public_id, safe='')}" if public_id else None)
        listed = Listed(one_line(initiative["title"], 300), one_line(public_id, 40), url)
        codes = _top_regions(initiative)
        region_keys = [(0, _region_label(c, lang, tr)) for c in codes] or [
            (1, tr.ugettext(NO_REGION))]
        for region_key in region_keys:
            by_group[group_key][region_key].append(listed)
    return [StakeholderGroupSection(
        group_key[1], counts[group_key],
        [RegionGroup(region_key[1], sorted(items, key=lambda i: (i.title.casefold(),
                                                                 i.public_id)))
         for region_key, items in sorted(regions.items())])
        for group_key, regions in sorted(by_group.items())]


def render_digest(data: dict[str, Any], settings: MailSettings,
                  locale: str | None) -> RenderedMail:
    """The digest e-mail for a loaded ``ComplianceDigestData`` in ``locale`` (English when
    unsupported)."""
    lang = supported_language(locale) or DEFAULT_LANGUAGE
    base = settings.public_base_url.rstrip("/")
    counts = data.get("counts") or {}

    def number(value: int) -> str:
        return format_decimal(value, locale=lang)

    start = format_date(data["week_start"], format="long", locale=lang)
    # week_end is exclusive (the contract): the mail names the week's last day
    end = format_date(max(data["week_start"], data["week_end"] - timedelta(days=1)),
                      format="long", locale=lang)
    red, yellow = data.get("turned_red") or [], data.get("turned_yellow") or []
    context = {
        "week_start": start, "week_end": end,
        "counts": {colour: number(int(counts.get(colour) or 0))
                   for colour in ("green", "yellow", "red")},
        "red_count": number(len(red)), "yellow_count": number(len(yellow)),
        "red_groups": grouped(red, lang=lang, base_url=base),
        "yellow_groups": grouped(yellow, lang=lang, base_url=base),
        "dashboard_link": safe_link(data.get("dashboard_url")) or f"{base}/secretariat/compliance",
        "base_url": base, "comment": None,
    }
    return render_mail("email/digest", SUBJECT, {
        "start": start, "end": end, "red": number(len(red)), "yellow": number(len(yellow))},
        context, lang)


def plan_digest(session: Session, event: CloudEvent, data: dict[str, Any], *,
                settings: MailSettings) -> int:
    """Write one delivery per secretariat address of a digest event; returns how many rows.
    ``ON CONFLICT DO NOTHING`` per (event, recipient); does not commit. Raises
    :class:`~shared.consumer.PoisonEvent` for more than ``MAX_RECIPIENTS`` recipients or more
    than :data:`MAX_LISTED` initiatives in a list, or ``week_end`` before ``week_start``."""
    if len(data.get("recipients") or ()) > MAX_RECIPIENTS:
        raise PoisonEvent(f"more than {MAX_RECIPIENTS} recipients")
    for name in ("turned_yellow", "turned_red"):
        if len(data.get(name) or ()) > MAX_LISTED:
            raise PoisonEvent(f"more than {MAX_LISTED} initiatives in {name}")
    if data["week_end"] < data["week_start"]:
        raise PoisonEvent("week_end is before week_start")
    data = storable_data(data)
    targets: list[tuple[str, str]] = []
    seen: set[str] = set()
    candidates = [(r.get("email") or "", r.get("locale")) for r in data.get("recipients") or []
                  if r.get("role") == "secretariat"]
    candidates.append((settings.secretariat_email or "", None))
    for address, locale in candidates:
        address = address.strip()
        if not address or address.casefold() in seen:
            continue
        seen.add(address.casefold())
        targets.append((storable_text(address, 320),
                        supported_language(locale) or DEFAULT_LANGUAGE))
    if not targets:
        return 0
    event_id = storable_text(event.id, 200)
    now = utcnow()
    rendered: dict[str, RenderedMail] = {}
    rows = []
    for address, lang in targets:
        mail = rendered.get(lang)
        if mail is None:
            mail = rendered[lang] = render_digest(data, settings, lang)
        row = delivery_row(event=event, event_id=event_id, recipient=address,
                           template="compliance_digest", mail=mail, settings=settings, now=now)
        row.update(headers=None, list_id=None)
        rows.append(row)
    insert_deliveries(session, rows)
    log.info("weekly digest planned", extra={"deliveries": len(rows)})
    return len(rows)


def digest_handlers(*, settings: MailSettings) -> dict[str, EventHandler]:
    """The consumer's handler of ``compliance.weekly-digest.v1``."""

    def handle(session: Session, event: CloudEvent, data: dict[str, Any]) -> None:
        plan_digest(session, event, data, settings=settings)

    return {COMPLIANCE_WEEKLY_DIGEST: handle}
