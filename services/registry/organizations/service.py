"""Organisation service functions: registration, members, invitations, join requests,
verification and merges (permissions from the registry's one table, checked here, not in
views; every change leaves an ``activities`` row and, where others must hear of
it, an outbox event in the same transaction)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from registry.accounts.models import User
from registry.authz.permissions import Action, Aggregate, authorize, visible_filter
from registry.db import bulk_insert
from registry.organizations.models import (
    ACCEPTED,
    DECLINED,
    PENDING,
    UNVERIFIED,
    VERIFIED,
    WITHDRAWN,
    Organization,
    OrganizationInvitation,
    OrganizationJoinRequest,
    OrganizationMembership,
)

if TYPE_CHECKING:  # initiatives read organisations as views too
    from registry.initiatives.service import OrganizationView
from registry.outbox.models import OutboxEvent
from registry.reference import normalize_name
from shared.config import number
from shared.db import new_uuid, utcnow
from shared.events.types import (
    ACCOUNT_LOCALES,
    ORGANIZATION_CREATED,
    ORGANIZATION_INVITATION_CREATED,
    ORGANIZATION_JOIN_REQUESTED,
    ORGANIZATION_MERGED,
)
from shared.identity import OrgRole, Principal, PrincipalKind
from shared.outbox import record_event
from shared.problems import Conflict, NotAllowed, NotFound, Unauthenticated, ValidationError

SOURCE = "/registry"


def organization_ref(org: Organization | OrganizationView) -> dict[str, Any]:
    """The ``OrganizationRef`` shape carried by events."""
    return {"id": str(org.id), "name": org.name, "acronym": org.acronym,
            "stakeholder_group": org.stakeholder_group, "country": org.country}


def create_organization(*, db_session: Session, principal: Principal,
                        data: dict[str, Any]) -> Organization:
    """Register an organisation and emit ``organization.created.v1``.

    ``data``: name, acronym, stakeholder_group, country (validated by the schema).
    Raises :class:`Conflict` (409) when an organisation with the same normalised name exists
    (its id is in the problem's ``existing_id``: the organisation it was merged into, for a
    merged duplicate), 401/403 unless the permission table allows
    ``register`` (a signed-in person, the secretariat, the system).
    """
    authorize(principal, Action.REGISTER, None, Aggregate.ORGANIZATION, what="organisation")
    normalized = normalize_name(data["name"])
    existing = db_session.scalar(select(Organization).where(
        Organization.normalized_name == normalized))
    if existing is not None:
        raise Conflict(f"An organisation named {existing.name!r} already exists.",
                       extra={"existing_id": str(existing.merged_into_id or existing.id)})
    org = Organization(id=new_uuid(), name=data["name"].strip(), normalized_name=normalized,
                       acronym=data.get("acronym"), stakeholder_group=data["stakeholder_group"],
                       country=data.get("country"), website=data.get("website"),
                       verification_status=UNVERIFIED)
    db_session.add(org)  # inserted at the next flush, with the rest of the unit of work
    make_creator_admin(db_session=db_session, principal=principal, organization=org)
    _activity(db_session, org.id, "register", principal, None)
    record_event(db_session, OutboxEvent, ORGANIZATION_CREATED, source=SOURCE,
                 subject=str(org.id), data={"organization": organization_ref(org)})
    return org


def make_creator_admin(*, db_session: Session, principal: Principal,
                       organization: Organization) -> None:
    """The person who registers an organisation becomes its admin (when the principal is a
    person with an account); an interim ``partner`` token (``create-token --role partner``,
    whose bare subject names no account) adopts it instead
    (``registry.auth.service.adopt_organization``)."""
    from registry.auth.service import adopt_organization

    user_id = _user_id(principal)
    if user_id is not None and db_session.get(User, user_id) is not None:
        db_session.flush()  # the organisation's row before the membership's foreign key
        _add_member(db_session, organization.id, user_id, OrgRole.ADMIN)
    elif principal.token_id is not None:
        db_session.flush()
        adopt_organization(db_session=db_session, principal=principal,
                           organization_id=organization.id)


def add_organizations(*, db_session: Session, principal: Principal,
                      items: list[dict[str, Any]]) -> list[Organization]:
    """Register organisations in bulk (imports) with their ``organization.created.v1``
    events. ``items``: ``name``, ``normalized_name`` (the caller knows it is free: it holds
    every known name), ``stakeholder_group``, ``country``. The rows are written at once
    (``registry.db.bulk_insert``); the returned objects are not in the session (read-only
    references for event snapshots). Permission: ``create`` (the system or a secretariat
    admin)."""
    authorize(principal, Action.CREATE, None, Aggregate.ORGANIZATION, what="organisation")
    now = utcnow()
    orgs = [Organization(id=new_uuid(), name=i["name"].strip(),
                         normalized_name=i["normalized_name"], acronym=i.get("acronym"),
                         stakeholder_group=i["stakeholder_group"], country=i.get("country"),
                         created_at=now, updated_at=now) for i in items]
    bulk_insert(db_session, cast(Table, Organization.__table__), [
        {"id": o.id, "name": o.name, "normalized_name": o.normalized_name,
         "acronym": o.acronym, "stakeholder_group": o.stakeholder_group,
         "country": o.country, "website": None, "verification_status": UNVERIFIED,
         "verified_at": None, "verified_by": None, "merged_into_id": None,
         "created_at": now, "updated_at": now} for o in orgs])
    for org in orgs:
        record_event(db_session, OutboxEvent, ORGANIZATION_CREATED, source=SOURCE,
                     subject=str(org.id), data={"organization": organization_ref(org)})
    return orgs


def find_or_create_organization(*, db_session: Session, principal: Principal, name: str,
                                stakeholder_group: str, country: str | None = None,
                                cache: dict[str, Organization] | None = None) -> Organization:
    """The organisation with this normalised name, created when missing (imports use this)."""
    normalized = normalize_name(name)
    if cache is not None and normalized in cache:
        return cache[normalized]
    org = db_session.scalar(select(Organization).where(
        Organization.normalized_name == normalized))
    if org is None:
        org = create_organization(db_session=db_session, principal=principal, data={
            "name": name[:300], "stakeholder_group": stakeholder_group, "country": country})
    else:
        adopt_stakeholder_group(org, stakeholder_group)
    if cache is not None:
        cache[normalized] = org
    return org


def adopt_stakeholder_group(org: Organization, stakeholder_group: str) -> None:
    """Give ``org`` a known group when it had none yet (``other``: first seen as a free-text
    partner of an imported record)."""
    if org.stakeholder_group == "other" and stakeholder_group != "other":
        org.stakeholder_group = stakeholder_group


def get_organization(*, db_session: Session, principal: Principal,
                     organization_id: uuid.UUID) -> Organization:
    """One organisation; raises :class:`NotFound`."""
    org = db_session.get(Organization, organization_id)
    if org is None:
        raise NotFound(f"No organisation with id {organization_id}.")
    authorize(principal, Action.VIEW, org, what="organisation")
    return org


def list_organizations(*, db_session: Session, principal: Principal, q: str | None = None,
                       stakeholder_group: str | None = None, country: str | None = None,
                       page: int = 1, per_page: int = 20) -> tuple[list[Organization], int]:
    """A page of organisations (by name) and the total count (those the table lets
    ``principal`` view: every one)."""
    query = select(Organization).where(visible_filter(principal, Aggregate.ORGANIZATION))
    if q:
        # autoescape: "_" and "%" in the term are literal characters, not LIKE wildcards
        query = query.where(Organization.normalized_name.contains(normalize_name(q),
                                                                  autoescape=True))
    if stakeholder_group:
        query = query.where(Organization.stakeholder_group == stakeholder_group)
    if country:
        query = query.where(Organization.country == country)
    total = db_session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = list(db_session.scalars(query.order_by(Organization.name)
                                    .offset((page - 1) * per_page).limit(per_page)))
    return items, total


# -- members, invitations, join requests -----------------------------------------------------
def _user_id(principal: Principal) -> uuid.UUID | None:
    """The person's user id (``subject`` of a ``user`` principal), or None."""
    if principal.kind is not PrincipalKind.USER or not principal.subject:
        return None
    try:
        return uuid.UUID(principal.subject)
    except ValueError:
        return None


