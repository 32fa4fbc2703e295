"""The report's information pages (Art. 15(1)(a)-(h), 15(2)), read back from the PDF in both
languages: what is the same for every category once, per category only what differs, the
supervisory authority and the laws named, Art. 9(2) conditions, recipients' conditions."""

from __future__ import annotations

from dataclasses import replace

import pytest

from exporters.context import Authority, CategoryInfo
from exporters.letters import render_letter
from exporters.report import Stated, render_report, shared_items, stated

from .conftest import make_facts, pdf_pages, records_from, sample_records, squeeze
from .test_letters import letter

AUTHORITY = {
    "en": Authority(
        name="Information and Data Protection Commissioner",
        address='Rr. "Abdi Toptani", Nd. 5, 1001 Tirana, Albania',
        website="https://www.idp.al",
    ),
    "sq": Authority(
        name="Komisioneri për të Drejtën e Informimit dhe Mbrojtjen e të Dhënave Personale",
        address='Rr. "Abdi Toptani", Nd. 5, 1001 Tiranë, Shqipëri',
        website="https://www.idp.al",
    ),
}
LAWS = {
    "en": [
        "Regulation (EU) 2016/679 (General Data Protection Regulation, GDPR)",
        'Law No. 124/2024 "On personal data protection" (Albania)',
    ],
    "sq": [
        "Rregullorja (BE) 2016/679 (Rregullorja e Përgjithshme për Mbrojtjen e të Dhënave, GDPR)",
        'Ligji nr. 124/2024 "Për mbrojtjen e të dhënave personale"',
    ],
}
TEXTS = {
    "en": {
        "events": "Events, webinars and seminars",
        "condition": "Dietary requirements: Your explicit consent (GDPR Art. 9(2)(a))",
        "buyer": "Prospective buyer of business assets: Only if we sell business assets.",
        "police": "Police and regulators: Only in exceptional circumstances.",
        "group": "Canon group companies",
        "europe": "Member states of the EU and the EEA: adequate protection",
        "world": "Other countries worldwide: EU standard contractual clauses",
        "transfers": "International transfers",
        "common": "What applies to all your data",
        "automated": "We do not take decisions about you based solely on automated processing",
        "rectification": "you may ask us to correct data about you that is inaccurate",
        "authority_label": "The supervisory authority:",
        "laws": "Laws that apply",
        "sensitive": "Condition for sensitive data",
        "not_transferred": "This data is not transferred to other countries",
    },
    "sq": {
        "events": "Aktivitetet, seminaret nga interneti dhe seminaret",
        "condition": "Kërkesat dietike: Pëlqimi juaj i shprehur (neni 9(2)(a) i GDPR-së)",
        "buyer": "Blerësi potencial i aseteve të biznesit: Vetëm nëse shesim ndonjë aset biznesi.",
        "police": "Policia dhe autoritetet rregullatore: Vetëm në rrethana të jashtëzakonshme.",
        "group": "Kompanitë e grupit Canon",
        "europe": "Shtetet anëtare të BE-së dhe ZEE-së: mbrojtje e mjaftueshme",
        "world": "Shtete të tjera në botë: klauzolat standarde kontraktuale të BE-së",
        "transfers": "Transferimet ndërkombëtare",
        "common": "Çfarë vlen për të gjitha të dhënat tuaja",
        "automated": "Ne nuk marrim vendime për ju të bazuara vetëm në përpunimin e automatizuar",
        "rectification": "mund të na kërkoni të korrigjojmë të dhënat e pasakta për ju",
        "authority_label": "Autoriteti mbikëqyrës:",
        "laws": "Ligjet që zbatohen",
        "sensitive": "Kushti për të dhënat e ndjeshme",
        "not_transferred": "Këto të dhëna nuk transferohen në shtete të tjera",
    },
}
ENTITY = "Canon Europa N.V."
ADDRESS = "Bovenkerkerweg 59, 1185 XB Amstelveen, Nederland"


def information_facts(language: str, *, events_transfers: list[str] | None = None):
    """The conftest register, every held category sharing the same two transfers, plus an
    events category with a flagged field and recipients the statement names conditionally."""
    t = TEXTS[language]
    transfers = [t["europe"], t["world"]]
    facts = make_facts(language)
    categories = [replace(c, transfers=transfers) if c.held else c for c in facts.categories] + [
        CategoryInfo(
            slug="events",
            code="2.3",
            name=t["events"],
            origin="provided",
            legal_bases=["Consent (Art. 6(1)(a))"],
            special_category_conditions=[t["condition"]],
            recipients=[t["group"], t["buyer"], t["police"]],
            transfers=transfers if events_transfers is None else events_transfers,
        )
    ]
    return replace(
        facts,
        categories=categories,
        authority=AUTHORITY[language],
        laws=LAWS[language],
        controller_entity=ENTITY,
        controller_address=ADDRESS,
    )


