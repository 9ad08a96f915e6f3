"""The reporting traffic light and its reminders (issue 9; the rule: ``registry.compliance.rule``).

- :func:`refresh_initiative` recomputes one initiative's light at once (its publication, the
  approval of a progress report) in the caller's transaction.
- :func:`run_compliance_job` recomputes every active initiative's light in batches (a fixed
  number of statements per batch, whatever its size: no per-row round trip), records and emits
  the changes (``initiative.reporting-status-changed.v1``) and decides the reminders
  (``initiative.progress-reminder-due.v1``), each once per (initiative, cycle, kind). One run
  at a time across processes: a PostgreSQL advisory lock (SQLite: see the function).
- :func:`compliance_of` answers for one initiative as of any moment; :func:`dashboard` the
  secretariat's counts and lists; :func:`send_reminder_now` the secretariat's manual reminder;
  :func:`send_weekly_digest` the secretariat's weekly digest event.

Events go through the outbox (``outbox_events``) in the transaction of the change they
describe.
"""

from __future__ import annotations

import functools
import gc
import json
import logging
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    bindparam,
    event,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, aliased, sessionmaker

from registry.compliance import rule
from registry.compliance.models import ComplianceJobRun, ProgressReminder, ReportingStatusChange
from registry.initiatives.models import (
    Initiative,
    InitiativeCountry,
    InitiativeCoveredRegion,
    InitiativeGoal,
)
from registry.organizations.models import Organization
from registry.outbox.models import OutboxEvent
from registry.progress.models import ProgressReport
from shared.config import number, public_base_url
from shared.db import new_uuid, utcnow
from shared.events import types as ev
from shared.identity import Principal
from shared.outbox import outbox_row, record_event
from shared.problems import ValidationError

log = logging.getLogger(__name__)

SOURCE = "/registry"
#: Initiatives that have a light (UN DESA: the active ones); any other state has none (null).
ACTIVE_STATES = ("published", "completion_declared")
#: ``pg_try_advisory_lock`` key of the compliance jobs (one run at a time across processes).
LOCK_KEY = 0x52_45_47_43_4F_4D  # "REGCOM"
#: ``compliance_job_runs.job`` values.
LIGHTS_JOB, DIGEST_JOB = "lights", "digest"
#: The digest's aggregate key on ``registry.initiatives`` (contract).
DIGEST_SUBJECT = "compliance-digest"
#: The events this domain emits (``registry.initiatives`` topic).
EVENT_TYPES = (ev.INITIATIVE_REPORTING_STATUS_CHANGED, ev.INITIATIVE_PROGRESS_REMINDER_DUE,
               ev.COMPLIANCE_WEEKLY_DIGEST)
#: uuid5 namespace of the digest ids (one per week).
_DIGEST_NAMESPACE = uuid.UUID("6f7b2a6e-3c1e-4f0e-9d55-8b2f3c2e9a10")


# -- settings and the rule ------------------------------------------------------------------
@dataclass(frozen=True)
class Thresholds:
    """The rule's settings: ``REPORTING_YELLOW_MONTHS`` (12), ``REPORTING_RED_MONTHS`` (24),
    ``REPORTING_REMINDER_DAYS_BEFORE`` (30)."""

    yellow_months: int
    red_months: int
    days_before: int

    def cycle(self, anchor_on: date) -> rule.Cycle:
        """The cycle starting ``anchor_on`` under these thresholds (memoised: a job computes
        100,000s of cycles over a few thousand distinct anchor dates)."""
        return _cycle(anchor_on, self.yellow_months, self.red_months, self.days_before)


@functools.lru_cache(maxsize=65536)
def _cycle(anchor_on: date, yellow_months: int, red_months: int, days_before: int
           ) -> rule.Cycle:
    return rule.cycle(anchor_on, yellow_months=yellow_months, red_months=red_months,
                      days_before=days_before)


def thresholds() -> Thresholds:
    """The thresholds from the settings (read on each call: tests and operators change them)."""
    return Thresholds(int(number("REPORTING_YELLOW_MONTHS")), int(number("REPORTING_RED_MONTHS")),
                      int(number("REPORTING_REMINDER_DAYS_BEFORE")))


def _aware(moment: datetime | date | None) -> datetime:
    """``moment`` as an aware UTC datetime (a date: its end, 23:59:59.999999 UTC; None: now)."""
    if moment is None:
        return utcnow()
    if not isinstance(moment, datetime):
        return datetime.combine(moment, dtime.max, tzinfo=UTC)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _last_report_subquery(as_of: datetime | None):
    """max(``reported_on``) of the initiative's approved progress reports (approved at or
    before ``as_of`` when given), correlated to ``initiatives`` (index
    ``ix_progress_reports_last_approved``)."""
    conditions = [ProgressReport.initiative_id == Initiative.id,
                  ProgressReport.status == "approved"]
    if as_of is not None:
        conditions.append(ProgressReport.approved_at <= as_of)
    return (select(func.max(ProgressReport.reported_on)).where(*conditions)
            .correlate(Initiative).scalar_subquery())


# -- shapes of the events -------------------------------------------------------------------
def _base_url() -> str:
    """``registry.accounts.service.base_url``'s answer (the app's ``PUBLIC_BASE_URL``, else the
    setting, else the address served), without importing that module (its import hashes a
    dummy password: 0.8 s of a CLI run)."""
    from flask import current_app, has_app_context

    if has_app_context() and current_app.config.get("PUBLIC_BASE_URL"):
        return str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/")
    return public_base_url()


def _is_pg(db_session: Session) -> bool:
    return db_session.get_bind().dialect.name == "postgresql"


def _among(db_session: Session, column: Any, values: list[Any]) -> Any:
    """``column`` among ``values``: PostgreSQL ``= ANY(:array)`` (one parameter: the same
    statement text and plan whatever the number of values; an ``IN`` of 5,000 parameters
    costs more to send and parse than to run), SQLite ``IN (...)``."""
    if _is_pg(db_session):
        from sqlalchemy import any_
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def report_form_url(initiative_id: uuid.UUID | str) -> str:
    """The reminders' one-click link: ``{PUBLIC_BASE_URL}/my/initiatives/<uuid>/progress/new``."""
    return f"{_base_url()}/my/initiatives/{initiative_id}/progress/new"