def _require_person(principal: Principal, what: str) -> uuid.UUID:
    user_id = _user_id(principal)
    if user_id is None:
        if not principal.is_authenticated:
            raise Unauthenticated(f"Sign in to {what}.")
        raise NotAllowed(f"Only a signed-in person may {what}.")
    return user_id


def _activity(db_session: Session, organization_id: uuid.UUID, action: str,
              principal: Principal, detail: dict[str, Any] | None = None) -> Any:
    """An ``activities`` row (record type ``organization``) for ``action``: a recorded event,
    or the ``verify`` transition (unverified -> verified)."""
    from registry.workflow import models as wf
    from registry.workflow.actors import actor_columns

    verify = action == "verify"
    activity = wf.Activity(
        id=new_uuid(), record_type=wf.ORGANIZATION, record_id=organization_id,
        revision_number=None, kind=wf.TRANSITION if verify else wf.EVENT, action=action,
        from_status=UNVERIFIED if verify else None, to_status=VERIFIED if verify else None,
        body=None, visibility=wf.PARTICIPANTS, reply_to_id=None,
        **actor_columns(db_session, principal), changes=detail or None,
        created_at=utcnow())
    db_session.add(activity)
    return activity


def _load(db_session: Session, organization_id: uuid.UUID) -> Organization:
    org = db_session.get(Organization, organization_id)
    if org is None:
        raise NotFound(f"No organisation with id {organization_id}.")
    return org


