"""Languages of the pages and e-mails of the three services: Flask-Babel set up once for all.

:func:`init_babel` gives an app:

* the locale of each request (:func:`select_locale`): an explicit choice — ``?lang=xx`` on any
  URL, the ``lang`` cookie the language switcher sets, the signed-in person's language
  (``g.principal.locale``) — else the browser's ``Accept-Language``, else English;
* translations from gettext catalogues (``<dir>/<lang>/LC_MESSAGES/messages.po``): the
  shared one (:data:`SHARED_TRANSLATIONS`, strings of ``shared/``: layout, labels, errors) merged
  with the service's own (``services/<service>/translations``, wins on a clash). The ``.po``
  files are read directly (no compile step; fuzzy entries are not used), so a fresh clone and
  an installed wheel (package data) work alike;
* template helpers: ``page_lang``/``page_dir`` for ``<html lang dir>``, the language switcher's
  links, reference labels in the page's language (:func:`goal_label`, :func:`country_name`,
  :func:`region_name`, :func:`stakeholder_group_label`...), the ``safe_url`` filter, and
  Flask-Babel's ``dateformat`` / ``decimalformat`` filters.

Supported languages (:data:`LANGUAGES`): the six official UN languages — English (``en``),
Simplified Chinese (``zh``, served as ``zh-Hans``), Arabic (``ar``, right-to-left), French,
Russian, Spanish. English and Chinese catalogues are complete (a test fails otherwise); the
others fall back to English per string.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from flask import Blueprint, Flask, current_app, g, has_request_context, redirect, request
from flask_babel import Babel, Domain, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.utils import cached_property

from shared import reference

#: Folder of the shared catalogue (``shared/translations/<lang>/LC_MESSAGES/messages.po``).
SHARED_TRANSLATIONS = Path(__file__).resolve().parent / "translations"
#: Name of the cookie holding the explicit language choice (1 year, SameSite=Lax, HttpOnly).
LANG_COOKIE = "lang"
LANG_COOKIE_MAX_AGE = 365 * 24 * 3600
DEFAULT_LANGUAGE = "en"


@dataclass(frozen=True)
class Language:
    """A supported language: ``code`` (catalogue folder and ``?lang=`` value), its own name,
    the BCP 47 tag for ``lang``/``hreflang`` attributes, and the text direction."""

    code: str
    name: str
    tag: str
    direction: str = "ltr"


LANGUAGES: dict[str, Language] = {lang.code: lang for lang in (
    Language("en", "English", "en"),
    Language("zh", "中文（简体）", "zh-Hans"),
    Language("ar", "العربية", "ar", "rtl"),
    Language("fr", "Français", "fr"),
    Language("ru", "Русский", "ru"),
    Language("es", "Español", "es"),
)}


def supported_language(value: str | None) -> str | None:
    """The supported language code ``value`` names (``zh``, ``zh-CN``, ``zh_Hans``, ``FR``),
    or None."""
    if not value:
        return None
    primary = value.strip().replace("_", "-").split("-")[0].lower()
    return primary if primary in LANGUAGES else None


def select_locale() -> str:
    """The language of the current request: ``?lang=`` > ``lang`` cookie > the signed-in
    person's ``g.principal.locale`` > ``Accept-Language`` (any ``zh-*`` counts as Chinese)
    > English. Outside a request: English."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    for explicit in (request.args.get("lang"), request.cookies.get(LANG_COOKIE)):
        if code := supported_language(explicit):
            return code
    principal = g.get("principal")
    if code := supported_language(getattr(principal, "locale", None)):
        return code
    for value, _quality in request.accept_languages:
        if code := supported_language(value):
            return code
    return DEFAULT_LANGUAGE


def current_language() -> Language:
    """The :class:`Language` of the current request (or forced locale)."""
    locale = get_locale()
    return LANGUAGES.get(locale.language if locale else DEFAULT_LANGUAGE,
                         LANGUAGES[DEFAULT_LANGUAGE])


