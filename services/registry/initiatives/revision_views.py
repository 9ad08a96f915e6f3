"""``/api/v1/initiatives/{id}/versions|diff|revisions``: approved versions, their diff, and
revisions of published initiatives. Parse with a schema, call the service, dump with a
schema."""

from __future__ import annotations

import uuid

from flask import Response, jsonify
from flask.views import MethodView
from flask_smorest import Blueprint

from registry import db
from registry.auth.views import current_principal
from registry.initiatives import revisions, versions
from registry.initiatives.revision_schemas import (
    DiffQuerySchema,
    DiffSchema,
    RevisionActionSchema,
    RevisionInputSchema,
    RevisionListSchema,
    RevisionSchema,
    RevisionSummarySchema,
    VersionListSchema,
    VersionSchema,
    VersionSummarySchema,
)
from registry.workflow.http import if_match, with_etag

blp = Blueprint("initiative_versions", __name__, url_prefix="/api/v1/initiatives",
                description="Approved versions of initiatives, the difference between two, "
                            "and revisions of published initiatives (issue 8).")

_SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}]
#: the 412 answer of the writes that take ``If-Match`` (not among the problem responses
#: every operation documents: ``shared.problems.PROBLEM_STATUSES``)
_IF_MATCH: dict = {
    "parameters": [{"in": "header", "name": "If-Match", "required": False,
                    "schema": {"type": "string"},
                    "description": "The ETag read (the revision's version, e.g. \"3\"): 412 "
                                   "if it changed since; nothing is written then."}],
    "responses": {"412": {
        "description": "Precondition failed: the revision changed since the ETag named in "
                       "If-Match was read (`current_version`); nothing was written.",
        "content": {"application/problem+json": {
            "schema": {"$ref": "#/components/schemas/Problem"}}}}},
}
_SUMMARY = VersionSummarySchema()
_VERSION = VersionSchema()


@blp.route("/<uuid:initiative_id>/versions", methods=["GET"])
@blp.response(200, VersionListSchema)
def list_versions(initiative_id: uuid.UUID) -> Response:
    """The approved versions of an initiative, oldest first (anyone, for a public initiative;
    otherwise its owner organisation and the secretariat)."""
    session = db.session()
    items = versions.list_versions(db_session=session, principal=current_principal(),
                                   initiative_id=initiative_id)
    current = next((v.number for v in items if v.current), None)
    return jsonify({"initiative_id": str(initiative_id), "approved_version": current,
                    "items": [_SUMMARY.dump(v) for v in items]})


@blp.route("/<uuid:initiative_id>/versions/<int:number>", methods=["GET"])
@blp.response(200, VersionSchema)
def get_version(initiative_id: uuid.UUID, number: int) -> Response:
    """One approved version with its content (the public's without the contact e-mail);
    404 for a version that does not exist."""
    version = versions.get_version(db_session=db.session(), principal=current_principal(),
                                   initiative_id=initiative_id, number=number)
    return jsonify(_VERSION.dump(version))


@blp.route("/<uuid:initiative_id>/diff", methods=["GET"])
@blp.arguments(DiffQuerySchema, location="query")
@blp.response(200, DiffSchema)
def diff(args: dict, initiative_id: uuid.UUID) -> Response:
    """Field-by-field difference between approved versions ``from`` and ``to`` (default:
    the current version against the one before); lists compared item by item. 422 naming
    ``from`` or ``to`` for a version that does not exist."""
    result = versions.diff_versions(db_session=db.session(), principal=current_principal(),
                                    initiative_id=initiative_id, from_=args["from_"],
                                    to=args["to"])
    return jsonify(result)


# -- revisions -------------------------------------------------------------------------------
_REVISION = RevisionSchema()
_REVISION_SUMMARY = RevisionSummarySchema()


def _revision_response(revision: revisions.RevisionView, status: int = 200) -> Response:
    response = jsonify(_REVISION.dump(revision))
    response.status_code = status
    return with_etag(response, revision.version)


