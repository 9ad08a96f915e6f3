"""``/api/v1/organizations``: parse with a schema, call the service, dump with a schema."""

from __future__ import annotations

import uuid

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE

from registry import db
from registry.auth.views import current_principal, forget_current_token
from registry.authz.limits import organization_register_limit
from registry.initiatives import service as initiatives
from registry.organizations import service
from registry.organizations.schemas import (
    InvitationAnswerSchema,
    InvitationInputSchema,
    InvitationSchema,
    JoinRequestInputSchema,
    JoinRequestSchema,
    MemberSchema,
    MergeSchema,
    MyOrganizationSchema,
    OrganizationActivitySchema,
    OrganizationCreateSchema,
    OrganizationPageSchema,
    OrganizationQuerySchema,
    OrganizationSchema,
    ProposedLinkSchema,
    RoleSchema,
)
from shared.identity import OrgRole
from shared.problems import Unauthenticated

blp = Blueprint("organizations", __name__, url_prefix="/api/v1/organizations",
                description="Organisations: lead entities and partners, by stakeholder group; "
                            "their members, invitations, join requests, verification and "
                            "merges.")

_SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}]


class _WithRole:
    """An organisation plus the caller's role in it (``MyOrganizationSchema``)."""

    def __init__(self, organization, role: str):
        self._organization = organization
        self.role = role

    def __getattr__(self, name):
        return getattr(self._organization, name)


def _commit():
    db.session().commit()


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

    @organization_register_limit()
    @blp.arguments(OrganizationCreateSchema)
    @blp.response(201, OrganizationSchema)
    @blp.doc(security=_SECURITY)
    def post(self, data):
        """Register an organisation (a signed-in person becomes its admin; it starts
        unverified)."""
        session = db.session()
        principal = current_principal()
        org = service.create_organization(db_session=session, principal=principal, data=data)
        session.commit()
        if not principal.memberships:  # its token may just have adopted the organisation
            forget_current_token()
        return org


@blp.route("/mine")
class MyOrganizations(MethodView):
    @blp.response(200, MyOrganizationSchema(many=True))
    @blp.doc(security=_SECURITY)
    def get(self):
        """The caller's organisations and its role in each (401 for anonymous callers)."""
        principal = current_principal()
        if not principal.is_authenticated:
            raise Unauthenticated("Sign in to see your organisations.")
        session = db.session()
        orgs = []
        for oid, role in principal.memberships.items():
            org = session.get(service.Organization, oid)
            if org is not None:
                orgs.append(_WithRole(org, role.value))
        return sorted(orgs, key=lambda o: o.name)


@blp.route("/proposed-links")
class ProposedLinks(MethodView):
    @blp.response(200, ProposedLinkSchema(many=True))
    @blp.doc(security=_SECURITY)
    def get(self):
        """Lead/partner links naming organisations the caller administers, awaiting its
        answer (confirm or decline at /api/v1/initiatives/{id}/links/{organization_id});
        401 for anonymous callers."""
        principal = current_principal()
        if not principal.is_authenticated:
            raise Unauthenticated("Sign in to see the links proposed to your organisations.")
        return initiatives.proposed_links(db_session=db.session(), principal=principal)


@blp.route("/<uuid:organization_id>")
class OrganizationItem(MethodView):
    @blp.response(200, OrganizationSchema)
    def get(self, organization_id: uuid.UUID):
        """One organisation (a merged duplicate answers with ``merged_into_id``)."""
        return service.get_organization(db_session=db.session(), principal=current_principal(),
                                        organization_id=organization_id)


@blp.route("/<uuid:organization_id>/members")
class Members(MethodView):
    @blp.response(200, MemberSchema(many=True))
    @blp.doc(security=_SECURITY)
    def get(self, organization_id: uuid.UUID):
        """The members (its members and the secretariat)."""
        rows = service.list_members(db_session=db.session(), principal=current_principal(),
                                    organization_id=organization_id)
        return [{"user_id": m.user_id, "email": u.email, "display_name": u.display_name,
                 "role": m.role, "since": m.created_at} for m, u in rows]


@blp.route("/<uuid:organization_id>/members/<uuid:user_id>")
class Member(MethodView):
    @blp.arguments(RoleSchema)
    @blp.response(200, MemberSchema)
    @blp.doc(security=_SECURITY)
    def patch(self, data, organization_id: uuid.UUID, user_id: uuid.UUID):
        """Change a member's role (its admins; the last admin stays admin)."""
        membership = service.change_member_role(
            db_session=db.session(), principal=current_principal(),
            organization_id=organization_id, user_id=user_id, role=OrgRole(data["role"]))
        _commit()
        return {"user_id": membership.user_id, "role": membership.role,
                "since": membership.created_at}

    @blp.response(204)
    @blp.doc(security=_SECURITY)
    def delete(self, organization_id: uuid.UUID, user_id: uuid.UUID):
        """Remove a member (its admins; a member may leave). The last admin stays."""
        service.remove_member(db_session=db.session(), principal=current_principal(),
                              organization_id=organization_id, user_id=user_id)
        _commit()
        return Response(status=204)