# -- catalogues ----------------------------------------------------------------------------
_cache: dict[tuple[str, tuple[str, ...]], Translations | NullTranslations] = {}
_cache_lock = threading.Lock()


def load_translations(language: str, directories: list[str] | tuple[str, ...]
                      ) -> Translations | NullTranslations:
    """The merged translations of ``language`` from the ``messages.po`` of each directory
    (later directories win), cached per process. Fuzzy entries are left out (as
    ``pybabel compile`` does); a missing catalogue adds nothing."""
    key = (language, tuple(directories))
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    merged: Translations | NullTranslations = NullTranslations()
    if language != DEFAULT_LANGUAGE:
        merged = Translations()
        for directory in directories:
            po = Path(directory) / language / "LC_MESSAGES" / "messages.po"
            if not po.is_file():
                continue
            with po.open("rb") as fh:
                catalog = read_po(fh, locale=language)
            buffer = io.BytesIO()
            write_mo(buffer, catalog)
            buffer.seek(0)
            translations = Translations(fp=buffer)
            merged.merge(translations)
            merged.plural = translations.plural  # merge() does not copy the plural rule
    with _cache_lock:
        _cache[key] = merged
    return merged


class _PoDomain(Domain):
    """Flask-Babel's domain, reading our ``.po`` catalogues (see :func:`load_translations`)."""

    def get_translations(self):
        locale = get_locale()
        if locale is None:
            return NullTranslations()
        return load_translations(locale.language, self.translation_directories)


class _Babel(Babel):
    @cached_property
    def domain_instance(self):
        return _PoDomain(domain=self.domain)


def translation_directories(app: Flask) -> list[str]:
    """The app's catalogue folders: the shared one, then the service's ``translations``."""
    return [str(SHARED_TRANSLATIONS), str(Path(app.root_path) / "translations")]


# -- reference labels in the page's language -----------------------------------------------
def _zh() -> bool:
    return current_language().code == "zh"


def goal_label(code: int | str) -> str:
    """Short title of SDG goal ``code`` (``14`` -> ``Life below water`` / ``水下生物``); the
    code itself when unknown. Chinese from the reference data, other languages English."""
    goal = reference.goals().get(int(code)) if str(code).isdigit() else None
    if goal is None:
        return str(code)
    return goal.short_title_zh if _zh() and goal.short_title_zh else goal.short_title_en


def goal_title(code: int | str) -> str:
    """Full title of SDG goal ``code`` in the page's language (English fallback)."""
    goal = reference.goals().get(int(code)) if str(code).isdigit() else None
    if goal is None:
        return str(code)
    return goal.title_zh if _zh() and goal.title_zh else goal.title_en


def target_title(code: str) -> str:
    """Title of SDG target ``code`` (``14.1``) in the page's language; the code when unknown."""
    target = reference.targets().get(code)
    if target is None:
        return code
    return target.title_zh if _zh() and target.title_zh else target.title_en


def country_name(iso_alpha3: str) -> str:
    """UN M49 name of a country (ISO alpha-3) in the page's language; the code when unknown."""
    country = reference.countries().get(iso_alpha3)
    if country is None:
        return iso_alpha3
    return country.name_zh if _zh() and country.name_zh else country.name_en


def region_name(code: str) -> str:
    """UN M49 name of region ``code`` (``009`` -> Oceania / 大洋洲); the code when unknown."""
    region = reference.regions().get(code)
    if region is None:
        return code
    return region.name_zh if _zh() and region.name_zh else region.name_en


# Labels of the stakeholder groups (English text in shared/reference), marked here for
# extraction (tests/shared/unit/test_i18n_catalogues.py checks none is missing).
_STAKEHOLDER_GROUP_LABELS = (
    _l("Government"), _l("Local / regional government"), _l("Intergovernmental organization"),
    _l("United Nations / multilateral body"), _l("Non-governmental organization (NGO)"),
    _l("Civil society organization"), _l("Private sector"), _l("Academic institution"),
    _l("Scientific and technological community"), _l("Philanthropic organization"),
    _l("Partnership"), _l("Women"), _l("Children and youth"), _l("Indigenous peoples"),
    _l("Workers and trade unions"), _l("Farmers"), _l("Other relevant actor"),
)