def _refs(db_session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """``ComplianceInitiativeRef`` dicts of ``ids``, whatever their number: PostgreSQL one
    statement (the codes as ``ARRAY(...)`` sub-selects), SQLite four (the initiatives with
    their lead's stakeholder group and owner's name; countries; covered regions; goals)."""
    ids = list(ids)
    if not ids:
        return {}
    base = _base_url()
    if _is_pg(db_session):
        return {row.id: {
            "id": str(row.id), "public_id": row.public_id, "title": row.title,
            "owner_organization_id": (str(row.owner_organization_id)
                                      if row.owner_organization_id else None),
            "owner_organization_name": row.owner_name,
            "stakeholder_group": row.stakeholder_group,
            "countries": row.countries, "regions": row.regions, "sdg_goals": row.sdg_goals,
            "url": f"{base}/initiatives/{row.public_id}" if row.public_id else None}
            for row in db_session.execute(_PG_REFS, {"ids": ids})}
    lead, owner = aliased(Organization), aliased(Organization)
    out: dict[uuid.UUID, dict[str, Any]] = {}
    for row in db_session.execute(
            select(Initiative.id, Initiative.public_id, Initiative.title,
                   Initiative.owner_organization_id, owner.name.label("owner_name"),
                   lead.stakeholder_group)
            .outerjoin(lead, lead.id == Initiative.lead_organization_id)
            .outerjoin(owner, owner.id == Initiative.owner_organization_id)
            .where(_among(db_session, Initiative.id, ids))):
        out[row.id] = {
            "id": str(row.id), "public_id": row.public_id, "title": row.title,
            "owner_organization_id": (str(row.owner_organization_id)
                                      if row.owner_organization_id else None),
            "owner_organization_name": row.owner_name,
            "stakeholder_group": row.stakeholder_group,
            "countries": [], "regions": [], "sdg_goals": [],
            "url": f"{base}/initiatives/{row.public_id}" if row.public_id else None}
    for model, column, key in ((InitiativeCountry, InitiativeCountry.country, "countries"),
                               (InitiativeCoveredRegion, InitiativeCoveredRegion.region,
                                "regions"),
                               (InitiativeGoal, InitiativeGoal.goal, "sdg_goals")):
        for initiative_id, value in db_session.execute(
                select(model.initiative_id, column)
                .where(_among(db_session, model.initiative_id, ids))
                .order_by(model.initiative_id, column)):
            out[initiative_id][key].append(value)
    return out


#: the refs of a batch's initiatives in one statement (the codes as arrays)
_PG_REFS = text("""
SELECT i.id, i.public_id, i.title, i.owner_organization_id, o.name AS owner_name,
       l.stakeholder_group,
       ARRAY(SELECT c.country FROM initiative_countries c
             WHERE c.initiative_id = i.id ORDER BY c.country) AS countries,
       ARRAY(SELECT r.region FROM initiative_covered_regions r
             WHERE r.initiative_id = i.id ORDER BY r.region) AS regions,
       ARRAY(SELECT g.goal::int FROM initiative_goals g
             WHERE g.initiative_id = i.id ORDER BY g.goal) AS sdg_goals
  FROM initiatives i
  LEFT JOIN organizations l ON l.id = i.lead_organization_id
  LEFT JOIN organizations o ON o.id = i.owner_organization_id
 WHERE i.id = ANY(CAST(:ids AS uuid[]))
""")


def _owner_recipients(db_session: Session, organization_ids: Iterable[uuid.UUID | None]
                      ) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """The verified, enabled members of each organisation (``EventRecipient`` dicts, role
    ``owner``, in their account language), one statement."""
    from registry.accounts.models import User
    from registry.organizations.models import OrganizationMembership as M

    orgs = {o for o in organization_ids if o is not None}
    out: dict[uuid.UUID, list[dict[str, Any]]] = {o: [] for o in orgs}
    if not orgs:
        return out
    for org, uid, email, locale in db_session.execute(
            select(M.organization_id, User.id, User.email, User.locale)
            .join(User, User.id == M.user_id)
            .where(_among(db_session, M.organization_id, list(orgs)),
                   User.email_verified_at.is_not(None),
                   User.disabled_at.is_(None)).order_by(M.organization_id, User.email)):
        out[org].append({"email": email, "locale": locale or "en", "role": "owner",
                         "user_id": str(uid)})
    return out


def _secretariat_recipients(db_session: Session) -> list[dict[str, Any]]:
    """The secretariat's staff (reviewers, secretariat admins) with verified accounts
    (``EventRecipient`` dicts, role ``secretariat``)."""
    from registry.accounts.models import User, UserStaffRole

    rows = db_session.execute(
        select(User.id, User.email, User.locale).where(
            User.id.in_(select(UserStaffRole.user_id)), User.email_verified_at.is_not(None),
            User.disabled_at.is_(None)).order_by(User.email)).all()
    return [{"email": email, "locale": locale or "en", "role": "secretariat",
             "user_id": str(uid)} for uid, email, locale in rows]


def _change_event(ref: dict[str, Any], from_status: str | None, to_status: str,
                  as_of: datetime, c: rule.Cycle, last_report_on: date | None
                  ) -> dict[str, Any]:
    return {"initiative": ref, "from_status": from_status, "to_status": to_status,
            "as_of": as_of, "anchor_on": c.anchor_on, "last_report_on": last_report_on,
            "yellow_on": c.yellow_on, "red_on": c.red_on, "inactive": to_status == rule.RED}


def _reminder_event(reminder_id: uuid.UUID, kind: str, ref: dict[str, Any],
                    status: str | None, c: rule.Cycle, recipients: list[dict[str, Any]],
                    requested_by: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"reminder_id": str(reminder_id), "kind": kind, "initiative": ref,
            "reporting_status": status, "anchor_on": c.anchor_on, "due_on": c.yellow_on,
            "recipients": recipients, "report_url": report_form_url(ref["id"]),
            "requested_by": requested_by}


_OUTBOX_TABLE = cast(Table, OutboxEvent.__table__)
_REMINDERS_TABLE = cast(Table, ProgressReminder.__table__)
_CHANGES_TABLE = cast(Table, ReportingStatusChange.__table__)
_OUTBOX_COLUMNS = [c.name for c in _OUTBOX_TABLE.columns if c.name != "seq"]


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with its top-level dates and datetimes as ISO 8601 text: what the payload
    schema's dump gives for the shapes built here (refs and recipients are JSON-ready
    already; ``tests/registry/unit/test_registry_compliance.py`` checks the equality)."""
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in data.items()}


def _insert_events(db_session: Session,
                   events: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Outbox rows of ``events`` (type, subject, data), in order, in one multi-row INSERT
    (SQLAlchemy's insertmanyvalues: 1,000 rows a statement).

    The job writes up to one event per initiative and kind (100,000s on a first run), so the
    envelopes are built here from the JSON-ready data (:func:`_plain`) rather than through
    the schema's dump and ``CloudEvent`` one by one (~200 µs an event: 20 s per 100,000).
    The first event goes through :func:`shared.outbox.outbox_row` (its schema dump, and the
    relay's wake-up on commit: PostgreSQL ``NOTIFY``)."""
    if not events:
        return
    (type_, subject, data), rest = events[0], events[1:]
    first, _ = outbox_row(db_session, OutboxEvent, type_, source=SOURCE, subject=subject,
                          data=data)
    rows = [{name: getattr(first, name) for name in _OUTBOX_COLUMNS}]
    created = utcnow()
    time_text = created.isoformat()
    for type_, subject, data in rest:
        event_id = str(uuid.uuid4())
        rows.append({
            "event_id": event_id, "topic": ev.TOPIC_INITIATIVES, "event_type": type_,
            "subject": subject, "created_at": created, "published_at": None, "attempts": 0,
            "last_error": None,
            "envelope": {"id": event_id, "source": SOURCE, "specversion": "1.0",
                         "type": type_, "subject": subject, "time": time_text,
                         "datacontenttype": "application/json", "data": _plain(data)}})
    if _is_pg(db_session):
        db_session.execute(_PG_OUTBOX, {
            "created_at": created, "topic": ev.TOPIC_INITIATIVES,
            "envelopes": json.dumps([r["envelope"] for r in rows], ensure_ascii=False)})
        return
    db_session.execute(_OUTBOX_TABLE.insert(), rows)


#: the envelopes travel as ONE JSON array parameter (a text[] of 10,000 JSON texts costs
#: psycopg ~1 s of escaping); the row's columns are read from each envelope
_PG_OUTBOX = text("""
INSERT INTO outbox_events (event_id, topic, event_type, subject, envelope, created_at,
                           attempts)
SELECT e.envelope->>'id', CAST(:topic AS text), e.envelope->>'type',
       e.envelope->>'subject', e.envelope, CAST(:created_at AS timestamptz), 0
  FROM jsonb_array_elements(CAST(:envelopes AS jsonb)) WITH ORDINALITY AS e(envelope, n)
 ORDER BY e.n
""")


# -- one initiative -------------------------------------------------------------------------
def refresh_initiative(db_session: Session, initiative: Any, now: datetime | None = None
                       ) -> str | None:
    """Recompute ``initiative``'s light as of ``now`` in the caller's transaction (its
    publication, an approved progress report: the cycle restarts at once, the job is not
    needed). Every approved report counts (the one being approved too). When the light
    changed: ``initiatives.reporting_status``/``_since``/``reporting_anchor_on`` set, a
    ``reporting_status_changes`` row and an ``initiative.reporting-status-changed.v1`` event
    (outbox). ``initiative`` is the ``Initiative`` row or a view wrapping it (``.entity``).
    Returns the light (``green``, ``yellow``, ``red``; None when not active)."""
    entity = getattr(initiative, "entity", initiative)
    now = _aware(now)
    th = thresholds()
    if entity.status not in ACTIVE_STATES or entity.published_at is None:
        if entity.reporting_status is not None:
            entity.reporting_status = None
            entity.reporting_status_since = now
        return None
    last_report_on = db_session.scalar(
        select(func.max(ProgressReport.reported_on)).where(
            ProgressReport.initiative_id == entity.id, ProgressReport.status == "approved"))
    anchor_on = rule.anchor(_day(entity.published_at), last_report_on)
    assert anchor_on is not None
    c = th.cycle(anchor_on)
    status = rule.light(c, now)
    before = entity.reporting_status
    if status == before and entity.reporting_anchor_on == anchor_on:
        return status
    entity.reporting_anchor_on = anchor_on
    if status == before:
        return status
    entity.reporting_status = status
    entity.reporting_status_since = now
    db_session.add(ReportingStatusChange(initiative_id=entity.id, from_status=before,
                                         to_status=status, as_of=now, anchor_on=anchor_on))
    db_session.flush()
    ref = _refs(db_session, [entity.id])[entity.id]
    record_event(db_session, OutboxEvent, ev.INITIATIVE_REPORTING_STATUS_CHANGED,
                 source=SOURCE, subject=str(entity.id),
                 data=_change_event(ref, before, status, now, c, last_report_on))
    return status


def _resolve(db_session: Session, principal: Principal, initiative_id: uuid.UUID | str):
    """The initiative (UUID or public id) as the initiatives' service shows it to
    ``principal`` (NotFound when absent or invisible)."""
    from registry.initiatives.service import get_initiative

    try:
        key = uuid.UUID(str(initiative_id))
    except ValueError:
        return get_initiative(db_session=db_session, principal=principal,
                              public_id=str(initiative_id))
    return get_initiative(db_session=db_session, principal=principal, initiative_id=key)


