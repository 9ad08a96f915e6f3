"""The gettext catalogues: every translatable string of the sources is translated in Chinese
(no fuzzy entry, no missing string), every language's placeholders match the English, and the
labels of the reference catalogues are extracted.

A string added to a template or module without running ``make babel-update`` and translating
it into Chinese fails here, naming the catalogue and the string.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from shared import reference
from shared.i18n import LANGUAGES

REPO = Path(__file__).resolve().parents[3]
CATALOGUES = ("shared", "services/registry", "services/notifier", "services/reporting")
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2),
            "N_": None, "_l": None, "lazy_gettext": None, "lazy_ngettext": (1, 2)}
METHODS = [("**.py", "python"), ("**/templates/**.html", "jinja2"),
           ("**/templates/**.txt", "jinja2")]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


@cache
def source_strings(catalogue: str) -> frozenset[str]:
    """The msgids (singular) the sources of ``catalogue`` mark for translation."""
    found = set()
    for _file, _line, message, _comments, _ctx in extract_from_dir(
            REPO / catalogue, METHODS, keywords=KEYWORDS):
        found.add(message[0] if isinstance(message, tuple | list) else message)
    return frozenset(found)


def load(catalogue: str, lang: str):
    path = REPO / catalogue / "translations" / lang / "LC_MESSAGES" / "messages.po"
    assert path.is_file(), f"{path} missing: make babel-update"
    with path.open("rb") as fh:
        return read_po(fh, locale=lang)


@pytest.mark.parametrize("catalogue", CATALOGUES)
def test_chinese_catalogue_is_complete(catalogue):
    catalog = load(catalogue, "zh")
    by_id = {(m.id[0] if isinstance(m.id, tuple) else m.id): m for m in catalog if m.id}
    missing = sorted(source_strings(catalogue) - set(by_id))
    assert not missing, f"{catalogue}: not in zh/messages.po (make babel-update): {missing}"
    untranslated = sorted(key for key in source_strings(catalogue)
                          if not all(by_id[key].string if isinstance(by_id[key].string, tuple)
                                     else [by_id[key].string]))
    assert not untranslated, f"{catalogue}: untranslated in zh: {untranslated}"


@pytest.mark.parametrize("catalogue", CATALOGUES)
@pytest.mark.parametrize("lang", [code for code in LANGUAGES if code != "en"])
def test_no_fuzzy_entry_and_placeholders_match(catalogue, lang):
    catalog = load(catalogue, lang)
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert not fuzzy, f"{catalogue}/{lang}: fuzzy entries (review, then drop the flag): {fuzzy}"
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = set(PLACEHOLDER.findall(ids[-1])) | set(PLACEHOLDER.findall(ids[0]))
        for text in strings:
            if text:
                assert set(PLACEHOLDER.findall(text)) <= expected, (catalogue, lang, ids[0])
                if len(ids) == 1:
                    assert set(PLACEHOLDER.findall(text)) == expected, (catalogue, lang, ids[0])


def test_started_languages_translate_the_layout():
    """Arabic, French, Russian and Spanish are started: the base layout is translated."""
    for lang in ("ar", "fr", "ru", "es"):
        catalog = load("shared", lang)
        for key in ("Partnership Registry", "Skip to main content", "Language"):
            assert catalog.get(key) is not None and catalog.get(key).string, (lang, key)


def test_reference_labels_are_marked_for_translation():
    labels = ({g.label for g in reference.STAKEHOLDER_GROUPS.values()}
              | set(reference.RESOURCE_TYPES.values()) | set(reference.PARTNER_ROLES.values()))
    assert not labels - source_strings("shared"), "add them to shared.i18n._REFERENCE_LABELS"