def memberships_of(*, db_session: Session, user_id: uuid.UUID) -> dict[uuid.UUID, OrgRole]:
    """The organisations ``user_id`` belongs to and its :class:`OrgRole` in each (one
    statement; accounts and oauth build Principals with it)."""
    rows = db_session.execute(select(OrganizationMembership.organization_id,
                                     OrganizationMembership.role).where(
        OrganizationMembership.user_id == user_id))
    return {oid: OrgRole(role) for oid, role in rows if role in OrgRole._value2member_map_}


def organizations_of(*, db_session: Session, user_id: uuid.UUID
                     ) -> list[tuple[Organization, OrgRole]]:
    """The person's organisations with its role in each, by name."""
    rows = db_session.execute(select(Organization, OrganizationMembership.role).join(
        OrganizationMembership, OrganizationMembership.organization_id == Organization.id)
        .where(OrganizationMembership.user_id == user_id).order_by(Organization.name))
    return [(org, OrgRole(role)) for org, role in rows]


def _add_member(db_session: Session, organization_id: uuid.UUID, user_id: uuid.UUID,
                role: OrgRole) -> OrganizationMembership:
    existing = db_session.scalar(select(OrganizationMembership).where(
        OrganizationMembership.organization_id == organization_id,
        OrganizationMembership.user_id == user_id))
    if existing is not None:
        if role is OrgRole.ADMIN:  # an invitation as admin raises a member
            existing.role = role.value
        return existing
    membership = OrganizationMembership(id=new_uuid(), organization_id=organization_id,
                                        user_id=user_id, role=role.value, created_at=utcnow())
    db_session.add(membership)
    return membership


def list_members(*, db_session: Session, principal: Principal,
                 organization_id: uuid.UUID) -> list[tuple[OrganizationMembership, User]]:
    """The members of an organisation with their accounts, admins first (members and the
    secretariat may list them: ``view_members``)."""
    org = _load(db_session, organization_id)
    authorize(principal, Action.VIEW_MEMBERS, org, what="organisation")
    rows = db_session.execute(select(OrganizationMembership, User).join(
        User, User.id == OrganizationMembership.user_id).where(
        OrganizationMembership.organization_id == organization_id).order_by(
        OrganizationMembership.role, User.email))
    return [(m, u) for m, u in rows]


