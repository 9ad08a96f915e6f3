"""``/api/v1/initiatives/{id}/progress-reports|indicators|progress`` and
``/api/v1/progress-reports/{report_id}``: parse with a schema, call the service, dump with a
schema. ``{id}`` is the initiative's UUID or its public id (``PR-2026-00042``)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from flask.views import MethodView
from flask_smorest import Blueprint

from registry import db
from registry.auth.views import current_principal
from registry.authz.permissions import Action, Aggregate
from registry.authz.routes import ROUTES, RouteRule
from registry.progress import service
from registry.progress.policy import PROGRESS_REPORT_WORKFLOW
from registry.progress.schemas import (
    ActionInputSchema,
    DeliverableWeightListSchema,
    DeliverableWeightSchema,
    DeliverableWeightsInputSchema,
    IndicatorInputSchema,
    IndicatorListSchema,
    IndicatorPatchSchema,
    IndicatorSchema,
    ProgressReportCreateSchema,
    ProgressReportInputSchema,
    ProgressReportListSchema,
    ProgressReportPublicSchema,
    ProgressReportSchema,
    ProgressSeriesSchema,
    ReportCommentInputSchema,
)
from registry.workflow.http import if_match, with_etag
from registry.workflow.schemas import ThreadEntrySchema

blp = Blueprint("progress", __name__, url_prefix="/api/v1",
                description="Progress reports of published initiatives, their review by the "
                            "secretariat, the initiatives' indicators (IATI result model) and "
                            "the public progress series (issue 9).")

_SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}]
_IF_MATCH: dict = {
    "parameters": [{"in": "header", "name": "If-Match", "required": False,
                    "schema": {"type": "string"},
                    "description": 'The ETag of your last read ("<version>"): 412 when the '
                                   "report changed since; nothing is written then."}],
    "responses": {"412": {
        "description": "Precondition failed: the report changed since the ETag named in "
                       "If-Match was read (`current_version`); nothing was written.",
        "content": {"application/problem+json": {
            "schema": {"$ref": "#/components/schemas/Problem"}}}}},
}
_PRIVATE = ProgressReportSchema()
_PUBLIC = ProgressReportPublicSchema()
_INDICATOR = IndicatorSchema()


def _dump(report: service.ReportView) -> dict[str, Any]:
    return (_PRIVATE if report.audience == "private" else _PUBLIC).dump(report)


def _answer(report: service.ReportView, status: int = 200) -> Response:
    response = jsonify(_dump(report))
    response.status_code = status
    return with_etag(response, report.version)


@blp.route("/initiatives/<initiative_ref>/progress-reports")
class ProgressReports(MethodView):
    @blp.response(200, ProgressReportListSchema)
    def get(self, initiative_ref: str) -> Response:
        """An initiative's progress reports, newest first (the public: approved ones of a
        public initiative; its owner organisation and the secretariat: all)."""
        session = db.session()
        items = service.list_reports(db_session=session, principal=current_principal(),
                                     initiative_id=initiative_ref)
        initiative = service.resolve_initiative(session, initiative_ref)
        return jsonify({"initiative_id": str(initiative.id),
                        "items": [_dump(r) for r in items]})

    @blp.arguments(ProgressReportCreateSchema)
    @blp.response(201, ProgressReportSchema)
    @blp.doc(security=_SECURITY)
    def post(self, data: dict, initiative_ref: str) -> Response:
        """Start a progress report of a published initiative (owner organisation; an API
        client needs ``progress:write``). ``"submit": true`` submits it at once (strict
        check: 422 per missing field). 409 when the initiative is not published or the
        ``source_ref`` is already used."""
        session = db.session()
        principal = current_principal()
        source = "form" if principal.kind.value == "user" else "api"
        report = service.create_report(db_session=session, principal=principal,
                                       initiative_id=initiative_ref, data=data, source=source)
        session.commit()
        return _answer(report, 201)


@blp.route("/progress-reports/<report_id>")
class ProgressReportItem(MethodView):
    @blp.response(200, ProgressReportSchema)
    def get(self, report_id: str) -> Response:
        """One progress report with ``ETag: "<version>"`` (anyone when approved and its
        initiative public; otherwise its owner organisation and the secretariat)."""
        return _answer(service.get_report(db_session=db.session(),
                                          principal=current_principal(), report_id=report_id))

    @blp.arguments(ProgressReportInputSchema)
    @blp.response(200, ProgressReportSchema)
    @blp.doc(security=_SECURITY, **_IF_MATCH)
    def patch(self, data: dict, report_id: str) -> Response:
        """Edit a draft or a report sent back for changes (owner organisation); only the
        fields given change (lists are replaced). ``warnings`` list what submitting still
        needs."""
        session = db.session()
        report = service.update_report(db_session=session, principal=current_principal(),
                                       report_id=report_id, data=data,
                                       expected_version=if_match())
        session.commit()
        return _answer(report)

    @blp.response(204)
    @blp.doc(security=_SECURITY, **_IF_MATCH)
    def delete(self, report_id: str) -> Response:
        """Delete a draft (owner organisation); 409 once submitted."""
        session = db.session()
        service.delete_draft(db_session=session, principal=current_principal(),
                             report_id=report_id, expected_version=if_match())
        session.commit()
        return Response(status=204)


def _action_view(action: str, summary: str):
    @blp.arguments(ActionInputSchema)
    @blp.response(200, ProgressReportSchema)
    @blp.doc(security=_SECURITY, summary=summary, **_IF_MATCH)
    def view(data: dict, report_id: str) -> Response:
        session = db.session()
        report = service.report_action(db_session=session, principal=current_principal(),
                                       report_id=report_id, action=action,
                                       comment=data.get("comment"),
                                       expected_version=if_match())
        session.commit()
        return _answer(report)

    view.__name__ = f"progress_report_{action}"
    view.__doc__ = summary
    return view


_SUMMARIES = {
    "submit": "Submit a progress report for review (owner organisation; draft or changes "
              "requested): period, overall status and narrative are required (422 naming "
              "each missing field).",
    "approve": "Approve a progress report (a reviewer who is not a member of the owner "
               "organisation: four eyes): it becomes public, rolls up into the initiative's "
               "progress and restarts its reporting cycle.",
    "request_changes": "Send a progress report back for changes with a comment (reviewer "
                       "not of the owner organisation).",
}
for _transition in PROGRESS_REPORT_WORKFLOW.transitions:
    blp.route(f"/progress-reports/<report_id>/{_transition.path}", methods=["POST"],
              endpoint=f"progress_report_{_transition.action}")(
        _action_view(_transition.action, _SUMMARIES[_transition.action]))


@blp.route("/progress-reports/<report_id>/thread", methods=["GET"],
           endpoint="progress_report_thread")
@blp.response(200, ThreadEntrySchema(many=True))
def progress_report_thread(report_id: str):
    """The report's thread, oldest first: status changes and comments as the caller may see
    them (the public: its approval; the owner organisation: participants' entries; the
    secretariat: internal notes too)."""
    return service.report_thread(db_session=db.session(), principal=current_principal(),
                                 report_id=report_id)


@blp.route("/progress-reports/<report_id>/comments", methods=["POST"],
           endpoint="progress_report_comment")
@blp.arguments(ReportCommentInputSchema)
@blp.response(201, ThreadEntrySchema)
@blp.doc(security=_SECURITY)
def progress_report_comment(data: dict, report_id: str):
    """Comment on the report's thread (owner organisation; the secretariat once submitted;
    ``visibility`` ``internal``: a secretariat note the partner never sees)."""
    session = db.session()
    entry = service.comment_on_report(db_session=session, principal=current_principal(),
                                      report_id=report_id, body=data["body"],
                                      visibility=data.get("visibility") or "participants")
    session.commit()
    return entry


# -- indicators ------------------------------------------------------------------------------
@blp.route("/initiatives/<initiative_ref>/indicators")
class Indicators(MethodView):
    @blp.response(200, IndicatorListSchema)
    def get(self, initiative_ref: str) -> Response:
        """An initiative's indicators (IATI result model), in order (whoever may see it)."""
        session = db.session()
        initiative = service.resolve_initiative(session, initiative_ref)
        items = service.list_indicators(db_session=session, principal=current_principal(),
                                        initiative_id=initiative.id)
        return jsonify({"initiative_id": str(initiative.id),
                        "items": [_INDICATOR.dump(i) for i in items]})

    @blp.arguments(IndicatorInputSchema)
    @blp.response(201, IndicatorSchema)
    @blp.doc(security=_SECURITY)
    def post(self, data: dict, initiative_ref: str) -> Response:
        """Declare an indicator (owner organisation, while the initiative is editable or
        published); 422 naming ``sdg_indicator_code`` for an unknown SDG indicator."""
        session = db.session()
        indicator = service.create_indicator(db_session=session, principal=current_principal(),
                                             initiative_id=initiative_ref, data=data)
        session.commit()
        response = jsonify(_INDICATOR.dump(indicator))
        response.status_code = 201
        return response


