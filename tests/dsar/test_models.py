from __future__ import annotations

import pytest
from django.utils import translation

from dsar.models import ControllerInfo, DataCategory, DataField, Origin, Purpose

pytestmark = pytest.mark.django_db


def make_category(code: str, **kwargs) -> DataCategory:
    kwargs.setdefault("slug", f"c{code.replace('.', '_')}")
    kwargs.setdefault("name_sq", f"Kategoria {code}")
    kwargs.setdefault("name_en", f"Category {code}")
    kwargs.setdefault("origin", Origin.PROVIDED)
    return DataCategory.objects.create(code=code, **kwargs)


def test_text_picks_the_asked_language():
    purpose = Purpose(code="p", name_sq="Marketingu", name_en="Marketing")
    assert purpose.text("name", "sq") == "Marketingu"
    assert purpose.text("name", "en") == "Marketing"
    assert purpose.text("name", "sq-AL") == "Marketingu"


def test_text_falls_back_to_english():
    purpose = Purpose(code="p", name_sq="Marketingu", name_en="Marketing", description_en="Why")
    assert purpose.text("description", "sq") == "Why"
    assert purpose.text("name", "de") == "Marketing"


def test_text_follows_the_active_language_by_default():
    purpose = Purpose(code="p", name_sq="Marketingu", name_en="Marketing")
    with translation.override("sq"):
        assert purpose.text("name") == "Marketingu"
    with translation.override("en"):
        assert purpose.text("name") == "Marketing"


def test_text_refuses_a_field_that_is_not_bilingual():
    with pytest.raises(AttributeError, match="colour"):
        Purpose(code="p").text("colour", "en")


def test_categories_sort_by_section_number_not_as_text():
    for code in ("2.10", "2.9", "2.4.2", "2.1", "2.4.1", "2.11"):
        make_category(code)
    assert list(DataCategory.objects.values_list("code", flat=True)) == [
        "2.1",
        "2.4.1",
        "2.4.2",
        "2.9",
        "2.10",
        "2.11",
    ]


def test_a_field_takes_its_categorys_origin_unless_it_has_its_own():
    products = make_category("2.4.2", origin=Origin.PROVIDED)
    serial = DataField.objects.create(
        category=products, key="serial_number", name_sq="Numri serial", name_en="Serial number"
    )
    repairs = DataField.objects.create(
        category=products,
        key="repair_history",
        name_sq="Riparimet",
        name_en="Repairs",
        origin=Origin.OBSERVED,
    )
    warranty = DataField.objects.create(
        category=products,
        key="warranty",
        name_sq="Garancia",
        name_en="Warranty",
        origin=Origin.INFERRED,
    )
    assert serial.effective_origin == Origin.PROVIDED
    assert repairs.effective_origin == Origin.OBSERVED
    assert serial.portable and repairs.portable
    assert not warranty.portable


def test_a_category_not_held_is_not_portable():
    cards = make_category("2.9", held=False)
    assert not cards.portable


def test_third_party_and_inferred_categories_are_not_portable():
    assert not make_category("2.6", origin=Origin.THIRD_PARTY).portable
    assert not make_category("2.11", origin=Origin.INFERRED).portable
    assert make_category("2.10", origin=Origin.OBSERVED).portable


def test_controller_info_is_a_single_row():
    ControllerInfo(name_sq="Kontrollori", name_en="Controller", dpo_email="dpo@x.example").save()
    ControllerInfo(name_sq="Tjetër", name_en="Other", dpo_email="dpo@x.example").save()
    assert ControllerInfo.objects.count() == 1
    assert ControllerInfo.load().name_en == "Other"