def compliance_of(db_session: Session, principal: Principal, initiative_id: uuid.UUID | str,
                  *, as_of: datetime | date | None = None) -> dict[str, Any]:
    """The reporting status of one initiative (UUID or public id) as of ``as_of`` (an aware
    datetime or a date — its end; default now), computed from the rule (not the stored light,
    so history answers correctly): only the publication and the reports approved at or before
    ``as_of`` count.

    Returns ``{initiative_id, public_id, status ("green"|"yellow"|"red"|None), active,
    inactive, as_of, published_on, anchor_on, last_report_on, upcoming_on, yellow_on,
    red_on, reminders: [{id, kind, anchor_on, reporting_status, decided_at, covered_by}]}``
    (the reminders decided up to ``as_of``). The initiative's current state decides whether
    it is active (published or completion declared). Errors: NotFound (404) when absent or
    not visible to ``principal`` (public records: anyone)."""
    initiative = _resolve(db_session, principal, initiative_id)
    moment = _aware(as_of)
    entity_id = initiative.id
    published_at = initiative.published_at
    out: dict[str, Any] = {
        "initiative_id": str(entity_id), "public_id": initiative.public_id, "status": None,
        "active": False, "inactive": False, "as_of": moment, "published_on": None,
        "anchor_on": None, "last_report_on": None, "upcoming_on": None, "yellow_on": None,
        "red_on": None, "reminders": []}
    if initiative.status in ACTIVE_STATES and published_at is not None \
            and published_at <= moment:
        last_report_on = db_session.scalar(
            select(func.max(ProgressReport.reported_on)).where(
                ProgressReport.initiative_id == entity_id, ProgressReport.status == "approved",
                ProgressReport.approved_at <= moment))
        anchor_on = rule.anchor(_day(published_at), last_report_on)
        assert anchor_on is not None
        c = thresholds().cycle(anchor_on)
        status = rule.light(c, moment)
        out.update(status=status, active=True, inactive=status == rule.RED,
                   published_on=_day(published_at), anchor_on=anchor_on,
                   last_report_on=last_report_on, upcoming_on=c.upcoming_on,
                   yellow_on=c.yellow_on, red_on=c.red_on)
    out["reminders"] = [
        {"id": r.id, "kind": r.kind, "anchor_on": r.anchor_on,
         "reporting_status": r.reporting_status, "decided_at": r.decided_at,
         "covered_by": r.covered_by}
        for r in db_session.scalars(select(ProgressReminder).where(
            ProgressReminder.initiative_id == entity_id, ProgressReminder.decided_at <= moment)
            .order_by(ProgressReminder.decided_at, ProgressReminder.kind))]
    return out


def send_reminder_now(db_session: Session, principal: Principal,
                      initiative_id: uuid.UUID | str, *, now: datetime | None = None
                      ) -> dict[str, Any]:
    """The secretariat's "send reminder now": a ``manual`` reminder of an active initiative
    (any number of times), recorded in ``progress_reminders`` and emitted as
    ``initiative.progress-reminder-due.v1`` (kind ``manual``, ``requested_by`` the actor) to
    the owner organisation's verified members. Returns ``{id, kind, initiative_id,
    reporting_status, anchor_on, due_on, recipients}``. Errors: NotFound (404: absent or
    invisible), Unauthenticated/NotAllowed (401/403: reviewers and secretariat admins only,
    permission ``remind``), InvalidTransition (409: the initiative is not published or
    completion-declared). The caller commits."""
    from registry.authz.permissions import Action, Aggregate, authorize
    from registry.workflow.actors import actor_columns, actor_event_data, user_id_of

    initiative = _resolve(db_session, principal, initiative_id)
    authorize(principal, Action.REMIND, initiative, Aggregate.INITIATIVE, what="initiative")
    now = _aware(now)
    last_report_on = db_session.scalar(
        select(func.max(ProgressReport.reported_on)).where(
            ProgressReport.initiative_id == initiative.id,
            ProgressReport.status == "approved"))
    # (an active record without a publication time — rows written by hand — counts from now)
    anchor_on = rule.anchor(_day(initiative.published_at or now), last_report_on)
    assert anchor_on is not None
    c = thresholds().cycle(anchor_on)
    status = rule.light(c, now)
    actor = actor_columns(db_session, principal, initiative)
    reminder = ProgressReminder(id=new_uuid(), initiative_id=initiative.id, anchor_on=anchor_on,
                                kind=rule.MANUAL, reporting_status=status, decided_at=now,
                                requested_by_user_id=user_id_of(principal))
    db_session.add(reminder)
    db_session.flush()
    ref = _refs(db_session, [initiative.id])[initiative.id]
    recipients = _owner_recipients(db_session, [initiative.owner_organization_id]).get(
        initiative.owner_organization_id, []) if initiative.owner_organization_id else []
    data = _reminder_event(reminder.id, rule.MANUAL, ref, status, c, recipients,
                           actor_event_data(actor))
    record_event(db_session, OutboxEvent, ev.INITIATIVE_PROGRESS_REMINDER_DUE, source=SOURCE,
                 subject=str(initiative.id), data=data)
    return {"id": reminder.id, "kind": rule.MANUAL, "initiative_id": initiative.id,
            "reporting_status": status, "anchor_on": anchor_on, "due_on": c.yellow_on,
            "decided_at": now, "recipients": recipients}