def stakeholder_group_label(code: str | None) -> str:
    """Translated label of a stakeholder group code; the code when outside the catalogue."""
    group = reference.STAKEHOLDER_GROUPS.get(code or "")
    return _(group.label) if group else (code or "")


def safe_url(value: str | None) -> str | None:
    """``value`` when it is an absolute http(s) URL with a host, else None: only such URLs
    are rendered as links (a ``javascript:`` or ``data:`` URL would run on click)."""
    if not value or not isinstance(value, str):
        return None
    text = value.strip()
    if any(ch in text for ch in "\x00\r\n\t") or any(ord(ch) < 32 for ch in text):
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return text


def safe_local_path(value: str | None, default: str = "/") -> str:
    """``value`` when it is a path on this site (``/x?y``), else ``default``: no scheme, no
    host, no ``//`` or ``/\\`` prefix (browsers read those as another host)."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return default
    if any(ord(ch) < 32 for ch in value) or "\\" in value:
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


# -- the switcher --------------------------------------------------------------------------
bp = Blueprint("i18n", __name__)


def _set_lang_cookie(response, code: str) -> None:
    response.set_cookie(LANG_COOKIE, code, max_age=LANG_COOKIE_MAX_AGE, path="/",
                        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
                        httponly=True, samesite="Lax")


@bp.get("/language/<code>")
def switch_language(code: str):
    """Remember the chosen language (``lang`` cookie) and go back to ``next`` (a local path
    only; else ``/``). An unknown code changes nothing. Works without JavaScript: the
    switcher is a list of links."""
    target = safe_local_path(request.args.get("next"))
    response = redirect(target, code=303)
    if chosen := supported_language(code):
        _set_lang_cookie(response, chosen)
    return response


def language_links() -> list[dict]:
    """The switcher's entries: ``{code, name, tag, url, current}`` per language; each URL is
    ``/language/<code>?next=<this page>``."""
    here = request.full_path if has_request_context() else "/"
    here = here[:-1] if here.endswith("?") else here
    current = current_language().code
    from flask import url_for

    return [{"code": lang.code, "name": lang.name, "tag": lang.tag,
             "url": url_for("i18n.switch_language", code=lang.code, next=here),
             "current": lang.code == current} for lang in LANGUAGES.values()]


def _remember_query_choice(response):
    """``?lang=xx`` on any page is an explicit choice: keep it in the cookie. Pages vary by
    the language headers (shared caches must not serve one language to everyone)."""
    if response.mimetype == "text/html":
        response.vary.add("Accept-Language")
        response.vary.add("Cookie")
        response.headers.setdefault("Content-Language", current_language().tag)
    chosen = supported_language(request.args.get("lang"))
    if chosen and request.cookies.get(LANG_COOKIE) != chosen:
        _set_lang_cookie(response, chosen)
    return response


def _template_context() -> dict:
    lang = current_language()
    return {"page_lang": lang.tag, "page_dir": lang.direction, "current_language": lang,
            "language_links": language_links}


def init_babel(app: Flask) -> Babel:
    """Set up Flask-Babel on ``app``: locale selection, the merged catalogues (shared, then the
    service's ``translations`` folder next to its package), Jinja's ``_``/``gettext``/
    ``ngettext``, the helpers above as Jinja globals and ``safe_url`` as a filter, and the
    ``/language/<code>`` switcher."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "UTC")
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = ";".join(translation_directories(app))
    babel = _Babel(app, locale_selector=select_locale)
    app.jinja_env.globals.update(
        goal_label=goal_label, goal_title=goal_title, target_title=target_title,
        country_name=country_name, region_name=region_name,
        stakeholder_group_label=stakeholder_group_label)
    app.jinja_env.filters["safe_url"] = safe_url
    app.context_processor(_template_context)
    app.after_request(_remember_query_choice)
    app.register_blueprint(bp)
    return babel

