"""Versions and revisions on the real PostgreSQL server: version rows written in bulk by the
importer (COPY with JSON content), a revision's life (row locks, JSON content, If-Match) and
the diff between the versions it made."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from registry.imports.service import import_commitments
from registry.initiatives.models import Initiative, InitiativeVersion

pytestmark = pytest.mark.postgres


def test_import_writes_version_1_of_every_record_on_postgresql(pg_url, registry_on,
                                                               sample_path):
    registry = registry_on(pg_url)
    factory = registry.app.extensions["db_session_factory"]
    report = import_commitments(sample_path, session_factory=factory, batch_size=50)
    assert report.imported == 151
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(InitiativeVersion)) == 151
        assert set(s.scalars(select(Initiative.approved_version))) == {1}
        initiative = s.scalars(select(Initiative).where(
            Initiative.deliverables.any()).limit(1)).one()
        iid, public_id = str(initiative.id), initiative.public_id
    v1 = registry.get(f"/api/v1/initiatives/{iid}/versions/1").json
    assert v1["content"]["title"] and "contact_email" not in v1["content"]
    stored = registry.get(f"/api/v1/initiatives/{iid}").json
    assert [d["description"] for d in v1["content"]["deliverables"]] == [
        d["description"] for d in stored["deliverables"]]
    assert all(d["id"] for d in v1["content"]["deliverables"])
    assert public_id


def test_a_revision_on_postgresql_makes_version_2(pg_url, registry_on, problem):
    registry = registry_on(pg_url)
    partner = registry.token("partner", email="p@ngo.test")
    sec = registry.token("secretariat", email="r@un.test")
    published = registry.publish(partner, sec, title="Kelp forests", countries=["FJI"])
    iid = published["id"]
    url = f"/api/v1/initiatives/{iid}"
    edit = registry.patch(url, {"title": "Kelp forests of Tonga", "countries": ["TON"],
                                "resources": [{"type": "financing", "details": "Grant",
                                               "amount_usd": "250000"}]}, partner)
    assert edit.status_code == 200 and edit.json["title"] == "Kelp forests"
    revision = registry.get(f"{url}/revisions/1", partner)
    etag = revision.headers["ETag"]
    assert revision.json["changed_fields"] == ["title", "countries"]  # 250000 = 250000.00
    stale = registry.client.post(f"{url}/revisions/1/submit", json={},
                                 headers={**registry.headers(partner), "If-Match": '"99"'})
    problem(stale, 412)
    ok = registry.client.post(f"{url}/revisions/1/submit", json={},
                              headers={**registry.headers(partner), "If-Match": etag})
    assert ok.status_code == 200, ok.json
    assert registry.post(f"{url}/revisions", {"title": "Another"}, partner).status_code == 409
    approved = registry.post(f"{url}/revisions/1/approve", {}, sec)
    assert approved.status_code == 200, approved.json
    assert registry.get(url).json["countries"] == ["TON"]
    diff = registry.get(f"{url}/diff?from=1&to=2").json
    assert diff["changed_fields"] == ["title", "countries"]
    assert diff["lists"]["countries"] == {"added": ["TON"], "removed": ["FJI"],
                                          "changed": [], "unchanged": 0}
