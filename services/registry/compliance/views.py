"""``/api/v1``: an initiative's reporting light, the compliance dashboard, "send reminder now"."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import RAISE

from registry import db
from registry.auth.views import current_principal
from registry.compliance import service
from registry.compliance.schemas import (
    ComplianceQuerySchema,
    ComplianceSchema,
    DashboardQuerySchema,
    DashboardSchema,
    ReminderSchema,
)

blp = Blueprint("compliance", __name__, url_prefix="/api/v1",
                description="The reporting traffic light (UN DESA's rule: yellow 12 months "
                            "after publication or the last approved progress report, red "
                            "after 24), the secretariat's compliance dashboard and reminders.")

_SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}]


@blp.route("/initiatives/<initiative_id>/compliance", methods=["GET"],
           endpoint="initiative_compliance")
@blp.arguments(ComplianceQuerySchema, location="query", unknown=RAISE)
@blp.response(200, ComplianceSchema)
def initiative_compliance(args, initiative_id: str):
    """The reporting light of an initiative (UUID or public id) as of ``as_of`` (default
    now), with its cycle's dates and the reminders decided by then; public for public
    records."""
    return service.compliance_of(db.session(), current_principal(), initiative_id,
                                 as_of=args["as_of"])


@blp.route("/initiatives/<initiative_id>/reminders", methods=["POST"],
           endpoint="initiative_remind")
@blp.response(201, ReminderSchema)
@blp.doc(security=_SECURITY)
def initiative_remind(initiative_id: str):
    """Send a progress-report reminder now (kind ``manual``) to the owner organisation's
    members (reviewers, secretariat admins; published or completion-declared initiatives).
    Emits ``initiative.progress-reminder-due.v1``."""
    session = db.session()
    reminder = service.send_reminder_now(session, current_principal(), initiative_id)
    session.commit()
    return reminder


@blp.route("/compliance", methods=["GET"], endpoint="dashboard")
@blp.arguments(DashboardQuerySchema, location="query", unknown=RAISE)
@blp.response(200, DashboardSchema)
@blp.doc(security=_SECURITY)
def dashboard(args):
    """The compliance dashboard (reviewers, secretariat admins): counts by light and the
    yellow and red initiatives, filterable by stakeholder group, region and SDG."""
    return service.dashboard(db.session(), current_principal(), **args)