# -- the job --------------------------------------------------------------------------------
@dataclass
class JobResult:
    """What a run of :func:`run_compliance_job` did: ``counts`` of the lights computed
    (``{"green": n, "yellow": n, "red": n}``), ``changed`` lights (events emitted),
    ``reminders`` sent (events emitted) and ``covered`` (recorded, covered by a sent one),
    ``cleared`` lights of initiatives no longer active, ``batches``, ``statements`` (SQL
    statements executed by the batches, all batches together), ``seconds``; ``skipped``
    True when another run held the lock (nothing done)."""

    as_of: datetime
    counts: dict[str, int] = field(default_factory=lambda: {"green": 0, "yellow": 0, "red": 0})
    changed: int = 0
    reminders: int = 0
    covered: int = 0
    cleared: int = 0
    batches: int = 0
    statements: int = 0
    seconds: float = 0.0
    skipped: bool = False

    @property
    def total(self) -> int:
        """Initiatives that got a light."""
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (``compliance_job_runs.counts``, the CLI's ``--json``)."""
        return {"as_of": self.as_of.isoformat(), "counts": dict(self.counts),
                "changed": self.changed, "reminders": self.reminders, "covered": self.covered,
                "cleared": self.cleared, "batches": self.batches,
                "statements": self.statements, "seconds": round(self.seconds, 3),
                "skipped": self.skipped, "total": self.total}


@dataclass(frozen=True)
class BatchInfo:
    """Handed to ``on_batch`` after each committed batch: its number (1, 2, ...), the
    initiatives it computed, the statements it ran, the totals so far."""

    number: int
    size: int
    statements: int
    result: JobResult


# statement counting: the batches' own connections only
_COUNTED_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()
_COUNTER = "compliance_statements"


def _count_statement(conn: Connection, *_args: Any) -> None:
    if _COUNTER in conn.info:
        conn.info[_COUNTER] += 1


def _counting(engine: Engine) -> None:
    if engine not in _COUNTED_ENGINES:
        event.listen(engine, "before_cursor_execute", _count_statement)
        _COUNTED_ENGINES.add(engine)


_SQLITE_LOCK = threading.Lock()


class _RunLock:
    """One run at a time. PostgreSQL: a session-level advisory lock
    (``pg_try_advisory_lock(LOCK_KEY)``) on a connection of its own, held for the whole run
    and released at its end — or by the server when the process dies (its connection
    closes). SQLite (the embedded mode: one process): a process-wide lock; across processes
    each batch is one ``BEGIN IMMEDIATE`` transaction (``shared.db.make_engine``), so two
    processes' batches serialise and the guarded UPDATE and the reminders' unique index keep
    every change and reminder once."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.conn: Connection | None = None
        self.held = False

    def acquire(self) -> bool:
        if self.engine.dialect.name != "postgresql":
            self.held = _SQLITE_LOCK.acquire(blocking=False)
            return self.held
        self.conn = self.engine.connect()
        self.held = bool(self.conn.execute(select(func.pg_try_advisory_lock(LOCK_KEY)))
                         .scalar())
        self.conn.commit()
        if not self.held:
            self.conn.close()
            self.conn = None
        return self.held

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        if self.conn is None:
            _SQLITE_LOCK.release()
            return
        try:
            self.conn.execute(select(func.pg_advisory_unlock(LOCK_KEY)))
            self.conn.commit()
        finally:
            self.conn.close()
            self.conn = None


def _engine_of(session_factory: sessionmaker[Session]) -> Engine:
    bind = session_factory.kw.get("bind")
    if bind is None:  # pragma: no cover - the services' factories are bound
        with session_factory() as s:
            bind = s.get_bind()
    return bind  # type: ignore[return-value]


def _batch_statement(as_of: datetime, first: bool, limit: int, reports_as_of: bool = True):
    """The batch's SELECT. ``reports_as_of`` False: no report was approved after ``as_of``
    (the daily run at the current time), so the last approved report needs no look at
    ``approved_at`` and is read from the index alone."""
    last_report = _last_report_subquery(as_of if reports_as_of else None).label(
        "last_report_on")
    query = (select(Initiative.id, Initiative.published_at, Initiative.reporting_status,
                    Initiative.reporting_anchor_on, Initiative.owner_organization_id,
                    last_report)
             .where(Initiative.status.in_(ACTIVE_STATES), Initiative.published_at.is_not(None),
                    Initiative.published_at <= as_of)
             .order_by(Initiative.id).limit(limit))
    if not first:
        query = query.where(Initiative.id > bindparam("after_id", type_=Initiative.id.type))
    return query


#: NULL in the arrays sent as text (:func:`_pg_array`)
_NULL = "~"


def _arr(name: str, type_: str = "text") -> str:
    """SQL of the array parameter ``name`` sent as one comma-separated text
    (:func:`_pg_array`), as ``type_[]``."""
    return f"string_to_array(CAST(:{name} AS text), ',', '{_NULL}')::{type_}[]"


def _pg_array(values: Iterable[Any]) -> str:
    """``values`` (UUIDs, dates, words: no commas; None) as one comma-separated text, the
    job's arrays on PostgreSQL (:func:`_arr`): psycopg's array adaptation escapes every
    element through a regex, 6 s of a 100,000-initiative first run."""
    return ",".join([_NULL if v is None else str(v) for v in values])


_PG_UPDATE = text("""
UPDATE initiatives AS i
   SET reporting_status = v.to_status,
       reporting_status_since = CASE WHEN i.reporting_status IS DISTINCT FROM v.to_status
                                     THEN CAST(:now AS timestamptz)
                                     ELSE i.reporting_status_since END,
       reporting_anchor_on = v.anchor_on
  FROM unnest(CAST(:ids AS uuid[]), CAST(:froms AS text[]), CAST(:tos AS text[]),
              CAST(:old_anchors AS date[]), CAST(:anchors AS date[]))
       AS v(id, from_status, to_status, old_anchor, anchor_on)
 WHERE i.id = v.id
   AND i.reporting_status IS NOT DISTINCT FROM v.from_status
   AND i.reporting_anchor_on IS NOT DISTINCT FROM v.old_anchor
RETURNING i.id
""")


def _update_lights(db_session: Session, now: datetime,
                   updates: list[tuple[uuid.UUID, str | None, str, date | None, date]]
                   ) -> set[uuid.UUID]:
    """Write the new lights/anchors of ``updates`` (id, from, to, old anchor, anchor), each
    only if the row still has the light and anchor it was read with (an approval committed
    meanwhile wins; the next run sees it). Returns the ids written. PostgreSQL: one UPDATE
    ... FROM unnest(arrays) RETURNING. SQLite (in-process, the batch's write lock held since
    its first statement): one UPDATE per row."""
    if not updates:
        return set()
    if db_session.get_bind().dialect.name == "postgresql":
        ids, froms, tos, old_anchors, anchors = (list(x) for x in zip(*updates, strict=True))
        return set(db_session.execute(_PG_UPDATE, {
            "now": now, "ids": ids, "froms": froms, "tos": tos, "old_anchors": old_anchors,
            "anchors": anchors}).scalars())
    written = set()
    for initiative_id, before, status, old_anchor, anchor_on in updates:
        values: dict[str, Any] = {"reporting_status": status, "reporting_anchor_on": anchor_on}
        if before != status:
            values["reporting_status_since"] = now
        result = db_session.execute(
            update(Initiative).where(
                Initiative.id == initiative_id,
                Initiative.reporting_status.is_(None) if before is None
                else Initiative.reporting_status == before,
                Initiative.reporting_anchor_on.is_(None) if old_anchor is None
                else Initiative.reporting_anchor_on == old_anchor)
            .values(**values).execution_options(synchronize_session=False))
        if result.rowcount:  # type: ignore[attr-defined]
            written.add(initiative_id)
    return written


_PG_REMINDERS = text(f"""
INSERT INTO progress_reminders (id, initiative_id, anchor_on, kind, reporting_status,
                                decided_at, covered_by, requested_by_user_id)
SELECT COALESCE(r.id, gen_random_uuid()), r.initiative_id, r.anchor_on, r.kind, r.reporting_status,
       CAST(:decided_at AS timestamptz), r.covered_by, NULL
  FROM unnest({_arr("ids", "uuid")}, {_arr("initiative_ids", "uuid")},
              {_arr("anchors", "date")}, {_arr("kinds")}, {_arr("statuses")},
              {_arr("covered_by", "uuid")})
       AS r(id, initiative_id, anchor_on, kind, reporting_status, covered_by)
ON CONFLICT (initiative_id, anchor_on, kind) WHERE kind <> 'manual' DO NOTHING
RETURNING id::text
""")  # nosec B608 # formats only constants: _arr() casts of bound parameters


_PG_REMINDERS_REFUSED = text(f"""
WITH r AS (
  SELECT * FROM unnest({_arr("ids", "uuid")}, {_arr("initiative_ids", "uuid")},
                       {_arr("anchors", "date")}, {_arr("kinds")}, {_arr("statuses")},
                       {_arr("covered_by", "uuid")})
         AS r(id, initiative_id, anchor_on, kind, reporting_status, covered_by)
), ins AS (
  INSERT INTO progress_reminders (id, initiative_id, anchor_on, kind, reporting_status,
                                  decided_at, covered_by, requested_by_user_id)
  SELECT COALESCE(r.id, gen_random_uuid()), r.initiative_id, r.anchor_on, r.kind,
         r.reporting_status, CAST(:decided_at AS timestamptz), r.covered_by, NULL
    FROM r
  ON CONFLICT (initiative_id, anchor_on, kind) WHERE kind <> 'manual' DO NOTHING
  RETURNING id
)
SELECT r.id::text FROM r
 WHERE r.id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ins WHERE ins.id = r.id)
