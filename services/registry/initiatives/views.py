"""``/api/v1/initiatives``: parse with a schema, call the service, dump with a schema."""

from __future__ import annotations

import uuid

from flask import Response, jsonify
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE

from registry import db
from registry.auth.views import current_principal
from registry.authz.limits import submit_limit
from registry.initiatives import policy, service
from registry.initiatives.models import Initiative
from registry.initiatives.schemas import (
    InitiativeDetailSchema,
    InitiativeInputSchema,
    InitiativePageSchema,
    InitiativePatchSchema,
    InitiativePublicSchema,
    InitiativeQuerySchema,
    InitiativeSummarySchema,
    LinkAnswerSchema,
    ReviewSchema,
    fast_dumper,
)
from registry.initiatives.service import InitiativeView
from registry.workflow import thread
from registry.workflow.http import if_match, with_etag
from registry.workflow.schemas import (
    AssignedRevisionSchema,
    AssignInputSchema,
    CommentInputSchema,
    ThreadEntrySchema,
)

blp = Blueprint("initiatives", __name__, url_prefix="/api/v1/initiatives",
                description="Initiatives (partnerships and voluntary commitments) and their "
                            "review by the secretariat.")

_SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}]
_IF_MATCH = {"in": "header", "name": "If-Match", "required": False,
             "schema": {"type": "string"},
             "description": 'The ETag of your last read ("<version>"): 412 Precondition Failed '
                            "when the record changed since; omitted: no check."}
#: the 412 answer of the writes that take If-Match (not among every operation's problems)
_412 = {"412": {"description": "Precondition failed: the record changed since the ETag named "
                               "in If-Match was read (`current_version`); nothing was "
                               "written.",
                "content": {"application/problem+json": {
                    "schema": {"$ref": "#/components/schemas/Problem"}}}}}

# built once: a Schema instance keeps no per-dump state, and building one deep-copies its
# declared fields and those of every nested schema (about 1 ms of a detail request)
_DETAIL_SCHEMA = InitiativeDetailSchema()
_PUBLIC_SCHEMA = InitiativePublicSchema()
_dump_summary = fast_dumper(InitiativeSummarySchema())  # = InitiativeSummarySchema().dump


class _Detail:
    """The initiative plus what depends on the caller (timeline, allowed actions)."""

    def __init__(self, initiative: Initiative | InitiativeView, timeline, allowed_actions):
        self._initiative = initiative
        self.timeline = timeline
        self.allowed_actions = allowed_actions

    def __getattr__(self, name):
        return getattr(self._initiative, name)


def _dump(initiative: Initiative | InitiativeView, status: int = 200) -> Response:
    """The initiative in the caller's audience schema (public, or owner/secretariat detail).

    Returned as a finished response, so the ``@blp.response`` schema only documents the shape;
    with ``ETag: "<version>"`` (``If-Match`` of a later PATCH or action).
    """
    response = jsonify(_dump_data(initiative))
    response.status_code = status
    return with_etag(response, initiative.version)


def _dump_data(initiative: Initiative | InitiativeView) -> dict:
    principal = current_principal()
    if service.can_see_private(principal, initiative):
        detail = _Detail(initiative, service.timeline(
            db_session=db.session(), initiative=initiative,
            audience=service.audience_of(principal, initiative)),
            policy.allowed_actions(principal, initiative))
        return _DETAIL_SCHEMA.dump(detail)
    return _PUBLIC_SCHEMA.dump(initiative)


@blp.route("")
class Initiatives(MethodView):
    @blp.arguments(InitiativeQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, InitiativePageSchema)
    def get(self, args):
        """List initiatives the caller may see (anonymous: published only), newest first."""
        result = service.search_initiatives(db_session=db.session(),
                                            principal=current_principal(), **args)
        # InitiativePageSchema's shape, the items through the schema's fast twin (a finished
        # response: the @blp.response schema documents it)
        return jsonify({"items": [_dump_summary(item) for item in result.items],
                        "page": args["page"], "per_page": args["per_page"],
                        "total": result.total, "total_is_estimate": result.total_is_estimate})

    @blp.arguments(InitiativeInputSchema)
    @blp.response(201, InitiativeDetailSchema)
    @blp.doc(security=_SECURITY)
    def post(self, data):
        """Create a draft initiative (partner or secretariat)."""
        session = db.session()
        initiative = service.create_initiative(db_session=session,
                                               principal=current_principal(), data=data)
        session.commit()
        return _dump(initiative, 201)


@blp.route("/<uuid:initiative_id>")
class InitiativeItem(MethodView):
    @blp.response(200, InitiativeDetailSchema)
    def get(self, initiative_id: uuid.UUID):
        """One initiative (owner and secretariat also see contact, timeline, allowed actions),
        with ``ETag: "<version>"``."""
        initiative = service.get_initiative(db_session=db.session(),
                                            principal=current_principal(),
                                            initiative_id=initiative_id)
        return _dump(initiative)

    @blp.arguments(InitiativePatchSchema)
    @blp.response(200, InitiativeDetailSchema)
    @blp.doc(security=_SECURITY, parameters=[_IF_MATCH], responses=_412)
    def patch(self, data, initiative_id: uuid.UUID):
        """Edit a draft, or an initiative sent back for changes (owner). ``If-Match: "<version>"``
        (the ETag of your read): 412 when someone changed it since."""
        session = db.session()
        initiative = service.update_initiative(db_session=session,
                                               principal=current_principal(),
                                               initiative_id=initiative_id, data=data,
                                               expected_version=if_match())
        session.commit()
        return _dump(initiative)