def _admin_count(db_session: Session, organization_id: uuid.UUID) -> int:
    return db_session.scalar(select(func.count()).select_from(OrganizationMembership).where(
        OrganizationMembership.organization_id == organization_id,
        OrganizationMembership.role == OrgRole.ADMIN.value)) or 0


def _membership(db_session: Session, organization_id: uuid.UUID,
                user_id: uuid.UUID) -> OrganizationMembership:
    membership = db_session.scalar(select(OrganizationMembership).where(
        OrganizationMembership.organization_id == organization_id,
        OrganizationMembership.user_id == user_id))
    if membership is None:
        raise NotFound(f"No member {user_id} in this organisation.")
    return membership


def add_member(*, db_session: Session, principal: Principal, organization_id: uuid.UUID,
               email: str, role: OrgRole = OrgRole.MEMBER) -> OrganizationMembership:
    """Make the account with ``email`` a member (or admin) at once, without an invitation:
    the operator's ``registry organizations add-member`` (e.g. the first admin of an
    imported organisation). 404 for an unknown organisation, 422 for an unknown account."""
    from registry.accounts.service import find_user_by_email

    org = _load(db_session, organization_id)
    authorize(principal, Action.MANAGE_MEMBERS, org, what="organisation")
    user = find_user_by_email(db_session=db_session, email=email)
    if user is None:
        raise ValidationError("Unknown account.", errors=[{
            "field": "email", "message": f"No account with the address {email}."}])
    membership = _add_member(db_session, organization_id, user.id, role)
    membership.role = role.value
    _activity(db_session, organization_id, "member_added", principal,
              {"user_id": str(user.id), "role": role.value, "via": "operator"})
    return membership


def remove_member(*, db_session: Session, principal: Principal, organization_id: uuid.UUID,
                  user_id: uuid.UUID) -> None:
    """Remove a member (its admins; a member may also leave: remove itself). Refuses (409)
    to remove the last admin."""
    org = _load(db_session, organization_id)
    if _user_id(principal) != user_id:
        authorize(principal, Action.MANAGE_MEMBERS, org, what="organisation")
    membership = _membership(db_session, organization_id, user_id)
    if membership.role == OrgRole.ADMIN.value and _admin_count(db_session, organization_id) <= 1:
        raise Conflict("The organisation's last admin cannot be removed: make another member "
                       "admin first.")
    db_session.delete(membership)
    _activity(db_session, organization_id, "member_removed", principal,
              {"user_id": str(user_id), "role": membership.role})


def change_member_role(*, db_session: Session, principal: Principal,
                       organization_id: uuid.UUID, user_id: uuid.UUID,
                       role: OrgRole) -> OrganizationMembership:
    """Make a member ``admin`` or ``member`` (its admins). Refuses (409) to demote the last
    admin."""
    org = _load(db_session, organization_id)
    authorize(principal, Action.MANAGE_MEMBERS, org, what="organisation")
    membership = _membership(db_session, organization_id, user_id)
    before = membership.role
    if before == OrgRole.ADMIN.value and role is not OrgRole.ADMIN \
            and _admin_count(db_session, organization_id) <= 1:
        raise Conflict("The organisation's last admin cannot be demoted: make another member "
                       "admin first.")
    membership.role = role.value
    if before != role.value:
        _activity(db_session, organization_id, "role_changed", principal,
                  {"user_id": str(user_id), "before": before, "after": role.value})
    return membership


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def invitation_link(token: str) -> str:
    """The absolute accept link of an invitation token."""
    from registry.accounts.service import base_url

    return f"{base_url()}/organizations/invitations/{token}"


