"""The review macros of the shared layout (``shared/templates/macros/diff.html``,
``smart.html``, ``thread.html``, ``labels.html``): what a reviewer and a partner read of a
diff, a SMART check and a thread, in English and Chinese, never by colour alone."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from flask import Flask, render_template_string
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired

from shared.web import create_base_app

DIFF = {
    "from": 1, "to": 2,
    "fields": [
        {"field": "title", "change": "changed", "before": "Reef care", "after": "Reef care 2030"},
        {"field": "end_date", "change": "added", "before": None, "after": "2030-12-31"},
        {"field": "contact_email", "change": "removed", "before": "a@reef.test", "after": None},
        {"field": "countries", "change": "changed", "before": ["FJI"], "after": ["FJI", "WSM"]},
        {"field": "deliverables", "change": "changed", "before": [], "after": []},
    ],
    "lists": {
        "countries": {"added": ["WSM"], "removed": [], "changed": [], "unchanged": 1},
        "sdg_targets": {"added": [], "removed": [], "changed": [], "unchanged": 2},
        "deliverables": {
            "added": [], "removed": [{"id": "d2", "description": "Old survey",
                                      "due_date": "2026-01-01", "status": "planned"}],
            "changed": [{"key": "d1",
                         "before": {"id": "d1", "description": "Nursery", "due_date": "2027-01-01",
                                    "status": "planned"},
                         "after": {"id": "d1", "description": "Nursery", "due_date": "2028-01-01",
                                   "status": "delayed"},
                         "fields": ["due_date", "status"]}],
            "unchanged": 0},
    },
}


class CommentForm(FlaskForm):
    body = TextAreaField("Comment", validators=[DataRequired()])
    visibility = SelectField("Who sees it", choices=[
        SelectChoice("participants", "Partner and secretariat"),
        SelectChoice("internal", "Internal")])
    reply_to_id = HiddenField()


@pytest.fixture
def app(monkeypatch) -> Flask:
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    app, _api = create_base_app("macrotest", title="t", docs_prefix="/api/v1",
                                test_config={"TESTING": True})
    return app


def render(app: Flask, source: str, lang: str = "en", **context) -> str:
    with app.test_request_context(f"/?lang={lang}"):
        return render_template_string(source, **context)


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


# -- diff ------------------------------------------------------------------------------------
def test_diff_lists_each_changed_field_with_before_and_after_in_words(app):
    html = render(app, '{% import "macros/diff.html" as d %}{{ d.diff(x) }}', x=DIFF)
    words = text(html)
    assert "From version 1 to version 2." in words
    # single fields: a table row each, the change in words, before in <del>, after in <ins>
    row = re.search(r'<tr class="diff-changed" data-field="title">.*?</tr>', html, re.S).group(0)
    assert "Changed" in row and "<del>" in row and "Reef care 2030" in row
    assert re.search(r'data-field="end_date">.*?Added.*?2030-12-31', html, re.S)
    assert re.search(r'data-field="contact_email">.*?Removed.*?a@reef.test', html, re.S)
    # lists item by item, not repeated in the table, unchanged lists left out
    assert 'data-field="countries"' in html
    assert '<tr class="diff-changed" data-field="countries"' not in html
    assert re.search(r"Added:.*?<ins>Samoa", html, re.S)
    assert "1 other item unchanged." in words
    assert 'data-field="sdg_targets"' not in html
    assert 'data-field="deliverables"' in html
    assert re.search(r"Removed:.*?<del>.*?Old survey", html, re.S)
    tag = r"(?:<[^>]+>)*"
    assert re.search(rf"Changed:.*?Nursery.*?Due date.*?<del>{tag}2027-01-01.*?<ins>{tag}2028-01-01"
                     rf".*?Status.*?<del>{tag}Planned.*?<ins>{tag}Delayed", html, re.S)
    # four changed fields: title, end_date, contact_email + the countries and deliverables lists
    assert "5 fields changed." in words


def test_diff_without_changes_says_so(app):
    html = render(app, '{% import "macros/diff.html" as d %}{{ d.diff(x, heading="V") }}',
                  x={"from": 1, "to": 1, "fields": [], "lists": {}})
    assert "No field changed." in text(html) and "<h2>V</h2>" in html
    assert "<table" not in html


def test_diff_in_chinese(app):
    html = render(app, '{% import "macros/diff.html" as d %}{{ d.diff(x) }}', lang="zh", x=DIFF)
    words = text(html)
    assert "标题" in words and "已更改" in words and "萨摩亚" in words
    assert "Changed" not in words and "Before" not in words


def test_diff_escapes_what_partners_wrote(app):
    evil = {"from": 1, "to": 2, "fields": [{"field": "title", "change": "changed",
                                           "before": "<b>x</b>", "after": "<script>y</script>"}],
            "lists": {}}
    html = render(app, '{% import "macros/diff.html" as d %}{{ d.diff(x) }}', x=evil)
    assert "<script>y" not in html and "&lt;script&gt;y" in html


# -- SMART check -----------------------------------------------------------------------------
def test_smart_check_lists_missing_fields_with_links(app):
    errors = [{"field": "description", "message": "Required to submit: Describe it."},
              {"field": "deliverables.1.due_date", "message": "each deliverable..."},
              {"field": "mystery", "message": "Something else."}]
    html = render(app, '{% import "macros/smart.html" as s %}{{ s.check(e, fix_links=l) }}',
                  e=errors, l={"description": "/w/basics", "deliverables": "/w/deliverables"})
    words = text(html)
    assert "3 things are missing" in words
    assert "Describe the initiative (specific)." in words
    assert "Deliverable 2 needs a due date (time-bound)." in words
    assert "Something else." in words  # unknown field: the service's message
    assert 'href="/w/basics"' in html and 'href="/w/deliverables"' in html
    assert html.count("Fix it") == 2


def test_smart_check_complete_and_chinese(app):
    ok = render(app, '{% import "macros/smart.html" as s %}{{ s.check([]) }}')
    assert "Nothing is missing" in text(ok)
    zh = render(app, '{% import "macros/smart.html" as s %}{{ s.check(e) }}', lang="zh",
                e=[{"field": "end_date", "message": "x"}])
    assert "结束日期" in text(zh) and "end date" not in text(zh).lower()


# -- thread ----------------------------------------------------------------------------------
def _entries() -> list[dict]:
    first, reply, note = (str(uuid.uuid4()) for _ in range(3))
    when = dt.datetime(2026, 12, 2, 9, 30, tzinfo=dt.UTC)
    return [
        {"id": str(uuid.uuid4()), "kind": "transition", "action": "submit",
         "from_status": "draft", "to_status": "submitted", "body": None,
         "visibility": "participants", "reply_to_id": None, "actor_name": "Ana Lima",
         "actor_role": "partner", "created_at": when},
        {"id": first, "kind": "transition", "action": "request_changes",
         "from_status": "submitted", "to_status": "changes_requested",
         "body": "Please add a deliverable.", "visibility": "participants",
         "reply_to_id": None, "actor_name": "Wei Zhang", "actor_role": "secretariat",
         "created_at": when},
        {"id": note, "kind": "note", "action": "comment", "body": "Check the budget.",
         "visibility": "internal", "reply_to_id": None, "actor_name": "Wei Zhang",
         "actor_role": "secretariat", "created_at": "2026-12-02T10:00:00+00:00"},
        {"id": reply, "kind": "comment", "action": "comment", "body": "Added one.",
         "visibility": "participants", "reply_to_id": first,
         "actor": {"name": "Ana Lima", "role": "partner"}, "created_at": when},
    ]


def test_thread_in_order_with_actor_status_change_replies_and_internal_notes(app):
    entries = _entries()
    html = render(app, '{% import "macros/thread.html" as t %}{{ t.thread(e) }}', e=entries)
    words = text(html)
    assert words.index("Ana Lima") < words.index("Wei Zhang")
    assert "(Partner organisation)" in words and "(Secretariat)" in words
    assert "status changed from Submitted to Changes requested" in words
    assert "Request changes" in words
    # the reply sits inside the entry it answers
    parent = re.search(rf'<li id="entry-{entries[1]["id"]}".*?</li>\s*</ol>\s*</li>', html, re.S)
    assert parent and "thread-replies" in parent.group(0) and "Added one." in parent.group(0)
    # the internal note says so in words
    note = re.search(rf'<li id="entry-{entries[2]["id"]}".*?</li>', html, re.S).group(0)
    assert "Internal note — not visible to the partner" in text(note)
    assert "thread-internal" in note
    assert "<form" not in html  # no form given: read only


def test_thread_reply_form_and_links(app):
    entries = _entries()
    source = ('{% import "macros/thread.html" as t %}'
              '{{ t.thread(e, form=f, action="/c", reply_base="/page", reply_to=r) }}')
    with app.test_request_context("/?lang=en"):
        form = CommentForm(reply_to_id=entries[1]["id"])
        html = render_template_string(source, e=entries, f=form, r=entries[1])
    assert 'id="reply-form"' in html and 'action="/c"' in html
    assert 'name="csrf_token"' in html and 'name="body"' in html
    assert f'value="{entries[1]["id"]}"' in html
    assert f'href="/page?reply_to={entries[1]["id"]}#reply-form"' in html
    assert "Replying to Wei Zhang." in text(html) and "Post reply" in html
    # the submit transition has no text: nothing to reply to
    assert f'reply_to={entries[0]["id"]}' not in html


def test_thread_reply_whose_parent_is_hidden_shows_at_top_level_and_chinese(app):
    entries = [e for e in _entries() if e["kind"] != "transition"]  # parent not visible
    html = render(app, '{% import "macros/thread.html" as t %}{{ t.thread(e) }}', lang="zh",
                  e=entries)
    assert "Added one." in html and "thread-replies" not in html
    assert "内部备注" in text(html)
    empty = render(app, '{% import "macros/thread.html" as t %}{{ t.thread([]) }}')
    assert "Nothing has been said yet." in text(empty)


def test_labels_cover_every_state(app):
    from shared.events.types import INITIATIVE_STATUSES, REVISION_STATUSES

    for lang in ("en", "zh"):
        for state in {*INITIATIVE_STATUSES, *REVISION_STATUSES}:
            out = render(app, '{% import "macros/labels.html" as l %}{{ l.state(s) }}',
                         lang=lang, s=state)
            assert out.strip() and out.strip() != state, (lang, state)
