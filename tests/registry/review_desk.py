"""A cast for the review-desk tests (issue 8): real accounts (``users`` rows with verified
addresses), a verified owner organisation with two members, two reviewers, a reviewer who is
a member of the owner organisation (four eyes) and a secretariat admin, each with a signed
JWT the registry itself issues."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.registry.conftest import RegistryClient, complete_fields


@dataclass
class Desk:
    """The cast: ``ids`` user ids and ``tokens`` by role name, ``owner_org`` and ``other_org``
    ids."""

    registry: RegistryClient
    ids: dict[str, uuid.UUID] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    owner_org: uuid.UUID | None = None
    other_org: uuid.UUID | None = None

    def __getitem__(self, name: str) -> str:
        return self.tokens[name]

    def draft(self, **fields_: Any) -> dict:
        """A complete draft of the owner organisation (its member creates it)."""
        body = complete_fields(self.registry, self["owner"]) | {
            "owner_organization_id": str(self.owner_org)} | fields_
        return self.registry.create(self["owner"], **body)

    def act(self, who: str | None, iid: str, action: str, comment: str | None = None,
            if_match: str | None = None):
        body = {} if comment is None else {"comment": comment}
        headers = self.registry.headers(self.tokens.get(who) if who else None)
        if if_match is not None:
            headers["If-Match"] = if_match
        return self.registry.client.post(f"/api/v1/initiatives/{iid}/{action}", json=body,
                                         headers=headers)

    def published(self) -> dict:
        """A draft submitted and approved (reviewer)."""
        made = self.draft()
        assert self.act("owner", made["id"], "submit").status_code == 200
        resp = self.act("reviewer", made["id"], "approve")
        assert resp.status_code == 200, resp.json
        return resp.json


def make_desk(registry: RegistryClient) -> Desk:
    """Create the cast in ``registry``'s database."""
    from registry.accounts.models import User, UserStaffRole
    from registry.organizations.models import Organization, OrganizationMembership
    from shared.db import utcnow

    desk = Desk(registry)
    people = {"owner": ("Olivia Owner", "en"), "owner2": ("Omar Owner", "zh"),
              "other": ("Otto Other", "en"), "reviewer": ("Rita Reviewer", "en"),
              "reviewer2": ("Raj Reviewer", "zh"), "member_reviewer": ("Mia Member", "en"),
              "admin": ("Ada Admin", "en")}
    tag = uuid.uuid4().hex[:6]
    with registry.session() as s:
        desk.owner_org, desk.other_org = uuid.uuid4(), uuid.uuid4()
        for oid, name in ((desk.owner_org, f"Owner Reef {tag}"),
                          (desk.other_org, f"Other Reef {tag}")):
            s.add(Organization(id=oid, name=name, normalized_name=name.lower(),
                               stakeholder_group="ngo", verification_status="verified"))
        for key, (name, locale) in people.items():
            uid = uuid.uuid4()
            desk.ids[key] = uid
            s.add(User(id=uid, email=f"{key}-{tag}@desk.test", display_name=name,
                       locale=locale, email_verified_at=utcnow()))
        s.flush()
        for key, org, role in (("owner", desk.owner_org, "admin"),
                               ("owner2", desk.owner_org, "member"),
                               ("member_reviewer", desk.owner_org, "member"),
                               ("other", desk.other_org, "admin")):
            s.add(OrganizationMembership(id=uuid.uuid4(), user_id=desk.ids[key],
                                         organization_id=org, role=role))
        for key, role in (("reviewer", "reviewer"), ("reviewer2", "reviewer"),
                          ("member_reviewer", "reviewer"), ("admin", "secretariat_admin")):
            s.add(UserStaffRole(user_id=desk.ids[key], role=role))
        s.commit()
    orgs = {"owner": {desk.owner_org: "admin"}, "owner2": {desk.owner_org: "member"},
            "member_reviewer": {desk.owner_org: "member"}, "other": {desk.other_org: "admin"}}
    staff = {"reviewer": ("reviewer",), "reviewer2": ("reviewer",),
             "member_reviewer": ("reviewer",), "admin": ("secretariat_admin",)}
    for key in people:
        desk.tokens[key] = registry.user_token(orgs=orgs.get(key), staff=staff.get(key, ()),
                                               email=f"{key}-{tag}@desk.test",
                                               subject=str(desk.ids[key]))
    return desk