def invite_member(*, db_session: Session, principal: Principal, organization_id: uuid.UUID,
                  email: str, role: OrgRole = OrgRole.MEMBER
                  ) -> tuple[OrganizationInvitation, str]:
    """Invite ``email`` to join as ``role`` (its admins). Returns (the invitation, the plain
    token: only the e-mail carries it). A random 32-byte token (``secrets``), stored as its
    SHA-256 digest, single use, valid ``INVITATION_DAYS``; a new invitation to the same
    address replaces a pending one. Emits ``organization.invitation-created.v1`` (the
    notifier mails it in the recipient's language: its account's, else the inviter's)."""
    from registry.accounts.service import find_user_by_email, normalize_email

    org = _load(db_session, organization_id)
    authorize(principal, Action.MANAGE_MEMBERS, org, what="organisation")
    address = normalize_email(email)
    if "@" not in address or len(address) > 320:
        raise ValidationError("Invalid e-mail address.", errors=[{
            "field": "email", "message": "Give the e-mail address to invite."}])
    invitee = find_user_by_email(db_session=db_session, email=address)
    if invitee is not None and organization_id in memberships_of(db_session=db_session,
                                                                  user_id=invitee.id):
        raise Conflict(f"{address} is already a member.")
    now = utcnow()
    for old in db_session.scalars(select(OrganizationInvitation).where(
            OrganizationInvitation.organization_id == organization_id,
            OrganizationInvitation.email == address,
            OrganizationInvitation.status == PENDING)):
        old.status, old.answered_at = DECLINED, now
    plain = secrets.token_urlsafe(32)
    invitation = OrganizationInvitation(
        id=new_uuid(), organization_id=organization_id, email=address, role=role.value,
        token_hash=_hash(plain), status=PENDING, invited_by=_user_id(principal),
        created_at=now, expires_at=now + timedelta(days=number("INVITATION_DAYS") or 14))
    db_session.add(invitation)
    locale = (invitee.locale if invitee is not None else None) or principal.locale or "en"
    record_event(db_session, OutboxEvent, ORGANIZATION_INVITATION_CREATED, source=SOURCE,
                 subject=str(organization_id), data={
                     "recipient": address, "locale": locale if locale in ACCOUNT_LOCALES
                     else "en", "organization": organization_ref(org), "role": role.value,
                     "inviter": _person(db_session, principal),
                     "link": invitation_link(plain), "expires_at": invitation.expires_at,
                     "invitation_id": str(invitation.id)})
    _activity(db_session, organization_id, "invited", principal,
              {"email": address, "role": role.value})
    return invitation, plain


def _person(db_session: Session, principal: Principal) -> dict[str, Any]:
    user_id = _user_id(principal)
    user = db_session.get(User, user_id) if user_id else None
    return {"email": principal.email, "display_name": user.display_name if user else "",
            "user_id": str(user_id) if user_id else None}


def find_invitation(*, db_session: Session, token: str) -> OrganizationInvitation:
    """The pending, unexpired invitation of ``token``; :class:`NotFound` otherwise (an
    unknown, used or expired link says nothing more)."""
    invitation = db_session.scalar(select(OrganizationInvitation).where(
        OrganizationInvitation.token_hash == _hash(token or "")))
    if invitation is None or invitation.status != PENDING or invitation.expires_at <= utcnow():
        raise NotFound("This invitation is unknown, used or expired.")
    return invitation


def answer_invitation(*, db_session: Session, principal: Principal, token: str,
                      accept: bool) -> OrganizationInvitation:
    """Accept (become a member with the invited role) or decline an invitation: the signed-in
    person whose verified e-mail it was sent to. Single use."""
    invitation = find_invitation(db_session=db_session, token=token)
    authorize(principal, Action.ACCEPT if accept else Action.DECLINE, invitation,
              what="invitation")
    user_id = _require_person(principal, "answer an invitation")
    invitation.status = ACCEPTED if accept else DECLINED
    invitation.answered_at = utcnow()
    if accept:
        _add_member(db_session, invitation.organization_id, user_id, OrgRole(invitation.role))
        _activity(db_session, invitation.organization_id, "member_added", principal,
                  {"user_id": str(user_id), "role": invitation.role, "via": "invitation"})
    return invitation


