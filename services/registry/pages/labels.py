"""Labels of the registry's own reference catalogues (resource types, partner roles) in the
page's language, as Jinja globals of the registry's pages (``resource_type_label``,
``partner_role_label``). The English labels are the catalogues' own; they are marked here for
extraction into the registry's gettext catalogue (a test checks none is missing)."""

from __future__ import annotations

from flask import Blueprint
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l


def _catalogue(name: str) -> dict[str, str]:
    """A registry reference catalogue by name (``registry.reference``, where the registry-only
    catalogues live; ``shared.reference`` before they moved)."""
    from registry import reference as registry_reference
    from shared import reference as shared_reference

    return getattr(registry_reference, name, None) or getattr(shared_reference, name, {})


_MARKED_FOR_EXTRACTION = (
    # resource types
    _l("Financing (in USD)"), _l("Staff / Technical expertise"), _l("In-kind contribution"),
    _l("Other, please specify"),
    # partner roles
    _l("Partner"), _l("Funding"), _l("Implementing"), _l("Accountable"), _l("Extending"),
)


def resource_type_label(code: str) -> str:
    """Translated label of a resource type code; the code when unknown."""
    label = _catalogue("RESOURCE_TYPES").get(code)
    return _(label) if label else code


def partner_role_label(code: str) -> str:
    """Translated label of a partner role code (IATI organisation roles); the code when
    unknown."""
    label = _catalogue("PARTNER_ROLES").get(code)
    return _(label) if label else code


def register_labels(bp: Blueprint) -> None:
    """Make the label functions Jinja globals of every template of the app of ``bp``."""
    bp.add_app_template_global(resource_type_label)
    bp.add_app_template_global(partner_role_label)
