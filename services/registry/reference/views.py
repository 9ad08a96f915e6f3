"""``/api/v1/reference``: the code lists input is validated against (public, read-only)."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from shared import reference

blp = Blueprint("reference", __name__, url_prefix="/api/v1/reference",
                description="SDG framework, UN M49 countries and regions, stakeholder groups.")


class GoalSchema(Schema):
    """An SDG goal."""

    code = fields.Integer()
    short_title_en = fields.String()
    title_en = fields.String()
    short_title_zh = fields.String()
    title_zh = fields.String()


class TargetSchema(Schema):
    """An SDG target."""

    code = fields.String()
    goal = fields.Integer()
    title_en = fields.String()
    title_zh = fields.String()


class CountrySchema(Schema):
    """A UN M49 country or area."""

    iso_alpha3 = fields.String()
    iso_alpha2 = fields.String()
    m49 = fields.String()
    name_en = fields.String()
    name_zh = fields.String()
    region_code = fields.String(allow_none=True)
    region_en = fields.String(allow_none=True)
    subregion_code = fields.String(allow_none=True)
    subregion_en = fields.String(allow_none=True)
    ldc = fields.Boolean()
    lldc = fields.Boolean()
    sids = fields.Boolean()


class RegionSchema(Schema):
    """A UN M49 region."""

    code = fields.String()
    name_en = fields.String()
    name_zh = fields.String()
    level = fields.String()
    parent = fields.String(allow_none=True)


class CodeLabelSchema(Schema):
    """A code and its label."""

    code = fields.String()
    label = fields.String()


@blp.get("/sdg-goals")
@blp.response(200, GoalSchema(many=True))
def sdg_goals():
    """The 17 SDG goals."""
    return list(reference.goals().values())


@blp.get("/sdg-targets")
@blp.response(200, TargetSchema(many=True))
def sdg_targets():
    """The 169 SDG targets."""
    return list(reference.targets().values())


@blp.get("/countries")
@blp.response(200, CountrySchema(many=True))
def countries():
    """UN M49 countries and areas (ISO alpha-3 is the code the API takes)."""
    return sorted(reference.countries().values(), key=lambda c: c.name_en)


@blp.get("/regions")
@blp.response(200, RegionSchema(many=True))
def regions():
    """UN M49 regions, sub-regions and intermediate regions."""
    return sorted(reference.regions().values(), key=lambda r: r.code)


@blp.get("/stakeholder-groups")
@blp.response(200, CodeLabelSchema(many=True))
def stakeholder_groups():
    """Stakeholder group codes."""
    return list(reference.STAKEHOLDER_GROUPS.values())
