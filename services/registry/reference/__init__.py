"""Reference helpers only the registry uses: name matching (organisations, countries named in
free text), the import's entity-type mapping, and the registry's own code lists (resource types,
partner roles). The shared code lists every service reads (SDG framework, UN M49, stakeholder
groups) stay in ``shared.reference``; ``/api/v1/reference`` serves both (``views``).
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

from shared.reference import Country, countries


def normalize_name(name: str) -> str:
    """Case-, accent-, punctuation- and space-insensitive form of a name (for matching)."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.casefold().replace("&", " and ")
    text = re.sub(r"[^\w]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


# Names used by registries that neither M49 nor ISO 3166 spell this way.
_COUNTRY_ALIASES = {
    "united states": "USA", "usa": "USA", "us": "USA", "united states of america": "USA",
    "uk": "GBR", "united kingdom": "GBR", "great britain": "GBR",
    "south korea": "KOR", "korea": "KOR", "north korea": "PRK",
    "russia": "RUS", "vietnam": "VNM", "viet nam": "VNM", "iran": "IRN", "syria": "SYR",
    "laos": "LAO", "bolivia": "BOL", "venezuela": "VEN", "tanzania": "TZA", "moldova": "MDA",
    "czech republic": "CZE", "czechia": "CZE", "turkey": "TUR", "turkiye": "TUR",
    "ivory coast": "CIV", "cote d ivoire": "CIV", "cape verde": "CPV", "swaziland": "SWZ",
    "macedonia": "MKD", "the former yugoslav republic of macedonia": "MKD",
    "netherlands": "NLD", "micronesia": "FSM", "palestine": "PSE", "brunei": "BRN",
    "sao tome and principe": "STP", "east timor": "TLS", "the bahamas": "BHS",
    "the gambia": "GMB", "gambia": "GMB", "holy see": "VAT", "vatican": "VAT",
    "democratic republic of congo": "COD", "dr congo": "COD", "congo": "COG",
    "republic of the congo": "COG", "falkland islands": "FLK", "taiwan": None,
}


@cache
def _country_names() -> dict[str, str | None]:
    import pycountry

    names: dict[str, str | None] = {}
    for c in pycountry.countries:
        for attr in ("name", "official_name", "common_name"):
            value = getattr(c, attr, None)
            if value and c.alpha_3 in countries():
                names.setdefault(normalize_name(value), c.alpha_3)
    for code, country in countries().items():
        names[normalize_name(country.name_en)] = code
        names[normalize_name(country.iso_alpha3)] = code
        names[country.name_zh] = code
    names.update({normalize_name(k): v for k, v in _COUNTRY_ALIASES.items()})
    return names


def country_by_name(name: str) -> Country | None:
    """The M49 country for a free-text name (M49 English/Chinese names, ISO 3166 names,
    common aliases such as ``Viet Nam`` or ``United States``, alpha-3 codes); None if unknown."""
    code = _country_names().get(normalize_name(name)) or _country_names().get(name.strip())
    return countries().get(code) if code else None


#: Entity types of the UN Ocean Conference / Partnerships for SDGs platform -> group code.
ENTITY_TYPE_TO_STAKEHOLDER_GROUP: dict[str, str] = {
    "Government": "government",
    "Local / Regional Government": "local_regional_government",
    "Intergovernmental organization": "intergovernmental_organization",
    "United Nations / Multilateral body": "united_nations_multilateral",
    "Non-governmental organization (NGO)": "ngo",
    "Civil society organization": "civil_society_organization",
    "Private sector": "private_sector",
    "Academic institution": "academic_institution",
    "Scientific community": "scientific_community",
    "Philanthropic organization": "philanthropic_organization",
    "Partnership": "partnership",
    "Other relevant actor": "other",
}

#: Resource types (codes) and the labels of the Partnerships for SDGs platform's form.
RESOURCE_TYPES: dict[str, str] = {
    "financing": "Financing (in USD)",
    "staff_technical_expertise": "Staff / Technical expertise",
    "in_kind_contribution": "In-kind contribution",
    "other": "Other, please specify",
}

#: Partner roles on an initiative (IATI OrganisationRole 2.03 terms plus ``partner``).
PARTNER_ROLES: dict[str, str] = {
    "partner": "Partner",
    "funding": "Funding",
    "implementing": "Implementing",
    "accountable": "Accountable",
    "extending": "Extending",
}