@blp.route("/<uuid:initiative_id>/revisions")
class Revisions(MethodView):
    @blp.response(200, RevisionListSchema)
    @blp.doc(security=_SECURITY)
    def get(self, initiative_id: uuid.UUID) -> Response:
        """The revisions of an initiative, newest first (owner organisation and
        secretariat)."""
        items = revisions.list_revisions(db_session=db.session(),
                                         principal=current_principal(),
                                         initiative_id=initiative_id)
        return jsonify({"initiative_id": str(initiative_id),
                        "items": [_REVISION_SUMMARY.dump(r) for r in items]})

    @blp.arguments(RevisionInputSchema)
    @blp.response(201, RevisionSchema)
    @blp.doc(security=_SECURITY)
    def post(self, data: dict, initiative_id: uuid.UUID) -> Response:
        """Open a draft revision of a published initiative (owner organisation): any subset
        of the fields, applied to the approved content. 409 when one is already open
        (``open_revision``) or the initiative is not published."""
        session = db.session()
        revision = revisions.create_revision(db_session=session, principal=current_principal(),
                                             initiative_id=initiative_id, data=data)
        session.commit()
        return _revision_response(revision, 201)


@blp.route("/<uuid:initiative_id>/revisions/<int:number>")
class RevisionItem(MethodView):
    @blp.response(200, RevisionSchema)
    @blp.doc(security=_SECURITY)
    def get(self, initiative_id: uuid.UUID, number: int) -> Response:
        """One revision with its proposed content and ``ETag`` (owner organisation and
        secretariat)."""
        revision = revisions.get_revision(db_session=db.session(),
                                          principal=current_principal(),
                                          initiative_id=initiative_id, number=number)
        return _revision_response(revision)

    @blp.arguments(RevisionInputSchema)
    @blp.response(200, RevisionSchema)
    @blp.doc(security=_SECURITY, **_IF_MATCH)
    def patch(self, data: dict, initiative_id: uuid.UUID, number: int) -> Response:
        """Edit a draft revision or one sent back for changes (owner organisation); 412 when
        ``If-Match`` names an older version (nothing written)."""
        session = db.session()
        revision = revisions.update_revision(db_session=session, principal=current_principal(),
                                             initiative_id=initiative_id, number=number,
                                             data=data, expected_version=if_match())
        session.commit()
        return _revision_response(revision)


@blp.route("/<uuid:initiative_id>/revisions/<int:number>/diff", methods=["GET"])
@blp.response(200, DiffSchema)
@blp.doc(security=_SECURITY)
def revision_diff(initiative_id: uuid.UUID, number: int) -> Response:
    """Field-by-field difference between the current approved version (``from``) and the
    revision's proposed content (owner organisation and secretariat)."""
    return jsonify(revisions.diff_revision(db_session=db.session(),
                                           principal=current_principal(),
                                           initiative_id=initiative_id, number=number))


def _revision_action_view(action: str, summary: str):
    @blp.arguments(RevisionActionSchema)
    @blp.response(200, RevisionSchema)
    @blp.doc(security=_SECURITY, summary=summary, **_IF_MATCH)
    def view(data: dict, initiative_id: uuid.UUID, number: int) -> Response:
        session = db.session()
        revision = revisions.revision_action(
            db_session=session, principal=current_principal(), initiative_id=initiative_id,
            number=number, action=action, comment=data.get("comment"),
            expected_version=if_match())
        session.commit()
        return _revision_response(revision)

    view.__name__ = f"revision_{action}"
    view.__doc__ = summary
    return view


for _action, _summary in (
    ("submit", "Submit a revision for review (owner organisation; draft or changes "
               "requested)."),
    ("approve", "Approve a revision (reviewer not of the owner organisation): its content "
                "becomes the next approved version the public sees."),
    ("request_changes", "Send a revision back for changes with a comment (reviewer)."),
    ("reject", "Reject a revision with a comment (reviewer); the approved version stays."),
    ("discard", "Discard a draft revision (owner organisation)."),
):
    blp.route(f"/<uuid:initiative_id>/revisions/<int:number>/{_action.replace('_', '-')}",
              methods=["POST"], endpoint=f"revision_{_action}")(
        _revision_action_view(_action, _summary))
