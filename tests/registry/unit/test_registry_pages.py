"""Public HTML pages: ``/`` (search, SDG filter, pagination) and ``/initiatives/<public id>``
(SQLite)."""

from __future__ import annotations

import datetime as dt
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
    assert re.search(r"<h1[^>]*>\s*Seagrass meadows\s*</h1>", html)
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


def _publish_one(registry, source_url: str | None = None, **data) -> str:
    with registry.app.app_context():
        session = db.session()
        org = create_organization(db_session=session, principal=SYSTEM, data={
            "name": "Ocean Lead", "stakeholder_group": "ngo"})
        item = register_imported_initiative(
            db_session=session, principal=SYSTEM, source="test", source_ref="ref-x",
            source_url=source_url,
            data={"title": "Reef watch", "sdg_goals": [14], "lead_organization_id": org.id,
                  "countries": ["FJI"], "sdg_targets": ["14.1"], "regions": ["009"],
                  "start_date": dt.date(2026, 3, 5), **data})
        session.commit()
        return item.public_id


@pytest.mark.parametrize("url", ["javascript:alert(document.domain)", "JAVASCRIPT:alert(1)",
                                 "data:text/html,<script>alert(1)</script>", "//evil.example"])
def test_source_url_is_a_link_only_when_http_or_https(registry, url):
    public_id = _publish_one(registry, source_url=url)
    html = registry.client.get(f"/initiatives/{public_id}").get_data(as_text=True)
    assert 'href="javascript' not in html.lower() and 'href="data:' not in html
    assert 'href="//evil' not in html


def test_source_url_https_is_a_link(registry):
    public_id = _publish_one(registry, source_url="https://oceanconference.un.org/x")
    html = registry.client.get(f"/initiatives/{public_id}").get_data(as_text=True)
    assert 'href="https://oceanconference.un.org/x" rel="nofollow noopener noreferrer"' in html


def test_initiative_page_in_chinese(registry):
    public_id = _publish_one(registry)
    html = registry.client.get(f"/initiatives/{public_id}",
                               headers={"Accept-Language": "zh-CN,zh"}).get_data(as_text=True)
    assert '<html lang="zh-Hans" dir="ltr">' in html
    assert "牵头实体" in html and "斐济" in html and "大洋洲" in html and "非政府组织" in html
    assert "2026年3月5日" in html and "目标 14" in html
    index = registry.client.get("/?lang=zh").get_data(as_text=True)
    assert "已发布 1 项倡议。" in index and "水下生物" in index


def test_unknown_initiative_is_a_localised_404_page(registry):
    resp = registry.client.get("/initiatives/PR-1999-99999?lang=zh")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 404 and "<h1>未找到</h1>" in html
    assert "没有编号为 PR-1999-99999 的已发布倡议。" in html
