"""The revision workflow's declaration drives this test (issue 8: "every (state, action,
actor) triple gets its expected answer"), as ``test_registry_workflow_generated`` does for
the initiative's.

For every revision state (``shared.events.types.REVISION_STATUSES``), every action of
``registry.initiatives.policy.REVISION_WORKFLOW`` (``update`` and the transitions) and six
actors — anonymous, a member of the owner organisation, a member of another organisation, a
reviewer, a reviewer who is a member of the owner organisation (four eyes) and a secretariat
admin — the expected answer is derived from the DECLARATION (states and who-rules) and the
real HTTP API (``/api/v1/initiatives/{id}/revisions/{n}…``) is asked:

- anonymous: 401; the caller may not see the revision: 404;
- allowed: 200, the revision in the declared state, exactly one event of the declared type
  (none for ``discard``), approval making version 2 of the initiative; a comment-requiring
  action without a comment first: 422, nothing written;
- the caller may take the action in another state: 409; otherwise 403.

Every refusal is checked to write nothing (revision, initiative, versions, timeline, outbox).
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select

from registry.initiatives import policy
from registry.initiatives.models import Initiative, InitiativeRevision, InitiativeVersion
from registry.outbox.models import OutboxEvent
from registry.workflow.models import Activity
from shared.db import utcnow
from shared.events.types import REVISION_STATUSES
from tests.registry.review_desk import Desk, make_desk
from tests.registry.unit.test_registry_workflow_generated import (
    ACTORS,
    _matches,
    _rules,
    make_in_state,
    principal,
)

WORKFLOW = policy.REVISION_WORKFLOW
ACTIONS = ("update", *(t.action for t in WORKFLOW.transitions))


def expected(desk: Desk, state: str, action: str, actor: str, obj: Any) -> int:
    """The answer the declaration gives (200 for an allowed action)."""
    p = principal(desk, actor)
    if not p.is_authenticated:
        return 401
    if not any((states is None or state in states) and _matches(who, p, obj)
               for states, who in _rules(WORKFLOW, "view")):
        return 404
    rows = _rules(WORKFLOW, action)
    if any((states is None or state in states) and _matches(who, p, obj)
           for states, who in rows):
        return 200
    if any(_matches(who, p, obj) for _states, who in rows):
        return 409
    return 403


def make_revision(desk: Desk, state: str) -> InitiativeRevision:
    """Revision 1, in ``state``, of a published initiative of the owner organisation (its
    proposed content: a new title)."""
    from registry.initiatives.versions import content_of, write_version

    initiative = make_in_state(desk, "published")
    with desk.registry.session() as s:
        row = s.get(Initiative, initiative.id)
        s.query(InitiativeVersion).filter_by(initiative_id=row.id).delete()
        row.approved_version = None
        write_version(db_session=s, principal=None, initiative=row, number=1)
        now = utcnow()
        revision = InitiativeRevision(
            id=uuid.uuid4(), initiative_id=row.id, number=1, status=state,
            content=content_of(row) | {"title": "Generated reef restoration, revised"},
            base_version=1, version=1, owner_organization_id=desk.owner_org,
            created_at=now, updated_at=now, submitted_at=None if state == "draft" else now)
        s.add(revision)
        s.commit()
        s.expunge(revision)
    return revision


def _request(desk: Desk, actor: str, revision: InitiativeRevision, action: str,
             comment: bool = True):
    client = desk.registry.client
    headers = desk.registry.headers(desk.tokens.get(actor))
    url = f"/api/v1/initiatives/{revision.initiative_id}/revisions/{revision.number}"
    if action == "update":
        return client.patch(url, json={"description": "Generated edit."}, headers=headers)
    return client.post(f"{url}/{WORKFLOW.transition(action).path}",
                       json={"comment": "Generated reason."} if comment else {},
                       headers=headers)


def _footprint(desk: Desk, revision: InitiativeRevision) -> tuple:
    """What a refused request must leave as it was."""
    iid = revision.initiative_id
    with desk.registry.session() as s:
        row = s.get(InitiativeRevision, revision.id)
        initiative = s.get(Initiative, iid)
        return (row.status, row.version, row.content["title"], initiative.version,
                initiative.title, initiative.approved_version,
                s.scalar(select(func.count()).select_from(InitiativeVersion).where(
                    InitiativeVersion.initiative_id == iid)),
                s.scalar(select(func.count()).select_from(Activity).where(
                    Activity.record_id == iid)),
                s.scalar(select(func.count()).select_from(OutboxEvent).where(
                    OutboxEvent.subject == str(iid))))


@pytest.fixture
def desk(registry):
    return make_desk(registry)


def test_every_revision_state_action_actor_triple_answers_as_declared(registry, desk):
    failures: list[str] = []
    seen: Counter[int] = Counter()
    cases = 0
    for state in REVISION_STATUSES:
        current = make_revision(desk, state)
        for action in ACTIONS:
            for actor in ACTORS:
                expect = expected(desk, state, action, actor, current)
                before = _footprint(desk, current)
                transition = WORKFLOW.transition(action)
                label = f"{action} [{state}] as {actor}"
                if expect < 300 and transition is not None and transition.comment_required:
                    resp = _request(desk, actor, current, action, comment=False)
                    seen[resp.status_code] += 1
                    if resp.status_code != 422 or _footprint(desk, current) != before:
                        failures.append(f"{label} without comment: expected 422, got "
                                        f"{resp.status_code}")
                resp = _request(desk, actor, current, action)
                cases += 1
                seen[resp.status_code] += 1
                if resp.status_code != expect:
                    failures.append(f"{label}: expected {expect}, got {resp.status_code} "
                                    f"{resp.get_data(as_text=True)[:200]!r}")
                    continue
                if expect >= 300:
                    if _footprint(desk, current) != before:
                        failures.append(f"{label}: refused ({expect}) but wrote something")
                    continue
                after = _footprint(desk, current)
                events = desk.registry.outbox(current.initiative_id)
                if transition is not None:
                    wanted = 0 if transition.event_type is None else 1
                    if resp.json["status"] != transition.target or \
                            len(events) != before[-1] + wanted or \
                            (wanted and events[-1].event_type != transition.event_type):
                        failures.append(f"{label}: not {transition.target} with "
                                        f"{wanted} {transition.event_type}")
                    if action == "approve" and (after[5], after[6], after[4]) != (
                            2, 2, "Generated reef restoration, revised"):
                        failures.append(f"{label}: approval made no version 2 {after}")
                elif resp.headers.get("ETag") != f'"{before[1] + 1}"':
                    failures.append(f"{label}: the edit did not change the ETag")
                current = make_revision(desk, state)  # the next case starts afresh
    assert not failures, f"{len(failures)} of {cases} cases:\n" + "\n".join(failures)
    assert cases == len(REVISION_STATUSES) * len(ACTIONS) * len(ACTORS) == 216
    for status in (200, 401, 403, 404, 409, 422):
        assert seen[status] > 0, (status, seen)
    print(f"\ngenerated revision workflow test: {cases} (state, action, actor) cases, "
          f"answers {dict(sorted(seen.items()))}")