def _action_view(transition):
    action = transition.action
    who = ", ".join(w.name.replace("_", " ") for w in transition.who)
    summary = (f"{action.replace('_', ' ').capitalize()}: "
               f"{' or '.join(sorted(transition.sources))} -> {transition.target} ({who}; "
               f"comment {'required' if transition.comment_required else 'optional'}).")

    @blp.arguments(ReviewSchema)
    @blp.response(200, InitiativeDetailSchema)
    @blp.doc(security=_SECURITY, summary=summary, parameters=[_IF_MATCH], responses=_412)
    def view(data, initiative_id: uuid.UUID):
        session = db.session()
        initiative = service.transition(db_session=session, principal=current_principal(),
                                        initiative_id=initiative_id, action=action,
                                        comment=data.get("comment"),
                                        expected_version=if_match())
        session.commit()
        return _dump(initiative)

    view.__name__ = f"initiative_{action}"
    view.__doc__ = summary
    return submit_limit()(view) if action == "submit" else view


# one POST /api/v1/initiatives/{id}/<action-with-dashes> per transition of the declaration
for _transition in policy.INITIATIVE_WORKFLOW.transitions:
    blp.route(f"/<uuid:initiative_id>/{_transition.path}", methods=["POST"],
              endpoint=f"initiative_{_transition.action}")(_action_view(_transition))


@blp.route("/<uuid:initiative_id>/thread", methods=["GET"], endpoint="initiative_thread")
@blp.response(200, ThreadEntrySchema(many=True))
def initiative_thread(initiative_id: uuid.UUID):
    """The thread: status changes, comments with replies (``reply_to_id``) and, for the
    secretariat, internal notes, oldest first, as the caller may see them (anyone: the public
    part of a public initiative; the owner organisation: participants' entries too)."""
    return thread.initiative_thread(db_session=db.session(), principal=current_principal(),
                                    initiative_id=initiative_id)


@blp.route("/<uuid:initiative_id>/comments", methods=["POST"], endpoint="initiative_comment")
@blp.arguments(CommentInputSchema)
@blp.response(201, ThreadEntrySchema)
@blp.doc(security=_SECURITY)
def initiative_comment(data, initiative_id: uuid.UUID):
    """Comment on the thread (owner organisation; the secretariat once submitted).
    ``visibility`` ``internal`` (a note the partner never sees) and ``public`` are the
    secretariat's. Emits ``initiative.commented.v1`` (never for an internal note)."""
    session = db.session()
    entry = thread.add_comment(db_session=session, principal=current_principal(),
                               initiative_id=initiative_id, body=data["body"],
                               visibility=data["visibility"],
                               reply_to_id=data.get("reply_to_id"))
    session.commit()
    return entry


@blp.route("/<uuid:initiative_id>/assign", methods=["POST"], endpoint="initiative_assign")
@blp.arguments(AssignInputSchema)
@blp.response(200, InitiativeDetailSchema)
@blp.doc(security=_SECURITY, parameters=[_IF_MATCH], responses=_412)
def initiative_assign(data, initiative_id: uuid.UUID):
    """Assign the review to a reviewer (``reviewer_id``; null unassigns) (secretariat; a
    submitted initiative or a declared completion). Emits ``initiative.review-assigned.v1``
    to the reviewer."""
    session = db.session()
    initiative = thread.assign_reviewer(db_session=session, principal=current_principal(),
                                        initiative_id=initiative_id,
                                        reviewer_id=data["reviewer_id"],
                                        expected_version=if_match())
    session.commit()
    return _dump(initiative)


@blp.route("/<uuid:initiative_id>/revisions/<int:number>/assign", methods=["POST"],
           endpoint="initiative_revision_assign")
@blp.arguments(AssignInputSchema)
@blp.response(200, AssignedRevisionSchema)
@blp.doc(security=_SECURITY, parameters=[_IF_MATCH], responses=_412)
def initiative_revision_assign(data, initiative_id: uuid.UUID, number: int):
    """Assign the review of a submitted revision to a reviewer (``reviewer_id``; null
    unassigns) (secretariat). ``If-Match``: the revision's ETag. Emits
    ``initiative.review-assigned.v1`` (with ``revision``) to the reviewer."""
    session = db.session()
    revision = thread.assign_revision_reviewer(
        db_session=session, principal=current_principal(), initiative_id=initiative_id,
        number=number, reviewer_id=data["reviewer_id"], expected_version=if_match())
    session.commit()
    return with_etag(jsonify(AssignedRevisionSchema().dump(revision)), revision.version)


def _link_view(confirm: bool):
    @blp.response(200, LinkAnswerSchema)
    @blp.doc(security=_SECURITY)
    def view(initiative_id: uuid.UUID, organization_id: uuid.UUID):
        session = db.session()
        service.answer_link(db_session=session, principal=current_principal(),
                            initiative_id=initiative_id, organization_id=organization_id,
                            confirm=confirm)
        session.commit()
        return jsonify({"initiative_id": str(initiative_id),
                        "organization_id": str(organization_id),
                        "status": "confirmed" if confirm else "declined"})

    view.__name__ = f"initiative_link_{'confirm' if confirm else 'decline'}"
    view.__doc__ = (
        "Confirm a proposed lead/partner link naming your organisation (its admins)."
        if confirm else
        "Decline a proposed lead/partner link naming your organisation (its admins): the "
        "link is removed.")
    return view


for _confirm in (True, False):
    _verb = "confirm" if _confirm else "decline"
    blp.route(f"/<uuid:initiative_id>/links/<uuid:organization_id>/{_verb}", methods=["POST"],
              endpoint=f"initiative_link_{_verb}")(_link_view(_confirm))
