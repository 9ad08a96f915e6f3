"""Every list and search query of ``GET /api/v1/initiatives`` is served by an index on
PostgreSQL: EXPLAIN of each statement the service runs (page, estimate, capped count) shows
no sequential scan over ``initiatives`` (issue 6: the list sorted every published row, the
search ran ``ILIKE '%…%'`` over all of them).

The registry is bulk-loaded with ``bench/datagen.py`` (the real file's distributions) and
analysed, at a size where the planner already makes its 100,000-record choices."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy import event, select

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "bench"))

import datagen  # noqa: E402

N = 15_000


def _seq_scans_on_initiatives(plan: dict) -> list[str]:
    found = []
    if plan.get("Node Type") == "Seq Scan" and plan.get("Relation Name") == "initiatives":
        found.append(plan.get("Filter", ""))
    for child in plan.get("Plans", []):
        found.extend(_seq_scans_on_initiatives(child))
    return found


@pytest.fixture(scope="module")
def loaded(create_pg_database):
    from registry.app import create_app
    from shared import migrate

    url = create_pg_database("plans")
    migrate.upgrade("registry", url)
    info = datagen.load_registry(url, N, seed=3)
    app = create_app({"DATABASE_URL": url, "TESTING": True})
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
