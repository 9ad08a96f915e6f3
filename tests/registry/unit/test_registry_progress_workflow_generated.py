"""The progress report workflow's declaration drives this test (issue 9: reports are reviewed
"with the same machinery as initiatives"; issue 8: "every (state, action, actor) triple gets
its expected answer").

For every report state (``shared.events.types.PROGRESS_REPORT_STATES``), every action of
``registry.progress.policy.PROGRESS_REPORT_WORKFLOW`` (``update``, ``discard``, ``comment``
and the transitions) and six actors — anonymous, a member of the owner organisation, a
member of another organisation, a reviewer, a reviewer who is a member of the owner
organisation (four eyes) and a secretariat admin — the expected answer is derived from the
DECLARATION (states and who-rules, not the permission-table functions the service calls) and
the real HTTP API (``/api/v1/progress-reports/{id}…``) is asked:

- anonymous: 401; the caller may not see the report: 404;
- allowed: 2xx, the report in the declared state, exactly one event of the declared type
  (approval also rolling the report up into its initiative); a comment-requiring action
  without a comment first: 422, nothing written;
- the caller may take the action in another state: 409; otherwise 403.

Every refusal is checked to write nothing (report, initiative, timeline, outbox).
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from registry.initiatives.models import Initiative
from registry.outbox.models import OutboxEvent
from registry.progress import policy
from registry.progress.models import ProgressReport
from registry.workflow.models import Activity
from shared.db import utcnow
from shared.events.types import PROGRESS_REPORT_STATES
from tests.registry.review_desk import Desk, make_desk
from tests.registry.unit.test_registry_workflow_generated import (
    ACTORS,
    _matches,
    _rules,
    make_in_state,
    principal,
)

WORKFLOW = policy.PROGRESS_REPORT_WORKFLOW
ACTIONS = ("update", "discard", "comment", *(t.action for t in WORKFLOW.transitions))
SUCCESS = {"update": 200, "discard": 204, "comment": 201}


def expected(desk: Desk, state: str, action: str, actor: str, obj: Any) -> int:
    """The answer the declaration gives (the success code for an allowed action)."""
    p = principal(desk, actor)
    if not p.is_authenticated:
        return 401
    if not any((states is None or state in states) and _matches(who, p, obj)
               for states, who in _rules(WORKFLOW, "view")):
        return 404
    rows = _rules(WORKFLOW, action)
    if any((states is None or state in states) and _matches(who, p, obj)
           for states, who in rows):
        return SUCCESS.get(action, 200)
    if any(_matches(who, p, obj) for _states, who in rows):
        return 409
    return 403


def make_report(desk: Desk, state: str) -> ProgressReport:
    """Report 1, in ``state`` and complete (submittable), of a published initiative of the
    owner organisation."""
    initiative = make_in_state(desk, "published")
    now = utcnow()
    with desk.registry.session() as s:
        report = ProgressReport(
            id=uuid.uuid4(), initiative_id=initiative.id, number=1, status=state,
            period_start=date(2026, 1, 1), period_end=date(2026, 6, 30),
            reported_on=None if state == "draft" else date(2026, 7, 1),
            overall_status="on_track", progress_percent=40,
            narrative_html="<p>Generated progress.</p>", resources_mobilised=[],
            milestones=[], links=[], source="form", version=1,
            owner_organization_id=desk.owner_org, created_at=now, updated_at=now,
            submitted_at=None if state == "draft" else now,
            approved_at=now if state == "approved" else None)
        s.add(report)
        s.commit()
        s.expunge(report)
    return report


def _request(desk: Desk, actor: str, report: ProgressReport, action: str,
             comment: bool = True):
    client = desk.registry.client
    headers = desk.registry.headers(desk.tokens.get(actor))
    url = f"/api/v1/progress-reports/{report.id}"
    if action == "update":
        return client.patch(url, json={"narrative_html": "<p>Generated edit.</p>"},
                            headers=headers)
    if action == "discard":
        return client.delete(url, headers=headers)
    if action == "comment":
        return client.post(f"{url}/comments", json={"body": "Generated comment"},
                           headers=headers)
    return client.post(f"{url}/{WORKFLOW.transition(action).path}",
                       json={"comment": "Generated reason."} if comment else {},
                       headers=headers)


def _footprint(desk: Desk, report: ProgressReport) -> tuple:
    """What a refused request must leave as it was."""
    with desk.registry.session() as s:
        row = s.get(ProgressReport, report.id)
        initiative = s.get(Initiative, report.initiative_id)
        return ((row.status, row.version, row.narrative_html) if row else None,
                initiative.progress_reports_count, initiative.progress_percent,
                s.scalar(select(func.count()).select_from(Activity).where(
                    Activity.record_id == report.id)),
                s.scalar(select(func.count()).select_from(OutboxEvent).where(
                    OutboxEvent.subject == str(report.initiative_id))))


@pytest.fixture
def desk(registry):
    return make_desk(registry)


def test_every_progress_report_state_action_actor_triple_answers_as_declared(registry, desk):
    failures: list[str] = []
    seen: Counter[int] = Counter()
    cases = 0
    for state in PROGRESS_REPORT_STATES:
        current = make_report(desk, state)
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
                    if resp.json["status"] != transition.target or \
                            len(events) != before[-1] + 1 or \
                            events[-1].event_type != transition.event_type:
                        failures.append(f"{label}: not {transition.target} with one "
                                        f"{transition.event_type}")
                    if action == "approve" and (after[1], after[2]) != (1, 40):
                        failures.append(f"{label}: approval did not roll up {after}")
                elif action == "discard":
                    if after[0] is not None or after[-1] != before[-1]:
                        failures.append(f"{label}: the draft is still there {after}")
                elif action == "update":
                    if resp.headers.get("ETag") != f'"{before[0][1] + 1}"':
                        failures.append(f"{label}: the edit did not change the ETag")
                elif after[3] != before[3] + 1 or after[-1] != before[-1]:
                    failures.append(f"{label}: the comment is not one timeline entry "
                                    f"without an event")
                current = make_report(desk, state)  # the next case starts afresh
    assert not failures, f"{len(failures)} of {cases} cases:\n" + "\n".join(failures)
    assert cases == len(PROGRESS_REPORT_STATES) * len(ACTIONS) * len(ACTORS) == 144
    for status in (200, 201, 204, 401, 403, 404, 409, 422):
        assert seen[status] > 0, (status, seen)
    print(f"\ngenerated progress report workflow test: {cases} (state, action, actor) cases, "
          f"answers {dict(sorted(seen.items()))}")
