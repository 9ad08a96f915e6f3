"""Who may do what with organisations: a view onto the registry's one permission table
(:mod:`registry.authz.permissions`, aggregate ``organization``), and their verification as a
workflow (:data:`ORGANIZATION_WORKFLOW`: the permission table's ``verify`` row is generated
from it; ``registry.organizations.service.verify_organization`` runs it through the
machinery, ``registry.workflow.service.apply``)."""

from __future__ import annotations

from typing import Any

from registry.authz.permissions import (
    REVIEWER,
    SYSTEM,
    UNVERIFIED,
    VERIFIED,
    Action,
    Aggregate,
    allowed_actions,
)
from registry.authz.permissions import can as _can
from registry.workflow.machine import Transition, Workflow
from shared.events.types import ORGANIZATION_VERIFIED
from shared.identity import Principal, Scope

#: An organisation starts unverified; the secretariat verifies it (its initiatives are
#: published only then). State column ``verification_status``; no change counter.
ORGANIZATION_WORKFLOW = Workflow(
    record_type="organization", aggregate=Aggregate.ORGANIZATION,
    states=(UNVERIFIED, VERIFIED),
    transitions=(
        Transition(Action.VERIFY, frozenset({UNVERIFIED}), VERIFIED, (REVIEWER, SYSTEM),
                   event_type=ORGANIZATION_VERIFIED, scope=Scope.REVIEW,
                   stamp="verified_at"),),
    state_field="verification_status", version_field=None)


def can(principal: Principal, action: Action | str, organization: Any = None) -> bool:
    """True when the table lets ``principal`` take ``action`` on ``organization`` (an
    undeclared action is denied)."""
    return _can(principal, action, organization, Aggregate.ORGANIZATION)


def actions(principal: Principal, organization: Any) -> list[str]:
    """What ``principal`` may do to ``organization`` now (pages and API list them)."""
    return allowed_actions(principal, organization, Aggregate.ORGANIZATION)