class Text:
    """The report's text; `phrase in text` and `text.count(phrase)` ignore line wrapping."""

    def __init__(self, pages: list[str]):
        self.pages = pages
        self.squeezed = squeeze("\n".join(pages))

    def __contains__(self, phrase: str) -> bool:
        return squeeze(phrase) in self.squeezed

    def count(self, phrase: str) -> int:
        return self.squeezed.count(squeeze(phrase))


@pytest.fixture(scope="module", params=["en", "sq"])
def report(request):
    language = request.param
    pdf = render_report(information_facts(language), records_from(sample_records()))
    return language, Text(pdf_pages(pdf))


def test_the_supervisory_authority_is_named_with_its_address_and_web_site(report):
    language, text = report
    authority = AUTHORITY[language]
    assert TEXTS[language]["authority_label"] in text
    assert authority.name in text
    assert authority.address in text
    assert "www.idp.al" in text


def test_the_gdpr_and_albanias_law_are_both_named(report):
    language, text = report
    assert TEXTS[language]["laws"] in text
    for law in LAWS[language]:
        assert law in text


def test_the_art_9_condition_is_given_for_the_flagged_field(report):
    language, text = report
    assert text.count(TEXTS[language]["sensitive"]) == 1  # only the events category has one
    assert TEXTS[language]["condition"] in text


def test_conditional_recipients_carry_their_condition(report):
    language, text = report
    assert TEXTS[language]["buyer"] in text
    assert TEXTS[language]["police"] in text


def test_the_controllers_legal_entity_and_postal_address_are_given(report):
    _language, text = report
    assert ENTITY in text
    assert ADDRESS in text


def test_blocks_common_to_every_category_appear_once(report):
    language, text = report
    t = TEXTS[language]
    assert text.count(t["common"]) == 2  # the contents and the section itself
    assert text.count(t["transfers"]) == 1
    assert text.count(t["europe"]) == 1 and text.count(t["world"]) == 1
    assert text.count(t["automated"]) == 1
    assert text.count(t["rectification"]) == 1
    assert text.count(AUTHORITY[language].name) == 1


def test_a_category_whose_transfers_differ_says_so_in_its_own_section():
    facts = information_facts("en", events_transfers=[])
    text = Text(pdf_pages(render_report(facts, records_from(sample_records()))))
    # The others share their transfers: stated once, for all the data; the events say theirs.
    assert text.count("International transfers") == 2  # the common section and the events
    assert "Where a kind of data is transferred elsewhere too, or not at all" in text
    assert "This data is not transferred to other countries" in text
    assert text.count(TEXTS["en"]["europe"]) == 1


def test_a_category_with_further_transfers_names_only_those():
    facts = information_facts("en", events_transfers=[TEXTS["en"]["europe"], "Japan: adequacy"])
    text = Text(pdf_pages(render_report(facts, records_from(sample_records()))))
    assert "this data may also be transferred to these countries" in text
    assert text.count("Japan: adequacy") == 1
    assert text.count(TEXTS["en"]["europe"]) == 1


def test_recipients_every_category_shares_are_named_once():
    text = Text(pdf_pages(render_report(information_facts("en"), records_from(sample_records()))))
    # The conftest register's recipient and the events' group companies are not the same:
    # nothing is shared with the events, so each section names its own.
    assert text.count(TEXTS["en"]["group"]) == 1
    facts = information_facts("en")
    shared = "Our processors"
    facts = replace(
        facts,
        categories=[
            replace(c, recipients=[shared, *c.recipients]) if c.held else c
            for c in facts.categories
        ],
    )
    text = Text(pdf_pages(render_report(facts, records_from(sample_records()))))
    assert text.count(shared) == 1
    assert "Your data may be disclosed to these recipients:" in text
    assert "Besides the recipients of all your data, this data may also be disclosed to:" in text
    assert text.count(TEXTS["en"]["buyer"]) == 1


def test_shared_items_are_those_every_category_with_some_shares():
    assert shared_items([["EU", "US"], ["US", "EU", "JP"]]) == ["EU", "US"]
    assert shared_items([["EU", "US"], [], ["US", "EU", "JP"]]) == ["EU", "US"]
    assert shared_items([["EU"], []]) == []  # one category alone shares nothing
    assert shared_items([]) == []


def test_a_section_states_only_what_differs_from_the_shared_items():
    assert stated(["EU"], ["EU"], any_held=True) == Stated("")
    assert stated([], ["EU"], any_held=True) == Stated("none")
    assert stated(["EU", "JP"], ["EU"], any_held=True) == Stated("also", ("JP",))
    assert stated(["JP"], [], any_held=True) == Stated("own", ("JP",))
    assert stated([], [], any_held=True) == Stated("none")
    assert stated([], [], any_held=False) == Stated("")


@pytest.mark.parametrize("language", ["en", "sq"])
def test_letters_name_the_supervisory_authority(language):
    facts = replace(
        letter("refusal", language, request_type="access", reason="r"),
        authority=AUTHORITY[language],
    )
    text = Text(pdf_pages(render_letter(facts)))
    assert AUTHORITY[language].name in text
    assert AUTHORITY[language].address in text
    assert "www.idp.al" in text
