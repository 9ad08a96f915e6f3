"""Who may do what with organisations (deny when undeclared)."""

from __future__ import annotations

from registry.auth.service import Principal

#: action -> roles allowed. Organisations are public records; any signed-in partner may add one.
RULES: dict[str, frozenset[str]] = {
    "view": frozenset({"anonymous", "partner", "secretariat", "system"}),
    "create": frozenset({"partner", "secretariat", "system"}),
}


def can(principal: Principal, action: str) -> bool:
    """True when ``principal`` may do ``action`` (an undeclared action is denied)."""
    return principal.role in RULES.get(action, frozenset())