""")  # nosec B608 # formats only constants: _arr() casts of bound parameters


def _pg_insert_reminders(db_session: Session, rows: list[dict[str, Any]],
                         decided_at: datetime) -> set[str]:
    """:func:`_insert_reminders` on PostgreSQL for the job: one statement; returns the ids
    given that were NOT inserted (already decided: usually none, so nothing travels back;
    rows without ``id`` — the covered ones — get one from the server)."""
    if not rows:
        return set()
    return set(db_session.execute(_PG_REMINDERS_REFUSED, {
        "decided_at": decided_at, "ids": _pg_array([r["id"] for r in rows]),
        "initiative_ids": _pg_array([r["initiative_id"] for r in rows]),
        "anchors": _pg_array([r["anchor_on"] for r in rows]),
        "kinds": _pg_array([r["kind"] for r in rows]),
        "statuses": _pg_array([r["reporting_status"] for r in rows]),
        "covered_by": _pg_array([r["covered_by"] for r in rows])}).scalars())


def _insert_reminders(db_session: Session, rows: list[dict[str, Any]],
                      decided_at: datetime) -> set[Any]:
    """INSERT the job's ``progress_reminders`` rows (``id``, ``initiative_id``,
    ``anchor_on``, ``kind``, ``reporting_status``, ``covered_by``), skipping any (initiative,
    anchor_on, kind) already there (``ON CONFLICT DO NOTHING`` on
    ``uq_progress_reminders_once``: the exactly-once guarantee, also against a concurrent
    run). Returns the ids inserted (PostgreSQL: as text). PostgreSQL: one statement
    (``unnest`` of arrays; a row without ``id`` gets one from the server); SQLite: an
    executemany with ``RETURNING``."""
    if not rows:
        return set()
    if _is_pg(db_session):
        return set(db_session.execute(_PG_REMINDERS, {
            "decided_at": decided_at, "ids": _pg_array(r["id"] for r in rows),
            "initiative_ids": _pg_array(r["initiative_id"] for r in rows),
            "anchors": _pg_array(r["anchor_on"] for r in rows),
            "kinds": _pg_array(r["kind"] for r in rows),
            "statuses": _pg_array(r["reporting_status"] for r in rows),
            "covered_by": _pg_array(r["covered_by"] for r in rows)}).scalars())
    table = _REMINDERS_TABLE
    statement = sqlite_insert(table).on_conflict_do_nothing(
        index_elements=["initiative_id", "anchor_on", "kind"],
        index_where=text("kind <> 'manual'")).returning(table.c.id)
    return set(db_session.execute(statement, [
        r | {"decided_at": decided_at, "requested_by_user_id": None} for r in rows]).scalars())


def _decide(c: rule.Cycle, kinds: list[str], existing: dict[str, Any]
            ) -> tuple[str | None, list[str], Any]:
    """(kind to send, kinds it covers, or an existing reminder covering the rest): the most
    severe of the kinds not yet decided in this cycle is sent, the others recorded as covered
    by it; kinds less severe than one already sent are covered by that one."""
    remaining = [k for k in kinds if k not in existing]
    if not remaining:
        return None, [], None
    top = max(remaining, key=rule.SEVERITY.__getitem__)
    if existing:
        worst = max(existing, key=rule.SEVERITY.__getitem__)
        if rule.SEVERITY[worst] > rule.SEVERITY[top]:
            return None, remaining, existing[worst]
    return top, [k for k in remaining if k != top], None


def _run_batch(db_session: Session, now: datetime, th: Thresholds, after_id: uuid.UUID | None,
               limit: int, result: JobResult, reports_as_of: bool = True
               ) -> tuple[int, uuid.UUID | None]:
    """One batch (the caller commits): read ``limit`` active initiatives after ``after_id``
    with their last approved report (one SELECT), compute their lights, write the changed ones
    (one UPDATE), record the changes, decide the reminders (existing ones: one SELECT; new
    ones: INSERT ... ON CONFLICT DO NOTHING RETURNING), and write the events (refs and
    recipients: five SELECTs; the outbox rows: one INSERT per 1,000). Returns (rows read,
    last id)."""
    params = {} if after_id is None else {"after_id": after_id}
    rows = db_session.execute(_batch_statement(now, after_id is None, limit, reports_as_of),
                              params).all()
    if not rows:
        return 0, None
    today = _day(now)
    updates = []
    computed: dict[uuid.UUID, tuple[rule.Cycle, str, Any]] = {}
    for row in rows:
        anchor_on = rule.anchor(_day(row.published_at), row.last_report_on)
        assert anchor_on is not None
        c = th.cycle(anchor_on)
        status = rule.light(c, today)
        result.counts[status] += 1
        computed[row.id] = (c, status, row)
        if status != row.reporting_status or anchor_on != row.reporting_anchor_on:
            updates.append((row.id, row.reporting_status, status, row.reporting_anchor_on,
                            anchor_on))
    written = _update_lights(db_session, now, updates)
    changes = [(u[0], u[1], u[2], u[4]) for u in updates
               if u[0] in written and u[1] != u[2]]
    if changes:
        from registry.db import bulk_insert

        bulk_insert(db_session, _CHANGES_TABLE, [
            {"id": new_uuid(), "initiative_id": i, "from_status": f, "to_status": t,
             "as_of": now, "anchor_on": a} for i, f, t, a in changes])
    # reminders: initiatives whose cycle has a kind due, minus those decided; not for a row
    # whose light an approval changed meanwhile (its guarded UPDATE wrote nothing)
    stale = {u[0] for u in updates} - written
    due = {i: rule.kinds_due(c, today) for i, (c, _s, _r) in computed.items()
           if i not in stale}
    due = {i: k for i, k in due.items() if k}
    sends: list[dict[str, Any]] = []
    covers: list[tuple[uuid.UUID, list[str], uuid.UUID | None]] = []
    if due:
        existing: dict[uuid.UUID, dict[str, uuid.UUID]] = {}
        for initiative_id, anchor_on, kind, rid in db_session.execute(
                select(ProgressReminder.initiative_id, ProgressReminder.anchor_on,
                       ProgressReminder.kind, ProgressReminder.id)
                .where(_among(db_session, ProgressReminder.initiative_id, list(due)),
                       ProgressReminder.kind != rule.MANUAL)):
            if computed[initiative_id][0].anchor_on == anchor_on:
                existing.setdefault(initiative_id, {})[kind] = rid
        for initiative_id, kinds in due.items():
            c, status, _row = computed[initiative_id]
            send, covered, covered_by = _decide(c, kinds, existing.get(initiative_id, {}))
            if send is not None:
                rid = new_uuid()
                sends.append({"id": rid, "initiative_id": initiative_id,
                              "anchor_on": c.anchor_on, "kind": send,
                              "reporting_status": status, "covered_by": None})
                covers.append((rid, covered, None))
            elif covered:
                covers.append((initiative_id, covered, covered_by))
    sent_ids = _insert_reminders(db_session, sends, now)
    sent = [s for s in sends if s["id"] in sent_ids]
    by_id = {s["id"]: s for s in sent}
    covered_rows = []
    for key, kinds, covered_by in covers:
        if covered_by is None:  # covered by the reminder sent now (if it was inserted)
            if key not in by_id:
                continue
            initiative_id, covered_by = by_id[key]["initiative_id"], key
        else:
            initiative_id = key
        c, status, _row = computed[initiative_id]
        covered_rows += [{"id": new_uuid(), "initiative_id": initiative_id,
                          "anchor_on": c.anchor_on, "kind": k, "reporting_status": status,
                          "covered_by": covered_by} for k in kinds]
    _insert_reminders(db_session, covered_rows, now)
    result.covered += len(covered_rows)
    # the events: changes first (a reminder's light is then known), in id order
    if changes or sent:
        refs = _refs(db_session, {i for i, *_ in changes} | {s["initiative_id"] for s in sent})
        recipients = _owner_recipients(
            db_session, {computed[s["initiative_id"]][2].owner_organization_id for s in sent})
        events = []
        for initiative_id, before, status, _anchor in changes:
            c, _s, row = computed[initiative_id]
            events.append((ev.INITIATIVE_REPORTING_STATUS_CHANGED, str(initiative_id),
                           _change_event(refs[initiative_id], before, status, now, c,
                                         row.last_report_on)))
        for s in sent:
            c, status, row = computed[s["initiative_id"]]
            events.append((ev.INITIATIVE_PROGRESS_REMINDER_DUE, str(s["initiative_id"]),
                           _reminder_event(s["id"], s["kind"], refs[s["initiative_id"]],
                                           status, c,
                                           recipients.get(row.owner_organization_id, []))))
        _insert_events(db_session, events)
    result.changed += len(changes)
    result.reminders += len(sent)
    return len(rows), rows[-1].id


# -- the batch on PostgreSQL: the rule and the events' JSON in SQL --------------------------
def _pg_batch_sql(first: bool, reports_as_of: bool) -> Any:
    """The batch's one read on PostgreSQL: the next ``:limit`` active initiatives after
    ``:after_id`` with the rule computed in SQL (anchor, cycle dates, light: PostgreSQL's
    ``date + interval 'N months'`` clamps the day as :func:`registry.compliance.rule.add_months`
    does) and the reminder kinds already decided in the cycle; only the rows with work (a
    light or anchor to write, a kind due not yet decided) come back, plus the batch's last row
    (the next batch starts after it). Every row carries the batch's counts by light and size
    (window aggregates), so a run where nothing changes sends one row per batch to Python."""
    approved = "AND p.approved_at <= CAST(:as_of AS timestamptz)" if reports_as_of else ""
    after = "" if first else "AND i.id > CAST(:after_id AS uuid)"
    return text(f"""
WITH b AS (
  SELECT i.id, i.reporting_status AS old_status, i.reporting_anchor_on AS old_anchor,
         i.owner_organization_id,
         (SELECT max(p.reported_on) FROM progress_reports p
           WHERE p.initiative_id = i.id AND p.status = 'approved' {approved}) AS last_report_on,
         (i.published_at AT TIME ZONE 'UTC')::date AS published_on
    FROM initiatives i
   WHERE i.status IN ('published', 'completion_declared') AND i.published_at IS NOT NULL
     AND i.published_at <= CAST(:as_of AS timestamptz) {after}
   ORDER BY i.id
   LIMIT :limit
), c AS (
  SELECT b.*, (a.anchor_on + make_interval(months => :yellow))::date AS yellow_on,
         (a.anchor_on + make_interval(months => :red))::date AS red_on, a.anchor_on
    FROM b CROSS JOIN LATERAL (SELECT GREATEST(b.published_on, b.last_report_on) AS anchor_on) a
), d AS (
  SELECT c.*, c.yellow_on - CAST(:days AS integer) AS upcoming_on,
         CASE WHEN CAST(:today AS date) < c.yellow_on THEN 'green'
              WHEN CAST(:today AS date) < c.red_on THEN 'yellow' ELSE 'red' END AS light
    FROM c
), e AS (
  SELECT d.*,
         CASE WHEN CAST(:today AS date) >= d.upcoming_on THEN ARRAY(
           SELECT r.kind || ' ' || r.id::text FROM progress_reminders r
            WHERE r.initiative_id = d.id AND r.anchor_on = d.anchor_on AND r.kind <> 'manual')
         END AS decided,
         count(*) OVER () AS n,
         count(*) FILTER (WHERE d.light = 'green') OVER () AS n_green,
         count(*) FILTER (WHERE d.light = 'yellow') OVER () AS n_yellow,
         count(*) FILTER (WHERE d.light = 'red') OVER () AS n_red,
         row_number() OVER (ORDER BY d.id DESC) AS from_end
    FROM d
)
SELECT e.*, e.id::text AS key FROM e
 WHERE e.from_end = 1
    OR e.light IS DISTINCT FROM e.old_status OR e.anchor_on IS DISTINCT FROM e.old_anchor
    OR (CAST(:today AS date) >= e.upcoming_on
        AND (cardinality(e.decided) = 0 OR NOT (
             ('upcoming' = ANY(SELECT split_part(x, ' ', 1) FROM unnest(e.decided) x))
             AND (CAST(:today AS date) < e.yellow_on OR (
                  'due' = ANY(SELECT split_part(x, ' ', 1) FROM unnest(e.decided) x)
                  AND 'yellow' = ANY(SELECT split_part(x, ' ', 1) FROM unnest(e.decided) x)))
             AND (CAST(:today AS date) < e.red_on
                  OR 'red' = ANY(SELECT split_part(x, ' ', 1) FROM unnest(e.decided) x)))))
 ORDER BY e.id