@blp.route("/<uuid:organization_id>/invitations")
class Invitations(MethodView):
    @blp.response(200, InvitationSchema(many=True))
    @blp.doc(security=_SECURITY)
    def get(self, organization_id: uuid.UUID):
        """Pending invitations (its admins)."""
        return service.list_invitations(db_session=db.session(), principal=current_principal(),
                                        organization_id=organization_id)

    @blp.arguments(InvitationInputSchema)
    @blp.response(201, InvitationSchema)
    @blp.doc(security=_SECURITY)
    def post(self, data, organization_id: uuid.UUID):
        """Invite someone by e-mail (its admins); the notifier mails the single-use link."""
        invitation, _token = service.invite_member(
            db_session=db.session(), principal=current_principal(),
            organization_id=organization_id, email=data["email"], role=OrgRole(data["role"]))
        _commit()
        return invitation


def _answer_invitation(accept: bool):
    @blp.arguments(InvitationAnswerSchema)
    @blp.response(200, InvitationSchema)
    @blp.doc(security=_SECURITY)
    def view(data):
        invitation = service.answer_invitation(db_session=db.session(),
                                               principal=current_principal(),
                                               token=data["token"], accept=accept)
        _commit()
        return invitation

    view.__name__ = f"invitation_{'accept' if accept else 'decline'}"
    view.__doc__ = ("Accept an invitation (the signed-in person it was sent to)." if accept
                    else "Decline an invitation (the signed-in person it was sent to).")
    return view


blp.route("/invitations/accept", methods=["POST"], endpoint="invitation_accept")(
    _answer_invitation(True))
blp.route("/invitations/decline", methods=["POST"], endpoint="invitation_decline")(
    _answer_invitation(False))


def _join_dump(request, user=None) -> dict:
    return {"id": request.id, "organization_id": request.organization_id,
            "user_id": request.user_id, "email": user.email if user else None,
            "message": request.message, "status": request.status,
            "created_at": request.created_at}


@blp.route("/<uuid:organization_id>/join-requests")
class JoinRequests(MethodView):
    @blp.response(200, JoinRequestSchema(many=True))
    @blp.doc(security=_SECURITY)
    def get(self, organization_id: uuid.UUID):
        """Pending join requests (its admins)."""
        return [_join_dump(r, u) for r, u in service.list_join_requests(
            db_session=db.session(), principal=current_principal(),
            organization_id=organization_id)]

    @blp.arguments(JoinRequestInputSchema)
    @blp.response(201, JoinRequestSchema)
    @blp.doc(security=_SECURITY)
    def post(self, data, organization_id: uuid.UUID):
        """Ask to join (a signed-in person); its admins are told by e-mail."""
        request = service.request_to_join(db_session=db.session(),
                                          principal=current_principal(),
                                          organization_id=organization_id,
                                          message=data.get("message"))
        _commit()
        return _join_dump(request)


def _decide(accept: bool):
    @blp.response(200, JoinRequestSchema)
    @blp.doc(security=_SECURITY)
    def view(join_request_id: uuid.UUID):
        request = service.decide_join_request(db_session=db.session(),
                                              principal=current_principal(),
                                              join_request_id=join_request_id, accept=accept)
        _commit()
        return _join_dump(request)

    view.__name__ = f"join_request_{'accept' if accept else 'decline'}"
    view.__doc__ = ("Accept a join request (the organisation's admins)." if accept else
                    "Decline a join request (its admins), or withdraw it (the requester).")
    return view


blp.route("/join-requests/<uuid:join_request_id>/accept", methods=["POST"],
          endpoint="join_request_accept")(_decide(True))
blp.route("/join-requests/<uuid:join_request_id>/decline", methods=["POST"],
          endpoint="join_request_decline")(_decide(False))


@blp.route("/<uuid:organization_id>/verify", methods=["POST"])
@blp.response(200, OrganizationSchema)
@blp.doc(security=_SECURITY)
def verify(organization_id: uuid.UUID):
    """Verify an organisation (the secretariat); its initiatives may then be published."""
    org = service.verify_organization(db_session=db.session(), principal=current_principal(),
                                      organization_id=organization_id)
    _commit()
    return org


@blp.route("/<uuid:organization_id>/merge", methods=["POST"])
@blp.arguments(MergeSchema)
@blp.response(200, OrganizationSchema)
@blp.doc(security=_SECURITY)
def merge(data, organization_id: uuid.UUID):
    """Merge this duplicate into ``into_id`` (a secretariat admin): every link moves there;
    returns the surviving organisation."""
    org = service.merge_organizations(db_session=db.session(), principal=current_principal(),
                                      duplicate_id=organization_id, into_id=data["into_id"])
    _commit()
    return org


@blp.route("/<uuid:organization_id>/activities")
@blp.response(200, OrganizationActivitySchema(many=True))
@blp.doc(security=_SECURITY)
def activities(organization_id: uuid.UUID):
    """The organisation's history (its members and the secretariat)."""
    return service.activities(db_session=db.session(), principal=current_principal(),
                              organization_id=organization_id)
