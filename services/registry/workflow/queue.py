"""The secretariat's review queue: submitted initiatives, submitted revisions and declared
completions, oldest first, with their age in working days and the target highlighted.

The target (``REVIEW_TARGET_WORKING_DAYS``, default 5) is the Our Ocean Conference platform's
promise to decide within five working days. Working days are Monday to Friday (UTC; public
holidays are not known to the registry).
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    Uuid,
    bindparam,
    cast,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from registry.authz.permissions import Action, Aggregate, authorize
from registry.initiatives.models import Initiative, InitiativeRevision
from registry.organizations.models import Organization
from registry.workflow.actors import user_id_of
from shared.db import utcnow
from shared.identity import Principal

#: Queue kinds: a submitted initiative, a submitted revision, a declared completion, a
#: submitted progress report (issue 9, ``registry.progress``).
KINDS = ("submission", "revision", "completion", "progress_report")
#: ``assigned=`` filters: mine, nobody's, any.
ASSIGNED = ("me", "none", "any")
_EPOCH = datetime(2001, 1, 1, tzinfo=UTC)  # a Monday


def target_working_days() -> int:
    """``REVIEW_TARGET_WORKING_DAYS`` (the app's config, else the environment, else 5)."""
    from shared.config import setting

    value: Any = None
    try:
        from flask import current_app, has_app_context

        if has_app_context():
            value = current_app.config.get("REVIEW_TARGET_WORKING_DAYS")
    except ImportError:  # pragma: no cover - flask is a dependency
        value = None
    return int(value if value not in (None, "") else setting("REVIEW_TARGET_WORKING_DAYS") or 5)


def _working_days_since_epoch(moment: datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = (moment - _EPOCH).total_seconds() / 86400
    whole = int(delta // 1)
    fraction = delta - whole
    weeks, weekday = divmod(whole, 7)
    return weeks * 5 + min(weekday, 5) + (fraction if weekday < 5 else 0.0)


def working_days_between(start: datetime, end: datetime) -> float:
    """Working days (Monday to Friday, UTC; fractions of a day count) from ``start`` to
    ``end``; negative when ``end`` is earlier. Saturday and Sunday add nothing: a record
    submitted on Friday 17:00 is 0.29 days old on Monday 00:00 and 1.29 on Tuesday 00:00."""
    return _working_days_since_epoch(end) - _working_days_since_epoch(start)


@dataclass
class QueueItem:
    """One pending decision (``kind``: ``submission``, ``revision`` or ``completion``)."""

    kind: str
    initiative_id: uuid.UUID
    public_id: str | None
    title: str
    owner_organization: dict[str, Any] | None
    revision_number: int | None
    submitted_at: datetime
    age_working_days: float
    overdue: bool
    assigned_reviewer: dict[str, Any] | None
    may_decide: bool
    #: a progress report's id and number (kind ``progress_report``; None otherwise)
    report_id: uuid.UUID | None = None
    report_number: int | None = None


@dataclass
class QueuePage:
    """A page of the queue, oldest first; ``total`` pending items after the filters."""

    items: list[QueueItem]
    total: int
    target_working_days: int
    page: int = 1
    per_page: int = 50
    extra: dict[str, Any] = field(default_factory=dict)


def _branches(kind: str | None, assigned: str | None, has_me: bool) -> list[Select]:
    """One SELECT per queue kind (each served by its ``(status, time, id)`` covering
    index); ``assigned=me`` compares with the parameter ``me`` (``has_me`` False: a caller
    without an account, nothing is theirs)."""
    out = []

    def where_assigned(query: Select, column: Any) -> Select:
        if assigned == "me":
            return (query.where(column == bindparam("me", type_=column.type)) if has_me
                    else query.where(literal(False)))
        if assigned == "none":
            return query.where(column.is_(None))
        return query

    if kind in (None, "submission"):
        out.append(where_assigned(select(
            literal("submission").label("kind"), Initiative.id.label("initiative_id"),
            cast(null(), Integer).label("revision_number"), Initiative.submitted_at.label("since"),
            Initiative.assigned_reviewer_id.label("reviewer_id"), *_no_report()).where(
            Initiative.status == "submitted"), Initiative.assigned_reviewer_id))
    if kind in (None, "completion"):
        out.append(where_assigned(select(
            literal("completion").label("kind"), Initiative.id.label("initiative_id"),
            cast(null(), Integer).label("revision_number"),
            Initiative.completion_declared_at.label("since"),
            Initiative.assigned_reviewer_id.label("reviewer_id"), *_no_report()).where(
            Initiative.status == "completion_declared"), Initiative.assigned_reviewer_id))
    if kind in (None, "revision"):
        out.append(where_assigned(select(
            literal("revision").label("kind"),
            InitiativeRevision.initiative_id.label("initiative_id"),
            InitiativeRevision.number.label("revision_number"),
            InitiativeRevision.submitted_at.label("since"),
            InitiativeRevision.assigned_reviewer_id.label("reviewer_id"), *_no_report()).where(
            InitiativeRevision.status == "submitted"), InitiativeRevision.assigned_reviewer_id))
    if kind in (None, "progress_report"):
        from registry.progress.models import ProgressReport

        out.append(where_assigned(select(
            literal("progress_report").label("kind"),
            ProgressReport.initiative_id.label("initiative_id"),
            cast(null(), Integer).label("revision_number"),
            ProgressReport.submitted_at.label("since"),
            ProgressReport.assigned_reviewer_id.label("reviewer_id"),
            ProgressReport.id.label("report_id"),
            ProgressReport.number.label("report_number")).where(
            ProgressReport.status == "submitted"), ProgressReport.assigned_reviewer_id))
    return out


def _no_report() -> tuple[Any, Any]:
    """The progress report columns of the branches that are no report (null)."""
    return (cast(null(), Uuid).label("report_id"), cast(null(), Integer).label("report_number"))


@functools.lru_cache(maxsize=64)
def _statements(kind: str | None, assigned: str | None,
                has_me: bool) -> tuple[Select, Any]:
    """The page's and the count's statements, built once per filter (parameters ``me``,
    ``top``: page * per_page, ``skip`` and ``per_page``): building the UNION and its
    sub-queries was most of the request's Python."""
    branches = _branches(kind, assigned, has_me)
    limited = [b.order_by("since", "initiative_id").limit(bindparam("top", type_=Integer))
               .subquery() for b in branches]
    merged = union_all(*(select(*sub.c) for sub in limited)).subquery("q")
    page = select(merged).order_by(
        merged.c.since, merged.c.initiative_id, merged.c.revision_number,
        merged.c.report_number).offset(
        bindparam("skip", type_=Integer)).limit(bindparam("per_page", type_=Integer))
    counts = union_all(*(select(func.count()).select_from(b.subquery()) for b in branches))
    return page, counts


@functools.lru_cache(maxsize=1)
def _details_statement() -> Select:
    """The page's initiatives with their owner's name (parameter ``ids``, expanding)."""
    return (select(Initiative.id, Initiative.public_id, Initiative.title,
                   Initiative.owner_organization_id, Organization.name.label("owner_name"))
            .outerjoin(Organization, Organization.id == Initiative.owner_organization_id)
            .where(Initiative.id.in_(bindparam("ids", expanding=True))))


def review_queue(*, db_session: Session, principal: Principal, kind: str | None = None,
                 assigned: str | None = None, page: int = 1,
                 per_page: int = 50) -> QueuePage:
    """The pending decisions (:data:`KINDS`), oldest first, for the secretariat
    (``view_review_queue``: reviewers, the system; 401/403 otherwise).

    ``kind``: one of :data:`KINDS` (None: all); ``assigned``: ``me`` (assigned to the
    caller), ``none`` (unassigned) or ``any``/None. Each item carries its age in working days
    since submission (:func:`working_days_between`), ``overdue`` (older than
    :func:`target_working_days`), the assigned reviewer and ``may_decide`` (false when the
    caller is a member of the owner organisation: four eyes). Statements: the page (each
    kind's first ``page * per_page`` rows by its index, merged), the count, and one read of
    the page's initiatives, organisations and reviewers.
    """
    authorize(principal, Action.VIEW_REVIEW_QUEUE, None, Aggregate.STAFF, what="review queue")
    me = user_id_of(principal)
    page_statement, count_statement = _statements(kind, assigned, me is not None)
    params: dict[str, Any] = {"me": me} if assigned == "me" and me is not None else {}
    rows = db_session.execute(page_statement, {
        **params, "top": page * per_page, "skip": (page - 1) * per_page,
        "per_page": per_page}).all()
    total = sum(db_session.scalars(count_statement, params).all())
    ids = {r.initiative_id for r in rows}
    details: dict[uuid.UUID, Any] = {}
    if ids:
        details = {r.id: r for r in db_session.execute(_details_statement(),
                                                       {"ids": list(ids)})}
    from registry.workflow.thread import reviewer_names

    names = reviewer_names(db_session, {r.reviewer_id for r in rows if r.reviewer_id})
    now = utcnow()
    target = target_working_days()
    items = []
    for r in rows:
        d = details[r.initiative_id]
        since = r.since if r.since.tzinfo else r.since.replace(tzinfo=UTC)
        age = round(working_days_between(since, now), 2)
        items.append(QueueItem(
            kind=r.kind, initiative_id=r.initiative_id, public_id=d.public_id, title=d.title,
            owner_organization={"id": d.owner_organization_id, "name": d.owner_name}
            if d.owner_organization_id else None,
            revision_number=r.revision_number, submitted_at=since, age_working_days=age,
            overdue=age > target,
            assigned_reviewer={"id": r.reviewer_id, "name": names.get(r.reviewer_id)}
            if r.reviewer_id else None,
            may_decide=not principal.is_member_of(d.owner_organization_id),
            report_id=r.report_id, report_number=r.report_number))
    return QueuePage(items, total, target, page, per_page)
