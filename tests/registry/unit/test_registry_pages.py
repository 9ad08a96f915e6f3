"""Public HTML pages: ``/`` (search, SDG filter, pagination) and ``/initiatives/<public id>``
(SQLite)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from registry import db
from registry.initiatives.service import register_imported_initiative
from registry.organizations.service import create_organization
from shared.identity import SYSTEM


class _Page(HTMLParser):
    """Collects forms' inputs/selects, options, links and card titles of a page."""

    def __init__(self, html: str):
        super().__init__()
        self.inputs: list[dict] = []
        self.selects: list[dict] = []
        self.options: list[dict] = []
        self.links: list[dict] = []
        self.titles: list[str] = []
        self._in_h2 = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input":
            self.inputs.append(a)
        elif tag == "select":
            self.selects.append(a)
        elif tag == "option":
            self.options.append(a)
        elif tag == "a":
            self.links.append(a)
        elif tag == "h2":
            self._in_h2 = True

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False

    def handle_data(self, data):
        if self._in_h2 and data.strip():
            self.titles.append(data.strip())


def _publish_many(registry, titles: list[tuple[str, list[int]]]) -> list[str]:
    """Publish initiatives straight through the service (as the importer does); public ids."""
    out = []
    with registry.app.app_context():
        session = db.session()
        org = create_organization(db_session=session, principal=SYSTEM, data={
            "name": "Ocean Lead", "stakeholder_group": "ngo"})
        for i, (title, goals) in enumerate(titles):
            item = register_imported_initiative(
                db_session=session, principal=SYSTEM, source="test", source_ref=f"ref-{i}",
                data={"title": title, "sdg_goals": goals, "lead_organization_id": org.id,
                      "contact_email": "secret@lead.test", "countries": ["KEN"]})
            out.append(item.public_id)
        session.commit()
    return out


def test_index_has_search_box_sdg_select_and_only_published(registry):
    _publish_many(registry, [("Seagrass meadows", [14]), ("Clean energy islands", [7])])
    partner = registry.token("partner")
    registry.create(partner, title="Secret draft")
    resp = registry.client.get("/")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    page = _Page(resp.get_data(as_text=True))
    assert any(i.get("type") == "search" and i.get("name") == "q" for i in page.inputs)
    assert [s.get("name") for s in page.selects] == ["sdg"]
    values = [o.get("value") for o in page.options]
    assert values == [""] + [str(n) for n in range(1, 18)]
    assert sorted(page.titles) == ["Clean energy islands", "Seagrass meadows"]
    assert "Secret draft" not in resp.get_data(as_text=True)
    assert "secret@lead.test" not in resp.get_data(as_text=True)
    assert "2 published initiatives" in resp.get_data(as_text=True)


def test_index_filters_by_sdg_and_search(registry):
    _publish_many(registry, [("Seagrass meadows", [14]), ("Clean energy islands", [7])])
    page = _Page(registry.client.get("/?sdg=7").get_data(as_text=True))
    assert page.titles == ["Clean energy islands"]
    assert {"value": "7", "selected": None} in page.options
    page = _Page(registry.client.get("/?q=seagrass").get_data(as_text=True))
    assert page.titles == ["Seagrass meadows"]
    # a nonsense filter is ignored, not an error
    assert registry.client.get("/?sdg=99&page=abc").status_code == 200


def test_index_paginates_with_links(registry):
    _publish_many(registry, [(f"Initiative number {i:02d}", [14]) for i in range(23)])
    first = registry.client.get("/").get_data(as_text=True)
    page1 = _Page(first)
    assert len(page1.titles) == 20
    assert "Page 1 of 2" in first
    nxt = [a for a in page1.links if a.get("rel") == "next"]
    assert len(nxt) == 1 and not [a for a in page1.links if a.get("rel") == "prev"]
    second = registry.client.get(nxt[0]["href"]).get_data(as_text=True)
    page2 = _Page(second)
    assert len(page2.titles) == 3 and "Page 2 of 2" in second
    assert [a for a in page2.links if a.get("rel") == "prev"]
    assert not set(page1.titles) & set(page2.titles)
    # the filter is kept in the pagination links
    with_filter = _Page(registry.client.get("/?sdg=14&q=number").get_data(as_text=True))
    href = next(a["href"] for a in with_filter.links if a.get("rel") == "next")
    assert "sdg=14" in href and "q=number" in href and "page=2" in href


def test_titles_are_html_escaped(registry):
    (public_id,) = _publish_many(registry, [("<script>alert('x')</script> Reefs", [14])])
    for path in ("/", f"/initiatives/{public_id}"):
        html = registry.client.get(path).get_data(as_text=True)
        assert "<script>alert" not in html
        assert "&lt;script&gt;alert(" in html


def test_initiative_page_shows_the_published_record(registry):
    (public_id,) = _publish_many(registry, [("Seagrass meadows", [14, 2])])
    resp = registry.client.get(f"/initiatives/{public_id}")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert re.search(r"<h1>\s*Seagrass meadows\s*</h1>", html)
    assert public_id in html and "Ocean Lead" in html and "Kenya" in html
    assert "SDG 14" in html and "SDG 2" in html
    assert "secret@lead.test" not in html


@pytest.mark.parametrize("public_id", ["PR-1999-00001", "nothing", "x" * 300])
def test_unknown_initiative_page_is_404(registry, public_id):
    assert registry.client.get(f"/initiatives/{public_id}").status_code == 404


def test_unpublished_initiatives_have_no_page(registry, complete):
    partner = registry.token("partner")
    sec = registry.token("secretariat")
    published = registry.publish(partner, sec)
    assert registry.client.get(f"/initiatives/{published['public_id']}").status_code == 200
    draft = registry.create(partner, title="Draft only")
    assert registry.client.get(f"/initiatives/{draft['id']}").status_code == 404
