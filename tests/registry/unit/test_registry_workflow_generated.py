"""The initiative workflow's declaration drives this test (issue 8: "the workflow table drives
a generated test: every (state, action, actor) triple gets its expected answer").

For every state of ``shared.events.types.INITIATIVE_STATUSES``, every action of
``registry.initiatives.policy.INITIATIVE_WORKFLOW`` (its transitions and its ``update``,
``comment`` and ``assign`` rules) and six actors — anonymous, a member of the owner
organisation, a member of another organisation, a reviewer, a reviewer who is a member of
the owner organisation (four eyes) and a secretariat admin — the expected answer is derived
from the DECLARATION (its states and who-rules; not from the permission-table functions the
services call) and the real HTTP API is asked:

- anonymous: 401 (no anonymous caller may act);
- the caller may not see the initiative: 404;
- the declaration allows it: 2xx, the new state as declared, exactly one event of the
  declared type (a comment-requiring action without a comment first: 422, nothing written);
- the caller may take the action in another state: 409; otherwise 403.

Every refusal is checked to write nothing (version, timeline, outbox). Editing a published
initiative goes to its revision (``registry.initiatives.revisions``): ``update`` in such a
state is judged by the revision workflow's ``update`` rule (a new revision is a draft).
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select, update

from registry.initiatives import policy, revisions
from registry.initiatives.models import Initiative
from registry.outbox.models import OutboxEvent
from registry.workflow.models import Activity
from shared.events.types import INITIATIVE_STATUSES
from shared.identity import ANONYMOUS, OrgRole, Principal, PrincipalKind, StaffRole
from tests.registry.review_desk import Desk, make_desk

WORKFLOW = policy.INITIATIVE_WORKFLOW
ACTORS = ("anonymous", "owner", "other", "reviewer", "member_reviewer", "admin")
ACTIONS = ("update", "comment", "assign", *(t.action for t in WORKFLOW.transitions))
SUCCESS = {"update": 200, "comment": 201, "assign": 200}


def principal(desk: Desk, actor: str) -> Principal:
    """The actor as the declaration's who-rules see it (same memberships and roles as its
    token)."""
    if actor == "anonymous":
        return ANONYMOUS
    orgs = {"owner": {desk.owner_org: OrgRole.ADMIN},
            "member_reviewer": {desk.owner_org: OrgRole.MEMBER},
            "other": {desk.other_org: OrgRole.ADMIN}}.get(actor, {})
    staff = {"reviewer": {StaffRole.REVIEWER}, "member_reviewer": {StaffRole.REVIEWER},
             "admin": {StaffRole.SECRETARIAT_ADMIN}}.get(actor, set())
    return Principal(PrincipalKind.USER, subject=str(desk.ids[actor]), memberships=orgs,
                     staff_roles=frozenset(staff))


def _rules(workflow, action: str) -> list[tuple[frozenset[str] | None, tuple]]:
    """(states, who) of every declared row of ``action``: rules and transitions."""
    rows: list[tuple[frozenset[str] | None, tuple]] = [
        (r.states, r.who) for r in workflow.rules if r.action == action]
    rows += [(t.sources, t.who) for t in workflow.transitions if t.action == action]
    return rows


def _matches(who: tuple, p: Principal, obj: Any) -> bool:
    return any(rule.test(p, obj) for rule in who)


def expected(desk: Desk, state: str, action: str, actor: str, obj: Any) -> int:
    """The answer the declaration gives (the success code for an allowed action)."""
    p = principal(desk, actor)
    if not p.is_authenticated:
        return 401
    visible = any((states is None or state in states) and _matches(who, p, obj)
                  for states, who in _rules(WORKFLOW, "view"))
    if not visible:
        return 404
    workflow, judged = WORKFLOW, state
    if action == "update" and state in revisions.REVISABLE_STATES:
        workflow, judged = policy.REVISION_WORKFLOW, "draft"  # a new revision is a draft
    rows = _rules(workflow, action)
    if any((states is None or judged in states) and _matches(who, p, obj)
           for states, who in rows):
        return SUCCESS.get(action, 200)
    if any(_matches(who, p, obj) for _states, who in rows):
        return 409
    return 403


def _request(desk: Desk, actor: str, iid: uuid.UUID, action: str, comment: bool = True):
    registry = desk.registry
    headers = registry.headers(desk.tokens.get(actor))
    if action == "update":
        return registry.client.patch(f"/api/v1/initiatives/{iid}",
                                     json={"title": "Generated edit"}, headers=headers)
    if action == "comment":
        return registry.client.post(f"/api/v1/initiatives/{iid}/comments",
                                    json={"body": "Generated comment"}, headers=headers)
    if action == "assign":
        return registry.client.post(f"/api/v1/initiatives/{iid}/assign",
                                    json={"reviewer_id": str(desk.ids["reviewer2"])},
                                    headers=headers)
    path = WORKFLOW.transition(action).path
    return registry.client.post(f"/api/v1/initiatives/{iid}/{path}",
                                json={"comment": "Generated reason."} if comment else {},
                                headers=headers)


def _footprint(desk: Desk, iid: uuid.UUID) -> tuple:
    """What a refused request must leave as it was."""
    with desk.registry.session() as s:
        row = s.get(Initiative, iid)
        return (row.status, row.version, row.title, row.assigned_reviewer_id,
                s.scalar(select(func.count()).select_from(Activity).where(
                    Activity.record_id == iid)),
                s.scalar(select(func.count()).select_from(OutboxEvent).where(
                    OutboxEvent.subject == str(iid))))


def make_in_state(desk: Desk, state: str) -> Initiative:
    """A complete initiative of the owner organisation, put in ``state`` (with what that
    state implies: a public id and approved version 1 once it was published)."""
    from registry.initiatives.schemas import InitiativeInputSchema
    from registry.initiatives.service import create_initiative

    loaded = InitiativeInputSchema().load({
        "title": "Generated reef restoration", "owner_organization_id": str(desk.owner_org),
        "description": "Restore 40 hectares of coral reef.",
        "lead_organization_id": str(desk.owner_org), "sdg_targets": ["14.2"],
        "countries": ["FJI"], "start_date": "2026-01-01", "end_date": "2028-12-31",
        "deliverables": [{"description": "40 ha restored", "due_date": "2028-06-30"}],
        "resources": [{"type": "financing", "details": "Grant", "amount_usd": "1000.00"}],
        "contact_email": "reefs@desk.test"})
    with desk.registry.session() as s:
        made = create_initiative(db_session=s, principal=principal(desk, "owner"),
                                 data=loaded)
        s.commit()
        published = state not in ("draft", "submitted", "changes_requested", "rejected")
        s.execute(update(Initiative).where(Initiative.id == made.id).values(
            status=state, public_id=f"PR-2026-{uuid.uuid4().int % 10**8:08d}"
            if published else None, approved_version=1 if published else None))
        s.commit()
        obj = s.get(Initiative, made.id)
        s.expunge(obj)
    return obj


@pytest.fixture
def desk(registry):
    return make_desk(registry)


def test_every_state_action_actor_triple_answers_as_declared(registry, desk):
    failures: list[str] = []
    seen: Counter[int] = Counter()
    cases = 0
    for state in INITIATIVE_STATUSES:
        current = make_in_state(desk, state)
        for action in ACTIONS:
            for actor in ACTORS:
                expect = expected(desk, state, action, actor, current)
                before = _footprint(desk, current.id)
                transition = WORKFLOW.transition(action)
                label = f"{action} [{state}] as {actor}"
                if expect < 300 and transition is not None and transition.comment_required:
                    resp = _request(desk, actor, current.id, action, comment=False)
                    seen[resp.status_code] += 1
                    if resp.status_code != 422 or _footprint(desk, current.id) != before:
                        failures.append(f"{label} without comment: expected 422, got "
                                        f"{resp.status_code}")
                resp = _request(desk, actor, current.id, action)
                cases += 1
                seen[resp.status_code] += 1
                if resp.status_code != expect:
                    failures.append(f"{label}: expected {expect}, got {resp.status_code} "
                                    f"{resp.get_data(as_text=True)[:200]!r}")
                    continue
                if expect >= 300:
                    if _footprint(desk, current.id) != before:
                        failures.append(f"{label}: refused ({expect}) but wrote something")
                    continue
                if transition is not None:
                    events = desk.registry.outbox(current.id)
                    if resp.json["status"] != transition.target or \
                            events[-1].event_type != transition.event_type or \
                            len(events) != before[-1] + 1:
                        failures.append(f"{label}: not {transition.target} with one "
                                        f"{transition.event_type}")
                # a success may change the state: the next case starts afresh
                current = make_in_state(desk, state)
    assert not failures, f"{len(failures)} of {cases} cases:\n" + "\n".join(failures)
    assert cases == len(INITIATIVE_STATUSES) * len(ACTIONS) * len(ACTORS) == 840
    # the matrix exercised every kind of answer
    for status in (200, 201, 401, 403, 404, 409, 422):
        assert seen[status] > 0, (status, seen)
    print(f"\ngenerated workflow test: {cases} (state, action, actor) cases, answers "
          f"{dict(sorted(seen.items()))}")
