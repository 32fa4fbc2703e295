"""The default register follows the privacy statement (seed/privacy-statement-sq.txt)."""

from __future__ import annotations

import pytest
from django.apps import apps

from dsar.models import (
    ControllerInfo,
    DataCategory,
    DataField,
    ErasureAction,
    LegalBasis,
    Origin,
    Purpose,
    Recipient,
    RetentionRule,
    Safeguard,
    Transfer,
)

pytestmark = pytest.mark.django_db

STATEMENT_SECTIONS = [
    "2.1",
    "2.2",
    "2.3",
    "2.4.1",
    "2.4.2",
    "2.5",
    "2.6",
    "2.7",
    "2.8",
    "2.9",
    "2.10",
    "2.11",
]


def category(code: str) -> DataCategory:
    return DataCategory.objects.get(code=code)


def test_it_loads_every_category_of_section_2_in_statement_order(register):
    assert list(DataCategory.objects.values_list("code", flat=True)) == STATEMENT_SECTIONS


def test_every_text_is_in_both_languages(register):
    for model in apps.get_app_config("dsar").get_models():
        pairs = [
            f.name.removesuffix("_sq")
            for f in model._meta.fields
            if f.name.endswith("_sq") and hasattr(model, f.name.removesuffix("_sq") + "_en")
        ]
        for obj in model.objects.all():
            for name in pairs:
                sq, en = getattr(obj, f"{name}_sq"), getattr(obj, f"{name}_en")
                assert bool(sq) == bool(en), f"{obj!r}.{name} is in one language only"
            if "name" in pairs or "destination" in pairs:
                main = "name" if "name" in pairs else "destination"
                assert getattr(obj, f"{main}_sq") and getattr(obj, f"{main}_en"), obj


def test_every_category_is_described_in_both_languages(register):
    for c in DataCategory.objects.all():
        for name in ("name", "description", "examples"):
            assert c.text(name, "sq") and c.text(name, "en"), (c.code, name)
            assert getattr(c, f"{name}_sq") != getattr(c, f"{name}_en"), (c.code, name)


def test_payment_card_data_is_recorded_as_not_held(register):
    cards = category("2.9")
    assert cards.held is False
    assert not cards.portable
    assert "palëve të treta" in cards.not_held_reason_sq
    assert "third-party payment platforms" in cards.not_held_reason_en
    assert cards.purposes.count() == 0
    assert cards.retention_rule is None


def test_dietary_needs_are_flagged_as_possibly_special_category(register):
    events = category("2.3")
    assert events.may_reveal_special_category
    assert "religious" in events.special_category_note_en
    assert "health" in events.special_category_note_en
    dietary = events.fields.get(key="dietary_requirements")
    assert dietary.may_reveal_special_category
    assert not events.fields.get(key="full_name").may_reveal_special_category


def test_dietary_needs_name_explicit_consent_as_their_art_9_condition(register):
    dietary = category("2.3").fields.get(key="dietary_requirements")
    assert "Art. 9(2)(a)" in dietary.special_category_condition_en
    assert "explicit consent" in dietary.special_category_condition_en
    assert "neni 9(2)(a)" in dietary.special_category_condition_sq
    assert "pëlqimi juaj i shprehur" in dietary.special_category_condition_sq.lower()


def test_every_field_that_may_reveal_special_category_names_its_condition(register):
    for f in DataField.objects.filter(may_reveal_special_category=True):
        assert f.special_category_condition_sq and f.special_category_condition_en, f


def test_recipients_the_statement_names_under_a_condition_carry_it(register):
    recipients = {r.code: r for r in Recipient.objects.all()}
    assert "exceptional circumstances" in recipients["police_regulators"].condition_en
    assert "rrethana të jashtëzakonshme" in recipients["police_regulators"].condition_sq
    assert "sell business assets" in recipients["prospective_buyer"].condition_en
    assert "shesim ndonjë aset biznesi" in recipients["prospective_buyer"].condition_sq
    assert "consented" in recipients["partner_companies"].condition_en
    assert "pëlqimin" in recipients["partner_companies"].condition_sq
    # Group companies and vendors receive what the purposes need, without a further condition.
    assert not recipients["group_companies"].condition_en
    assert not recipients["vendors_subcontractors"].condition_en


def test_emergency_contacts_are_flagged_as_concerning_other_people(register):
    events = category("2.3")
    assert events.concerns_other_people
    assert events.other_people_note_sq and events.other_people_note_en
    assert events.fields.get(key="emergency_contact").concerns_other_people


def test_a_flagged_field_is_always_in_a_flagged_category(register):
    for f in DataField.objects.filter(may_reveal_special_category=True):
        assert f.category.may_reveal_special_category, f
    for f in DataField.objects.filter(concerns_other_people=True):
        assert f.category.concerns_other_people, f


def test_product_history_mixes_origins_field_by_field(register):
    products = category("2.4.2")
    origins = {f.key: f.effective_origin for f in products.fields.all()}
    assert origins["product_model"] == Origin.PROVIDED
    assert origins["serial_number"] == Origin.PROVIDED
    assert origins["purchase_date"] == Origin.PROVIDED
    assert origins["repair_history"] == Origin.OBSERVED
    assert origins["warranty_eligibility"] == Origin.INFERRED
    assert len(set(origins.values())) >= 2
    assert products.fields.get(key="serial_number").portable
    assert not products.fields.get(key="warranty_eligibility").portable


