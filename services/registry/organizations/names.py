"""Organisation names hold no contact details: an e-mail address or a telephone number in a
name is personal data (the source's free-text partner field carried some, e.g. the record
#OceanAction41057 of the UN Ocean Conference registry), never an organisation's name.

Used by the API input (422 naming ``name``), the import (the fragment is dropped and reported
on its line) and registry migration 0007 (existing names cleaned).
"""

from __future__ import annotations

import re

#: an e-mail address (RFC 5322's common form; also "name @ host.org" with spaces around @)
EMAIL = re.compile(r"[\w.+'-]+\s?@\s?[\w-]+(?:\.[\w-]+)+", re.UNICODE)
#: a telephone number: "+" and at least 7 digits (spaces, dots, dashes, brackets between), a
#: "tel/phone/fax/mobile" label followed by digits, or 9+ digits in one separated run (no year
#: range such as "2021-2030" has that many)
PHONE = re.compile(
    r"\+\s?\(?\d(?:[\s().-]{0,3}\d){6,}"
    r"|(?:\btel(?:ephone)?|\bphone|\bfax|\bmobile|\bcell|\bwhatsapp)\b\.?\s*(?:no\.?|number)?"
    r"\s*[:.]?\s*\(?\+?\d(?:[\s().-]{0,3}\d){5,}"
    r"|\(?\b\d(?:[\s().-]{0,3}\d){8,}\b",
    re.IGNORECASE)
#: the labels left behind when the detail is removed ("E-mail:", "Phone :", "Contact person")
_LABELS = re.compile(r"\b(?:e-?mail|email address|tel(?:ephone)?|phone|fax|mobile|cell|"
                     r"whatsapp)\s*(?:no\.?|number)?\s*[:.]?", re.IGNORECASE)


def contact_details_in(name: str) -> list[str]:
    """The kinds of contact details ``name`` holds: ``"e-mail address"``,
    ``"telephone number"`` (empty when none)."""
    kinds = []
    if EMAIL.search(name):
        kinds.append("e-mail address")
    if PHONE.search(name):
        kinds.append("telephone number")
    return kinds


def without_contact_details(name: str) -> str:
    """``name`` with every e-mail address and telephone number (and the labels announcing
    them) removed, separators tidied; may be empty."""
    text = EMAIL.sub(" ", name)
    text = PHONE.sub(" ", text)
    if text != name:
        text = _LABELS.sub(" ", text)
    text = re.sub(r"\(\s*[,.;:]?\s*\)|\[\s*\]", " ", text)  # brackets left empty
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s+([,.;:])", r"\1", text)
    return re.sub(r"^[\s,.;:()\-–—]+|[\s,;:(\-–—]+$", "", text).strip()
