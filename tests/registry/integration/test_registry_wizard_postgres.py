"""The partner's wizard on PostgreSQL: the pages' saves go through the same service functions
as the API, whose writes differ per database (one-statement inserts, row locks): a draft
walked, a partner's role changed (the same partner row kept), submitted, published, and
edited through a revision."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from registry.initiatives.models import Initiative, InitiativeRevision
from tests.registry.unit.test_registry_memberships import People
from tests.registry.unit.test_registry_wizard_pages import (
    Browser,
    _new_draft,
    _walk_to_complete,
)


def test_the_wizard_on_postgresql(pg_url, registry_on):
    registry = registry_on(pg_url)
    people = People(registry)
    ana = people.user("ana@reef.test")
    org = registry.org(people.token(ana), "Pacific Reef Alliance")
    registry.verify(registry.token("secretariat"), org["id"])
    fund = registry.org(people.token(people.user("eve@fund.test")), "Blue Ocean Fund")
    browser = Browser(registry, people.token(ana))
    iid = _new_draft(browser)
    base = f"/my/initiatives/{iid}/wizard/partners"
    browser.get(base)
    assert browser.post(base, {"organization_id": fund["id"], "role": "funding",
                               "op": "add"}).status_code == 303
    browser.get(base)
    resp = browser.post(base, {f"role-{fund['id']}": "implementing", "op": "save",
                               "nav": "stay"})
    assert resp.status_code == 303, resp.get_data(as_text=True)[:1000]
    _walk_to_complete(browser, iid)
    browser.get(f"/my/initiatives/{iid}/wizard/review")
    assert browser.post(f"/my/initiatives/{iid}/submit", {}).status_code == 303
    assert registry.action(registry.token("secretariat"), iid, "approve").status_code == 200
    browser.get(f"/my/initiatives/{iid}/revision/contact")
    resp = browser.post(f"/my/initiatives/{iid}/revision/contact",
                        {"contact_email": "new@ngo.test"})
    assert resp.status_code == 303
    with registry.session() as s:
        initiative = s.get(Initiative, uuid.UUID(iid))
        assert initiative.status == "published" and initiative.contact_email == "reefs@ngo.test"
        assert [(str(p.organization_id), p.role) for p in initiative.partners] == [
            (fund["id"], "implementing")]
        revision = s.scalar(select(InitiativeRevision))
        assert revision.content["contact_email"] == "new@ngo.test"
