"""Who acted: the ``actor_*`` columns of a timeline entry and the ``actor`` of an event
(``shared.events.types.ActorData``), read once per action.

A person's name and e-mail come from their account (``users``: ``display_name``, ``email``)
when the principal is a signed-in person (subject = user id): issue 8, "today ``actor_email``
is empty for secretariat actions".
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from registry.authz import permissions as authz
from shared.identity import Principal, PrincipalKind


def user_id_of(principal: Principal) -> uuid.UUID | None:
    """The account id of a signed-in person (its ``subject``), or None."""
    if principal.kind is not PrincipalKind.USER or not principal.subject:
        return None
    try:
        return uuid.UUID(principal.subject)
    except ValueError:
        return None


def _token_id(principal: Principal) -> uuid.UUID | None:
    if not principal.token_id:
        return None
    try:
        return uuid.UUID(principal.token_id)
    except ValueError:
        return None


def actor_columns(db_session: Session | None, principal: Principal,
                  obj: Any = None) -> dict[str, Any]:
    """The ``actor_*`` columns of an ``activities`` row: role label, user id, token id, acting
    organisation, e-mail and display name (from the account when there is one: one primary
    key read of two columns, none when the account is already in the identity map)."""
    user_id = user_id_of(principal)
    email, name = principal.email, None
    if user_id is not None and db_session is not None:
        from registry.accounts.models import User

        # the identity map's when loaded; else the two columns (not the account and its
        # roles: two statements)
        user: Any = db_session.identity_map.get(identity_key(User, user_id))
        if user is None:
            user = db_session.execute(select(User.email, User.display_name).where(
                User.id == user_id)).first()
        if user is not None:
            email = email or user.email
            name = user.display_name or None
    return {"actor_role": authz.actor_role(principal).value, "actor_user_id": user_id,
            "actor_token_id": _token_id(principal),
            "actor_organization_id": authz.acting_organization(principal, obj),
            "actor_email": email, "actor_name": name}


def actor_event_data(columns: dict[str, Any]) -> dict[str, Any]:
    """``ActorData`` of an event from :func:`actor_columns`' result."""
    org = columns["actor_organization_id"]
    user = columns["actor_user_id"]
    return {"role": columns["actor_role"], "organization_id": str(org) if org else None,
            "email": columns["actor_email"], "name": columns["actor_name"],
            "user_id": str(user) if user else None}
