"""Registry-only reference helpers (``registry.reference``): country names in free text,
name normalisation for organisation matching."""

from __future__ import annotations

import pytest

from registry import reference as registry_reference


@pytest.mark.parametrize("name, code", [
    ("Viet Nam", "VNM"), ("Vietnam", "VNM"), ("United States of America", "USA"),
    ("united states", "USA"), ("Kenya", "KEN"), ("  fiji ", "FJI"), ("FJI", "FJI"),
    ("Côte d’Ivoire", "CIV"), ("Ivory Coast", "CIV"), ("Republic of Korea", "KOR"),
    ("Venezuela, Bolivarian Republic of", "VEN"), ("Türkiye", "TUR"), ("中国", "CHN"),
    ("Lao People's Democratic Republic", "LAO"), ("United Republic of Tanzania", "TZA"),
])
def test_country_by_name(name, code):
    country = registry_reference.country_by_name(name)
    assert country is not None, name
    assert country.iso_alpha3 == code


@pytest.mark.parametrize("name", ["European Commission", "Global", "Taiwan", "", "Narnia"])
def test_country_by_name_refuses_what_is_not_an_m49_country(name):
    assert registry_reference.country_by_name(name) is None


def test_normalize_name():
    assert registry_reference.normalize_name("  Fundação  Grupo Boticário & Co. ") == \
        "fundacao grupo boticario and co"
    assert registry_reference.normalize_name("WWF-International") == \
        registry_reference.normalize_name("wwf international")