def list_invitations(*, db_session: Session, principal: Principal,
                     organization_id: uuid.UUID) -> list[OrganizationInvitation]:
    """The pending invitations of an organisation (its admins), newest first."""
    org = _load(db_session, organization_id)
    authorize(principal, Action.MANAGE_MEMBERS, org, what="organisation")
    return list(db_session.scalars(select(OrganizationInvitation).where(
        OrganizationInvitation.organization_id == organization_id,
        OrganizationInvitation.status == PENDING).order_by(
        OrganizationInvitation.created_at.desc())))


def request_to_join(*, db_session: Session, principal: Principal, organization_id: uuid.UUID,
                    message: str | None = None) -> OrganizationJoinRequest:
    """A signed-in person asks to join; emits ``organization.join-requested.v1`` to the
    organisation's admins. 409 when already a member or a request is pending."""
    org = _load(db_session, organization_id)
    authorize(principal, Action.REQUEST_JOIN, org, what="organisation")
    user_id = _require_person(principal, "ask to join an organisation")
    pending = db_session.scalar(select(OrganizationJoinRequest).where(
        OrganizationJoinRequest.organization_id == organization_id,
        OrganizationJoinRequest.user_id == user_id,
        OrganizationJoinRequest.status == PENDING))
    if pending is not None:
        raise Conflict("Your request to join is already waiting for an answer.",
                       extra={"join_request_id": str(pending.id)})
    text = (message or "").strip()[:2000] or None
    request = OrganizationJoinRequest(id=new_uuid(), organization_id=organization_id,
                                      user_id=user_id, message=text, status=PENDING,
                                      created_at=utcnow())
    db_session.add(request)
    from registry.accounts.service import base_url

    admins = db_session.execute(select(User.email, User.locale).join(
        OrganizationMembership, OrganizationMembership.user_id == User.id).where(
        OrganizationMembership.organization_id == organization_id,
        OrganizationMembership.role == OrgRole.ADMIN.value,
        User.email_verified_at.is_not(None)))
    record_event(db_session, OutboxEvent, ORGANIZATION_JOIN_REQUESTED, source=SOURCE,
                 subject=str(organization_id), data={
                     "organization": organization_ref(org),
                     "requester": _person(db_session, principal),
                     "recipients": [{"email": e, "locale": loc if loc in ACCOUNT_LOCALES
                                     else "en"} for e, loc in admins],
                     "message": text, "link": f"{base_url()}/my/organizations",
                     "join_request_id": str(request.id)})
    _activity(db_session, organization_id, "join_requested", principal,
              {"user_id": str(user_id)})
    return request


def list_join_requests(*, db_session: Session, principal: Principal,
                       organization_id: uuid.UUID
                       ) -> list[tuple[OrganizationJoinRequest, User]]:
    """Pending join requests of an organisation with the requesters (its admins)."""
    org = _load(db_session, organization_id)
    authorize(principal, Action.MANAGE_MEMBERS, org, what="organisation")
    return [(r, u) for r, u in db_session.execute(
        select(OrganizationJoinRequest, User).join(
            User, User.id == OrganizationJoinRequest.user_id).where(
            OrganizationJoinRequest.organization_id == organization_id,
            OrganizationJoinRequest.status == PENDING).order_by(
            OrganizationJoinRequest.created_at))]