""")  # nosec B608 # formats only constants: _arr() casts of bound parameters


#: the batch's events in one statement: each (type, initiative, light before/after, reminder
#: id and kind, cycle dates) row of the arrays becomes an outbox row whose envelope and data
#: are built here (``jsonb_build_object``: the shapes of ``ReportingStatusChangedData`` and
#: ``ProgressReminderData``, with the ``ComplianceInitiativeRef`` and the owner's verified
#: members read in the same statement), in the arrays' order
_PG_EVENTS = text(f"""
WITH v AS (
  SELECT * FROM unnest({_arr("types")}, {_arr("ids", "uuid")}, {_arr("froms")},
                       {_arr("tos")}, {_arr("reminder_ids", "uuid")}, {_arr("kinds")},
                       {_arr("anchors", "date")}, {_arr("last_reports", "date")},
                       {_arr("yellows", "date")}, {_arr("reds", "date")})
         WITH ORDINALITY AS v(type, initiative_id, from_status, to_status, reminder_id, kind,
                              anchor_on, last_report_on, yellow_on, red_on, n)
), refs AS MATERIALIZED (
  SELECT i.id, i.owner_organization_id, json_build_object(
           'id', i.id::text, 'public_id', i.public_id, 'title', i.title,
           'owner_organization_id', i.owner_organization_id::text,
           'owner_organization_name', o.name, 'stakeholder_group', l.stakeholder_group,
           'countries', to_json(ARRAY(SELECT c.country FROM initiative_countries c
                                        WHERE c.initiative_id = i.id ORDER BY c.country)),
           'regions', to_json(ARRAY(SELECT r.region FROM initiative_covered_regions r
                                      WHERE r.initiative_id = i.id ORDER BY r.region)),
           'sdg_goals', to_json(ARRAY(SELECT g.goal::int FROM initiative_goals g
                                        WHERE g.initiative_id = i.id ORDER BY g.goal)),
           'url', CASE WHEN i.public_id IS NOT NULL
                       THEN CAST(:base AS text) || '/initiatives/' || i.public_id END) AS ref
    FROM initiatives i
    LEFT JOIN organizations l ON l.id = i.lead_organization_id
    LEFT JOIN organizations o ON o.id = i.owner_organization_id
   WHERE i.id IN (SELECT DISTINCT initiative_id FROM v)
), owners AS MATERIALIZED (
  SELECT m.organization_id, json_agg(json_build_object(
           'email', u.email, 'locale', COALESCE(u.locale, 'en'), 'role', 'owner',
           'user_id', u.id::text) ORDER BY u.email) AS recipients
    FROM organization_memberships m JOIN users u ON u.id = m.user_id
   WHERE m.organization_id IN (SELECT owner_organization_id FROM refs
                                WHERE id IN (SELECT initiative_id FROM v
                                              WHERE type = '{ev.INITIATIVE_PROGRESS_REMINDER_DUE}'))
     AND u.email_verified_at IS NOT NULL AND u.disabled_at IS NULL
   GROUP BY m.organization_id
), e AS (
  SELECT v.n, gen_random_uuid()::text AS event_id, v.type, v.initiative_id::text AS subject,
         CASE WHEN v.type = '{ev.INITIATIVE_REPORTING_STATUS_CHANGED}' THEN json_build_object(
           'initiative', refs.ref, 'from_status', v.from_status, 'to_status', v.to_status,
           'as_of', CAST(:as_of_text AS text), 'anchor_on', to_char(v.anchor_on, 'YYYY-MM-DD'),
           'last_report_on', to_char(v.last_report_on, 'YYYY-MM-DD'),
           'yellow_on', to_char(v.yellow_on, 'YYYY-MM-DD'),
           'red_on', to_char(v.red_on, 'YYYY-MM-DD'), 'inactive', v.to_status = 'red')
         ELSE json_build_object(
           'reminder_id', v.reminder_id::text, 'kind', v.kind, 'initiative', refs.ref,
           'reporting_status', v.to_status, 'anchor_on', to_char(v.anchor_on, 'YYYY-MM-DD'),
           'due_on', to_char(v.yellow_on, 'YYYY-MM-DD'),
           'recipients', COALESCE(owners.recipients, '[]'::json),
           'report_url', CAST(:base AS text) || '/my/initiatives/' || v.initiative_id::text
                         || '/progress/new',
           'requested_by', NULL) END AS data
    FROM v JOIN refs ON refs.id = v.initiative_id
    LEFT JOIN owners ON owners.organization_id = refs.owner_organization_id
)
INSERT INTO outbox_events (event_id, topic, event_type, subject, envelope, created_at,
                           attempts)
SELECT e.event_id, '{ev.TOPIC_INITIATIVES}', e.type, e.subject,
       CAST(json_build_object('id', e.event_id, 'source', '{SOURCE}', 'specversion', '1.0',
                          'type', e.type, 'subject', e.subject,
                          'time', CAST(:time_text AS text),
                          'datacontenttype', 'application/json', 'data', e.data) AS jsonb),
       CAST(:created_at AS timestamptz), 0
  FROM e ORDER BY e.n
