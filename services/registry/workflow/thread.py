"""The review thread of an initiative: its timeline entries (status changes, comments with
replies, internal secretariat notes) as each caller may see them, new comments, and the
assignment of a reviewer.

Visibility (``activities.visibility``): ``public`` entries are on the public page,
``participants`` ones are for the owner organisation and the secretariat, ``internal`` notes
for the secretariat only: they never reach the partner, neither through the API nor in an
event (no event is written for them). Shapes borrowed from ``invenio-requests`` (one timeline
of comments and events).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.authz.permissions import Action, Aggregate, authorize
from registry.workflow import models as wf
from registry.workflow.actors import user_id_of
from registry.workflow.models import Activity
from shared.identity import Principal, StaffRole
from shared.problems import NotAllowed, NotFound, ValidationError

#: Longest comment, in characters.
MAX_BODY = 10_000


def _initiative_view(db_session: Session, initiative_id: uuid.UUID, audience: str | None,
                     *, lock: bool = False) -> Any:
    from registry.initiatives import service

    view = service._load_view(db_session, initiative_id=initiative_id, timeline=audience,
                              for_update=lock)
    if view is None:
        raise NotFound(f"No initiative with id {initiative_id}.")
    return view


def initiative_thread(*, db_session: Session, principal: Principal,
                      initiative_id: uuid.UUID) -> list[Any]:
    """The entries of an initiative's thread ``principal`` may see, oldest first (one
    statement with the initiative): the public part for anyone who may see the initiative,
    participants' entries for its owner organisation, internal notes too for the secretariat.
    404 when the initiative is absent or not visible to the caller."""
    from registry.initiatives import service

    audience = "secretariat" if (principal.is_staff or principal.is_system) else (
        "participants" if principal.is_authenticated else "public")
    view = _initiative_view(db_session, initiative_id, audience)
    authorize(principal, Action.VIEW, view, Aggregate.INITIATIVE, what="initiative")
    return service.timeline(db_session=db_session, initiative=view,
                            audience=service.audience_of(principal, view))


def add_comment(*, db_session: Session, principal: Principal, initiative_id: uuid.UUID,
                body: str, visibility: str = wf.PARTICIPANTS,
                reply_to_id: uuid.UUID | None = None,
                revision_number: int | None = None) -> Activity:
    """Add a comment to an initiative's thread (the owner organisation's members, always; the
    secretariat once it was submitted: ``comment`` in the permission table).

    ``visibility``: ``participants`` (default: the owner organisation and the secretariat),
    ``internal`` (a secretariat note the partner never sees) or ``public`` (shown on the
    public page); the last two are the secretariat's only (403 otherwise). ``reply_to_id``:
    an entry of the same thread the caller can see (422 naming ``reply_to_id`` otherwise); a
    reply to an internal note is internal. ``body``: 1-10,000 characters (422 naming
    ``body``). Emits ``initiative.commented.v1`` with ``thread_entry`` and ``recipients`` =
    the other side (a partner's comment: the assigned reviewer; the secretariat's: the owner
    organisation's members and the assigned reviewer), never for an internal note. Returns
    the ``activities`` row (kind ``comment``, or ``note`` when internal).
    """
    from registry.initiatives import service

    view = _initiative_view(db_session, initiative_id, None)
    authorize(principal, Action.COMMENT, view, Aggregate.INITIATIVE, what="initiative")
    text = (body or "").strip()
    if not text or len(text) > MAX_BODY:
        raise ValidationError("The comment is empty or too long.", errors=[{
            "field": "body", "message": f"Write between 1 and {MAX_BODY} characters."}])
    if visibility not in wf.VISIBILITIES:
        raise ValidationError("Unknown visibility.", errors=[{
            "field": "visibility",
            "message": f"One of {', '.join(wf.VISIBILITIES)}."}])
    staff = principal.has_staff_role(StaffRole.REVIEWER)
    if visibility != wf.PARTICIPANTS and not staff:
        raise NotAllowed(f"Only the secretariat may write {visibility} comments "
                         "(field visibility).", extra={"field": "visibility"})
    if reply_to_id is not None:
        parent = db_session.get(Activity, reply_to_id)
        seen = service.TIMELINE_AUDIENCES[service.audience_of(principal, view)]
        if (parent is None or parent.record_type != wf.INITIATIVE
                or parent.record_id != view.id or parent.visibility not in seen):
            raise ValidationError("No such entry to reply to.", errors=[{
                "field": "reply_to_id",
                "message": f"No entry {reply_to_id} in this initiative's thread."}])
        if parent.visibility == wf.INTERNAL and visibility != wf.INTERNAL:
            visibility = wf.INTERNAL  # a reply to a note stays among the secretariat
    internal = visibility == wf.INTERNAL
    entry_id = uuid.uuid4()
    recipients = None
    if not internal:
        everyone = service.event_recipients(db_session, view, principal)
        recipients = everyone if staff else [r for r in everyone if r["role"] != "owner"]
    activity = service._record(
        db_session, view.entity, principal, "comment", view.status, comment=text,
        view=view, kind=wf.NOTE if internal else wf.COMMENT, visibility=visibility,
        revision_number=revision_number, reply_to_id=reply_to_id, recipients=recipients,
        emit=not internal,
        extra_event_data=None if internal else {"thread_entry": {
            "id": str(entry_id), "body": text, "visibility": visibility,
            "reply_to": str(reply_to_id) if reply_to_id else None}},
        activity_id=entry_id)
    return activity


def assign_reviewer(*, db_session: Session, principal: Principal, initiative_id: uuid.UUID,
                    reviewer_id: uuid.UUID | None,
                    expected_version: int | None = None) -> Any:
    """Assign the review of a submitted initiative (or a declared completion) to a reviewer
    (the secretariat: ``assign`` in the permission table), or unassign it (``None``).

    ``reviewer_id``: a user holding a staff role (reviewer or secretariat admin) who is not a
    member of the owner organisation (four eyes); 422 naming ``reviewer_id`` otherwise.
    Changes the initiative's version (412 on a stale ``expected_version``), writes an
    ``assignment`` entry (internal) and ``initiative.review-assigned.v1`` with the reviewer
    as recipient (none when they assign themselves or unassign). Returns the initiative
    view.
    """
    from registry.initiatives import service
    from registry.workflow.service import check_version

    view = _initiative_view(db_session, initiative_id, "secretariat", lock=True)
    authorize(principal, Action.ASSIGN, view, Aggregate.INITIATIVE, what="initiative")
    check_version(view, expected_version, "initiative")
    reviewer = None
    if reviewer_id is not None:
        reviewer = _check_reviewer(db_session, reviewer_id, view.owner_organization_id)
    before = view.assigned_reviewer_id
    entity = view.entity
    entity.assigned_reviewer_id = reviewer_id
    entity.version += 1
    entity.updated_at = service.utcnow()
    recipients = []
    if reviewer is not None and reviewer.id != user_id_of(principal):
        recipients = [{"email": reviewer.email, "locale": reviewer.locale or "en",
                       "role": "reviewer", "user_id": str(reviewer.id)}]
    service._record(db_session, entity, principal, "assign", view.status, view=view,
                    kind=wf.ASSIGNMENT, visibility=wf.INTERNAL, recipients=recipients,
                    changes={"assigned_reviewer_id": {
                        "before": str(before) if before else None,
                        "after": str(reviewer_id) if reviewer_id else None}})
    return view


def _check_reviewer(db_session: Session, reviewer_id: uuid.UUID,
                    owner_organization_id: uuid.UUID | None) -> Any:
    """The reviewer's (id, email, locale) row; ValidationError naming ``reviewer_id`` when it
    is no staff user, or a member of the owner organisation (four eyes)."""
    from registry.accounts.models import User, UserStaffRole
    from registry.organizations.models import OrganizationMembership

    reviewer = db_session.execute(select(User.id, User.email, User.locale).where(
        User.id == reviewer_id)).first()
    staff = db_session.scalar(select(UserStaffRole.role).where(
        UserStaffRole.user_id == reviewer_id, UserStaffRole.role.in_(
            [StaffRole.REVIEWER.value, StaffRole.SECRETARIAT_ADMIN.value])).limit(1))
    if reviewer is None or staff is None:
        raise ValidationError("Not a reviewer.", errors=[{
            "field": "reviewer_id", "message": f"No user {reviewer_id} with a reviewer role."}])
    member = owner_organization_id is not None and db_session.scalar(
        select(OrganizationMembership.id).where(
            OrganizationMembership.user_id == reviewer_id,
            OrganizationMembership.organization_id == owner_organization_id))
    if member:
        raise ValidationError("Four eyes.", errors=[{
            "field": "reviewer_id",
            "message": "This reviewer is a member of the organisation that owns the "
                       "initiative (four eyes): choose another."}])
    return reviewer


def assign_revision_reviewer(*, db_session: Session, principal: Principal,
                             initiative_id: uuid.UUID, number: int,
                             reviewer_id: uuid.UUID | None,
                             expected_version: int | None = None) -> Any:
    """Assign the review of a submitted revision (number ``number``) to a reviewer, or
    unassign it (the secretariat: ``assign`` on a revision in the permission table): the
    rules of :func:`assign_reviewer`; the revision's version changes (412 on a stale
    ``expected_version``); an ``assignment`` entry (internal) about that revision and
    ``initiative.review-assigned.v1`` with ``revision`` and the revision's ``review_url``.
    Returns the revision row."""
    from registry.initiatives import service
    from registry.initiatives.models import InitiativeRevision
    from registry.workflow.service import check_version

    view = _initiative_view(db_session, initiative_id, None)
    query = select(InitiativeRevision).where(InitiativeRevision.initiative_id == initiative_id,
                                             InitiativeRevision.number == number)
    if db_session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    revision = db_session.scalar(query)
    if revision is None:
        raise NotFound(f"No revision {number} of initiative {initiative_id}.")
    authorize(principal, Action.ASSIGN, revision, Aggregate.REVISION, what="revision")
    check_version(revision, expected_version, "revision")
    reviewer = None
    if reviewer_id is not None:
        reviewer = _check_reviewer(db_session, reviewer_id, revision.owner_organization_id)
    before = revision.assigned_reviewer_id
    revision.assigned_reviewer_id = reviewer_id
    revision.version += 1
    revision.updated_at = service.utcnow()
    recipients = []
    if reviewer is not None and reviewer.id != user_id_of(principal):
        recipients = [{"email": reviewer.email, "locale": reviewer.locale or "en",
                       "role": "reviewer", "user_id": str(reviewer.id)}]
    content_fields = list((revision.content or {}).keys())
    service._record(
        db_session, view.entity, principal, "assign", view.status, view=view,
        kind=wf.ASSIGNMENT, visibility=wf.INTERNAL, recipients=recipients,
        revision_number=revision.number,
        changes={"assigned_reviewer_id": {"before": str(before) if before else None,
                                          "after": str(reviewer_id) if reviewer_id else None}},
        extra_event_data={"revision": {
            "number": revision.number, "status": revision.status,
            "base_version": revision.base_version,
            "changed_fields": _changed_fields(view, revision, content_fields)},
            **service.event_links(view, revision.number)})
    return revision


def _changed_fields(view: Any, revision: Any, names: list[str]) -> list[str]:
    """Fields of the revision's content that differ from the approved content."""
    from registry.initiatives import versions

    current = versions.content_of(view)
    return [n for n in names if current.get(n) != revision.content.get(n)]


def reviewer_names(db_session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Display names (or e-mails) of the users ``ids`` (one statement)."""
    from registry.accounts.models import User

    if not ids:
        return {}
    return {uid: name or email for uid, name, email in db_session.execute(
        select(User.id, User.display_name, User.email).where(User.id.in_(list(ids))))}