def decide_join_request(*, db_session: Session, principal: Principal,
                        join_request_id: uuid.UUID, accept: bool) -> OrganizationJoinRequest:
    """Accept (the requester becomes a member) or decline a pending join request (the
    organisation's admins; the requester may withdraw it by declining)."""
    request = db_session.get(OrganizationJoinRequest, join_request_id)
    if request is None:
        raise NotFound(f"No join request {join_request_id}.")
    authorize(principal, Action.ACCEPT if accept else Action.DECLINE, request,
              what="join request")
    request.decided_at = utcnow()
    request.decided_by = _user_id(principal)
    if accept:
        request.status = ACCEPTED
        _add_member(db_session, request.organization_id, request.user_id, OrgRole.MEMBER)
    else:
        request.status = (WITHDRAWN if _user_id(principal) == request.user_id else DECLINED)
    _activity(db_session, request.organization_id,
              "join_accepted" if accept else "join_declined", principal,
              {"user_id": str(request.user_id)})
    return request


# -- verification and merges (the secretariat) -----------------------------------------------
def verify_organization(*, db_session: Session, principal: Principal,
                        organization_id: uuid.UUID) -> Organization:
    """Mark an unverified organisation ``verified`` (a reviewer; ``verify`` of
    ``policy.ORGANIZATION_WORKFLOW`` through the workflow machinery: 409 when already
    verified or merged); its initiatives may be published from now on. Emits
    ``organization.verified.v1``; its timeline gets the transition."""
    from registry.organizations.policy import ORGANIZATION_WORKFLOW
    from registry.workflow.service import apply

    org = _load(db_session, organization_id)
    apply(db_session, principal, ORGANIZATION_WORKFLOW, org, Action.VERIFY.value)
    return org


class _OrganizationAdapter:
    """The organisation's part of the workflow machinery (``registry.workflow.service``)."""

    def before(self, db_session: Session, principal: Principal, record: Any,
               transition: Any, comment: str | None) -> None:
        return None

    def after(self, db_session: Session, principal: Principal, record: Any, transition: Any,
              from_status: str, comment: str | None) -> None:
        record.verified_by = _user_id(principal)

    def record(self, db_session: Session, principal: Principal, record: Any, transition: Any,
               from_status: str, comment: str | None,
               extra_event_data: dict[str, Any] | None) -> Any:
        activity = _activity(db_session, record.id, transition.action, principal, None)
        record_event(db_session, OutboxEvent, transition.event_type, source=SOURCE,
                     subject=str(record.id), data={"organization": organization_ref(record),
                                                   "verified_at": record.verified_at})
        return activity


def _register_adapter() -> None:
    from registry.workflow.service import register_adapter

    register_adapter("organization", _OrganizationAdapter())


_register_adapter()


def list_for_verification(*, db_session: Session, principal: Principal,
                          status: str | None = UNVERIFIED, q: str | None = None,
                          limit: int = 100) -> list[Organization]:
    """Organisations awaiting verification (``status`` ``unverified``; None: all not merged),
    oldest first, for the secretariat's list (reviewers: ``verify`` rights)."""
    authorize(principal, Action.VERIFY, _Target(), Aggregate.ORGANIZATION, what="organisation")
    query = select(Organization).where(Organization.merged_into_id.is_(None))
    if status:
        query = query.where(Organization.verification_status == status)
    if q:
        query = query.where(Organization.normalized_name.contains(normalize_name(q),
                                                                  autoescape=True))
    return list(db_session.scalars(query.order_by(Organization.created_at).limit(limit)))


class _Target:
    """An unverified organisation in general (list permissions: who may verify some)."""

    __aggregate__ = Aggregate.ORGANIZATION.value
    id = None
    verification_status = UNVERIFIED
    merged_into_id = None


