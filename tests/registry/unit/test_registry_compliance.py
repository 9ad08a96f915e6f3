"""The reporting traffic light (issue 9, ``registry.compliance``) with a controlled clock.

A record walks green -> yellow -> red -> green (after an approved progress report) and exactly
the expected reminder events go out, once each, also when the job runs twice; the rule's date
arithmetic; history through ``as_of``; the API (public light, dashboard, send reminder now)
and its 4xx answers. SQLite here; ``tests/registry/integration/test_registry_compliance_pg.py``
runs the same on PostgreSQL plus two processes at once.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select, update

from registry.compliance import rule
from registry.compliance.models import ProgressReminder, ReportingStatusChange
from registry.compliance.service import (
    compliance_of,
    refresh_initiative,
    run_compliance_job,
    send_weekly_digest,
)
from shared.events import types as ev
from shared.identity import SYSTEM

CHANGED = ev.INITIATIVE_REPORTING_STATUS_CHANGED
REMINDER = ev.INITIATIVE_PROGRESS_REMINDER_DUE


def at(day: str, hour: int = 2) -> datetime:
    """A controlled clock: ``day`` at ``hour`` UTC (the job's hour)."""
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


# -- the rule ------------------------------------------------------------------------------
@pytest.mark.parametrize(("start", "months", "expected"), [
    ("2025-01-31", 1, "2025-02-28"),
    ("2024-01-31", 1, "2024-02-29"),
    ("2024-02-29", 12, "2025-02-28"),
    ("2025-11-15", 3, "2026-02-15"),
    ("2025-03-31", 12, "2026-03-31"),
    ("2025-12-31", 24, "2027-12-31"),
])
def test_months_are_calendar_months_with_the_day_clamped(start, months, expected):
    assert rule.add_months(date.fromisoformat(start), months) == date.fromisoformat(expected)


def test_cycle_and_light_follow_the_un_desa_thresholds():
    c = rule.cycle(date(2025, 1, 15), yellow_months=12, red_months=24, days_before=30)
    assert (c.upcoming_on, c.yellow_on, c.red_on) == (
        date(2025, 12, 16), date(2026, 1, 15), date(2027, 1, 15))
    assert rule.light(c, date(2026, 1, 14)) == "green"
    assert rule.light(c, date(2026, 1, 15)) == "yellow"
    assert rule.light(c, date(2027, 1, 14)) == "yellow"
    assert rule.light(c, at("2027-01-15", 0)) == "red"
    assert rule.kinds_due(c, date(2025, 12, 15)) == []
    assert rule.kinds_due(c, date(2025, 12, 16)) == ["upcoming"]
    assert rule.kinds_due(c, date(2026, 1, 15)) == ["upcoming", "due", "yellow"]
    assert rule.kinds_due(c, date(2027, 1, 15)) == ["upcoming", "due", "yellow", "red"]
    assert rule.anchor(date(2025, 1, 15), None) == date(2025, 1, 15)
    assert rule.anchor(date(2025, 1, 15), date(2024, 6, 1)) == date(2025, 1, 15)
    assert rule.anchor(date(2025, 1, 15), date(2026, 2, 1)) == date(2026, 2, 1)


# -- fixtures ------------------------------------------------------------------------------
def add_member(registry, organization_id, email: str, locale: str = "en",
               verified: bool = True) -> uuid.UUID:
    """A person with an account in the owner organisation."""
    from registry.accounts.models import User
    from registry.organizations.models import OrganizationMembership

    with registry.session() as s:
        user = User(email=email, locale=locale, display_name=email.split("@")[0],
                    email_verified_at=at("2024-01-01") if verified else None)
        s.add(user)
        s.flush()
        s.add(OrganizationMembership(user_id=user.id, organization_id=uuid.UUID(
            str(organization_id)), role="member"))
        s.commit()
        return user.id


def published(registry, published_at: datetime, **fields) -> dict:
    """A published initiative whose publication is moved to ``published_at`` (the clock)."""
    from registry.initiatives.models import Initiative

    partner, secretariat = registry.token("partner"), registry.token("secretariat")
    initiative = registry.publish(partner, secretariat, **fields)
    with registry.session() as s:
        s.execute(update(Initiative).where(Initiative.id == uuid.UUID(initiative["id"]))
                  .values(published_at=published_at))
        s.commit()
    return initiative


def approve_report(registry, initiative_id: str, reported_on: date,
                   approved_at: datetime) -> None:
    """An approved progress report, and the cycle's restart the approval does
    (``refresh_initiative`` in the approval's transaction)."""
    from registry.initiatives.models import Initiative
    from registry.progress.models import ProgressReport

    with registry.session() as s:
        iid = uuid.UUID(initiative_id)
        number = (s.scalar(select(func.count()).select_from(ProgressReport).where(
            ProgressReport.initiative_id == iid)) or 0) + 1
        s.add(ProgressReport(initiative_id=iid, number=number, status="approved",
                             reported_on=reported_on, submitted_at=approved_at,
                             approved_at=approved_at, overall_status="on_track",
                             progress_percent=50, source="form"))
        s.flush()
        refresh_initiative(s, s.get(Initiative, iid), approved_at)
        s.commit()


def job(registry, now: datetime, **kw):
    return run_compliance_job(registry.app.extensions["db_session_factory"], now=now, **kw)


def events(registry, subject: str, *types: str) -> list[dict]:
    """The compliance events of ``subject``, each checked against its payload schema: the
    job builds the JSON itself (no per-event dump), so it must be what the schema's dump of
    the loaded payload gives."""
    out = [row.envelope for row in registry.outbox(subject, compliance=True)
           if row.event_type in (types or (CHANGED, REMINDER))]
    for envelope in out:
        loaded = ev.load_data(envelope["type"], envelope["data"])
        assert ev.dump_data(envelope["type"], loaded) == envelope["data"]
        assert envelope["subject"] == subject and envelope["source"] == "/registry"
    return out


def summary(envelopes: list[dict]) -> list[tuple]:
    out = []
    for e in envelopes:
        d = e["data"]
        if e["type"] == CHANGED:
            out.append(("changed", d["from_status"], d["to_status"]))
        else:
            out.append(("reminder", d["kind"], d["reporting_status"]))
    return out


# -- the walk ------------------------------------------------------------------------------
def test_walk_green_yellow_red_green_with_each_reminder_once(registry):
    initiative = published(registry, at("2025-01-15", 10))
    iid = initiative["id"]
    add_member(registry, initiative["owner_organization_id"], "lin@reef.test", "zh")
    add_member(registry, initiative["owner_organization_id"], "ann@reef.test", "en")
    add_member(registry, initiative["owner_organization_id"], "nobody@reef.test",
               verified=False)
    # publication set the light (green, as of the approval); then the walk
    assert summary(events(registry, iid)) == [("changed", None, "green")]
    seen = 1

    def step(now: datetime, expected: list[tuple], runs: int = 2) -> list[dict]:
        nonlocal seen
        for _ in range(runs):  # the second run of the same day changes nothing
            result = job(registry, now)
            assert not result.skipped
        new = events(registry, iid)[seen:]
        seen += len(new)
        assert summary(new) == expected, now
        return new

    step(at("2025-06-01"), [])
    step(at("2025-12-15"), [])
    upcoming, = step(at("2025-12-16"), [("reminder", "upcoming", "green")])
    data = upcoming["data"]
    assert data["due_on"] == "2026-01-15" and data["anchor_on"] == "2025-01-15"
    assert data["report_url"].endswith(f"/my/initiatives/{iid}/progress/new")
    assert sorted((r["email"], r["locale"], r["role"]) for r in data["recipients"]) == [
        ("ann@reef.test", "en", "owner"), ("lin@reef.test", "zh", "owner")]
    assert data["initiative"]["public_id"] == initiative["public_id"]
    assert data["initiative"]["sdg_goals"] == [14]
    assert data["initiative"]["stakeholder_group"] == "ngo"
    step(at("2026-01-14"), [])
    # the due date and the yellow light coincide: one e-mail, of the most severe kind
    changed, yellow = step(at("2026-01-15"), [("changed", "green", "yellow"),
                                              ("reminder", "yellow", "yellow")])
    assert changed["data"]["yellow_on"] == "2026-01-15"
    assert changed["data"]["red_on"] == "2027-01-15"
    assert changed["data"]["inactive"] is False
    step(at("2026-08-01"), [])
    changed, _red = step(at("2027-01-15"), [("changed", "yellow", "red"),
                                            ("reminder", "red", "red")])
    assert changed["data"]["inactive"] is True
    # an approved report restarts the cycle at once, in the approval's transaction
    approve_report(registry, iid, date(2027, 2, 1), at("2027-02-01", 9))
    new = events(registry, iid)[seen:]
    seen += len(new)
    assert summary(new) == [("changed", "red", "green")]
    assert new[0]["data"]["anchor_on"] == "2027-02-01"
    assert new[0]["data"]["last_report_on"] == "2027-02-01"
    step(at("2027-02-02"), [])
    step(at("2028-01-02"), [("reminder", "upcoming", "green")])
    # every reminder of the first cycle is recorded once; "due" covered by "yellow"
    with registry.session() as s:
        rows = s.execute(select(ProgressReminder.anchor_on, ProgressReminder.kind,
                                ProgressReminder.covered_by.is_not(None))
                         .where(ProgressReminder.initiative_id == uuid.UUID(iid))
                         .order_by(ProgressReminder.decided_at, ProgressReminder.kind)).all()
        assert [(str(a), k, c) for a, k, c in rows] == [
            ("2025-01-15", "upcoming", False), ("2025-01-15", "due", True),
            ("2025-01-15", "yellow", False), ("2025-01-15", "red", False),
            ("2027-02-01", "upcoming", False)]
        # (the publication's change is stamped with the approval's real time)
        assert sorted(s.execute(select(ReportingStatusChange.from_status,
                                       ReportingStatusChange.to_status).where(
            ReportingStatusChange.initiative_id == uuid.UUID(iid))).all(),
            key=str) == sorted([(None, "green"), ("green", "yellow"), ("yellow", "red"),
                                ("red", "green")], key=str)


def test_as_of_answers_history(registry):
    initiative = published(registry, at("2025-01-15", 10))
    approve_report(registry, initiative["id"], date(2027, 2, 1), at("2027-02-01", 9))
    with registry.app.app_context(), registry.session() as s:
        def light(as_of):
            return compliance_of(s, SYSTEM, initiative["id"], as_of=as_of)

        assert light(date(2025, 1, 14))["status"] is None  # not yet published
        assert light(date(2025, 6, 1))["status"] == "green"
        assert light(date(2026, 2, 1))["status"] == "yellow"
        before = light(at("2027-01-31"))
        assert (before["status"], before["inactive"]) == ("red", True)
        assert before["last_report_on"] is None  # the report was approved later
        after = light(date(2027, 2, 2))
        assert (after["status"], after["anchor_on"], after["yellow_on"]) == (
            "green", date(2027, 2, 1), date(2028, 2, 1))
        # by public id too
        assert compliance_of(s, SYSTEM, initiative["public_id"],
                             as_of=date(2026, 2, 1))["status"] == "yellow"


def test_a_record_first_seen_red_gets_one_red_reminder(registry):
    initiative = published(registry, at("2017-06-05", 10))  # an imported 2017 record
    result = job(registry, at("2026-03-01"))
    assert result.reminders == 1 and result.covered == 3
    assert summary(events(registry, initiative["id"])) == [
        ("changed", None, "green"), ("changed", "green", "red"), ("reminder", "red", "red")]
    assert job(registry, at("2026-03-02")).reminders == 0


def test_thresholds_are_settings(registry, monkeypatch):
    monkeypatch.setenv("REPORTING_YELLOW_MONTHS", "6")
    monkeypatch.setenv("REPORTING_RED_MONTHS", "9")
    initiative = published(registry, at("2025-01-15", 10))
    job(registry, at("2025-07-15"))
    assert summary(events(registry, initiative["id"], CHANGED))[-1] == (
        "changed", "green", "yellow")
    job(registry, at("2025-10-15"))
    assert summary(events(registry, initiative["id"], CHANGED))[-1] == (
        "changed", "yellow", "red")


def test_lights_of_initiatives_no_longer_active_are_cleared(registry):
    from registry.initiatives.models import Initiative

    initiative = published(registry, at("2025-01-15", 10))
    with registry.session() as s:
        s.execute(update(Initiative).where(Initiative.id == uuid.UUID(initiative["id"]))
                  .values(status="withdrawn"))
        s.commit()
    result = job(registry, at("2026-03-01"))
    assert result.cleared == 1 and result.total == 0
    with registry.session() as s:
        assert s.get(Initiative, uuid.UUID(initiative["id"])).reporting_status is None


def test_batches_see_every_initiative_once(registry):
    ids = [published(registry, at("2024-01-10", 10))["id"] for _ in range(5)]
    batches = []
    result = job(registry, at("2026-03-01"), batch_size=2, on_batch=batches.append)
    assert [b.size for b in batches] == [2, 2, 1]
    assert result.counts == {"green": 0, "yellow": 0, "red": 5}
    assert result.changed == 5 and result.reminders == 5
    # a fixed number of statements per batch, whatever its size
    assert len({b.statements for b in batches}) == 1 or batches[-1].size < 2
    for iid in ids:
        assert summary(events(registry, iid))[-1] == ("reminder", "red", "red")


def test_weekly_digest_lists_what_turned_yellow_and_red_once(registry):
    yellow = published(registry, at("2025-03-03", 10))
    red = published(registry, at("2024-03-03", 10))
    job(registry, at("2026-03-04"))
    factory = registry.app.extensions["db_session_factory"]
    data = send_weekly_digest(factory, now=at("2026-03-09", 3))
    assert data is not None
    assert data["week_start"] == date(2026, 3, 2) and data["week_end"] == date(2026, 3, 9)
    assert [r["id"] for r in data["turned_yellow"]] == [yellow["id"]]
    assert [r["id"] for r in data["turned_red"]] == [red["id"]]
    assert data["counts"] == {"green": 0, "yellow": 1, "red": 1}
    assert send_weekly_digest(factory, now=at("2026-03-09", 4)) is None  # once a week
    digests = list(registry.outbox("compliance-digest", compliance=True))
    assert len(digests) == 1 and digests[0].event_type == ev.COMPLIANCE_WEEKLY_DIGEST


# -- the API -------------------------------------------------------------------------------
def test_api_light_is_public_and_takes_as_of(registry, problem):
    initiative = published(registry, at("2025-01-15", 10))
    resp = registry.get(f"/api/v1/initiatives/{initiative['id']}/compliance?as_of=2026-02-01")
    assert resp.status_code == 200, resp.json
    assert (resp.json["status"], resp.json["yellow_on"], resp.json["red_on"]) == (
        "yellow", "2026-01-15", "2027-01-15")
    resp = registry.get(f"/api/v1/initiatives/{initiative['public_id']}/compliance"
                        "?as_of=2025-03-01T00:00:00Z")
    assert resp.json["status"] == "green"
    problem(registry.get(f"/api/v1/initiatives/{initiative['id']}/compliance?as_of=soon"),
            422, "as_of")
    problem(registry.get(f"/api/v1/initiatives/{initiative['id']}/compliance?when=1"), 422,
            "when")
    assert registry.get(f"/api/v1/initiatives/{uuid.uuid4()}/compliance").status_code == 404
    assert registry.get("/api/v1/initiatives/PR-1999-00001/compliance").status_code == 404


def test_api_dashboard_and_send_reminder_now(registry, problem):
    initiative = published(registry, at("2024-01-10", 10))
    add_member(registry, initiative["owner_organization_id"], "lin@reef.test", "zh")
    job(registry, at("2026-03-01"))
    secretariat = registry.token("secretariat")
    resp = registry.get("/api/v1/compliance", secretariat)
    assert resp.status_code == 200, resp.json
    assert resp.json["counts"] == {"green": 0, "yellow": 0, "red": 1}
    assert [r["initiative"]["id"] for r in resp.json["rows"]] == [initiative["id"]]
    assert resp.json["rows"][0]["reminders"] == ["red"]
    assert registry.get("/api/v1/compliance?stakeholder_group=private_sector",
                        secretariat).json["rows"] == []
    assert registry.get("/api/v1/compliance?sdg=3", secretariat).json["total"] == 0
    assert registry.get("/api/v1/compliance?sdg=14&region=009",
                        secretariat).json["total"] == 1
    past = registry.get("/api/v1/compliance?as_of=2024-06-01&status=green", secretariat).json
    assert past["counts"] == {"green": 1, "yellow": 0, "red": 0} and past["total"] == 1
    problem(registry.get("/api/v1/compliance?status=blue", secretariat), 422, "status")
    assert registry.get("/api/v1/compliance").status_code == 401
    assert registry.get("/api/v1/compliance", registry.token("partner")).status_code == 403

    before = len(events(registry, initiative["id"], REMINDER))
    resp = registry.post(f"/api/v1/initiatives/{initiative['id']}/reminders", {}, secretariat)
    assert resp.status_code == 201, resp.json
    assert resp.json["kind"] == "manual" and resp.json["reporting_status"] == "red"
    assert [r["email"] for r in resp.json["recipients"]] == ["lin@reef.test"]
    resp = registry.post(f"/api/v1/initiatives/{initiative['id']}/reminders", {}, secretariat)
    assert resp.status_code == 201  # any number of times
    manual = events(registry, initiative["id"], REMINDER)[before:]
    assert [e["data"]["kind"] for e in manual] == ["manual", "manual"]
    assert manual[0]["data"]["requested_by"]["role"] == "secretariat"
    owner = registry.token("partner", organization_id=initiative["owner_organization_id"])
    assert registry.post(f"/api/v1/initiatives/{initiative['id']}/reminders", {},
                         owner).status_code == 403
    assert registry.post(f"/api/v1/initiatives/{initiative['id']}/reminders",
                         {}).status_code == 401
    draft = registry.create(registry.token("partner"))
    assert registry.post(f"/api/v1/initiatives/{draft['id']}/reminders", {},
                         secretariat).status_code == 409


def test_public_list_filters_by_reporting_status(registry, problem):
    green = published(registry, at("2026-01-15", 10), title="Mangroves of Fiji")
    red = published(registry, at("2023-01-15", 10), title="Seagrass of Tonga")
    job(registry, at("2026-03-01"))

    def ids(light: str) -> list[str]:
        resp = registry.get(f"/api/v1/initiatives?reporting_status={light}")
        assert resp.status_code == 200, resp.json
        return [i["id"] for i in resp.json["items"]]

    assert ids("green") == [green["id"]]
    assert ids("red") == [red["id"]]
    assert ids("yellow") == []
    problem(registry.get("/api/v1/initiatives?reporting_status=blue"), 422, "reporting_status")
    page = registry.client.get("/?reporting_status=red")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Seagrass of Tonga" in html and "Mangroves of Fiji" not in html


def test_a_report_approved_through_the_api_turns_a_red_record_green(registry):
    """End to end with the progress reports API (registry.progress): the job finds a record
    red; the owner files a report, the secretariat approves it; the light is green at once
    (event in the approval's transaction) and the next run emits nothing."""
    from registry.initiatives.models import Initiative
    from shared.db import utcnow
    from tests.registry.review_desk import make_desk

    desk = make_desk(registry)
    initiative = desk.published()
    iid = initiative["id"]
    with registry.session() as s:
        s.execute(update(Initiative).where(Initiative.id == uuid.UUID(iid))
                  .values(published_at=at("2023-06-01", 10)))
        s.commit()
    job(registry, utcnow())
    assert summary(events(registry, iid))[-2:] == [("changed", "green", "red"),
                                                    ("reminder", "red", "red")]
    seen = len(events(registry, iid))
    resp = registry.post(f"/api/v1/initiatives/{iid}/progress-reports", {
        "period_start": "2026-01-01", "period_end": "2026-06-30", "overall_status": "on_track",
        "narrative_html": "<p>Twelve hectares restored.</p>", "submit": True}, desk["owner"])
    assert resp.status_code == 201, resp.json
    resp = registry.client.post(f"/api/v1/progress-reports/{resp.json['id']}/approve", json={},
                                headers=registry.headers(desk["reviewer"]))
    assert resp.status_code == 200, resp.json
    assert summary(events(registry, iid)[seen:]) == [("changed", "red", "green")]
    assert job(registry, utcnow()).changed == 0
    assert len(events(registry, iid)) == seen + 1
    light = registry.get(f"/api/v1/initiatives/{iid}/compliance").json
    assert (light["status"], light["anchor_on"]) == ("green", utcnow().date().isoformat())


def test_the_scheduler_runs_the_daily_job_at_the_configured_hour(registry, monkeypatch):
    from registry.compliance import scheduler

    monkeypatch.setenv("COMPLIANCE_JOB_HOUR", "5")
    monkeypatch.setenv("COMPLIANCE_DIGEST_WEEKDAY", "wed")
    assert scheduler.schedule() == (5, "wed")
    assert not scheduler.enabled(registry.app)  # never under tests
    built = scheduler.build_scheduler(registry.app)
    [daily] = built.get_jobs()
    assert daily.id == scheduler.JOB_ID
    assert str(daily.trigger) == "cron[hour='5', minute='0']"
    # the daily run: the lights (a record published in 2020 is red), then the digest when
    # today is the digest day (and only then)
    from shared.db import utcnow

    published(registry, at("2020-01-06", 10))
    today = scheduler.WEEKDAYS[utcnow().weekday()]
    other = scheduler.WEEKDAYS[(utcnow().weekday() + 1) % 7]
    monkeypatch.setenv("COMPLIANCE_DIGEST_WEEKDAY", other)
    outcome = scheduler.run_daily(registry.app)
    assert outcome["lights"]["counts"]["red"] == 1 and outcome["digest"] is False
    monkeypatch.setenv("COMPLIANCE_DIGEST_WEEKDAY", today)
    assert scheduler.run_daily(registry.app)["digest"] is True
    monkeypatch.setenv("COMPLIANCE_DIGEST_WEEKDAY", "someday")
    with pytest.raises(ValueError, match="COMPLIANCE_DIGEST_WEEKDAY"):
        scheduler.schedule()


def test_the_job_as_of_a_past_moment_ignores_reports_approved_later(registry):
    initiative = published(registry, at("2023-01-10", 10))
    approve_report(registry, initiative["id"], date(2026, 3, 1), at("2026-03-01", 9))
    job(registry, at("2026-02-01"))  # the report was not approved yet: red
    job(registry, at("2026-03-02"))  # now it counts: green
    assert summary(events(registry, initiative["id"], CHANGED))[-2:] == [
        ("changed", "green", "red"), ("changed", "red", "green")]
