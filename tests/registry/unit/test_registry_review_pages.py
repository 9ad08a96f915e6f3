"""The review desk's pages (``registry.review.pages``) and the public initiative pages
(``registry.pages.views``): the queue, the review page of a submission and of a revision
(SMART check, diff, thread with internal notes and replies, assignment, decisions with the
page's version: 412 when stale), the public page's state, version, last update, public thread
and banners, the versions and diff pages, the organisation page's list. Server-rendered, CSRF
on every form, English and Chinese."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from sqlalchemy import update

from tests.registry.conftest import complete_fields
from tests.registry.unit.test_registry_memberships import People
from tests.registry.unit.test_registry_organization_pages import Browser


def text(resp) -> str:
    html = resp.get_data(as_text=True)
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


class Desk:
    """A partner (API token of a verified organisation), a reviewer and a second reviewer
    (accounts with names), and shortcuts to make initiatives in a given state."""

    def __init__(self, registry):
        self.registry = registry
        self.people = People(registry)
        self.partner = registry.token("partner")
        self.wei = self.staff("wei@secretariat.test")
        self.reviewer = self.people.token(self.wei, staff=("reviewer",))
        self.li = self.staff("li@secretariat.test")
        self.reviewer2 = self.people.token(self.li, staff=("reviewer",))

    def staff(self, email: str) -> uuid.UUID:
        """An account holding the reviewer role."""
        from registry.accounts.service import grant_staff_role
        from shared.identity import SYSTEM

        user_id = self.people.user(email)
        with self.registry.session() as s:
            grant_staff_role(db_session=s, principal=SYSTEM, user_id=user_id, role="reviewer")
            s.commit()
        return user_id

    def draft(self, **fields) -> dict:
        return self.registry.create(self.partner, **(complete_fields(
            self.registry, self.partner) | fields))

    def submitted(self, **fields) -> dict:
        made = self.draft(**fields)
        resp = self.registry.action(self.partner, made["id"], "submit")
        assert resp.status_code == 200, resp.json
        self.registry.verify(self.reviewer, made["owner_organization_id"])
        return resp.json

    def published(self, **fields) -> dict:
        made = self.submitted(**fields)
        resp = self.registry.action(self.reviewer, made["id"], "approve")
        assert resp.status_code == 200, resp.json
        return resp.json

    def browser(self, token: str | None) -> Browser:
        return Browser(self.registry, token)

    def status(self, initiative_id: str) -> str:
        from registry.initiatives.models import Initiative

        with self.registry.session() as s:
            return s.get(Initiative, uuid.UUID(initiative_id)).status


@pytest.fixture
def desk(registry) -> Desk:
    return Desk(registry)


# -- the queue -------------------------------------------------------------------------------
def test_the_queue_is_for_reviewers_only(desk):
    assert desk.browser(None).get("/secretariat/review").status_code in (302, 401)
    refused = desk.browser(desk.partner).get("/secretariat/review")
    assert refused.status_code == 403 and "reviewers" in text(refused)
    assert desk.browser(desk.reviewer).get("/secretariat/review").status_code == 200


def test_the_queue_lists_oldest_first_with_age_and_the_target_in_words(desk, registry):
    from registry.initiatives.models import Initiative

    recent = desk.submitted(title="Recent reef plan")
    old = desk.submitted(title="Old mangrove plan")
    with registry.session() as s:
        s.execute(update(Initiative).where(Initiative.id == uuid.UUID(old["id"])).values(
            submitted_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=21)))
        s.commit()
    page = desk.browser(desk.reviewer).get("/secretariat/review")
    body = text(page)
    assert page.status_code == 200
    assert body.index("Old mangrove plan") < body.index("Recent reef plan")
    row = re.search(rf'<tr class="[^"]*queue-overdue[^"]*" data-initiative="{old["id"]}">.*?</tr>',
                    page.get_data(as_text=True), re.S)
    assert row and "Overdue: past the 5-working-day target" in row.group(0)
    assert f'data-initiative="{recent["id"]}"' in page.get_data(as_text=True)
    # the filters: assigned to no one lists both, assigned to me none, revisions none
    assert "Old mangrove plan" in text(desk.browser(desk.reviewer).get(
        "/secretariat/review?assigned=none"))
    assert "Old mangrove plan" not in text(desk.browser(desk.reviewer).get(
        "/secretariat/review?assigned=me"))
    assert "Old mangrove plan" not in text(desk.browser(desk.reviewer).get(
        "/secretariat/review?kind=revision"))
    # bad filters are ignored, never a 500
    assert desk.browser(desk.reviewer).get(
        "/secretariat/review?kind=bogus&assigned=x&page=-3").status_code == 200
    assert desk.browser(desk.reviewer).get("/secretariat/review?kind=%00").status_code < 500


def test_four_eyes_a_reviewer_of_the_owner_organisation_is_told_they_cannot_decide(desk,
                                                                                  registry):
    made = desk.submitted(title="Own organisation's plan")
    from registry.organizations.models import OrganizationMembership

    with registry.session() as s:
        s.add(OrganizationMembership(id=uuid.uuid4(), user_id=desk.wei, role="member",
                                     organization_id=uuid.UUID(made["owner_organization_id"])))
        s.commit()
    reviewer = desk.people.token(desk.wei, staff=("reviewer",))
    queue = desk.browser(reviewer).get("/secretariat/review")
    assert "You cannot decide: you are a member of the owner organisation." in text(queue)
    page = desk.browser(reviewer).get(f"/secretariat/review/{made['id']}")
    assert page.status_code == 200
    assert "You cannot decide: you are a member of the owner organisation." in text(page)
    assert 'class="decision decision-approve"' not in page.get_data(as_text=True)
    # and a forged POST is refused by the service (403), nothing changes
    browser = desk.browser(reviewer)
    browser.get(f"/secretariat/review/{made['id']}")
    refused = browser.post(f"/secretariat/review/{made['id']}/approve",
                           {"version": made["version"]})
    assert refused.status_code == 403 and desk.status(made["id"]) == "submitted"


# -- the review page -------------------------------------------------------------------------
def test_the_review_page_shows_the_record_smart_check_thread_and_allowed_decisions(desk):
    made = desk.submitted(title="Seagrass meadows")
    page = desk.browser(desk.reviewer).get(f"/secretariat/review/{made['id']}")
    html, body = page.get_data(as_text=True), text(page)
    assert page.status_code == 200 and "Seagrass meadows" in body
    assert "SMART check" in body and "Nothing is missing" in body
    for action in ("approve", "request_changes", "reject"):
        assert f'class="decision decision-{action}"' in html
    for action in ("confirm_completion", "suspend", "archive"):
        assert f'class="decision decision-{action}"' not in html
    assert f'name="version" value="{made["version"]}"' in html
    assert "status changed from Draft to Submitted" in body
    # not the partner's page, and an unknown initiative is a 404 page
    assert desk.browser(desk.partner).get(f"/secretariat/review/{made['id']}").status_code \
        == 403
    assert desk.browser(desk.reviewer).get(
        f"/secretariat/review/{uuid.uuid4()}").status_code == 404


def test_request_changes_needs_a_comment_and_then_goes_to_the_partner(desk):
    made = desk.submitted()
    browser = desk.browser(desk.reviewer)
    browser.get(f"/secretariat/review/{made['id']}")
    missing = browser.post(f"/secretariat/review/{made['id']}/request-changes",
                           {"comment": "  ", "version": made["version"]})
    assert missing.status_code == 422
    assert "Say why: a comment is required for this decision." in text(missing)
    assert 'aria-invalid="true"' in missing.get_data(as_text=True)
    assert desk.status(made["id"]) == "submitted"
    done = browser.post(f"/secretariat/review/{made['id']}/request-changes",
                        {"comment": "Add the monitoring sites.", "version": made["version"]})
    assert done.status_code == 303
    assert desk.status(made["id"]) == "changes_requested"
    page = browser.get(done.headers["Location"])
    assert "Add the monitoring sites." in text(page)
    assert "status changed from Submitted to Changes requested" in text(page)


def test_a_stale_decision_is_412_and_changes_nothing(desk):
    made = desk.submitted()
    browser = desk.browser(desk.reviewer)
    browser.get(f"/secretariat/review/{made['id']}")
    # someone else comments meanwhile? no: the partner cannot edit a submitted record, so the
    # other reviewer assigns it (a change of the record's version)
    other = desk.browser(desk.reviewer2)
    other.get(f"/secretariat/review/{made['id']}")
    assigned = other.post(f"/secretariat/review/{made['id']}/assign",
                          {"reviewer": "me", "version": made["version"]})
    assert assigned.status_code == 303
    stale = browser.post(f"/secretariat/review/{made['id']}/approve",
                         {"version": made["version"] - 1})
    assert stale.status_code == 412
    assert "Someone changed this record since you opened it." in text(stale)
    assert "Reload the record" in text(stale)
    assert desk.status(made["id"]) == "submitted"
    fresh = browser.post(f"/secretariat/review/{made['id']}/approve", {})
    assert fresh.status_code == 303 and desk.status(made["id"]) == "published"


def test_decisions_need_the_csrf_token_and_unknown_actions_are_404(desk):
    made = desk.submitted()
    browser = desk.browser(desk.reviewer)
    browser.get(f"/secretariat/review/{made['id']}")
    assert browser.post(f"/secretariat/review/{made['id']}/approve", {},
                        csrf=False).status_code == 400
    assert browser.post(f"/secretariat/review/{made['id']}/explode",
                        {}).status_code == 404
    assert desk.status(made["id"]) == "submitted"


def test_internal_notes_stay_with_the_secretariat_and_replies_are_indented(desk, registry):
    made = desk.submitted()
    browser = desk.browser(desk.reviewer)
    browser.get(f"/secretariat/review/{made['id']}")
    note = browser.post(f"/secretariat/review/{made['id']}/comments",
                        {"body": "Budget looks thin.", "visibility": "internal"})
    assert note.status_code == 303
    said = browser.post(f"/secretariat/review/{made['id']}/comments",
                        {"body": "Which sites?", "visibility": "participants"})
    assert said.status_code == 303
    page = browser.get(f"/secretariat/review/{made['id']}")
    assert "Internal note — not visible to the partner" in text(page)
    # the partner's thread (API) has the comment, not the note
    thread = registry.get(f"/api/v1/initiatives/{made['id']}/thread", desk.partner)
    assert thread.status_code == 200
    items = thread.json["items"] if isinstance(thread.json, dict) else thread.json
    bodies = [e["body"] for e in items]
    assert "Which sites?" in bodies and "Budget looks thin." not in bodies
    question = next(e for e in items if e["body"] == "Which sites?")
    # a reply through the page's reply link (no JavaScript: ?reply_to=)
    form_page = browser.get(f"/secretariat/review/{made['id']}?reply_to={question['id']}")
    assert "Replying to" in text(form_page)
    assert f'value="{question["id"]}"' in form_page.get_data(as_text=True)
    reply = browser.post(f"/secretariat/review/{made['id']}/comments",
                         {"body": "Also the budget, please.", "visibility": "participants",
                          "reply_to_id": question["id"]})
    assert reply.status_code == 303
    html = browser.get(f"/secretariat/review/{made['id']}").get_data(as_text=True)
    nested = re.search(rf'<li id="entry-{question["id"]}".*?class="thread-replies".*?'
                       r"Also the budget, please\.", html, re.S)
    assert nested
    # an empty comment is a 422 naming the field
    empty = browser.post(f"/secretariat/review/{made['id']}/comments",
                         {"body": " ", "visibility": "participants"})
    assert empty.status_code == 422 and 'aria-invalid="true"' in empty.get_data(as_text=True)


def test_assign_to_me_shows_on_the_page_and_in_the_queue_filter(desk):
    made = desk.submitted(title="Kelp forests")
    browser = desk.browser(desk.reviewer)
    browser.get(f"/secretariat/review/{made['id']}")
    done = browser.post(f"/secretariat/review/{made['id']}/assign", {"reviewer": "me"})
    assert done.status_code == 303
    assert "wei" in text(browser.get(f"/secretariat/review/{made['id']}"))
    assert "Kelp forests" in text(browser.get("/secretariat/review?assigned=me"))
    assert "Kelp forests" not in text(browser.get("/secretariat/review?assigned=none"))
    # another reviewer from the list, then no one
    browser.get(f"/secretariat/review/{made['id']}")
    assert browser.post(f"/secretariat/review/{made['id']}/assign",
                        {"reviewer": str(desk.li)}).status_code == 303
    assert "li@secretariat.test" in text(browser.get(f"/secretariat/review/{made['id']}"))
    # not a reviewer from the list: refused with a message, nothing changes
    bad = browser.post(f"/secretariat/review/{made['id']}/assign",
                       {"reviewer": str(uuid.uuid4())})
    assert bad.status_code == 303


def test_the_review_page_in_chinese(desk):
    made = desk.submitted()
    page = desk.browser(desk.reviewer).get(f"/secretariat/review/{made['id']}?lang=zh")
    body = text(page)
    assert "SMART 检查" in body and "批准" in body and "要求修改" in body
    assert "Request changes" not in body


# -- public pages ----------------------------------------------------------------------------
def test_the_public_page_shows_state_version_and_last_update(desk):
    made = desk.published(title="Public reef plan")
    page = desk.browser(None).get(f"/initiatives/{made['public_id']}")
    body = text(page)
    assert page.status_code == 200
    assert "Published" in body and "Version 1" in body and "Last update" in body
    assert "Completed" not in body
    draft = desk.draft()
    assert desk.browser(None).get(f"/initiatives/{draft['id']}").status_code == 404


def _act(desk, token, initiative_id, path, comment=None):
    resp = desk.registry.action(token, initiative_id, path, comment)
    assert resp.status_code == 200, resp.json
    return resp.json


def test_public_banners_for_completion_withdrawal_and_archive(desk):
    made = desk.published()
    url = f"/initiatives/{made['public_id']}"
    _act(desk, desk.partner, made["id"], "declare-completion", "All 40 ha restored.")
    body = text(desk.browser(None).get(url))
    assert "Completion declared" in body and "not confirmed it yet" in body
    assert "Closing note: All 40 ha restored." in body
    _act(desk, desk.reviewer, made["id"], "confirm-completion")
    body = text(desk.browser(None).get(url))
    assert "The secretariat confirmed on" in body
    _act(desk, desk.reviewer, made["id"], "archive")
    assert "kept for the record and is no longer updated" in text(desk.browser(None).get(url))
    other = desk.published()
    _act(desk, desk.partner, other["id"], "withdraw", "Funding ended.")
    body = text(desk.browser(None).get(f"/initiatives/{other['public_id']}"))
    assert "Withdrawn" in body and "Reason: Funding ended." in body
    zh = text(desk.browser(None).get(f"/initiatives/{other['public_id']}?lang=zh"))
    assert "已撤回" in zh


def _revise(desk, made: dict, **changes) -> int:
    """Edit the published initiative (a draft revision), submit it, approve it; returns the
    revision number."""
    resp = desk.registry.patch(f"/api/v1/initiatives/{made['id']}", changes, desk.partner)
    assert resp.status_code in (200, 201), resp.json
    revisions = desk.registry.get(f"/api/v1/initiatives/{made['id']}/revisions", desk.partner)
    number = max(r["number"] for r in revisions.json["items"])
    base = f"/api/v1/initiatives/{made['id']}/revisions/{number}"
    assert desk.registry.post(f"{base}/submit", {}, desk.partner).status_code == 200
    return number


def test_versions_and_diff_pages(desk):
    made = desk.published(title="Mangrove belt")
    number = _revise(desk, made, title="Mangrove belt 2030")
    browser = desk.browser(desk.reviewer)
    # the public still sees version 1 while the revision waits
    assert "Mangrove belt 2030" not in text(desk.browser(None).get(
        f"/initiatives/{made['public_id']}"))
    page = browser.get(f"/secretariat/review/{made['id']}/revisions/{number}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-field="title"' in html and "Mangrove belt 2030" in html
    assert "1 field changed." in text(page)
    # assign the revision's review to me
    assigned = browser.post(f"/secretariat/review/{made['id']}/revisions/{number}/assign",
                            {"reviewer": "me"})
    assert assigned.status_code == 303
    revision_page = text(browser.get(f"/secretariat/review/{made['id']}/revisions/{number}"))
    assert "Reviewer wei " in revision_page
    assert f"/revisions/{number}" in browser.get(
        "/secretariat/review?assigned=me&kind=revision").get_data(as_text=True)
    approved = browser.post(f"/secretariat/review/{made['id']}/revisions/{number}/approve",
                            {})
    assert approved.status_code == 303
    public = text(desk.browser(None).get(f"/initiatives/{made['public_id']}"))
    assert "Mangrove belt 2030" in public and "Version 2" in public
    versions = desk.browser(None).get(f"/initiatives/{made['public_id']}/versions")
    assert versions.status_code == 200 and "Version 2" in text(versions)
    diff = desk.browser(None).get(f"/initiatives/{made['public_id']}/diff?from=1&to=2")
    html = diff.get_data(as_text=True)
    assert diff.status_code == 200 and 'data-field="title"' in html
    assert re.findall(r'data-field="([a-z_]+)"', html) == ["title"]
    default = desk.browser(None).get(f"/initiatives/{made['public_id']}/diff")
    assert default.status_code == 200 and 'data-field="title"' in default.get_data(as_text=True)
    for query, field in (("from=x&to=2", "from"), ("from=1&to=9", "to"), ("from=-1", "from")):
        bad = desk.browser(None).get(f"/initiatives/{made['public_id']}/diff?{query}")
        assert bad.status_code == 422, query
        assert f'id="{field}-errors"' in bad.get_data(as_text=True), query


def test_the_organisation_page_lists_its_public_initiatives(desk, registry):
    made = desk.published(title="Listed reef plan")
    hidden = desk.draft(title="Hidden draft plan")
    page = desk.browser(None).get(f"/organizations/{made['owner_organization_id']}")
    body = text(page)
    assert "Listed reef plan" in body and "Hidden draft plan" not in body
    assert hidden["owner_organization_id"] == made["owner_organization_id"]
    # the lead entity has not confirmed it leads the initiative: its page does not list it
    lead = made["lead_organization"]["id"]
    assert made["lead_confirmed"] is False
    assert "Listed reef plan" not in text(desk.browser(None).get(f"/organizations/{lead}"))


def test_the_queue_links_each_kind_to_its_review_page(desk):
    """A completion declaration and a revision wait in the queue too, each linking to the
    page where it is decided; the kind filter keeps only its kind."""
    declared = desk.published(title="Declared reef plan")
    _act(desk, desk.partner, declared["id"], "declare-completion", "All done.")
    revised = desk.published(title="Revised reef plan")
    number = _revise(desk, revised, title="Revised reef plan 2030")
    browser = desk.browser(desk.reviewer)
    html = browser.get("/secretariat/review").get_data(as_text=True)
    assert f'href="/secretariat/review/{declared["id"]}"' in html
    assert f'href="/secretariat/review/{revised["id"]}/revisions/{number}"' in html
    completions = text(browser.get("/secretariat/review?kind=completion"))
    assert "Declared reef plan" in completions and "Revised reef plan" not in completions
    assert "Completion declaration" in completions
    # the completion's review page: confirm, or decline with a reason
    page = browser.get(f"/secretariat/review/{declared['id']}")
    html = page.get_data(as_text=True)
    assert 'class="decision decision-confirm_completion"' in html
    assert 'class="decision decision-decline_completion"' in html
    assert "All done." in text(page)
    refused = browser.post(f"/secretariat/review/{declared['id']}/decline-completion", {})
    assert refused.status_code == 422 and desk.status(declared["id"]) == "completion_declared"
    done = browser.post(f"/secretariat/review/{declared['id']}/confirm-completion", {})
    assert done.status_code == 303 and desk.status(declared["id"]) == "completed"


def test_the_public_page_shows_only_the_public_part_of_the_thread(desk):
    made = desk.published(title="Thread reef plan")
    browser = desk.browser(desk.reviewer)
    browser.get(f"/secretariat/review/{made['id']}")
    for body, visibility in (("Note for us only.", "internal"),
                             ("Question to the partner.", "participants"),
                             ("Announcement for everyone.", "public")):
        resp = browser.post(f"/secretariat/review/{made['id']}/comments",
                            {"body": body, "visibility": visibility})
        assert resp.status_code == 303, body
    public = text(desk.browser(None).get(f"/initiatives/{made['public_id']}"))
    assert "Announcement for everyone." in public
    assert "Note for us only." not in public and "Question to the partner." not in public
    # the partner's view of the thread (API) has the question, never the note
    items = desk.registry.get(f"/api/v1/initiatives/{made['id']}/thread", desk.partner).json
    items = items["items"] if isinstance(items, dict) else items
    bodies = {e["body"] for e in items}
    assert "Question to the partner." in bodies and "Note for us only." not in bodies
