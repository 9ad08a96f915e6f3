"""Rate limits of organisation registration and initiative submission (issue 7: Flask-Limiter,
429 + Retry-After), through the registry's one limiter (``registry.ratelimits``, set up by the
accounts work). Until that module is present the decorators leave the view unchanged.

Counted per caller (``per_principal``: the person or API client; anonymous callers by
address), the API route and the page sharing one counter per scope. Limits are settings:
``RATELIMIT_ORGANIZATION_REGISTER`` (default ``10/hour``), ``RATELIMIT_SUBMIT``
(``30/hour``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def limited(setting_name: str, scope: str, methods: list[str] | None = None
            ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator limiting a view by the limit string of setting ``setting_name``, counted
    in the shared ``scope`` per caller (only ``methods`` when given)."""
    try:
        ratelimits = importlib.import_module("registry.ratelimits")
    except ImportError:
        return lambda view: view
    decorator: Callable[[Callable[..., Any]], Callable[..., Any]] = (
        ratelimits.limiter.shared_limit(ratelimits.setting_limit(setting_name), scope,
                                        key_func=ratelimits.per_principal, methods=methods))
    return decorator


def organization_register_limit() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Organisation registration (API ``POST /api/v1/organizations`` and the page's POST)."""
    return limited("RATELIMIT_ORGANIZATION_REGISTER", "organization-register", ["POST"])


def submit_limit() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Submitting an initiative for review."""
    return limited("RATELIMIT_SUBMIT", "initiative-submit", ["POST"])