@blp.route("/initiatives/<initiative_ref>/indicators/<indicator_id>")
class IndicatorItem(MethodView):
    @blp.arguments(IndicatorPatchSchema)
    @blp.response(200, IndicatorSchema)
    @blp.doc(security=_SECURITY)
    def patch(self, data: dict, initiative_ref: str, indicator_id: str) -> Response:
        """Change an indicator's fields (owner organisation)."""
        session = db.session()
        indicator = service.update_indicator(db_session=session, principal=current_principal(),
                                             initiative_id=initiative_ref,
                                             indicator_id=indicator_id, data=data)
        session.commit()
        return jsonify(_INDICATOR.dump(indicator))

    @blp.response(204)
    @blp.doc(security=_SECURITY)
    def delete(self, initiative_ref: str, indicator_id: str) -> Response:
        """Remove an indicator (owner organisation); 409 when a submitted or approved report
        recorded a value of it."""
        session = db.session()
        service.delete_indicator(db_session=session, principal=current_principal(),
                                 initiative_id=initiative_ref, indicator_id=indicator_id)
        session.commit()
        return Response(status=204)


@blp.route("/initiatives/<initiative_ref>/deliverable-weights", methods=["PUT"],
           endpoint="deliverable_weights")
@blp.arguments(DeliverableWeightsInputSchema)
@blp.response(200, DeliverableWeightListSchema)
@blp.doc(security=_SECURITY)
def deliverable_weights(data: dict, initiative_ref: str) -> Response:
    """Set the weights of the initiative's deliverables in its progress (owner organisation,
    while editable or published; no revision needed: weights are no part of the reviewed
    content). Answers the deliverables and the progress they roll up to now."""
    session = db.session()
    items = service.set_deliverable_weights(db_session=session, principal=current_principal(),
                                            initiative_id=initiative_ref,
                                            weights=data["weights"])
    session.commit()
    dump = DeliverableWeightSchema().dump
    return jsonify({"initiative_id": str(service.resolve_initiative(session,
                                                                    initiative_ref).id),
                    "items": [dump(d) for d in items],
                    "rolled_up": service.rolled_up_progress(items)})


