"""Reference data: the SDG framework, UN M49 countries and regions, stakeholder groups.

Package data (see ``shared/reference/data/PROVENANCE.md``):

* ``goals.csv`` (17), ``targets.csv`` (169), ``indicators.csv`` (251): the global indicator
  framework for the SDGs (A/RES/71/313 annex, after the 2025 comprehensive review; UNSD), with
  Simplified Chinese titles from open-sdg.
* ``m49_countries.csv`` (248): UN M49 "Standard country or area codes for statistical use"
  (UNSD), with ISO 3166-1 alpha-2/alpha-3 codes, regions, sub-regions, intermediate regions.

Everything is loaded once, lazily, and is read-only. Helpers only the registry uses (matching
names in free text, the import's entity types, resource types, partner roles) live in
``registry.reference``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

_DATA = files(__name__).joinpath("data")


@dataclass(frozen=True)
class Goal:
    """An SDG goal: number 1-17, short and full titles (English, Chinese)."""

    code: int
    short_title_en: str
    title_en: str
    short_title_zh: str
    title_zh: str


@dataclass(frozen=True)
class Target:
    """An SDG target: official code (``14.1``, ``12.a``), its goal, titles."""

    code: str
    goal: int
    title_en: str
    title_zh: str


@dataclass(frozen=True)
class Indicator:
    """An SDG indicator: official code (``12.7.1``), its target and goal, titles."""

    code: str
    target: str
    goal: int
    title_en: str
    title_zh: str


@dataclass(frozen=True)
class Country:
    """A UN M49 country or area (ISO alpha-3 key) with its M49 region hierarchy."""

    iso_alpha3: str
    iso_alpha2: str
    m49: str
    name_en: str
    name_zh: str
    region_code: str | None
    region_en: str | None
    subregion_code: str | None
    subregion_en: str | None
    intermediate_region_code: str | None
    intermediate_region_en: str | None
    ldc: bool
    lldc: bool
    sids: bool


@dataclass(frozen=True)
class Region:
    """A UN M49 region, sub-region or intermediate region (3-digit code, ``001`` = World)."""

    code: str
    name_en: str
    name_zh: str
    level: str  # "world" | "region" | "subregion" | "intermediate"
    parent: str | None  # code of the enclosing region (None for World)


def _rows(name: str) -> list[dict[str, str]]:
    text = _DATA.joinpath(name).read_text(encoding="utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline="")))


@cache
def goals() -> dict[int, Goal]:
    """The 17 SDG goals by number."""
    return {int(r["goal_code"]): Goal(int(r["goal_code"]), r["short_title_en"], r["title_en"],
                                      r["short_title_zh"], r["title_zh"])
            for r in _rows("goals.csv")}


@cache
def targets() -> dict[str, Target]:
    """The 169 SDG targets by official code (``"14.1"``)."""
    return {r["target_code"]: Target(r["target_code"], int(r["goal_code"]), r["title_en"],
                                     r["title_zh"])
            for r in _rows("targets.csv")}


@cache
def indicators() -> dict[str, Indicator]:
    """The 251 SDG indicators by official code (``"14.1.1"``)."""
    return {r["indicator_code"]: Indicator(r["indicator_code"], r["target_code"],
                                           int(r["goal_code"]), r["title_en"], r["title_zh"])
            for r in _rows("indicators.csv")}


@cache
def countries() -> dict[str, Country]:
    """The 248 M49 countries and areas by ISO 3166-1 alpha-3 code."""
    out = {}
    for r in _rows("m49_countries.csv"):
        if not r["iso_alpha3"]:
            continue
        out[r["iso_alpha3"]] = Country(
            iso_alpha3=r["iso_alpha3"], iso_alpha2=r["iso_alpha2"], m49=r["m49"],
            name_en=r["name_en"], name_zh=r["name_zh"],
            region_code=r["region_code"] or None, region_en=r["region_en"] or None,
            subregion_code=r["subregion_code"] or None, subregion_en=r["subregion_en"] or None,
            intermediate_region_code=r["intermediate_region_code"] or None,
            intermediate_region_en=r["intermediate_region_en"] or None,
            ldc=r["ldc"] == "x", lldc=r["lldc"] == "x", sids=r["sids"] == "x",
        )
    return out


@cache
def regions() -> dict[str, Region]:
    """M49 regions by 3-digit code: World (001), the 5 regions, sub- and intermediate regions."""
    out: dict[str, Region] = {"001": Region("001", "World", "世界", "world", None)}
    for r in _rows("m49_countries.csv"):
        if r["region_code"]:
            out.setdefault(r["region_code"], Region(r["region_code"], r["region_en"],
                                                    r["region_zh"], "region", "001"))
        if r["subregion_code"]:
            out.setdefault(r["subregion_code"], Region(r["subregion_code"], r["subregion_en"],
                                                       r["subregion_zh"], "subregion",
                                                       r["region_code"] or "001"))
        if r["intermediate_region_code"]:
            out.setdefault(r["intermediate_region_code"], Region(
                r["intermediate_region_code"], r["intermediate_region_en"],
                r["intermediate_region_zh"], "intermediate", r["subregion_code"] or None))
    return out


def goal_of_target(code: str) -> int:
    """Goal number of a target code; ``KeyError`` if the target is not in the framework."""
    return targets()[code].goal


def top_region(region_code: str) -> Region | None:
    """The M49 region (level ``region``, e.g. Africa) containing ``region_code``; World -> None."""
    region = regions().get(region_code)
    while region is not None and region.level not in ("region", "world"):
        region = regions().get(region.parent) if region.parent else None
    return region if region is not None and region.level == "region" else None


def region_codes_for(countries_: list[str], regions_: list[str]) -> set[str]:
    """The M49 region codes an initiative covers, derived in ONE place for every service.

    ``countries_``: ISO alpha-3 codes; ``regions_``: explicitly tagged M49 region codes.
    Each country contributes its region, sub-region and intermediate region (e.g. ``FJI`` ->
    ``009`` Oceania, ``054`` Melanesia); each tagged region contributes itself and the regions
    enclosing it (``053`` -> ``053``, ``009``), but not World (``001``), which is covered
    only when tagged. Unknown codes are ignored. Source: UNSD M49 (``m49_countries.csv``).
    """
    codes: set[str] = set()
    table = countries()
    for c in countries_:
        country = table.get(c)
        if country is None:
            continue
        codes.update(code for code in (country.region_code, country.subregion_code,
                                       country.intermediate_region_code) if code)
    for code in regions_:
        region = regions().get(code)
        if region is None:
            continue
        codes.add(code)
        while region is not None and region.parent and region.parent != "001":
            codes.add(region.parent)
            region = regions().get(region.parent)
    return codes


def region_names_for(countries_: list[str], regions_: list[str]) -> list[str]:
    """Distinct top-level M49 region names (``Africa``, ``Americas``, ``Asia``, ``Europe``,
    ``Oceania``) of the given ISO alpha-3 countries and M49 region codes, plus ``World`` when
    the World region is tagged. Unknown codes are ignored. Same derivation as the registry's
    region filter (:func:`region_codes_for`)."""
    table = regions()
    names = {"World" if code == "001" else table[code].name_en
             for code in region_codes_for(countries_, regions_)
             if code == "001" or table[code].level == "region"}
    return sorted(names)


@dataclass(frozen=True)
class StakeholderGroup:
    """A stakeholder group: stored code and label.

    The catalogue joins the entity types of the UN DESA Partnerships for SDGs platform
    (sdgs.un.org/partnerships) with the nine Major Groups of Agenda 21 / the 2030 Agenda
    (women, children and youth, indigenous peoples, NGOs, local authorities, workers and trade
    unions, business and industry, scientific and technological community, farmers).
    """

    code: str
    label: str


STAKEHOLDER_GROUPS: dict[str, StakeholderGroup] = {g.code: g for g in [
    StakeholderGroup("government", "Government"),
    StakeholderGroup("local_regional_government", "Local / regional government"),
    StakeholderGroup("intergovernmental_organization", "Intergovernmental organization"),
    StakeholderGroup("united_nations_multilateral", "United Nations / multilateral body"),
    StakeholderGroup("ngo", "Non-governmental organization (NGO)"),
    StakeholderGroup("civil_society_organization", "Civil society organization"),
    StakeholderGroup("private_sector", "Private sector"),
    StakeholderGroup("academic_institution", "Academic institution"),
    StakeholderGroup("scientific_community", "Scientific and technological community"),
    StakeholderGroup("philanthropic_organization", "Philanthropic organization"),
    StakeholderGroup("partnership", "Partnership"),
    StakeholderGroup("women", "Women"),
    StakeholderGroup("children_youth", "Children and youth"),
    StakeholderGroup("indigenous_peoples", "Indigenous peoples"),
    StakeholderGroup("workers_trade_unions", "Workers and trade unions"),
    StakeholderGroup("farmers", "Farmers"),
    StakeholderGroup("other", "Other relevant actor"),
]}
