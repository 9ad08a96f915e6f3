"""Organisation service functions (permissions checked here, not in views)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from registry.authz.permissions import Action, Aggregate, authorize, visible_filter
from registry.db import bulk_insert
from registry.organizations.models import Organization

if TYPE_CHECKING:  # initiatives read organisations as views too
    from registry.initiatives.service import OrganizationView
from registry.outbox.models import OutboxEvent
from registry.reference import normalize_name
from shared.db import new_uuid, utcnow
from shared.events.types import ORGANIZATION_CREATED
from shared.identity import Principal
from shared.outbox import record_event
from shared.problems import Conflict, NotFound

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
    (its id is in the problem's ``existing_id``), 401/403 unless the permission table allows
    ``register`` (a signed-in person, the secretariat, the system).
    """
    authorize(principal, Action.REGISTER, None, Aggregate.ORGANIZATION, what="organisation")
    normalized = normalize_name(data["name"])
    existing = db_session.scalar(select(Organization).where(
        Organization.normalized_name == normalized))
    if existing is not None:
        raise Conflict(f"An organisation named {existing.name!r} already exists.",
                       extra={"existing_id": str(existing.id)})
    org = Organization(id=new_uuid(), name=data["name"].strip(), normalized_name=normalized,
                       acronym=data.get("acronym"), stakeholder_group=data["stakeholder_group"],
                       country=data.get("country"))
    db_session.add(org)  # inserted at the next flush, with the rest of the unit of work
    make_creator_admin(db_session=db_session, principal=principal, organization=org)
    record_event(db_session, OutboxEvent, ORGANIZATION_CREATED, source=SOURCE,
                 subject=str(org.id), data={"organization": organization_ref(org)})
    return org


def make_creator_admin(*, db_session: Session, principal: Principal,
                       organization: Organization) -> None:
    """The person who registers an organisation becomes its admin (an interim ``partner``
    token without an organisation adopts it: ``registry.auth.service.adopt_organization``)."""
    from registry.auth.service import adopt_organization

    if principal.token_id is not None:
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
         "country": o.country, "created_at": now, "updated_at": now} for o in orgs])
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
