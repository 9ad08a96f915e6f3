"""Every list and search query of ``GET /api/v1/initiatives`` is served by an index on
PostgreSQL: EXPLAIN of each statement the service runs (page, estimate, capped count) shows
no sequential scan over ``initiatives`` (issue 6: the list sorted every published row, the
search ran ``ILIKE '%…%'`` over all of them). The same for the review desk (issue 8): every
statement of the review queue (API and page), of the diffs (versions, revisions), the
versions and the thread scans none of ``initiatives``, ``initiative_versions``,
``initiative_revisions`` and ``activities`` sequentially, and each request runs a bounded
number of statements (no query per queue item).

The registry is bulk-loaded with ``bench/datagen.py`` (the real file's distributions; the
review desk's ``load_review``: five approved versions per initiative, the queue of submitted
initiatives and revisions around them) and analysed, at a size where the planner already
makes its 100,000-record choices."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy import event, select

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "bench"))

import datagen  # noqa: E402

N = 15_000


#: The review desk's big tables: none may be scanned whole by a review-desk request.
REVIEW_TABLES = ("initiatives", "initiative_versions", "initiative_revisions", "activities")
#: Statements one review-desk request may run (authentication, the page, counts): a query
#: per queue item or per version would exceed it.
MAX_REVIEW_STATEMENTS = 12


def _seq_scans(plan: dict, tables: tuple[str, ...] = ("initiatives",)) -> list[str]:
    """``"<table>: <filter>"`` for each sequential scan over one of ``tables`` in ``plan``."""
    found = []
    if plan.get("Node Type") == "Seq Scan" and plan.get("Relation Name") in tables:
        found.append(f"{plan['Relation Name']}: {plan.get('Filter', '')}")
    for child in plan.get("Plans", []):
        found.extend(_seq_scans(child, tables))
    return found


def _seq_scans_on_initiatives(plan: dict) -> list[str]:
    return _seq_scans(plan, ("initiatives",))


@pytest.fixture(scope="module")
def loaded(create_pg_database):
    from registry.app import create_app
    from shared import migrate

    url = create_pg_database("plans")
    migrate.upgrade("registry", url)
    info = datagen.load_review(url, N, seed=3)
    app = create_app({"DATABASE_URL": url, "TESTING": True})
    app.config["PLANS_URL"] = url
    yield app, info
    app.extensions["db_engine"].dispose()


def _queries(app, info) -> dict[str, str]:
    from registry.initiatives.models import Initiative
    from registry.organizations.models import Organization

    with app.extensions["db_session_factory"]() as s:
        iid = info.initiative_ids[0]
        initiative = s.get(Initiative, iid)
        lead = s.get(Organization, initiative.lead_organization_id)
        source_ref = s.scalar(select(Initiative.source_ref).where(Initiative.id == iid))
    name_part = lead.name.split()[0] if len(lead.name.split()[0]) >= 3 else lead.name[:5]
    return {
        "default ordering": "",
        "page 3": "page=3",
        "sdg": "sdg=14",
        "rare sdg": "sdg=3",
        "target": "target=14.1",
        "country": "country=FJI",
        "region (derived)": "region=009",
        "status": "status=published",
        "q full text, common": "q=ocean",
        "q full text, rarer": "q=coral",
        "q full text, Chinese": "q=海洋",
        "q two words": "q=coral reef",
        "q public id": f"q={info.public_ids[0]}",
        "q source reference": f"q={source_ref}",
        "q lead entity name": f"q={name_part}",
        "q with filters": "q=coral&sdg=14&region=009",
    }


def test_no_list_or_search_query_scans_initiatives_sequentially(loaded):
    app, info = loaded
    engine = app.extensions["db_engine"]
    statements: list[tuple[str, object]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        if not statement.startswith("EXPLAIN"):
            statements.append((statement, parameters))

    client = app.test_client()
    offenders = {}
    event.listen(engine, "before_cursor_execute", capture)
    try:
        for label, query in _queries(app, info).items():
            statements.clear()
            response = client.get(f"/api/v1/initiatives?{query}")
            assert response.status_code == 200, (label, response.get_json())
            assert response.get_json()["items"], label
            seen = list(statements)
            assert 1 <= len(seen) <= 3, (label, len(seen))
            with engine.connect() as conn:
                for statement, parameters in seen:
                    plan = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}",
                                                parameters).scalar()
                    scans = _seq_scans_on_initiatives(plan[0]["Plan"])
                    if scans:
                        offenders[label] = (statement, scans)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert not offenders, offenders


def test_the_plan_check_would_see_a_sequential_scan(loaded):
    """The detector itself: an unindexed predicate over initiatives is reported."""
    app, _info = loaded
    with app.extensions["db_engine"].connect() as conn:
        plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) SELECT id FROM initiatives "
                                    "WHERE length(title) > 5").scalar()
    assert _seq_scans_on_initiatives(plan[0]["Plan"])


# -- the review desk (issue 8) -----------------------------------------------------------------
def _statements_of(app, request) -> tuple[object, list[tuple[str, object]]]:
    """Run ``request(client)``; its response and the statements it sent to PostgreSQL."""
    engine = app.extensions["db_engine"]
    seen: list[tuple[str, object]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        if not statement.startswith("EXPLAIN"):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        response = request(app.test_client())
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    return response, seen


def _review_offenders(app, label: str, request) -> dict[str, object]:
    """Sequential scans over :data:`REVIEW_TABLES` in the plans of ``request``'s statements,
    and too many statements; asserts the request answered 200."""
    response, seen = _statements_of(app, request)
    assert response.status_code == 200, (label, response.get_data(as_text=True)[:500])
    offenders: dict[str, object] = {}
    if len(seen) > MAX_REVIEW_STATEMENTS:
        offenders[f"{label}: {len(seen)} statements"] = [s for s, _ in seen]
    with app.extensions["db_engine"].connect() as conn:
        for statement, parameters in seen:
            if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
                continue
            plan = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}",
                                        parameters).scalar()
            scans = _seq_scans(plan[0]["Plan"], REVIEW_TABLES)
            if scans:
                offenders[f"{label}: {statement[:300]}"] = scans
    return offenders


@pytest.fixture(scope="module")
def reviewer(loaded):
    """A reviewer's bearer token and a session cookie of the same signed-in person
    (an account with the staff role ``reviewer``, member of no organisation)."""
    from registry import db
    from registry.accounts.models import User, UserStaffRole
    from registry.accounts.passwords import hash_password
    from registry.oauth.service import create_token
    from shared.db import utcnow
    from shared.identity import Principal, PrincipalKind, StaffRole

    app, _info = loaded
    email, password = "plans.reviewer@secretariat.test", "plans reviewer passphrase"
    with app.app_context():
        session = db.session()
        user = User(email=email, password_hash=hash_password(password),
                    display_name="Plans Reviewer", email_verified_at=utcnow())
        session.add(user)
        session.flush()
        session.add(UserStaffRole(user_id=user.id, role="reviewer"))
        principal = Principal(PrincipalKind.USER, subject=str(user.id),
                              staff_roles=frozenset({StaffRole.REVIEWER}), email=email)
        token, _claims = create_token(db_session=session, principal=principal,
                                      expires_in=3600, grant="test")
        session.commit()
    browser = app.test_client()
    signed_in = browser.post("/api/v1/account/sign-in",
                             json={"email": email, "password": password})
    assert signed_in.status_code == 200, signed_in.get_json()
    return {"Authorization": f"Bearer {token}"}, browser


def test_no_review_queue_statement_scans_a_big_table_sequentially(loaded, reviewer):
    app, _info = loaded
    bearer, browser = reviewer
    offenders: dict[str, object] = {}
    for label, query in {"queue": "", "submissions": "kind=submission",
                         "revisions": "kind=revision", "completions": "kind=completion",
                         "unassigned": "assigned=none", "mine": "assigned=me",
                         "assigned to anyone, page 3": "assigned=any&page=3&per_page=20"
                         }.items():
        offenders |= _review_offenders(
            app, f"queue API {label}",
            lambda client, q=query: client.get(f"/api/v1/review/queue?{q}", headers=bearer))
    offenders |= _review_offenders(app, "queue page",
                                   lambda _client: browser.get("/secretariat/review"))
    assert not offenders, offenders


def test_no_diff_or_version_statement_scans_a_big_table_sequentially(loaded, reviewer):
    app, info = loaded
    bearer, _browser = reviewer
    iid = info.initiative_ids[len(info.initiative_ids) // 2]
    revised = info.revision_initiative_ids[0]
    number = info.revision_number
    offenders: dict[str, object] = {}
    for label, path in {"diff 1..5": f"/api/v1/initiatives/{iid}/diff?from=1&to=5",
                        "diff 2..3": f"/api/v1/initiatives/{iid}/diff?from=2&to=3",
                        "versions": f"/api/v1/initiatives/{iid}/versions",
                        "version 3": f"/api/v1/initiatives/{iid}/versions/3",
                        "revision diff":
                            f"/api/v1/initiatives/{revised}/revisions/{number}/diff",
                        "revision": f"/api/v1/initiatives/{revised}/revisions/{number}",
                        "thread": f"/api/v1/initiatives/{iid}/thread"}.items():
        offenders |= _review_offenders(
            app, label, lambda client, p=path: client.get(p, headers=bearer))
    assert not offenders, offenders


def test_the_review_plan_check_would_see_a_sequential_scan_of_versions(loaded):
    """The detector on the new tables: an unindexed predicate over versions is reported."""
    app, _info = loaded
    with app.extensions["db_engine"].connect() as conn:
        plan = conn.exec_driver_sql(
            "EXPLAIN (FORMAT JSON) SELECT initiative_id FROM initiative_versions "
            "WHERE approved_by_email = 'nobody@example.org'").scalar()
    assert _seq_scans(plan[0]["Plan"], REVIEW_TABLES) == [
        "initiative_versions: ((approved_by_email)::text = 'nobody@example.org'::text)"]
