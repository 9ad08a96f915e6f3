"""``/api/v1/review``: the secretariat's review queue."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE

from registry import db
from registry.auth.views import current_principal
from registry.workflow.queue import review_queue
from registry.workflow.schemas import QueuePageSchema, QueueQuerySchema

blp = Blueprint("review", __name__, url_prefix="/api/v1/review",
                description="The secretariat's review queue (submissions, revisions, "
                            "declared completions) and its working-day target.")


@blp.route("/queue")
class Queue(MethodView):
    @blp.arguments(QueueQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, QueuePageSchema)
    @blp.doc(security=[{"bearerAuth": []}])
    def get(self, args):
        """Pending decisions, oldest first, with their age in working days and whether they
        are past the target (reviewers)."""
        return review_queue(db_session=db.session(), principal=current_principal(), **args)