""")  # nosec B608 # formats only constants: _arr() casts of bound parameters


_PG_UPDATE_AND_RECORD = text(f"""
WITH v AS (
  SELECT * FROM unnest({_arr("ids", "uuid")}, {_arr("froms")}, {_arr("tos")},
                       {_arr("old_anchors", "date")}, {_arr("anchors", "date")})
         AS v(id, from_status, to_status, old_anchor, anchor_on)
), u AS (
  UPDATE initiatives AS i
     SET reporting_status = v.to_status,
         reporting_status_since = CASE WHEN i.reporting_status IS DISTINCT FROM v.to_status
                                       THEN CAST(:now AS timestamptz)
                                       ELSE i.reporting_status_since END,
         reporting_anchor_on = v.anchor_on
    FROM v
   WHERE i.id = v.id
     AND i.reporting_status IS NOT DISTINCT FROM v.from_status
     AND i.reporting_anchor_on IS NOT DISTINCT FROM v.old_anchor
  RETURNING i.id, v.from_status, v.to_status, v.anchor_on
), c AS (
  INSERT INTO reporting_status_changes (id, initiative_id, from_status, to_status, as_of,
                                        anchor_on)
  SELECT gen_random_uuid(), u.id, u.from_status, u.to_status, CAST(:now AS timestamptz),
         u.anchor_on
    FROM u WHERE u.from_status IS DISTINCT FROM u.to_status
)
SELECT v.id::text FROM v WHERE NOT EXISTS (SELECT 1 FROM u WHERE u.id = v.id)
""")  # nosec B608 # formats only constants: _arr() casts of bound parameters


def _pg_update_lights(db_session: Session, now: datetime,
                      updates: list[tuple[str, str | None, str, date | None, date]]
                      ) -> set[str]:
    """:func:`_update_lights` on PostgreSQL, the ``reporting_status_changes`` rows of the
    changed lights written by the same statement (:data:`_PG_UPDATE_AND_RECORD`). Returns
    the ids NOT written (an approval changed the row meanwhile: usually none, so nothing
    travels back), as text (the job's PostgreSQL path keeps ids as text)."""
    if not updates:
        return set()
    return set(db_session.execute(_PG_UPDATE_AND_RECORD, {
        "now": now, "ids": _pg_array(u[0] for u in updates),
        "froms": _pg_array(u[1] for u in updates), "tos": _pg_array(u[2] for u in updates),
        "old_anchors": _pg_array(u[3] for u in updates),
        "anchors": _pg_array(u[4] for u in updates)}).scalars())


def _pg_events(db_session: Session, now: datetime,
               rows: list[tuple[str, str, str | None, str | None, str | None,
                                str | None, rule.Cycle, date | None]]) -> None:
    """The outbox rows of the batch's events, in order, in one statement (:data:`_PG_EVENTS`):
    ``rows`` of (type, initiative id, from, to/light, reminder id, kind, cycle, last report
    on). The relay's wake-up (NOTIFY, and the in-process signal on commit) is arranged as
    :func:`shared.outbox.outbox_row` does."""
    if not rows:
        return
    from shared.outbox import _PENDING, notify_channel

    table = OutboxEvent.__tablename__
    pending: set[str] = db_session.info.setdefault(_PENDING, set())
    if table not in pending:
        pending.add(table)
        db_session.connection().exec_driver_sql(f"NOTIFY {notify_channel(table)}")
    created = utcnow()
    # the INSERT sorts its rows (the arrays' order) with their JSON: in memory
    db_session.execute(text("SET LOCAL work_mem = '64MB'"))
    db_session.execute(_PG_EVENTS, {
        "types": _pg_array(r[0] for r in rows), "ids": _pg_array(r[1] for r in rows),
        "froms": _pg_array(r[2] for r in rows), "tos": _pg_array(r[3] for r in rows),
        "reminder_ids": _pg_array(r[4] for r in rows), "kinds": _pg_array(r[5] for r in rows),
        "anchors": _pg_array(r[6].anchor_on for r in rows),
        "last_reports": _pg_array(r[7] for r in rows),
        "yellows": _pg_array(r[6].yellow_on for r in rows),
        "reds": _pg_array(r[6].red_on for r in rows),
        "base": _base_url(), "as_of_text": now.isoformat(), "time_text": created.isoformat(),
        "created_at": created})


def _run_batch_pg(db_session: Session, now: datetime, th: Thresholds,
                  after_id: uuid.UUID | None, limit: int, result: JobResult,
                  reports_as_of: bool = True) -> tuple[int, uuid.UUID | None]:
    """:func:`_run_batch` on PostgreSQL with the rule in SQL (:func:`_pg_batch_sql`: only the
    rows with work come to Python) and the events' JSON built in SQL (:data:`_PG_EVENTS`).
    Statements: the read, the guarded UPDATE (with the changes' INSERT), the two reminder
    INSERTs, NOTIFY, ``SET LOCAL work_mem`` and the events' INSERT — the same whatever the
    batch's size. Ids travel as text (no UUID object per row)."""
    today = _day(now)
    params: dict[str, Any] = {
        "as_of": now, "today": today, "limit": limit, "yellow": th.yellow_months,
        "red": th.red_months, "days": th.days_before}
    if after_id is not None:
        params["after_id"] = after_id
    rows = db_session.execute(_pg_batch_sql(after_id is None, reports_as_of), params).all()
    if not rows:
        return 0, None
    tail = rows[-1]
    result.counts["green"] += tail.n_green
    result.counts["yellow"] += tail.n_yellow
    result.counts["red"] += tail.n_red
    updates = []
    computed: dict[str, tuple[rule.Cycle, str, Any]] = {}
    for row in rows:
        c = rule.Cycle(anchor_on=row.anchor_on, upcoming_on=row.upcoming_on,
                       yellow_on=row.yellow_on, red_on=row.red_on)
        computed[row.key] = (c, row.light, row)
        if row.light != row.old_status or row.anchor_on != row.old_anchor:
            updates.append((row.key, row.old_status, row.light, row.old_anchor,
                            row.anchor_on))
    stale = _pg_update_lights(db_session, now, updates)
    changes = [(u[0], u[1], u[2], u[4]) for u in updates
               if u[1] != u[2] and u[0] not in stale]
    sends: list[dict[str, Any]] = []
    covers: list[tuple[str, list[str], str | None]] = []
    for initiative_id, (c, status, row) in computed.items():
        if initiative_id in stale or not row.decided and today < c.upcoming_on:
            continue
        kinds = rule.kinds_due(c, today)
        if not kinds:
            continue
        existing: dict[str, Any] = {}
        for item in row.decided or ():
            kind, _, rid = item.partition(" ")
            existing[kind] = rid
        send, covered, covered_by = _decide(c, kinds, existing)
        if send is not None:
            rid = str(uuid.uuid4())
            sends.append({"id": rid, "initiative_id": initiative_id, "anchor_on": c.anchor_on,
                          "kind": send, "reporting_status": status, "covered_by": None})
            covers.append((rid, covered, None))
        elif covered:
            covers.append((initiative_id, covered, covered_by))
    refused = _pg_insert_reminders(db_session, sends, now)
    sent = [s for s in sends if s["id"] not in refused]
    by_id = {s["id"]: s for s in sent}
    covered_rows = []
    for key, kinds, covered_by in covers:
        if covered_by is None:
            if key not in by_id:
                continue
            initiative_id, covered_by = by_id[key]["initiative_id"], key
        else:
            initiative_id = key
        c, status, _row = computed[initiative_id]
        covered_rows += [{"id": None, "initiative_id": initiative_id,
                          "anchor_on": c.anchor_on, "kind": k, "reporting_status": status,
                          "covered_by": covered_by} for k in kinds]
    _pg_insert_reminders(db_session, covered_rows, now)
    result.covered += len(covered_rows)
    events: list[tuple[str, str, str | None, str | None, str | None, str | None,
                       rule.Cycle, date | None]] = []
    for initiative_id, before, status, _anchor in changes:
        c, _s, row = computed[initiative_id]
        events.append((ev.INITIATIVE_REPORTING_STATUS_CHANGED, initiative_id, before, status,
                       None, None, c, row.last_report_on))
    for s in sent:
        c, status, row = computed[s["initiative_id"]]
        events.append((ev.INITIATIVE_PROGRESS_REMINDER_DUE, s["initiative_id"], None, status,
                       s["id"], s["kind"], c, row.last_report_on))
    _pg_events(db_session, now, events)
    result.changed += len(changes)
    result.reminders += len(sent)
    return int(tail.n), uuid.UUID(tail.key)


def _clear_inactive(db_session: Session, now: datetime) -> int:
    """Lights of initiatives that are no longer active (withdrawn, completed, archived,
    suspended...) or not published as of ``now`` go back to null (no event: the change
    events name colours; the lifecycle's own event says what happened). One UPDATE."""
    result = db_session.execute(
        update(Initiative).where(
            Initiative.reporting_status.is_not(None),
            or_(Initiative.status.not_in(ACTIVE_STATES), Initiative.published_at.is_(None),
                Initiative.published_at > now))
        .values(reporting_status=None, reporting_status_since=now, reporting_anchor_on=None)
        .execution_options(synchronize_session=False))
    return result.rowcount or 0  # type: ignore[attr-defined]


def run_compliance_job(session_factory: sessionmaker[Session], *, now: datetime | None = None,
                       batch_size: int | None = None,
                       on_batch: Callable[[BatchInfo], None] | None = None,
                       lock: bool = True) -> JobResult:
    """Recompute the light of every active initiative as of ``now`` (aware datetime; default
    the current time: tests and ``--as-of`` pass a controlled clock), in batches of
    ``batch_size`` (default ``COMPLIANCE_BATCH_SIZE``, 5000) initiatives, each batch one
    transaction with a fixed number of statements whatever its size (:func:`_run_batch`).

    Emits ``initiative.reporting-status-changed.v1`` for each light that changed and
    ``initiative.progress-reminder-due.v1`` for each reminder decided: ``upcoming`` (30 days
    before the report is due), ``due`` (at 12 months), ``yellow``, ``red`` — each once per
    (initiative, cycle, kind) (unique index), several falling due in one run collapsed into
    one of the most severe. ``on_batch`` is called after each committed batch (progress
    bars). ``lock`` False skips the run lock (tests of the database-level guarantees only).

    One run at a time across processes (:class:`_RunLock`: PostgreSQL advisory lock); a run
    that finds the lock held returns at once with ``skipped`` True. Each run is recorded in
    ``compliance_job_runs`` (job ``lights``). Returns a :class:`JobResult`."""
    now = _aware(now)
    limit = int(batch_size or number("COMPLIANCE_BATCH_SIZE") or 5000)
    if limit < 1:
        raise ValidationError("The batch size must be at least 1.",
                              errors=[{"field": "batch_size", "message": "At least 1."}])
    engine = _engine_of(session_factory)
    _counting(engine)
    result = JobResult(as_of=now)
    run_lock = _RunLock(engine)
    if lock and not run_lock.acquire():
        result.skipped = True
        log.info("compliance job skipped: another run holds the lock")
        return result
    started = time.perf_counter()
    # the batches allocate a few objects per row and free them (reference counting) at the
    # batch's end: the cyclic collector's full passes over the process's objects meanwhile
    # cost ~4 s of a 100,000-initiative first run; it is off for the run (other threads'
    # cycles are collected after it) and back on after
    collecting = gc.isenabled()
    gc.disable()
    try:
        th = thresholds()
        with session_factory() as s:
            run = ComplianceJobRun(job=LIGHTS_JOB, started_at=utcnow(), as_of=now)
            s.add(run)
            result.cleared = _clear_inactive(s, now)
            # a run at the current time (the daily one) finds no report approved after its
            # clock: the batches then read the last approved report from the index alone
            reports_as_of = bool(s.scalar(select(
                select(ProgressReport.id).where(ProgressReport.status == "approved",
                                                ProgressReport.approved_at > now)
                .exists())))
            s.commit()
            run_id = run.id
        after_id: uuid.UUID | None = None
        batch = _run_batch_pg if engine.dialect.name == "postgresql" else _run_batch
        while True:
            with session_factory() as s:
                info = s.connection().info  # the pooled connection's: outlives the commit
                info[_COUNTER] = 0
                try:
                    size, last = batch(s, now, th, after_id, limit, result, reports_as_of)
                    s.commit()
                finally:
                    statements = info.pop(_COUNTER, 0)
            if not size:
                break
            result.batches += 1
            result.statements += statements
            after_id = last
            if on_batch is not None:
                on_batch(BatchInfo(result.batches, size, statements, result))
            if size < limit:
                break
        result.seconds = time.perf_counter() - started
        with session_factory() as s:
            s.execute(update(ComplianceJobRun).where(ComplianceJobRun.id == run_id).values(
                finished_at=utcnow(), counts=result.as_dict()))
            s.commit()
    finally:
        if collecting:
            gc.enable()
        run_lock.release()
    log.info("compliance job as of %s: %s", now.isoformat(), result.as_dict())
    return result


# -- the weekly digest ----------------------------------------------------------------------
def send_weekly_digest(session_factory: sessionmaker[Session], *, now: datetime | None = None
                       ) -> dict[str, Any] | None:
    """Emit the secretariat's weekly digest (``compliance.weekly-digest.v1``, key
    ``compliance-digest``) for the week ending on ``now``'s UTC date (exclusive; the week
    starts 7 days before): the initiatives that turned yellow, those that turned red
    (``reporting_status_changes``), the lights' counts now, the secretariat's staff as
    recipients and the dashboard's URL. Once per week end (``compliance_job_runs`` job
    ``digest``; the digest id is derived from the week), under the run lock. Returns the
    event's data, or None when skipped (already sent, or the lock held)."""
    now = _aware(now)
    week_end = _day(now)
    week_start = week_end - timedelta(days=7)
    start = datetime.combine(week_start, dtime.min, tzinfo=UTC)
    end = datetime.combine(week_end, dtime.min, tzinfo=UTC)
    run_lock = _RunLock(_engine_of(session_factory))
    if not run_lock.acquire():
        return None
    try:
        with session_factory() as s:
            if s.scalar(select(ComplianceJobRun.id).where(ComplianceJobRun.job == DIGEST_JOB,
                                                          ComplianceJobRun.as_of == end)):
                return None
            turned: dict[str, list[uuid.UUID]] = {"yellow": [], "red": []}
            for initiative_id, to_status in s.execute(
                    select(ReportingStatusChange.initiative_id, ReportingStatusChange.to_status)
                    .where(ReportingStatusChange.to_status.in_(("yellow", "red")),
                           ReportingStatusChange.as_of >= start,
                           ReportingStatusChange.as_of < end)
                    .order_by(ReportingStatusChange.as_of)):
                if initiative_id not in turned[to_status]:
                    turned[to_status].append(initiative_id)
            refs = _refs(s, turned["yellow"] + turned["red"])
            counts = _stored_counts(s)
            data = {
                "digest_id": str(uuid.uuid5(_DIGEST_NAMESPACE, week_end.isoformat())),
                "week_start": week_start, "week_end": week_end,
                "recipients": _secretariat_recipients(s),
                "turned_yellow": [refs[i] for i in turned["yellow"]],
                "turned_red": [refs[i] for i in turned["red"]],
                "counts": counts, "dashboard_url": f"{_base_url()}/secretariat/compliance"}
            s.add(ComplianceJobRun(job=DIGEST_JOB, started_at=utcnow(), finished_at=utcnow(),
                                   as_of=end, counts={
                                       "turned_yellow": len(turned["yellow"]),
                                       "turned_red": len(turned["red"]), **counts}))
            record_event(s, OutboxEvent, ev.COMPLIANCE_WEEKLY_DIGEST, source=SOURCE,
                         subject=DIGEST_SUBJECT, data=data)
            s.commit()
            return data
    finally:
        run_lock.release()


# -- the dashboard --------------------------------------------------------------------------
def _stored_counts(db_session: Session, conditions: Iterable[Any] = ()) -> dict[str, int]:
    counts = dict.fromkeys(ev.REPORTING_STATUSES, 0)
    for status, n in db_session.execute(
            select(Initiative.reporting_status, func.count()).where(
                Initiative.reporting_status.is_not(None), Initiative.status.in_(ACTIVE_STATES),
                *conditions).group_by(Initiative.reporting_status)):
        counts[str(status)] = n
    return counts


def _dashboard_filters(stakeholder_group: str | None, region: str | None,
                       sdg: int | None) -> list[Any]:
    conditions: list[Any] = []
    if stakeholder_group:
        conditions.append(Initiative.lead_organization_id.in_(
            select(Organization.id).where(Organization.stakeholder_group == stakeholder_group)))
    if region:
        conditions.append(Initiative.covered_regions.any(
            InitiativeCoveredRegion.region == region))
    if sdg is not None:
        conditions.append(Initiative.goals.any(InitiativeGoal.goal == sdg))
    return conditions


def dashboard(db_session: Session, principal: Principal, *, as_of: datetime | date | None = None,
              status: str | None = None, stakeholder_group: str | None = None,
              region: str | None = None, sdg: int | None = None, page: int = 1,
              per_page: int = 50) -> dict[str, Any]:
    """The secretariat's compliance dashboard: ``counts`` of active initiatives by light
    (``{"green", "yellow", "red"}``) and a page of ``rows`` — the initiatives whose light is
    ``status`` (default: yellow and red), most overdue first — each ``{initiative (a
    ComplianceInitiativeRef dict), status, since, anchor_on, last_report_on, yellow_on,
    red_on, inactive, reminders (sent in the current cycle), last_reminder_at}``; ``total``
    rows, ``page``, ``per_page``, ``as_of``. Filters: ``stakeholder_group`` (the lead
    entity's), ``region`` (M49, covered), ``sdg`` (goal 1-17).

    Without ``as_of`` the lights are the stored ones (the last job run, approvals at once);
    with ``as_of`` they are computed by the rule as of then (reports approved by then).
    Errors: Unauthenticated/NotAllowed (reviewers and secretariat admins only, permission
    ``view_compliance``), ValidationError (422) naming ``status``, ``per_page``, ``page``."""
    from registry.authz.permissions import Action, Aggregate, authorize

    authorize(principal, Action.VIEW_COMPLIANCE, None, Aggregate.STAFF, what="compliance")
    errors = []
    if status is not None and status not in ev.REPORTING_STATUSES:
        errors.append({"field": "status", "message": "One of green, yellow, red."})
    if page < 1:
        errors.append({"field": "page", "message": "At least 1."})
    if not 1 <= per_page <= 500:
        errors.append({"field": "per_page", "message": "Between 1 and 500."})
    if sdg is not None and not 1 <= sdg <= 17:
        errors.append({"field": "sdg", "message": "An SDG goal number, 1 to 17."})
    if errors:
        raise ValidationError("Invalid dashboard filters.", errors=errors)
    wanted = (status,) if status else ("yellow", "red")
    conditions = _dashboard_filters(stakeholder_group, region, sdg)
    th = thresholds()
    moment = _aware(as_of) if as_of is not None else None
    if moment is None:
        counts = _stored_counts(db_session, conditions)
        base = (select(Initiative.id, Initiative.reporting_status.label("status"),
                       Initiative.reporting_status_since.label("since"),
                       Initiative.reporting_anchor_on.label("anchor_on"),
                       _last_report_subquery(None).label("last_report_on"))
                .where(Initiative.status.in_(ACTIVE_STATES),
                       Initiative.reporting_status.in_(wanted), *conditions))
        total = db_session.scalar(select(func.count()).select_from(base.subquery())) or 0
        listed = db_session.execute(
            base.order_by(Initiative.reporting_anchor_on, Initiative.id)
            .offset((page - 1) * per_page).limit(per_page)).all()
        items = [(r.id, r.status, r.since, r.anchor_on, r.last_report_on) for r in listed]
    else:
        counts = dict.fromkeys(ev.REPORTING_STATUSES, 0)
        everything = []
        for r in db_session.execute(
                select(Initiative.id, Initiative.published_at,
                       _last_report_subquery(moment).label("last_report_on"))
                .where(Initiative.status.in_(ACTIVE_STATES), Initiative.published_at.is_not(None),
                       Initiative.published_at <= moment, *conditions)):
            anchor_on = rule.anchor(_day(r.published_at), r.last_report_on)
            assert anchor_on is not None
            c = th.cycle(anchor_on)
            light = rule.light(c, moment)
            counts[light] += 1
            if light in wanted:
                since = c.yellow_on if light == rule.YELLOW else c.red_on
                everything.append((r.id, light, datetime.combine(since, dtime.min, tzinfo=UTC),
                                   anchor_on, r.last_report_on))
        everything.sort(key=lambda item: (item[3], str(item[0])))
        total = len(everything)
        items = everything[(page - 1) * per_page: page * per_page]
    refs = _refs(db_session, [i[0] for i in items])
    reminders: dict[uuid.UUID, list[tuple[str, datetime, date]]] = {}
    if items:
        for initiative_id, kind, decided_at, anchor_on in db_session.execute(
                select(ProgressReminder.initiative_id, ProgressReminder.kind,
                       ProgressReminder.decided_at, ProgressReminder.anchor_on)
                .where(ProgressReminder.initiative_id.in_([i[0] for i in items]),
                       ProgressReminder.covered_by.is_(None),
                       *([ProgressReminder.decided_at <= moment] if moment else []))
                .order_by(ProgressReminder.decided_at)):
            reminders.setdefault(initiative_id, []).append((kind, decided_at, anchor_on))
    rows = []
    for initiative_id, light, since, anchor_on, last_report_on in items:
        c = th.cycle(anchor_on)
        sent = [r for r in reminders.get(initiative_id, []) if r[2] == anchor_on]
        rows.append({"initiative": refs[initiative_id], "status": light, "since": since,
                     "anchor_on": anchor_on, "last_report_on": last_report_on,
                     "yellow_on": c.yellow_on, "red_on": c.red_on,
                     "inactive": light == rule.RED, "reminders": [r[0] for r in sent],
                     "last_reminder_at": sent[-1][1] if sent else None})
    return {"as_of": moment or utcnow(), "counts": counts, "rows": rows, "total": total,
            "page": page, "per_page": per_page, "status": status,
            "filters": {"stakeholder_group": stakeholder_group, "region": region, "sdg": sdg}}


__all__ = ["ACTIVE_STATES", "BatchInfo", "JobResult", "Thresholds", "compliance_of", "dashboard",
           "refresh_initiative", "report_form_url", "run_compliance_job", "send_reminder_now",
           "send_weekly_digest", "thresholds"]
