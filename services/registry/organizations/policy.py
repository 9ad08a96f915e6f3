"""Who may do what with organisations: a view onto the registry's one permission table
(:mod:`registry.authz.permissions`, aggregate ``organization``)."""

from __future__ import annotations

from typing import Any

from registry.authz.permissions import Action, Aggregate, allowed_actions
from registry.authz.permissions import can as _can
from shared.identity import Principal


def can(principal: Principal, action: Action | str, organization: Any = None) -> bool:
    """True when the table lets ``principal`` take ``action`` on ``organization`` (an
    undeclared action is denied)."""
    return _can(principal, action, organization, Aggregate.ORGANIZATION)


def actions(principal: Principal, organization: Any) -> list[str]:
    """What ``principal`` may do to ``organization`` now (pages and API list them)."""
    return allowed_actions(principal, organization, Aggregate.ORGANIZATION)
