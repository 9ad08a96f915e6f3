"""API shapes of the review desk: thread entries, comments, assignment, the review queue."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from registry.workflow.models import INTERNAL, PARTICIPANTS, PUBLIC
from registry.workflow.queue import ASSIGNED, KINDS
from shared.inputs import InputSchema


class ThreadEntrySchema(Schema):
    """An entry of an initiative's thread: ``kind`` (``transition``, ``edit``, ``comment``,
    ``note`` (internal), ``assignment``), ``action`` and the statuses for transitions,
    ``body`` (the comment, note, or the transition's comment), ``visibility`` (``public``,
    ``participants``, ``internal``), ``reply_to_id``, the actor (role label, display name,
    user id, e-mail), ``revision_number`` when it concerns a revision, ``created_at``
    (UTC)."""

    id = fields.UUID()
    kind = fields.String()
    action = fields.String()
    from_status = fields.String(allow_none=True)
    to_status = fields.String(allow_none=True)
    body = fields.String(allow_none=True)
    visibility = fields.String()
    reply_to_id = fields.UUID(allow_none=True)
    revision_number = fields.Integer(allow_none=True)
    actor_role = fields.String()
    actor_name = fields.String(allow_none=True)
    actor_user_id = fields.UUID(allow_none=True)
    actor_email = fields.String(allow_none=True)
    changes = fields.Dict(allow_none=True)
    created_at = fields.AwareDateTime()


class CommentInputSchema(InputSchema):
    """Body of ``POST /api/v1/initiatives/{id}/comments``: ``body`` (1-10,000 characters),
    ``visibility`` (``participants`` default; ``internal`` notes and ``public`` comments are
    the secretariat's), ``reply_to_id`` (an entry of the same thread)."""

    class Meta:
        unknown = RAISE

    body = fields.String(required=True, validate=validate.Length(min=1, max=10_000))
    visibility = fields.String(load_default=PARTICIPANTS,
                               validate=validate.OneOf((PARTICIPANTS, INTERNAL, PUBLIC)))
    reply_to_id = fields.UUID(load_default=None, allow_none=True)


class AssignInputSchema(InputSchema):
    """Body of ``POST …/assign``: ``reviewer_id`` (a staff user's id; null unassigns)."""

    class Meta:
        unknown = RAISE

    reviewer_id = fields.UUID(required=True, allow_none=True)


class AssignedRevisionSchema(Schema):
    """A revision after (un)assignment: ``initiative_id``, ``number``, ``status``,
    ``assigned_reviewer_id`` (null: unassigned), ``version`` (its ETag)."""

    initiative_id = fields.UUID()
    number = fields.Integer()
    status = fields.String()
    assigned_reviewer_id = fields.UUID(allow_none=True)
    version = fields.Integer()


class QueueQuerySchema(InputSchema):
    """Filters of ``GET /api/v1/review/queue``: ``kind`` (submission, revision, completion,
    progress_report), ``assigned`` (me, none, any), ``page`` from 1, ``per_page`` 1-200."""

    class Meta:
        unknown = RAISE

    kind = fields.String(load_default=None, validate=validate.OneOf(KINDS))
    assigned = fields.String(load_default=None, validate=validate.OneOf(ASSIGNED))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class _Ref(Schema):
    id = fields.UUID()
    name = fields.String(allow_none=True)


class QueueItemSchema(Schema):
    """A pending decision: ``kind``, the initiative (id, public id, title, owner
    organisation), ``revision_number`` (revisions), ``submitted_at`` (UTC; the declaration
    time for completions), ``age_working_days`` (Monday-Friday, 2 decimals), ``overdue``
    (past the target), ``assigned_reviewer`` ({id, name} or null), ``may_decide`` (false when
    the caller belongs to the owner organisation: four eyes)."""

    kind = fields.String()
    initiative_id = fields.UUID()
    public_id = fields.String(allow_none=True)
    title = fields.String()
    owner_organization = fields.Nested(_Ref, allow_none=True)
    revision_number = fields.Integer(allow_none=True)
    submitted_at = fields.AwareDateTime()
    age_working_days = fields.Float()
    overdue = fields.Boolean()
    assigned_reviewer = fields.Nested(_Ref, allow_none=True)
    may_decide = fields.Boolean()
    report_id = fields.UUID(allow_none=True, metadata={
        "description": "The progress report (kind progress_report; null otherwise)."})
    report_number = fields.Integer(allow_none=True)


class QueuePageSchema(Schema):
    """A page of the review queue, oldest first: ``items``, ``total``, ``page``,
    ``per_page`` and ``target_working_days`` (``REVIEW_TARGET_WORKING_DAYS``)."""

    items = fields.List(fields.Nested(QueueItemSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()
    target_working_days = fields.Integer()
