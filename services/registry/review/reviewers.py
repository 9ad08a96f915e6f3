"""Who may be assigned a review: the people holding a staff role (reviewer or secretariat
admin), for the review desk's assignment form."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.identity import Principal, StaffRole
from shared.problems import NotAllowed, Unauthenticated


@dataclass(frozen=True)
class Reviewer:
    """A person a review may be assigned to: ``id`` (user id), ``label`` (display name and
    e-mail)."""

    id: uuid.UUID
    label: str


def list_reviewers(*, db_session: Session, principal: Principal) -> list[Reviewer]:
    """Every enabled account holding a staff role, by name. Reviewers only (the assignment
    rule of the permission table: reviewers assign); :class:`Unauthenticated` (401) or
    :class:`NotAllowed` (403) otherwise."""
    from registry.accounts.models import User, UserStaffRole

    if not principal.is_authenticated:
        raise Unauthenticated("Sign in first.")
    if not (principal.is_system or principal.has_staff_role(StaffRole.REVIEWER)):
        raise NotAllowed("Only reviewers see the list of reviewers.")
    rows = db_session.execute(select(User.id, User.display_name, User.email).where(
        User.id.in_(select(UserStaffRole.user_id)), User.disabled_at.is_(None))
        .order_by(User.display_name, User.email)).all()
    return [Reviewer(uid, f"{name} <{email}>" if name else email) for uid, name, email in rows]
