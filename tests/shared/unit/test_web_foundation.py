"""The web foundation of the three services (``shared.i18n``, ``shared.security``): language
selection and switcher, localised reference labels and numbers, ``safe_url``, CSRF on pages
and on cookie-authenticated API calls, security headers, and the production secret check."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from flask import Flask, flash, g, render_template_string, request

from shared.i18n import (
    country_name,
    goal_label,
    region_name,
    safe_local_path,
    safe_url,
    select_locale,
    stakeholder_group_label,
)
from shared.identity import Principal, PrincipalKind
from shared.security import CSP, DEV_SECRET_KEY, DOCS_CSP, InsecureConfiguration
from shared.web import create_base_app

PAGE = """{% extends "base.html" %}{% block main %}<h1>{{ _("Language") }}</h1>
{{ goal_label(14) }}|{{ country_name("CHN") }}|{{ region_name("009") }}|
{{ stakeholder_group_label("government") }}|{{ 1234567.5|decimalformat }}|
{{ day|dateformat("long") }}
{% import "macros/forms.html" as forms %}
<form method="post" action="/submit">{{ forms.csrf_field() }}</form>
{% endblock %}"""


@pytest.fixture
def app(monkeypatch) -> Flask:
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    app, _api = create_base_app("webtest", title="t", docs_prefix="/api/v1",
                                test_config={"TESTING": True})

    @app.before_request
    def _signed_in():  # stands for the accounts helper's session hook
        if locale := request.headers.get("X-Test-Principal-Locale"):
            g.principal = Principal(PrincipalKind.USER, subject="u1", locale=locale)

    @app.get("/page")
    def page():
        flash("Saved.", "success")
        return render_template_string(PAGE, day=dt.date(2026, 3, 5))

    @app.post("/submit")
    def submit():
        return "done"

    @app.post("/api/v1/things")
    def api_write():
        return {"ok": True}, 201

    @app.get("/locale")
    def locale():
        return select_locale()

    return app


def html_attrs(body: str) -> tuple[str, str]:
    m = re.search(r'<html lang="([^"]+)" dir="([^"]+)">', body)
    assert m, body[:200]
    return m.group(1), m.group(2)


def test_english_by_default_and_accept_language_chooses_chinese(app):
    c = app.test_client()
    assert c.get("/locale").text == "en"
    assert c.get("/locale", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}).text == "zh"
    assert c.get("/locale", headers={"Accept-Language": "zh-TW"}).text == "zh"
    assert c.get("/locale", headers={"Accept-Language": "de-DE, fr;q=0.8"}).text == "fr"
    assert c.get("/locale", headers={"Accept-Language": "de-DE"}).text == "en"


def test_explicit_choice_wins_query_then_cookie_then_principal(app):
    c = app.test_client()
    headers = {"Accept-Language": "fr"}
    c.set_cookie("lang", "ru")
    assert c.get("/locale", headers=headers).text == "ru"
    assert c.get("/locale?lang=es", headers=headers).text == "es"
    c.delete_cookie("lang")
    headers["X-Test-Principal-Locale"] = "zh"
    assert c.get("/locale", headers=headers).text == "zh"
    c.set_cookie("lang", "en")
    assert c.get("/locale", headers=headers).text == "en"


def test_query_choice_is_remembered_in_the_cookie(app):
    c = app.test_client()
    resp = c.get("/locale?lang=zh")
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith("lang=zh;") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert c.get("/locale").text == "zh"


def test_chinese_page_lang_dir_labels_numbers_dates(app):
    resp = app.test_client().get("/page", headers={"Accept-Language": "zh-CN"})
    assert resp.headers["Content-Language"] == "zh-Hans"
    assert {"Accept-Language", "Cookie"} <= set(resp.vary)
    body = resp.text
    assert html_attrs(body) == ("zh-Hans", "ltr")
    assert "<h1>语言</h1>" in body
    assert "水下生物|中国|大洋洲|" in body and "政府|" in body
    assert "1,234,567.5" in body and "2026年3月5日" in body
    assert "跳到主要内容" in body and 'href="#main"' in body and '<main id="main"' in body
    assert 'aria-current="true">中文（简体）</a>' in body


def test_arabic_is_right_to_left_and_other_languages_fall_back_per_string(app):
    body = app.test_client().get("/page?lang=ar").text
    assert html_attrs(body) == ("ar", "rtl")
    assert "سجل الشراكات" in body  # translated layout
    assert "Life below water|China|Oceania|" in body  # reference data: en + zh only
    body = app.test_client().get("/page?lang=fr").text
    assert html_attrs(body) == ("fr", "ltr") and "1 234 567,5" in body.replace("\u202f", " ")
    assert "5 mars 2026" in body


def test_layout_has_no_inline_script_or_style_and_shows_flashes(app):
    body = app.test_client().get("/page").text
    assert "<script" not in body and "<style" not in body and " style=" not in body
    assert 'class="flash flash-success">Saved.</p>' in body
    assert 'href="/static/shared/site.css"' in body
    css = app.test_client().get("/static/shared/site.css")
    assert css.status_code == 200 and css.headers["X-Content-Type-Options"] == "nosniff"
    css.close()


def test_language_switcher_sets_cookie_and_redirects_only_locally(app):
    c = app.test_client()
    resp = c.get("/language/zh?next=/page%3Fq%3D1")
    assert resp.status_code == 303 and resp.headers["Location"] == "/page?q=1"
    assert resp.headers["Set-Cookie"].startswith("lang=zh;")
    for evil in ("//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:x",
                 "/%0d%0aSet-Cookie:x"):
        resp = c.get("/language/fr", query_string={"next": evil})
        location = resp.headers["Location"]
        assert location in ("/", evil) and location.startswith("/") and \
            not location.startswith(("//", "/\\")), (evil, location)
    resp = c.get("/language/xx?next=/page")
    assert resp.status_code == 303 and "Set-Cookie" not in resp.headers
    links = re.findall(r'href="(/language/[^"]+)"', c.get("/page?q=a%20b").text)
    assert len(links) == 6 and all("next=/page" in link for link in links)


def test_safe_url_and_safe_local_path():
    assert safe_url("https://example.org/a?b=1") == "https://example.org/a?b=1"
    assert safe_url("HTTP://example.org") == "HTTP://example.org"
    for bad in ("javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:x", "data:text/html,x",
                "vbscript:x", "//example.org", "/relative", "http://", "https:///x",
                "http://exa\nmple.org", None, ""):
        assert safe_url(bad) is None, bad
    assert safe_local_path("/a/b?c=d") == "/a/b?c=d"
    for bad in ("//x", "/\\x", "http://x/", "x", "", None, "/a\r\nb"):
        assert safe_local_path(bad) == "/", bad


def test_labels_outside_a_request_are_english():
    assert goal_label(14) == "Life below water" and country_name("FJI") == "Fiji"
    assert region_name("999") == "999" and stakeholder_group_label("nope") == "nope"


# -- CSRF -----------------------------------------------------------------------------------
def _token(client) -> str:
    body = client.get("/page").text
    return re.search(r'name="csrf_token" value="([^"]+)"', body).group(1)


def test_page_post_needs_the_csrf_token(app):
    c = app.test_client()
    resp = c.post("/submit", headers={"Accept": "text/html"})
    assert resp.status_code == 400 and "<h1>This form has expired</h1>" in resp.text
    token = _token(c)
    assert c.post("/submit", data={"csrf_token": "forged"}).status_code == 400
    assert c.post("/submit", data={"csrf_token": token}).text == "done"


def test_api_write_with_session_cookie_needs_the_csrf_header(app):
    c = app.test_client()
    token = _token(c)  # the session cookie now exists
    resp = c.post("/api/v1/things", json={})
    assert resp.status_code == 400 and resp.mimetype == "application/problem+json"
    assert resp.json["type"].endswith("/csrf")
    assert c.post("/api/v1/things", json={}, headers={"X-CSRFToken": token}).status_code == 201


def test_api_write_with_bearer_or_without_cookie_is_not_a_csrf_case(app):
    c = app.test_client()
    assert c.post("/api/v1/things", json={}).status_code == 201  # no ambient credential
    _token(c)
    assert c.post("/api/v1/things", json={},
                  headers={"Authorization": "Bearer abc"}).status_code == 201


# -- headers and secret key -----------------------------------------------------------------
def test_security_headers_on_pages_api_errors_and_docs(app):
    c = app.test_client()
    for path in ("/page", "/healthz", "/nowhere", "/api/v1/openapi.json"):
        resp = c.get(path)
        assert resp.headers["Content-Security-Policy"] == CSP, path
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert "Strict-Transport-Security" not in resp.headers  # development
    assert "frame-ancestors 'none'" in CSP and "'unsafe-inline'" not in CSP
    assert c.get("/api/v1/docs").headers["Content-Security-Policy"] == DOCS_CSP


def test_session_cookie_flags_in_development(app):
    c = app.test_client()
    cookie = c.get("/page").headers["Set-Cookie"]
    assert cookie.startswith("session=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie


@pytest.mark.parametrize("key", [None, DEV_SECRET_KEY, "short"])
def test_production_refuses_missing_default_or_short_secret(monkeypatch, key):
    monkeypatch.setenv("ENVIRONMENT", "production")
    if key is None:
        monkeypatch.delenv("SECRET_KEY", raising=False)
    else:
        monkeypatch.setenv("SECRET_KEY", key)
    with pytest.raises(InsecureConfiguration, match="SECRET_KEY"):
        create_base_app("webtest", title="t", docs_prefix="/api/v1")


def test_production_headers_and_host_prefixed_secure_cookie(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SECRET_KEY", "k" * 48)
    app, _api = create_base_app("webtest", title="t", docs_prefix="/api/v1")

    @app.get("/page")
    def page():
        return render_template_string("{{ csrf_token() }}")

    resp = app.test_client().get("/page", base_url="https://localhost")
    assert resp.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith("__Host-session=") and "Secure" in cookie and "Path=/" in cookie


def test_the_three_services_get_the_foundation(tmp_path):
    from notifier.app import create_app as notifier_app
    from registry.app import create_app as registry_app
    from reporting.app import create_app as reporting_app

    for name, create in (("registry", registry_app), ("notifier", notifier_app),
                         ("reporting", reporting_app)):
        app = create({"DATABASE_URL": f"sqlite:///{tmp_path / name}.db", "TESTING": True})
        resp = app.test_client().get("/healthz")
        assert resp.headers["Content-Security-Policy"] == CSP, name
        assert "babel" in app.extensions and "csrf" in app.extensions, name
        app.extensions["db_engine"].dispose()


def test_form_macro_renders_labels_errors_and_the_csrf_token(app):
    from flask_wtf import FlaskForm
    from wtforms import StringField
    from wtforms.validators import DataRequired

    class NameForm(FlaskForm):
        name = StringField("Name", validators=[DataRequired()], description="Your full name")

    @app.post("/form")
    def form_page():
        form = NameForm()
        form.validate_on_submit()
        return render_template_string(
            '{% import "macros/forms.html" as forms %}'
            '{{ forms.form(form, "/form", "Send") }}{{ forms.post_button("/out", "Sign out") }}',
            form=form)

    c = app.test_client()
    token = _token(c)
    body = c.post("/form", data={"csrf_token": token, "name": ""}).text
    assert '<label for="name">Name <span class="required">(required)</span></label>' in body
    assert 'aria-describedby="name-help name-errors"' in body and 'aria-invalid="true"' in body
    assert '<ul class="errors" id="name-errors"><li>This field is required.</li></ul>' in body
    assert body.count('name="csrf_token"') == 2 and 'method="post" action="/out"' in body
    assert "None" not in body
