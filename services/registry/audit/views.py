"""``/api/v1/audit``: the audit log, for secretariat admins."""

from __future__ import annotations

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint

from registry import db
from registry.audit import service
from registry.audit.schemas import AuditPageSchema, AuditQuerySchema
from shared.identity import ANONYMOUS

blp = Blueprint("audit", __name__, url_prefix="/api/v1/audit",
                description="Audit log of authentication and authorization events "
                            "(secretariat admins only).")


@blp.route("")
class AuditLog(MethodView):
    @blp.arguments(AuditQuerySchema, location="query")
    @blp.response(200, AuditPageSchema)
    @blp.doc(security=[{"sessionCookie": []}, {"bearerAuth": []}])
    def get(self, args):
        """Audit rows, newest first, filtered by event, outcome, actor, subject, address and
        time; 401 anonymous, 403 for anyone but a secretariat admin."""
        page, per_page = args.pop("page"), args.pop("per_page")
        items, total = service.list_entries(
            db_session=db.session(), principal=g.get("principal", ANONYMOUS),
            limit=per_page, offset=(page - 1) * per_page, **args)
        return {"items": items, "page": page, "per_page": per_page, "total": total}