@blp.route("/initiatives/<initiative_ref>/progress", methods=["GET"],
           endpoint="progress_series")
@blp.response(200, ProgressSeriesSchema)
def progress_series(initiative_ref: str) -> Response:
    """The public chart data: the progress of each approved report (``reported_on``,
    ``percent``) and each indicator's actual values over time, oldest first."""
    series = service.progress_series(db.session(), initiative_ref,
                                     principal=current_principal())

    def text(value: Any) -> str | None:
        return None if value is None else (value.isoformat() if hasattr(value, "isoformat")
                                           else format(value, "f"))

    return jsonify({
        "initiative_id": str(series["initiative_id"]),
        "progress": [{"reported_on": d.isoformat(), "percent": p}
                     for d, p in series["progress"]],
        "indicators": [{"id": str(i["id"]), "title": i["title"], "unit": i["unit"],
                        "baseline_value": text(i["baseline_value"]),
                        "baseline_year": i["baseline_year"],
                        "target_value": text(i["target_value"]),
                        "target_year": i["target_year"],
                        "actuals": [[text(d), text(v)] for d, v in i["actuals"]]}
                       for i in series["indicators"]]})


# the rules these routes answer to (authentication first: an anonymous write is 401 before
# its body is parsed; ``registry.authz.routes``)
_PR = Aggregate.PROGRESS_REPORT
ROUTES.update({
    ("progress.ProgressReports", "POST"): RouteRule(_PR, Action.CREATE),
    ("progress.ProgressReportItem", "PATCH"): RouteRule(_PR, Action.UPDATE),
    ("progress.ProgressReportItem", "DELETE"): RouteRule(_PR, Action.DISCARD),
    ("progress.progress_report_comment", "POST"): RouteRule(_PR, Action.COMMENT),
    ("progress.Indicators", "POST"): RouteRule(_PR, Action.CREATE),
    ("progress.IndicatorItem", "PATCH"): RouteRule(_PR, Action.CREATE),
    ("progress.IndicatorItem", "DELETE"): RouteRule(_PR, Action.CREATE),
    ("progress.deliverable_weights", "PUT"): RouteRule(_PR, Action.CREATE),
    **{(f"progress.progress_report_{t.action}", "POST"): RouteRule(_PR, Action(t.action))
       for t in PROGRESS_REPORT_WORKFLOW.transitions},
})
