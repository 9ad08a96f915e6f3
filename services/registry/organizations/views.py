"""``/api/v1/organizations``: parse with a schema, call the service, dump with a schema."""

from __future__ import annotations

import uuid

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE

from registry import db
from registry.auth.views import current_principal, forget_current_token
from registry.organizations import service
from registry.organizations.schemas import (
    OrganizationCreateSchema,
    OrganizationPageSchema,
    OrganizationQuerySchema,
    OrganizationSchema,
)

blp = Blueprint("organizations", __name__, url_prefix="/api/v1/organizations",
                description="Organisations: lead entities and partners, by stakeholder group.")


@blp.route("")
class Organizations(MethodView):
    @blp.arguments(OrganizationQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, OrganizationPageSchema)
    def get(self, args):
        """List organisations (filters: q, stakeholder_group, country; paginated)."""
        items, total = service.list_organizations(db_session=db.session(),
                                                  principal=current_principal(), **args)
        return {"items": items, "page": args["page"], "per_page": args["per_page"],
                "total": total}

    @blp.arguments(OrganizationCreateSchema)
    @blp.response(201, OrganizationSchema)
    @blp.doc(security=[{"bearerAuth": []}])
    def post(self, data):
        """Register an organisation (partner or secretariat)."""
        session = db.session()
        principal = current_principal()
        org = service.create_organization(db_session=session, principal=principal, data=data)
        session.commit()
        if not principal.memberships:  # its token may just have adopted the organisation
            forget_current_token()
        return org


@blp.route("/<uuid:organization_id>")
class OrganizationItem(MethodView):
    @blp.response(200, OrganizationSchema)
    def get(self, organization_id: uuid.UUID):
        """One organisation."""
        return service.get_organization(db_session=db.session(), principal=current_principal(),
                                        organization_id=organization_id)