def test_prospects_come_from_sector_partners_and_professional_bodies(register):
    prospects = category("2.6")
    assert prospects.origin == Origin.THIRD_PARTY
    sources = set(prospects.sources.values_list("code", flat=True))
    assert "sector_partners" in sources
    partners = prospects.sources.get(code="sector_partners")
    assert partners.name_en == "Sector partners and professional bodies"
    assert "organet profesionale" in partners.name_sq
    assert not prospects.portable


def test_portable_categories_are_exactly_the_held_provided_or_observed_ones(register):
    portable = {c.code for c in DataCategory.objects.all() if c.portable}
    expected = set(
        DataCategory.objects.filter(
            held=True, origin__in=[Origin.PROVIDED, Origin.OBSERVED]
        ).values_list("code", flat=True)
    )
    assert portable == expected
    assert portable == {"2.1", "2.2", "2.3", "2.4.1", "2.4.2", "2.5", "2.7", "2.8", "2.10"}


def test_every_held_category_has_a_purpose_a_legal_basis_and_a_retention_rule(register):
    for c in DataCategory.objects.filter(held=True):
        assert c.purposes.exists(), c.code
        assert c.legal_bases.exists(), c.code
        assert c.retention_rule is not None, c.code
        assert c.recipients.exists(), c.code
        assert c.sources.exists(), c.code
        assert c.transfers.exists(), c.code


def test_a_categorys_legal_bases_are_those_of_its_purposes(register):
    for c in DataCategory.objects.filter(held=True):
        of_purposes = set(
            LegalBasis.objects.filter(purposes__categories=c).values_list("code", flat=True)
        )
        assert set(c.legal_bases.values_list("code", flat=True)) <= of_purposes, c.code


def test_every_purpose_has_a_legal_basis(register):
    for p in Purpose.objects.all():
        assert p.legal_bases.exists(), p.code


def test_legal_bases_are_the_four_of_section_3(register):
    articles = dict(LegalBasis.objects.values_list("code", "article"))
    assert articles == {
        "legitimate_interests": "Art. 6(1)(f)",
        "contract": "Art. 6(1)(b)",
        "legal_obligation": "Art. 6(1)(c)",
        "consent": "Art. 6(1)(a)",
    }


def test_recipients_are_the_categories_of_section_4(register):
    assert set(Recipient.objects.values_list("code", flat=True)) >= {
        "group_companies",
        "vendors_subcontractors",
        "marketing_lead_survey_providers",
        "payment_credit_antifraud",
        "professional_advisers",
        "prospective_buyer",
        "police_regulators",
    }
    vendors = Recipient.objects.get(code="vendors_subcontractors")
    for kind in ("warehousing", "maintenance", "software development", "hosting"):
        assert kind in vendors.description_en


def test_transfers_are_named_by_destination_as_seen_from_albania(register):
    transfers = {t.code: t for t in Transfer.objects.all()}
    assert set(transfers) == {"eu_eea_group", "worldwide_vendors"}
    # The controller is outside the EEA itself: "outside the EEA" names no destination.
    for transfer in transfers.values():
        assert "outside the" not in transfer.destination_en
        assert "jashtë Zonës" not in transfer.destination_sq
    europe = transfers["eu_eea_group"]
    assert europe.safeguard == Safeguard.ADEQUACY
    assert "European Union" in europe.destination_en and "Netherlands" in europe.destination_en
    assert "Bashkimit Evropian" in europe.destination_sq
    vendors = transfers["worldwide_vendors"]
    assert vendors.safeguard == Safeguard.SCC
    assert "standarde të BE-së" in vendors.safeguard_sq
    assert "standard contractual clauses" in vendors.safeguard_en


def test_every_category_held_names_both_transfers(register):
    for held in DataCategory.objects.filter(held=True):
        assert set(held.transfers.values_list("code", flat=True)) == {
            "eu_eea_group",
            "worldwide_vendors",
        }, held


def test_retention_rules_encode_section_8(register):
    rules = {r.code: r for r in RetentionRule.objects.all()}
    assert rules["needed_for_purpose"].period_months == 72
    purchases = rules["purchase_records"]
    assert purchases.on_erasure == ErasureAction.KEEP
    for reason in ("invoicing", "tax", "warranty"):
        assert reason in purchases.keep_reason_en
    assert "padi ligjore" in rules["correspondence_legal_claims"].keep_reason_sq
    assert rules["marketing_suppression"].on_erasure == ErasureAction.SUPPRESS
    assert rules["active_relationship"].kept_while_active
    assert "recent purchase" in rules["active_relationship"].keep_reason_en
    assert category("2.8").retention_rule == purchases
    assert category("2.6").retention_rule == rules["marketing_suppression"]


def test_marketing_purposes_are_marked_as_direct_marketing(register):
    marketing = set(Purpose.objects.filter(direct_marketing=True).values_list("code", flat=True))
    assert {"marketing", "find_new_customers"} <= marketing
    assert "fulfil_contract" not in marketing


def test_the_controller_names_its_dpo_and_the_right_to_complain(register):
    controller = ControllerInfo.load()
    assert controller.dpo_email == "DataProtectionOfficer@Canon-Europe.com"
    # The authority itself is named from settings, right after this text.
    assert "autoritetit për mbrojtjen e të dhënave" in controller.complaint_sq
    assert "data protection authority named below" in controller.complaint_en
    assert "local" not in controller.complaint_en
    assert controller.rights_sq and controller.rights_en
    assert str(controller.statement_date) == "2020-12-10"


def test_the_controller_has_a_legal_entity_and_a_postal_address(register):
    controller = ControllerInfo.load()
    assert controller.legal_entity == "Canon Europa N.V."
    assert "Amstelveen" in controller.postal_address