def merge_organizations(*, db_session: Session, principal: Principal,
                        duplicate_id: uuid.UUID, into_id: uuid.UUID) -> Organization:
    """Merge the duplicate organisation into another (a secretariat admin), keeping every
    link and the history: initiatives it owns, leads or partners (each re-pointed initiative
    gets an ``update`` timeline entry and event), memberships (the higher role kept when a
    person belongs to both), interim tokens, pending invitations and join requests, and API
    clients move to ``into``; the duplicate keeps its row with ``merged_into_id`` (the API
    and pages point to the survivor), an activity on both, and ``organization.merged.v1``.

    Raises 404 for an unknown id, 422 when merging an organisation into itself, 409 when
    either is already merged.
    """
    duplicate = _load(db_session, duplicate_id)
    into = _load(db_session, into_id)
    if duplicate.id == into.id:
        raise ValidationError("An organisation cannot be merged into itself.", errors=[{
            "field": "into_id", "message": "Choose another organisation."}])
    authorize(principal, Action.MERGE, duplicate, what="organisation")
    if into.merged_into_id is not None:
        raise Conflict(f"{into.name!r} was itself merged into another organisation.",
                       extra={"merged_into_id": str(into.merged_into_id)})
    from registry.auth.models import ApiToken
    from registry.initiatives.service import relink_organization

    moved = relink_organization(db_session=db_session, principal=principal,
                                from_id=duplicate.id, to_id=into.id)
    roles = {m.user_id: m for m in db_session.scalars(select(OrganizationMembership).where(
        OrganizationMembership.organization_id == into.id))}
    moved["memberships"] = 0
    for membership in list(db_session.scalars(select(OrganizationMembership).where(
            OrganizationMembership.organization_id == duplicate.id))):
        kept = roles.get(membership.user_id)
        if kept is None:
            membership.organization_id = into.id
        else:
            if membership.role == OrgRole.ADMIN.value:
                kept.role = OrgRole.ADMIN.value
            db_session.delete(membership)
        moved["memberships"] += 1
    moved["tokens"] = 0
    for token in db_session.scalars(select(ApiToken).where(
            ApiToken.organization_id == duplicate.id)):
        token.organization_id = into.id
        moved["tokens"] += 1
    for invitation in db_session.scalars(select(OrganizationInvitation).where(
            OrganizationInvitation.organization_id == duplicate.id,
            OrganizationInvitation.status == PENDING)):
        invitation.organization_id = into.id
    for request in db_session.scalars(select(OrganizationJoinRequest).where(
            OrganizationJoinRequest.organization_id == duplicate.id,
            OrganizationJoinRequest.status == PENDING)):
        request.organization_id = into.id
    moved["clients"] = _move_clients(db_session, duplicate.id, into.id)
    duplicate.merged_into_id = into.id
    _activity(db_session, duplicate.id, "merged_into", principal,
              {"into_id": str(into.id), "into_name": into.name, "moved": moved})
    _activity(db_session, into.id, "merge", principal,
              {"duplicate_id": str(duplicate.id), "duplicate_name": duplicate.name,
               "moved": moved})
    record_event(db_session, OutboxEvent, ORGANIZATION_MERGED, source=SOURCE,
                 subject=str(duplicate.id), data={"organization": organization_ref(duplicate),
                                                  "merged_into": organization_ref(into),
                                                  "moved": moved})
    return into


def _move_clients(db_session: Session, from_id: uuid.UUID, to_id: uuid.UUID) -> int:
    """Re-point the duplicate's OAuth clients (the ``oauth`` work's ``move_clients`` when it
    exists)."""
    import importlib

    try:
        oauth = importlib.import_module("registry.oauth.service")
    except ImportError:
        return 0
    move = getattr(oauth, "move_clients", None)
    return int(move(db_session=db_session, from_organization_id=from_id,
                    to_organization_id=to_id)) if move else 0


def activities(*, db_session: Session, principal: Principal,
               organization_id: uuid.UUID) -> list[Any]:
    """The organisation's history (``activities`` rows), oldest first (its members and the
    secretariat)."""
    from registry.workflow.models import ORGANIZATION, Activity

    org = _load(db_session, organization_id)
    authorize(principal, Action.VIEW_MEMBERS, org, what="organisation")
    return list(db_session.scalars(select(Activity).where(
        Activity.record_type == ORGANIZATION, Activity.record_id == organization_id).order_by(
        Activity.created_at, Activity.id)))
