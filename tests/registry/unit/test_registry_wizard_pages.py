"""The partner's initiative pages (registry.initiatives.pages): "my initiatives", the
registration wizard step by step (drafts saved at every step, strict submit with the SMART
check field by field), the owner page, CSRF refusal, stale forms (412), hostile input (never a
500), Chinese rendering, and the no-JavaScript flow (every action a plain form POST)."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import select

from registry.initiatives.models import Initiative
from tests.registry.unit.test_registry_memberships import People

CSRF = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')
VERSION = re.compile(r'<input[^>]*name="version"[^>]*value="(\d+)"')
CJK = re.compile(r"[\u4e00-\u9fff]")


class Browser:
    """The test client as a signed-in partner (bearer token), remembering the CSRF token and
    the record version of the last page read, posting forms as a browser without JavaScript
    does (``application/x-www-form-urlencoded``, lists as repeated fields)."""

    def __init__(self, registry, token: str | None, lang: str = "en"):
        self.client = registry.app.test_client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.headers["Accept-Language"] = lang
        self.csrf: str | None = None
        self.version: str | None = None

    def get(self, path: str, **kw):
        resp = self.client.get(path, headers=self.headers, **kw)
        text = resp.get_data(as_text=True)
        if found := CSRF.search(text):
            self.csrf = found.group(1)
        if found := VERSION.search(text):
            self.version = found.group(1)
        return resp

    def post(self, path: str, data: dict | list | None = None, csrf: bool = True,
             version: bool = True):
        pairs = list(data.items()) if isinstance(data, dict) else list(data or [])
        if csrf:
            pairs.append(("csrf_token", self.csrf))
        if version and self.version is not None and not any(k == "version" for k, _ in pairs):
            pairs.append(("version", self.version))
        from werkzeug.datastructures import MultiDict

        return self.client.post(path, data=MultiDict(pairs), headers=self.headers)

    def text(self, path: str) -> str:
        resp = self.get(path)
        assert resp.status_code == 200, (path, resp.status_code)
        return resp.get_data(as_text=True)


@pytest.fixture
def people(registry):
    return People(registry)


@pytest.fixture
def partner(registry, people):
    """A person who is admin of a verified organisation, browsing in English."""
    ana = people.user("ana@reef.test")
    org = registry.org(people.token(ana), "Pacific Reef Alliance")
    registry.verify(registry.token("secretariat"), org["id"])
    return Browser(registry, people.token(ana)), org


def _new_draft(browser, title="Coral reef restoration in Fiji") -> str:
    browser.get("/my/initiatives/new")
    resp = browser.post("/my/initiatives/new", {
        "title": title, "description": "Restore 40 hectares of coral reef with coastal "
        "communities.", "start_date": "2026-01-01", "end_date": "2028-12-31"})
    assert resp.status_code == 303, resp.get_data(as_text=True)[:2000]
    found = re.search(r"/my/initiatives/([0-9a-f-]{36})/wizard/goals", resp.headers["Location"])
    assert found, resp.headers["Location"]
    return found.group(1)


def _walk_to_complete(browser, iid: str) -> None:
    base = f"/my/initiatives/{iid}/wizard"
    browser.get(f"{base}/goals?q=14")
    resp = browser.post(f"{base}/goals", [("sdg_targets", "14.2"), ("sdg_targets", "14.5"),
                                          ("nav", "next")])
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/geography"), \
        resp.get_data(as_text=True)[:3000]
    browser.get(f"{base}/geography")
    resp = browser.post(f"{base}/geography", [("countries", "FJI"), ("regions", "054")])
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/partners")
    browser.get(f"{base}/partners")
    resp = browser.post(f"{base}/partners", {"nav": "next"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/deliverables")
    browser.get(f"{base}/deliverables")
    resp = browser.post(f"{base}/deliverables", {
        "deliverable_rows": "1", "deliverable-0-description": "40 ha restored",
        "deliverable-0-due_date": "2028-06-30", "resource_rows": "1",
        "resource-0-type": "financing", "resource-0-details": "Grant",
        "resource-0-amount_usd": "250,000"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/contact"), \
        resp.get_data(as_text=True)[:3000]
    browser.get(f"{base}/contact")
    resp = browser.post(f"{base}/contact", {"contact_email": "reefs@ngo.test"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/review")


def test_a_partner_walks_the_wizard_and_submits(registry, partner):
    browser, org = partner
    iid = _new_draft(browser)
    with registry.session() as s:
        draft = s.get(Initiative, uuid.UUID(iid))
        assert draft.status == "draft" and str(draft.owner_organization_id) == org["id"]
        assert str(draft.lead_organization_id) == org["id"]  # the registering organisation
    _walk_to_complete(browser, iid)
    review = browser.text(f"/my/initiatives/{iid}/wizard/review")
    assert "Nothing is missing" in review and "14.2" in review and "Fiji" in review
    assert "250,000" in review and "Melanesia" in review
    resp = browser.post(f"/my/initiatives/{iid}/submit", {"comment": "Ready for review."})
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/my/initiatives/{iid}")
    with registry.session() as s:
        sent = s.get(Initiative, uuid.UUID(iid))
        assert sent.status == "submitted"
        assert sorted(t.target_code for t in sent.targets) == ["14.2", "14.5"]
        assert [d.description for d in sent.deliverables] == ["40 ha restored"]
        assert str(sent.resources[0].amount_usd) == "250000.00"
    page = browser.text(f"/my/initiatives/{iid}")
    assert "Submitted" in page and "Waiting for the secretariat" in page
    assert "Nothing to do now." in page
    assert "Ready for review." in page
    listing = browser.text("/my/initiatives")
    assert "Coral reef restoration in Fiji" in listing and "Waiting for the secretariat" in listing


def test_anonymous_visitors_are_sent_to_sign_in(registry):
    browser = Browser(registry, None)
    some = uuid.uuid4()
    for path in ("/my/initiatives", "/my/initiatives/new", f"/my/initiatives/{some}",
                 f"/my/initiatives/{some}/wizard/goals", f"/my/initiatives/{some}/withdraw"):
        resp = browser.get(path)
        assert resp.status_code in (302, 401), path
        if resp.status_code == 302:
            assert "/account/sign-in" in resp.headers["Location"], path


def test_a_person_without_organisation_is_told_to_register_one(registry, people):
    browser = Browser(registry, people.token(people.user("solo@reef.test")))
    page = browser.text("/my/initiatives/new")
    assert "/organizations/register" in page and 'name="title"' not in page
    assert "/organizations/register" in browser.text("/my/initiatives")


def test_forms_without_csrf_token_are_refused_and_save_nothing(registry, partner):
    browser, _org = partner
    browser.get("/my/initiatives/new")
    resp = browser.post("/my/initiatives/new", {"title": "No token here"}, csrf=False)
    assert resp.status_code == 400 and registry.count(Initiative) == 0
    iid = _new_draft(browser)
    browser.get(f"/my/initiatives/{iid}/wizard/contact")
    for path, data in ((f"/my/initiatives/{iid}/wizard/contact", {"contact_email": "x@y.org"}),
                       (f"/my/initiatives/{iid}/wizard/goals", {"sdg_targets": "14.1"}),
                       (f"/my/initiatives/{iid}/submit", {}),
                       (f"/my/initiatives/{iid}/withdraw", {"comment": "why"})):
        resp = browser.post(path, data, csrf=False)
        assert resp.status_code == 400, path
    browser.csrf = "forged-token"
    assert browser.post(f"/my/initiatives/{iid}/wizard/contact",
                        {"contact_email": "x@y.org"}).status_code == 400
    with registry.session() as s:
        draft = s.get(Initiative, uuid.UUID(iid))
        assert draft.contact_email is None and draft.targets == []


def test_submitting_an_incomplete_draft_lists_the_smart_check_with_links(registry, partner):
    browser, _org = partner
    browser.get("/my/initiatives/new")
    resp = browser.post("/my/initiatives/new", {"title": "Just a title"})
    iid = re.search(r"/my/initiatives/([0-9a-f-]{36})/", resp.headers["Location"]).group(1)
    review = browser.text(f"/my/initiatives/{iid}/wizard/review")
    assert "Describe the initiative (specific)." in review
    for step in ("basics", "goals", "geography", "deliverables", "contact"):
        assert f'/my/initiatives/{iid}/wizard/{step}"' in review, step
    resp = browser.post(f"/my/initiatives/{iid}/submit", {})
    assert resp.status_code == 422
    text = resp.get_data(as_text=True)
    assert "Give the end date (time-bound)." in text and "Give a contact e-mail" in text
    with registry.session() as s:
        assert s.get(Initiative, uuid.UUID(iid)).status == "draft"


def test_each_step_saves_the_draft_and_keeps_what_other_steps_saved(registry, partner):
    browser, _org = partner
    iid = _new_draft(browser)
    base = f"/my/initiatives/{iid}/wizard"
    browser.get(f"{base}/contact")
    resp = browser.post(f"{base}/contact", {"contact_email": "reefs@ngo.test", "nav": "stay"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/contact")
    browser.get(f"{base}/basics")
    resp = browser.post(f"{base}/basics", {"title": "Reefs of Fiji", "nav": "back"})
    assert resp.status_code == 303
    with registry.session() as s:
        draft = s.get(Initiative, uuid.UUID(iid))
        assert draft.title == "Reefs of Fiji" and draft.contact_email == "reefs@ngo.test"
        assert draft.description is None  # the step's own fields, cleared as posted
    # going back from the goals step saves too
    browser.get(f"{base}/goals")
    resp = browser.post(f"{base}/goals", [("sdg_goals", "13"), ("nav", "back")])
    assert resp.headers["Location"].endswith("/basics")
    with registry.session() as s:
        assert [g.goal for g in s.get(Initiative, uuid.UUID(iid)).goals] == [13]


def test_the_goal_filter_keeps_the_selection_it_hides(registry, partner):
    browser, _org = partner
    iid = _new_draft(browser)
    base = f"/my/initiatives/{iid}/wizard/goals"
    browser.get(base)
    browser.post(base, [("sdg_targets", "14.1"), ("sdg_targets", "13.2"), ("nav", "stay")])
    page = browser.text(f"{base}?q=ocean")
    assert 'value="14.1"' in page and 'id="target-6.1"' not in page
    # 13.2 is hidden by the filter but still chosen: a checked box in "also chosen"
    assert re.search(r'name="sdg_targets" value="13.2" id="target-13.2" checked', page)
    browser.post(f"{base}?q=ocean", [("sdg_targets", "14.1"), ("sdg_targets", "14.3"),
                                     ("sdg_targets", "13.2"), ("nav", "stay")])
    with registry.session() as s:
        draft = s.get(Initiative, uuid.UUID(iid))
        assert sorted(t.target_code for t in draft.targets) == ["13.2", "14.1", "14.3"]
        assert [g.goal for g in draft.goals] == [13, 14]
    assert "No goal or target matches" in browser.text(f"{base}?q=zzzzqqq")


def test_rows_are_added_and_removed_with_submit_buttons(registry, partner):
    browser, _org = partner
    iid = _new_draft(browser)
    base = f"/my/initiatives/{iid}/wizard/deliverables"
    page = browser.text(base)
    assert 'name="deliverable-0-description"' in page and 'name="deliverable-1-description"' \
        not in page
    resp = browser.post(base, {"deliverable_rows": "1", "deliverable-0-description": "Nursery",
                               "deliverable-0-due_date": "2027-01-31", "resource_rows": "1",
                               "op": "add_deliverable"})
    assert resp.status_code == 303 and "add_d=1" in resp.headers["Location"]
    page = browser.text(resp.headers["Location"])
    assert "Nursery" in page and 'name="deliverable-1-description"' in page
    browser.post(base, {"deliverable_rows": "2", "deliverable-0-description": "Nursery",
                        "deliverable-0-due_date": "2027-01-31",
                        "deliverable-1-description": "Outplanting",
                        "deliverable-1-due_date": "2028-01-31", "resource_rows": "0",
                        "nav": "stay"})
    browser.get(base)
    resp = browser.post(base, {"deliverable_rows": "2", "deliverable-0-description": "Nursery",
                               "deliverable-0-due_date": "2027-01-31",
                               "deliverable-1-description": "Outplanting",
                               "deliverable-1-due_date": "2028-01-31", "resource_rows": "0",
                               "op": "remove_deliverable:0"})
    assert resp.status_code == 303
    with registry.session() as s:
        draft = s.get(Initiative, uuid.UUID(iid))
        assert [d.description for d in draft.deliverables] == ["Outplanting"]


def test_bad_row_values_are_shown_per_field_and_nothing_is_saved(registry, partner):
    browser, _org = partner
    iid = _new_draft(browser)
    base = f"/my/initiatives/{iid}/wizard/deliverables"
    browser.get(base)
    resp = browser.post(base, {"deliverable_rows": "2", "deliverable-0-description": "Fine",
                               "deliverable-0-due_date": "2027-01-31",
                               "deliverable-1-description": "Bad date",
                               "deliverable-1-due_date": "31/01/2027", "resource_rows": "1",
                               "resource-0-type": "financing",
                               "resource-0-amount_usd": "-5"})
    assert resp.status_code == 422
    text = resp.get_data(as_text=True)
    assert 'id="deliverables-1-due_date-errors"' in text
    assert 'id="resources-0-amount_usd-errors"' in text
    assert "31/01/2027" in text and "Bad date" in text  # the posted values are shown again
    resp = browser.post(base, {"deliverable_rows": "1", "deliverable-0-description": "",
                               "deliverable-0-due_date": "2027-01-31", "resource_rows": "1",
                               "resource-0-type": "gold-bars"})
    assert resp.status_code == 422
    text = resp.get_data(as_text=True)
    assert 'id="deliverables-0-description-errors"' in text
    assert 'id="resources-0-type-errors"' in text
    with registry.session() as s:
        draft = s.get(Initiative, uuid.UUID(iid))
        assert draft.deliverables == [] and draft.resources == []


def test_partners_are_found_by_name_added_with_a_role_and_removed(registry, partner, people):
    browser, org = partner
    other = registry.org(people.token(people.user("eve@fund.test")), "Blue Ocean Fund")
    iid = _new_draft(browser)
    base = f"/my/initiatives/{iid}/wizard/partners"
    page = browser.text(f"{base}?q=ocean")
    assert "Blue Ocean Fund" in page and "Add as partner" in page
    resp = browser.post(f"{base}?q=ocean", {"organization_id": other["id"], "role": "funding",
                                            "op": "add"})
    assert resp.status_code == 303 and "q=ocean" in resp.headers["Location"]
    page = browser.text(base)
    assert "Blue Ocean Fund" in page and "(not confirmed by this organisation)" in page
    resp = browser.post(base, {f"role-{other['id']}": "implementing", "op": "save",
                               "nav": "stay"})
    with registry.session() as s:
        draft = s.get(Initiative, uuid.UUID(iid))
        assert [(str(p.organization_id), p.role) for p in draft.partners] == [
            (other["id"], "implementing")]
    # an unknown organisation, a bad id, an unknown role: per-field errors, never a 500
    for data in ({"organization_id": str(uuid.uuid4()), "op": "add"},
                 {"organization_id": "'; DROP TABLE initiatives; --", "op": "add"},
                 {"organization_id": other["id"], "op": "lead", "role": "x"},
                 {f"role-{other['id']}": "emperor", "op": "save"}):
        browser.get(base)
        resp = browser.post(base, data)
        assert resp.status_code in (303, 422), (data, resp.status_code)
    browser.get(base)
    resp = browser.post(base, {"op": f"remove:{other['id']}"})
    browser.get(base)
    browser.post(base, {"op": "lead_clear"})
    with registry.session() as s:
        draft = s.get(Initiative, uuid.UUID(iid))
        assert draft.partners == [] and draft.lead_organization_id is None
    page = browser.text(base)
    assert "Pacific Reef Alliance leads it" in page
    resp = browser.post(base, {"organization_id": org["id"], "op": "lead"})
    with registry.session() as s:
        assert str(s.get(Initiative, uuid.UUID(iid)).lead_organization_id) == org["id"]


HOSTILE = ["<script>alert(1)</script>", "' OR 1=1 --", "\u202eevil", "x" * 30_000,
           "../../etc/passwd", "{{ 7*7 }}", "😀" * 10, "\r\n\t", "9999-99-99", "-1e309",
           "NaN", "Infinity", "１２３"]


@pytest.mark.parametrize("step", ["basics", "goals", "geography", "partners", "deliverables",
                                  "contact", "review"])
def test_hostile_input_on_every_step_never_answers_500(registry, partner, step):
    browser, _org = partner
    iid = _new_draft(browser)
    path = f"/my/initiatives/{iid}/wizard/{step}"
    names = ["title", "description", "start_date", "end_date", "sdg_targets", "sdg_goals",
             "countries", "regions", "contact_email", "op", "nav", "organization_id", "role",
             "deliverable_rows", "resource_rows", "deliverable-0-description",
             "deliverable-0-due_date", "deliverable-0-status", "deliverable-0-id",
             "resource-0-type", "resource-0-amount_usd", "resource-0-details", "version"]
    for value in HOSTILE:
        browser.get(path)
        resp = browser.post(path + "?q=" + value[:50], [(n, value) for n in names])
        assert resp.status_code in (303, 400, 412, 422), (step, value[:20], resp.status_code)
        text = resp.get_data(as_text=True)
        assert "<script>alert(1)</script>" not in text
    assert browser.get(f"{path}?q=<script>").status_code == 200
    assert browser.get(f"{path}?add_d=999999&add_r=-4").status_code == 200


def test_a_stale_form_is_refused_with_412_and_saves_nothing(registry, partner):
    browser, _org = partner
    iid = _new_draft(browser)
    base = f"/my/initiatives/{iid}/wizard"
    browser.get(f"{base}/contact")
    stale = browser.version
    # someone else (another tab, the API) changes the draft meanwhile
    browser.get(f"{base}/basics")
    browser.post(f"{base}/basics", {"title": "Changed elsewhere", "nav": "stay"})
    resp = browser.post(f"{base}/contact", {"contact_email": "late@ngo.test",
                                            "version": stale})
    assert resp.status_code == 412
    assert "Someone changed this record" in resp.get_data(as_text=True)
    with registry.session() as s:
        assert s.get(Initiative, uuid.UUID(iid)).contact_email is None


def test_other_organisations_initiatives_are_not_found(registry, partner, people):
    browser, _org = partner
    iid = _new_draft(browser)
    eve = Browser(registry, people.token(people.user("eve@else.test")))
    for path in (f"/my/initiatives/{iid}", f"/my/initiatives/{iid}/wizard/basics"):
        assert eve.get(path).status_code == 404, path
    assert "Coral reef" not in eve.text("/my/initiatives")
    assert Browser(registry, None).get("/my/initiatives/not-a-uuid").status_code in (302, 401,
                                                                                     404)
    assert browser.get(f"/my/initiatives/{iid}/wizard/no-such-step").status_code == 404


def test_a_submitted_initiative_is_not_editable_in_the_wizard(registry, partner):
    browser, _org = partner
    iid = _new_draft(browser)
    _walk_to_complete(browser, iid)
    browser.get(f"/my/initiatives/{iid}/wizard/review")
    assert browser.post(f"/my/initiatives/{iid}/submit", {}).status_code == 303
    resp = browser.get(f"/my/initiatives/{iid}/wizard/basics")
    assert resp.status_code == 409  # the permission table: update is for drafts
    assert "cannot be done in the current state" in resp.get_data(as_text=True)
    with registry.session() as s:
        current = s.get(Initiative, uuid.UUID(iid)).version
    resp = browser.post(f"/my/initiatives/{iid}/submit", {"version": str(current)})
    assert resp.status_code == 409
    assert "cannot be done in the current state" in resp.get_data(as_text=True)


def test_pages_render_in_chinese(registry, people):
    zhao = people.user("zhao@reef.test", locale="zh")
    org = registry.org(people.token(zhao), "珊瑚礁联盟")
    browser = Browser(registry, people.token(zhao), lang="zh-CN")
    iid = _new_draft(browser, title="斐济珊瑚礁恢复")
    base = f"/my/initiatives/{iid}/wizard"
    for step in ("basics", "goals", "geography", "partners", "deliverables", "contact",
                 "review"):
        page = browser.text(f"{base}/{step}")
        assert '<html lang="zh-Hans"' in page, step
        assert "Save and continue" not in page and "Step " not in page, step
    goals = browser.text(f"{base}/goals?q=海洋")
    assert "保护和可持续利用海洋" in goals or "海洋" in goals
    assert "斐济" in browser.text(f"{base}/geography?q=斐济")
    review = browser.text(f"{base}/review")
    assert "请填写结束日期" not in review  # dates were given at creation
    assert "SMART 检查" in review and "至少列出一项带截止日期的交付成果" in review
    listing = browser.text("/my/initiatives")
    assert "我的倡议" in listing and "草稿" in listing and "请填写完整并提交" in listing
    assert org["name"] in listing


def _published(registry, browser, iid: str) -> None:
    """Walk the wizard, submit through the page, approve through the API."""
    _walk_to_complete(browser, iid)
    browser.get(f"/my/initiatives/{iid}/wizard/review")
    assert browser.post(f"/my/initiatives/{iid}/submit", {}).status_code == 303
    resp = registry.action(registry.token("secretariat"), iid, "approve")
    assert resp.status_code == 200, resp.json


def test_editing_a_published_initiative_goes_through_a_revision(registry, partner):
    from registry.initiatives.models import InitiativeRevision

    browser, _org = partner
    iid = _new_draft(browser)
    _published(registry, browser, iid)
    page = browser.text(f"/my/initiatives/{iid}")
    assert "Published" in page and "Edit (as a revision the secretariat approves)" in page
    # the wizard on a published initiative is its revision; a GET opens nothing
    resp = browser.get(f"/my/initiatives/{iid}/wizard/basics")
    assert resp.status_code == 302 and "/revision/basics" in resp.headers["Location"]
    page = browser.text(f"/my/initiatives/{iid}/revision/basics")
    assert "Coral reef restoration in Fiji" in page and "proposed revision" in page
    assert registry.count(InitiativeRevision) == 0
    resp = browser.post(f"/my/initiatives/{iid}/revision/basics", {
        "title": "Coral reefs of Fiji and Tonga", "description": "Restore 60 hectares.",
        "start_date": "2026-01-01", "end_date": "2029-12-31"})
    assert resp.status_code == 303 and "/revision/goals" in resp.headers["Location"]
    with registry.session() as s:
        initiative = s.get(Initiative, uuid.UUID(iid))
        assert initiative.title == "Coral reef restoration in Fiji"  # the public's version
        [revision] = s.scalars(select(InitiativeRevision)).all()
        assert revision.status == "draft" and revision.content["title"] == \
            "Coral reefs of Fiji and Tonga"
    browser.get(f"/my/initiatives/{iid}/revision/geography")
    browser.post(f"/my/initiatives/{iid}/revision/geography",
                 [("countries", "FJI"), ("countries", "TON")])
    review = browser.text(f"/my/initiatives/{iid}/revision/review")
    assert "Tonga" in review and "Submit the revision for review" in review
    diff = review.split('id="revision-diff"')[1].split("</table>")[0] if \
        'id="revision-diff"' in review else ""
    assert "What the revision changes" in review and "Coral reefs of Fiji and Tonga" in diff
    # a stale revision form: 412, nothing written
    resp = browser.post(f"/my/initiatives/{iid}/revision/contact",
                        {"contact_email": "late@ngo.test", "version": "1"})
    assert resp.status_code == 412
    review = browser.text(f"/my/initiatives/{iid}/revision/review")
    assert '<input type="hidden" name="number" value="1">' in review
    resp = browser.post(f"/my/initiatives/{iid}/revision/submit", {"comment": "Tonga joins.",
                                                                   "number": "1"})
    assert resp.status_code == 303, resp.get_data(as_text=True)[:2000]
    with registry.session() as s:
        assert s.scalar(select(InitiativeRevision.status)) == "submitted"
    page = browser.text(f"/my/initiatives/{iid}")
    assert "Revision 1 waits for the secretariat." in page
    resp = browser.get(f"/my/initiatives/{iid}/revision/basics")
    assert resp.status_code == 302  # a submitted revision is not edited


def test_an_open_revision_can_be_discarded(registry, partner):
    from registry.initiatives.models import InitiativeRevision

    browser, _org = partner
    iid = _new_draft(browser)
    _published(registry, browser, iid)
    browser.get(f"/my/initiatives/{iid}/revision/contact")
    browser.post(f"/my/initiatives/{iid}/revision/contact", {"contact_email": "new@ngo.test"})
    page = browser.text(f"/my/initiatives/{iid}")
    assert "Discard revision 1" in page
    with registry.session() as s:
        revision = s.scalar(select(InitiativeRevision))
    resp = browser.post(f"/my/initiatives/{iid}/revision/discard",
                        {"version": str(revision.version), "number": str(revision.number)})
    assert resp.status_code == 303
    with registry.session() as s:
        assert s.scalar(select(InitiativeRevision.status)) == "discarded"
        assert s.get(Initiative, uuid.UUID(iid)).contact_email == "reefs@ngo.test"


def test_a_member_of_several_organisations_chooses_which_registers_it(registry, people):
    ana = people.user("ana@reef.test")
    first = registry.org(people.token(ana), "Reef Keepers")
    second = registry.org(people.token(ana), "Mangrove Watch")
    browser = Browser(registry, people.token(ana))
    page = browser.text("/my/initiatives/new")
    assert 'name="owner_organization_id"' in page and "Mangrove Watch" in page
    resp = browser.post("/my/initiatives/new", {"title": "Mangroves",
                                                "owner_organization_id": str(uuid.uuid4())})
    assert resp.status_code == 422 and registry.count(Initiative) == 0
    resp = browser.post("/my/initiatives/new", {"title": "Mangroves",
                                                "owner_organization_id": second["id"]})
    assert resp.status_code == 303
    with registry.session() as s:
        draft = s.scalar(select(Initiative))
        assert str(draft.owner_organization_id) == second["id"] != first["id"]


def test_withdraw_and_completion_forms_require_their_reason(registry, partner):
    browser, _org = partner
    iid = _new_draft(browser)
    _published(registry, browser, iid)
    for path in (f"/my/initiatives/{iid}/withdraw", f"/my/initiatives/{iid}/complete"):
        page = browser.text(path)
        assert 'name="comment"' in page and 'name="version"' in page
        resp = browser.post(path, {"comment": "   "})
        assert resp.status_code == 422, path
        assert 'id="comment-errors"' in resp.get_data(as_text=True)
        assert browser.post(path, {"comment": "Done."}, csrf=False).status_code == 400
    with registry.session() as s:
        assert s.get(Initiative, uuid.UUID(iid)).status == "published"


def test_the_owner_page_in_chinese_lists_state_next_step_and_thread(registry, people):
    zhao = people.user("zhao@reef.test", locale="zh")
    registry.org(people.token(zhao), "珊瑚礁联盟")
    browser = Browser(registry, people.token(zhao), lang="zh-CN")
    iid = _new_draft(browser, title="斐济珊瑚礁恢复")
    page = browser.text(f"/my/initiatives/{iid}")
    assert "草稿" in page and "请填写完整并提交。" in page and "去修改" in page
    assert f'/my/initiatives/{iid}/wizard/deliverables"' in page  # the SMART check's link
    assert browser.get(f"/my/initiatives/{iid}?reply_to=garbage").status_code == 200


def test_field_errors_are_in_the_pages_language(registry, people):
    zhao = people.user("zhao@reef.test", locale="zh")
    registry.org(people.token(zhao), "珊瑚礁联盟")
    browser = Browser(registry, people.token(zhao), lang="zh-CN")
    browser.get("/my/initiatives/new")
    resp = browser.post("/my/initiatives/new", {"title": "ab", "start_date": "2026-13-45"})
    assert resp.status_code == 422
    text = resp.get_data(as_text=True)
    errors = re.findall(r'<ul class="errors" id="[^"]+">(.*?)</ul>', text, re.S)
    assert len(errors) == 2 and all(CJK.search(e) for e in errors), errors


def _current_version(registry, iid: str) -> str:
    with registry.session() as s:
        return str(s.get(Initiative, uuid.UUID(iid)).version)


def test_changes_requested_the_partner_answers_edits_and_submits_again(registry, partner):
    browser, _org = partner
    iid = _new_draft(browser)
    _walk_to_complete(browser, iid)
    browser.get(f"/my/initiatives/{iid}/wizard/review")
    assert browser.post(f"/my/initiatives/{iid}/submit", {}).status_code == 303
    resp = registry.action(registry.token("secretariat"), iid, "request-changes",
                           "Name the villages involved.")
    assert resp.status_code == 200, resp.json
    page = browser.text(f"/my/initiatives/{iid}")
    assert "Changes requested: answer the comments, edit and submit again." in page
    assert "Name the villages involved." in page and "Post comment" in page
    entry = re.search(r'reply_to=([0-9a-f-]{36})#reply-form', page).group(1)
    # a reply (no JavaScript: the Reply link fills the form from the query)
    form_page = browser.text(f"/my/initiatives/{iid}?reply_to={entry}")
    assert f'value="{entry}"' in form_page and "Post reply" in form_page
    resp = browser.post(f"/my/initiatives/{iid}/comments",
                        {"body": "Nadi and Suva.", "reply_to_id": entry})
    assert resp.status_code == 303, resp.get_data(as_text=True)[:1500]
    page = browser.text(f"/my/initiatives/{iid}")
    assert "Nadi and Suva." in page and 'class="thread-replies"' in page
    # edit through the wizard (which points to the comments) and submit again
    assert "The secretariat asked for changes." in browser.text(
        f"/my/initiatives/{iid}/wizard/basics")
    resp = browser.post(f"/my/initiatives/{iid}/wizard/basics", {
        "title": "Coral reef restoration in Fiji", "description": "With Nadi and Suva.",
        "start_date": "2026-01-01", "end_date": "2028-12-31", "nav": "stay"})
    assert resp.status_code == 303
    browser.get(f"/my/initiatives/{iid}/wizard/review")
    assert browser.post(f"/my/initiatives/{iid}/submit", {}).status_code == 303
    with registry.session() as s:
        initiative = s.get(Initiative, uuid.UUID(iid))
        assert initiative.status == "submitted" and initiative.description == \
            "With Nadi and Suva."


def test_comment_form_refusals(registry, partner):
    browser, _org = partner
    iid = _new_draft(browser)
    browser.get(f"/my/initiatives/{iid}")
    path = f"/my/initiatives/{iid}/comments"
    assert browser.post(path, {"body": "hi"}, csrf=False).status_code == 400
    resp = browser.post(path, {"body": "   "})
    assert resp.status_code == 422 and 'id="body-errors"' in resp.get_data(as_text=True)
    resp = browser.post(path, {"body": "x" * 10_001})
    assert resp.status_code == 422
    resp = browser.post(path, {"body": "A reply to nothing", "reply_to_id": str(uuid.uuid4())})
    assert resp.status_code == 422
    assert "That comment no longer exists." in resp.get_data(as_text=True)
    resp = browser.post(path, {"body": "Hello <b>secretariat</b>"})
    assert resp.status_code == 303
    page = browser.text(f"/my/initiatives/{iid}")
    assert "Hello &lt;b&gt;secretariat&lt;/b&gt;" in page


def test_the_owner_withdraws_or_declares_completion_with_a_reason(registry, partner):
    browser, _org = partner
    first = _new_draft(browser)
    _published(registry, browser, first)
    page = browser.text(f"/my/initiatives/{first}")
    assert "Declare completion" in page and "Withdraw" in page
    browser.get(f"/my/initiatives/{first}/complete")
    resp = browser.post(f"/my/initiatives/{first}/complete",
                        {"comment": "40 ha restored; monitoring handed over."})
    assert resp.status_code == 303, resp.get_data(as_text=True)[:1500]
    page = browser.text(f"/my/initiatives/{first}")
    assert "Completion declared: waiting for the secretariat to confirm." in page
    assert "40 ha restored; monitoring handed over." in page
    second = _new_draft(browser, title="Mangrove nurseries in Vanua Levu")
    _published(registry, browser, second)
    browser.get(f"/my/initiatives/{second}/withdraw")
    stale = browser.version
    browser.get(f"/my/initiatives/{second}/revision/contact")  # unrelated: the revision
    resp = browser.post(f"/my/initiatives/{second}/withdraw",
                        {"comment": "Funding ended.", "version": str(int(stale) - 1)})
    assert resp.status_code == 412
    resp = browser.post(f"/my/initiatives/{second}/withdraw",
                        {"comment": "Funding ended.", "version": stale})
    assert resp.status_code == 303
    with registry.session() as s:
        assert s.get(Initiative, uuid.UUID(first)).status == "completion_declared"
        assert s.get(Initiative, uuid.UUID(second)).status == "withdrawn"
    page = browser.text(f"/my/initiatives/{second}")
    assert "Withdrawn." in page and "Funding ended." in page
    assert "Withdraw</a>" not in page  # no action left
    resp = browser.post(f"/my/initiatives/{second}/withdraw",
                        {"comment": "Again.", "version": _current_version(registry, second)})
    assert resp.status_code == 409


def test_my_initiatives_says_what_is_next_for_each(registry, partner):
    browser, _org = partner
    draft = _new_draft(browser, title="Seagrass meadows")
    published = _new_draft(browser, title="Coral reef restoration in Fiji")
    _published(registry, browser, published)
    browser.get(f"/my/initiatives/{published}/revision/contact")
    browser.post(f"/my/initiatives/{published}/revision/contact",
                 {"contact_email": "new@ngo.test"})
    listing = browser.text("/my/initiatives")
    rows = {title: row for row in re.findall(r"<tr>(.*?)</tr>", listing, re.S)
            for title in ("Seagrass meadows", "Coral reef restoration in Fiji") if title in row}
    assert "Complete and submit." in rows["Seagrass meadows"]
    assert f"/my/initiatives/{draft}/wizard/basics" in rows["Seagrass meadows"]
    assert "Revision 1 is a draft: complete and submit it." in \
        rows["Coral reef restoration in Fiji"]
    assert "Published" in rows["Coral reef restoration in Fiji"]


OWNER_FORMS = ["comments", "withdraw", "complete", "submit", "revision/submit",
               "revision/discard"]


@pytest.mark.parametrize("form", OWNER_FORMS)
def test_hostile_input_on_the_owner_forms_never_answers_500(registry, partner, form):
    browser, _org = partner
    iid = _new_draft(browser)
    browser.get(f"/my/initiatives/{iid}")
    for value in HOSTILE:
        resp = browser.post(f"/my/initiatives/{iid}/{form}", [
            (n, value) for n in ("body", "reply_to_id", "comment", "version")])
        assert resp.status_code in (302, 303, 400, 404, 409, 412, 422), (
            form, value[:20], resp.status_code)
        assert "<script>alert(1)</script>" not in resp.get_data(as_text=True)


def test_deliverables_keep_their_id_and_take_a_status(registry, partner):
    from registry.initiatives.models import Deliverable

    browser, _org = partner
    iid = _new_draft(browser)
    base = f"/my/initiatives/{iid}/wizard/deliverables"
    browser.get(base)
    browser.post(base, {"deliverable_rows": "1", "deliverable-0-description": "Nursery",
                        "deliverable-0-due_date": "2027-01-31", "resource_rows": "0",
                        "nav": "stay"})
    with registry.session() as s:
        [first] = s.scalars(select(Deliverable)).all()
    page = browser.text(base)
    assert f'name="deliverable-0-id" value="{first.id}"' in page
    resp = browser.post(base, {"deliverable_rows": "1", "deliverable-0-description": "Nursery",
                               "deliverable-0-due_date": "2027-01-31",
                               "deliverable-0-status": "in_progress",
                               "deliverable-0-id": str(first.id), "resource_rows": "0",
                               "nav": "stay"})
    assert resp.status_code == 303
    with registry.session() as s:
        [kept] = s.scalars(select(Deliverable)).all()
        assert kept.id == first.id and kept.status == "in_progress"
    browser.get(base)
    for row_id, status in ((str(uuid.uuid4()), "planned"), (str(first.id), "finished")):
        resp = browser.post(base, {"deliverable_rows": "1", "deliverable-0-description": "N",
                                   "deliverable-0-due_date": "2027-01-31",
                                   "deliverable-0-status": status,
                                   "deliverable-0-id": row_id, "resource_rows": "0"})
        assert resp.status_code == 422, row_id
        assert 'id="deliverables-0-' in resp.get_data(as_text=True)
