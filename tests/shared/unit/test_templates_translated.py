"""Every user-facing text of every template (pages and e-mails, all services) goes through
gettext: a word written straight into a template's text or into a user-facing attribute
(``title``, ``alt``, ``placeholder``, ``aria-label``, ``value`` of a button) fails here,
naming the template and the words, so no page shows English in Chinese."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
TEMPLATES = sorted(p for root in ("shared", "services") for p in (REPO / root).rglob("*")
                   if p.suffix in (".html", ".txt") and "templates" in p.parts)
JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
WORD = re.compile(r"[A-Za-z]{2,}")
USER_ATTRIBUTES = {"title", "alt", "placeholder", "aria-label"}
#: text that is the same in every language (brand-free symbols, codes)
ALLOWED = {"UTC"}


class _Texts(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str]] = []  # (where, text)
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "script"):
            self._skip += 1
        for name, value in attrs:
            if name in USER_ATTRIBUTES and value:
                self.found.append((f"{tag}[{name}]=", value))

    def handle_endtag(self, tag):
        if tag in ("style", "script") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.found.append(("", data.strip()))


def _untranslated(path: Path) -> list[str]:
    source = JINJA.sub(" ", path.read_text(encoding="utf-8"))
    if path.suffix == ".txt":
        texts = [("", line.strip()) for line in source.splitlines() if line.strip()]
    else:
        parser = _Texts()
        parser.feed(source)
        texts = parser.found
    return [where + text for where, text in texts if set(WORD.findall(text)) - ALLOWED]


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(REPO)))
def test_template_text_goes_through_gettext(path):
    assert not _untranslated(path), (
        f"{path.relative_to(REPO)}: wrap in {{{{ _('...') }}}}: {_untranslated(path)[:10]}")


def test_the_check_finds_hard_coded_words(tmp_path):
    page = tmp_path / "page.html"
    page.write_text('<h1>{{ _("Fine") }}</h1><p>Not fine</p><img alt="Logo" src="x">',
                    encoding="utf-8")
    assert _untranslated(page) == ["Not fine", "img[alt]=Logo"]
