"""Search of initiatives: tokenisation (CJK bigrams), full text and the separate id /
lead-entity branches, ``total_is_estimate``. The API tests run on SQLite (FTS5) and on
PostgreSQL (tsvector + GIN, trigram index): one behaviour, two implementations."""

from __future__ import annotations

import pytest

from registry.initiatives import search


def test_cjk_runs_are_indexed_as_overlapping_bigrams():
    assert search.tokens("海洋保护区") == ["海洋", "洋保", "保护", "护区"]
    assert search.tokens("Coral reefs & 海 in Fiji_2030") == [
        "coral", "reefs", "海", "in", "fiji", "2030"]
    assert search.tokens("ＣＯＲＡＬ") == ["coral"]  # NFKC: full-width letters
    assert search.pg_tsquery("海洋 coral") == "海洋:* & coral:*"
    assert search.fts5_query("coral reef") == '"coral"* AND "reef"*'
    assert search.pg_tsquery("%_ ") is None  # nothing to search: no full-text branch


@pytest.fixture(params=["sqlite", "postgresql"])
def published(request):
    if request.param == "sqlite":
        registry = request.getfixturevalue("registry")
    else:
        registry = request.getfixturevalue("registry_on")(request.getfixturevalue("pg_url"))
    partner = registry.token("partner")
    sec = registry.token("secretariat")
    org = registry.org(partner, "Triangle Alliance 100%")
    other = registry.org(partner, "Blue Fund")
    items = {
        "zh": registry.publish(partner, sec, title="太平洋岛屿海洋保护区网络",
                               description="社区参与的珊瑚礁监测。",
                               lead_organization_id=other["id"]),
        "coral": registry.publish(partner, sec, title="Restoring corals in Fiji",
                                  description="Nurseries for reef-building corals.",
                                  lead_organization_id=other["id"]),
        "ocean": registry.publish(partner, sec, title="Ocean literacy for schools",
                                  description="Teaching about the ocean.",
                                  lead_organization_id=org["id"]),
    }
    return registry, items


def _ids(registry, q: str) -> set[str]:
    resp = registry.get("/api/v1/initiatives", query_string={"q": q, "per_page": 100})
    assert resp.status_code == 200, resp.json
    assert resp.json["total"] == len(resp.json["items"])
    assert resp.json["total_is_estimate"] is False
    return {i["id"] for i in resp.json["items"]}


def test_full_text_finds_words_prefixes_and_chinese(published):
    registry, items = published
    assert _ids(registry, "coral") == {items["coral"]["id"]}  # "corals": prefix
    assert _ids(registry, "CORALS fiji") == {items["coral"]["id"]}  # every word, any case
    assert _ids(registry, "海洋") == {items["zh"]["id"]}
    assert _ids(registry, "保护区") == {items["zh"]["id"]}
    assert _ids(registry, "珊瑚") == {items["zh"]["id"]}  # in the description
    assert _ids(registry, "海") == {items["zh"]["id"]}  # one character: a prefix of 海洋
    assert _ids(registry, "洋海") == set()  # not in that order
    assert _ids(registry, "whales") == set()


def test_public_id_source_and_lead_entity_are_separate_branches(published):
    registry, items = published
    public_id = items["ocean"]["public_id"]
    assert _ids(registry, public_id.lower()) == {items["ocean"]["id"]}
    # the lead entity's name (from 3 characters); its initiative has no "triangle" in text
    assert _ids(registry, "triangle") == {items["ocean"]["id"]}
    assert _ids(registry, "angle all") == {items["ocean"]["id"]}
    # LIKE wildcards are escaped: "%" matches only a literal percent sign
    assert _ids(registry, "100%") == {items["ocean"]["id"]}
    assert _ids(registry, "%") == set()
    assert _ids(registry, "_") == set()
    # characters that mean something to tsquery / FTS5 / PostgreSQL are plain text here
    for q in ("'", "\\", 'a:b & !c | (d) "x"*', "😀"):
        _ids(registry, q)
    # NUL cannot be stored nor searched on PostgreSQL: 400 naming the parameter (issue 7)
    for q in ("\x00", "a\x00b"):
        resp = registry.get("/api/v1/initiatives", query_string={"q": q})
        assert resp.status_code == 400, resp.json
        assert [(e["field"], e["location"]) for e in resp.json["errors"]] == [("q", "query")]


def test_search_combines_with_filters_and_pages(published):
    registry, items = published
    resp = registry.get("/api/v1/initiatives", query_string={"q": "for", "per_page": 1})
    assert resp.status_code == 200
    first = resp.json
    assert len(first["items"]) == 1 and first["total"] >= 2
    second = registry.get("/api/v1/initiatives",
                          query_string={"q": "for", "per_page": 1, "page": 2}).json
    assert second["items"][0]["id"] != first["items"][0]["id"]
    assert _ids(registry, "coral") & _ids(registry, "corals fiji") == {items["coral"]["id"]}
