"""The PDF report, read back with pypdf: Art. 15 in both languages, pages, escaping, odd text."""

from __future__ import annotations

import dataclasses
import io
import re

import pypdf
import pytest

from exporters.context import CategoryInfo
from exporters.report import DataTable, read_table, render_report, report_html, share_cells

from .conftest import (
    ARABIC,
    BINARY,
    EMOJI,
    HEBREW,
    LONG,
    REFERENCE,
    SCRIPT,
    TEXTS,
    flat,
    make_facts,
    pdf_pages,
    records_from,
    register,
    sample_records,
    squeeze,
)

LABELS = {
    "en": {
        "title": "Your personal data: access report",
        "purposes": "Purposes",
        "legal_basis": "Legal basis",
        "source": "Source",
        "recipients": "Recipients",
        "retention": "Retention period",
        "transfers": "International transfers",
        "automated": "Automated decision-making",
        "automated_text": "We do not take decisions about you based solely on automated processing",
        "rights": "Your rights",
        "rights_text": "you may ask us to correct data about you that is inaccurate",
        "erasure": "Erasure Art. 17 GDPR",
        "restriction": "Restriction Art. 18 GDPR",
        "objection": "Objection Art. 21 GDPR",
        "complaint": "you have the right to lodge a complaint with a supervisory authority",
        "remedy": "effective judicial remedy",
        "third_party": "We obtained it from other sources, not from you.",
        "provided": "You gave it to us.",
        "not_held": "We do not hold this kind of data.",
        "incomplete": "This answer is not complete",
        "incomplete_text": "therefore missing from this report",
        "no_rows": "We found no data about you in this category.",
        "contents": "Contents",
        "page": "Page {n} of {total}",
        "received": "2 November 2026",
        "generated": "20 November 2026, 10:30",
        "binary": f"[binary content: 48213 bytes, SHA-256 {BINARY['sha256'][:12]}…]",
        "count": "13 records.",
        "shown": "Showing 5 of 13 records; all are in data/browsing/web-analytics.json, data/browsing/web-analytics.csv.",
        "how": "How we use your data",
        "your_data": "Your data",
    },
    "sq": {
        "title": "Të dhënat tuaja personale: raporti i aksesit",
        "purposes": "Qëllimet",
        "legal_basis": "Baza ligjore",
        "source": "Burimi",
        "recipients": "Marrësit",
        "retention": "Periudha e ruajtjes",
        "transfers": "Transferimet ndërkombëtare",
        "automated": "Vendimmarrja e automatizuar",
        "automated_text": "Ne nuk marrim vendime për ju të bazuara vetëm në përpunimin e automatizuar",
        "rights": "Të drejtat tuaja",
        "rights_text": "mund të na kërkoni të korrigjojmë të dhënat e pasakta për ju",
        "erasure": "Fshirja neni 17 i GDPR-së",
        "restriction": "Kufizimi neni 18 i GDPR-së",
        "objection": "Kundërshtimi neni 21 i GDPR-së",
        "complaint": "keni të drejtë të paraqisni një ankesë pranë një autoriteti mbikëqyrës",
        "remedy": "mjeti efektiv ankimi gjyqësor",
        "third_party": "I kemi marrë nga burime të tjera, jo nga ju.",
        "provided": "Na i keni dhënë ju.",
        "not_held": "Nuk mbajmë të dhëna të këtij lloji.",
        "incomplete": "Kjo përgjigje nuk është e plotë",
        "incomplete_text": "mungojnë në këtë raport",
        "no_rows": "Nuk gjetëm të dhëna për ju në këtë kategori.",
        "contents": "Përmbajtja",
        "page": "Faqja {n} nga {total}",
        "received": "2 nëntor 2026",
        "generated": "20 nëntor 2026, 10:30",
        "binary": f"[përmbajtje binare: 48213 bajte, SHA-256 {BINARY['sha256'][:12]}…]",
        "count": "13 regjistrime.",
        "shown": "Tregohen 5 nga 13 regjistrime; të gjitha janë në data/browsing/web-analytics.json, data/browsing/web-analytics.csv.",
        "how": "Si i përdorim të dhënat tuaja",
        "your_data": "Të dhënat tuaja",
    },
}


@pytest.fixture(scope="module", params=["en", "sq"])
def report(request):
    """(language, pages' text) of a report with a failed source, rendered once per language."""
    language = request.param
    pdf = render_report(make_facts(language, failed=True), records_from(sample_records()))
    assert pdf.startswith(b"%PDF-")
    return language, pdf_pages(pdf)


def whole(pages: list[str]) -> str:
    return flat("\n".join(pages))


# --- Art. 15 --------------------------------------------------------------------------------------


def test_report_gives_every_art15_item_in_the_subjects_language(report):
    language, pages = report
    text, labels, texts = whole(pages), LABELS[language], TEXTS[language]
    for key in (
        "purposes",
        "legal_basis",
        "source",
        "recipients",
        "retention",
        "transfers",
        "automated",
        "automated_text",
        "rights",
        "rights_text",
        "erasure",
        "restriction",
        "objection",
        "complaint",
        "remedy",
        "provided",
        "third_party",
    ):
        assert labels[key] in text, f"{language}: {key}"
    for key in ("purpose_identify", "purpose_marketing", "recipient", "retention"):
        assert texts[key] in text, f"{language}: {key}"
    for key in ("basis_contract", "basis_interests", "transfer", "source_partner"):
        assert squeeze(texts[key]) in squeeze(text), f"{language}: {key}"
    for slug in ("online_account", "browsing", "prospects", "legal"):
        name, description, _examples = texts[slug]
        assert name in text and description in text


def test_each_held_category_has_its_own_art15_table(report):
    language, pages = report
    text = whole(pages)
    # four held categories: each states its retention; automated decisions are said once
    assert text.count(LABELS[language]["retention"]) >= 4
    assert text.count(LABELS[language]["automated_text"]) == 1


def test_cover_letter_names_controller_dpo_reference_and_dates(report):
    language, pages = report
    cover = flat(pages[0])
    labels = LABELS[language]
    assert labels["title"] in cover
    assert "Canon Albania sh.p.k." in cover and "Rruga e Kavajës 1, Tiranë" in cover
    assert "dpo@canon.demo.example" in cover
    assert REFERENCE in cover and "Arta Krasniqi" in cover
    assert labels["received"] in cover
    assert labels["generated"] in cover  # 09:30 UTC is 10:30 in Tirana


def test_reference_and_page_number_are_on_every_page(report):
    language, pages = report
    for number, page in enumerate(pages, start=1):
        assert REFERENCE in page, f"page {number}"
        expected = LABELS[language]["page"].format(n=number, total=len(pages))
        assert expected in flat(page), f"page {number}"
        assert LABELS[language]["title"] in flat(page), f"page {number}"  # ë and spaces kept


def test_contents_give_the_page_of_each_chapter(report):
    language, pages = report
    labels = LABELS[language]
    contents = next(i for i, page in enumerate(pages) if page.startswith(labels["contents"]))
    toc = pages[contents]
    for chapter in ("how", "your_data"):
        heading = labels[chapter]
        match = re.search(rf"\d\. {re.escape(heading)}(?: *\.)+ *(\d+)", toc)
        assert match, f"{heading} not in contents"
        page = int(match.group(1))
        assert pages[page - 1].split("\n")[0].endswith(heading) or heading in pages[page - 1]


def test_payment_cards_are_stated_as_not_held_with_the_reason(report):
    language, pages = report
    text = whole(pages)
    assert LABELS[language]["not_held"] in text
    assert squeeze(TEXTS[language]["not_held"]) in squeeze(text)
    assert TEXTS[language]["payments"][0] in text


def test_failed_sources_make_the_report_say_it_is_incomplete(report):
    language, pages = report
    labels = LABELS[language]
    assert labels["incomplete"] in flat(pages[0])  # on the cover letter already
    text = whole(pages)
    assert TEXTS[language]["failed"] in text
    assert labels["incomplete_text"] in text


def test_without_failed_sources_there_is_no_incompleteness_notice():
    html, _counts = report_html(make_facts("en"), records_from(sample_records()))
    assert "This answer is not complete" not in html


# --- the data -------------------------------------------------------------------------------------


def test_script_values_are_text_never_markup(report):
    _language, pages = report
    assert squeeze(SCRIPT) in squeeze(whole(pages))
    html, _counts = report_html(make_facts("en"), records_from(sample_records()))
    assert "<script" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert '<img src="file' not in html
    assert "&lt;img src=&quot;file:///etc/passwd&quot;&gt;" in html


def test_odd_characters_survive_into_the_pdf(report):
    _language, pages = report
    text = whole(pages)
    for value in (EMOJI, "ë ç Ë Ç", "Tiranë, Korçë, Gjirokastër", "Drejtoreshë"):
        assert value in text
    for value in (HEBREW, ARABIC):
        assert value in text or value[::-1] in text


def test_binary_content_is_summarised(report):
    language, pages = report
    assert squeeze(LABELS[language]["binary"]) in squeeze(whole(pages))


def test_very_long_values_are_cut_with_an_ellipsis_in_the_pdf_only(report):
    _language, pages = report
    text = squeeze(whole(pages))
    assert squeeze(LONG[:200]) in text
    assert squeeze(LONG) not in text
    assert "x" * 300 + "…" in text
    assert "x" * 301 not in text


def test_a_category_without_records_says_so(report):
    language, pages = report
    assert LABELS[language]["no_rows"] in whole(pages)


def test_data_tables_point_to_the_bundle_files(report):
    _language, pages = report
    text = whole(pages)
    # every source table of a category has its own files, named in the category's heading
    assert (
        "data/online_account/crm-accounts.json, data/online_account/crm-accounts.csv, "
        "data/online_account/web-portal.json"
    ) in text
    assert "data/legal" not in text  # no records, no files


def test_only_the_first_rows_are_shown_with_the_total(settings):
    settings.DSAR_REPORT_MAX_ROWS = 5
    for language in ("en", "sq"):
        pages = pdf_pages(render_report(make_facts(language), records_from(sample_records())))
        text = whole(pages)
        assert LABELS[language]["count"] in text
        assert LABELS[language]["shown"] in text
        assert "/products/4" in text
        assert "/products/5" not in text


def test_the_rest_of_a_long_category_is_counted_without_being_kept():
    consumed = []

    def records_by_category(slug):
        for i in range(5000):
            consumed.append(i)
            yield {"source": "s", "key": str(i), "found_by": "email", "data": {"i": i}}

    category = make_facts().category("browsing")
    table = read_table(category, records_by_category, limit=20, max_chars=100)
    assert table.total == 5000 and table.shown == 20 and table.partial
    assert len(consumed) == 5000


def test_a_source_whose_records_come_last_still_gets_its_table():
    def records_by_category(slug):
        for i in range(500):
            yield {
                "source": "CRM: web_events",
                "key": str(i),
                "found_by": "email",
                "data": {"i": i},
            }
        yield {"source": "Support desk: /api/x/{subject_key}/visits", "key": "v", "data": {"i": 1}}

    category = make_facts().category("browsing")
    data = read_table(category, records_by_category, limit=20, max_chars=100)
    assert [(t.system, t.place, t.total, t.shown) for t in data.tables] == [
        ("CRM", "web events", 500, 20),
        ("Support desk", "visits", 1, 1),
    ]


def test_the_cell_budget_is_shared_fairly_between_categories():
    def table(rows: int, fields: int) -> DataTable:
        category = CategoryInfo(slug=f"c{rows}x{fields}", code="1", name="c")
        t = DataTable(category=category, system="one source")
        t.rows = [{f"f{j}": None for j in range(fields)} for _ in range(rows)]
        t.total = rows
        t.finish()
        return t

    small, big, wide = table(3, 2), table(200, 2), table(200, 10)
    share_cells([small, big, wide], budget=1000)
    assert small.shown == 3  # small tables keep everything
    assert big.shown == wide.shown  # the others get the same number of rows
    assert 3 * 2 + big.shown * 2 + wide.shown * 10 <= 1000
    assert big.shown == 82


def test_a_wide_table_puts_the_whole_data_chapter_on_landscape_pages():
    records = {
        "browsing": [
            {"source": "a", "key": "1", "found_by": "e", "data": {f"f{i}": i for i in range(9)}}
        ],
        "online_account": [{"source": "a", "key": "1", "found_by": "e", "data": {"name": "Arta"}}],
    }
    pdf = render_report(make_facts("en"), records_from(records))
    pages = pypdf.PdfReader(io.BytesIO(pdf)).pages
    texts = [page.extract_text() for page in pages]
    first = next(i for i, text in enumerate(texts) if "The tables below show" in text)
    # The chapter's introduction shares its page with the first table: one orientation for
    # the chapter, so no page is left nearly blank where the paper would turn.
    assert "2.1 Online account" in texts[first]
    assert all(page.mediabox.width > page.mediabox.height for page in pages[first:])
    assert all(page.mediabox.width < page.mediabox.height for page in pages[:first])


def test_narrow_tables_keep_the_data_chapter_portrait():
    records = {
        "online_account": [{"source": "a", "key": "1", "found_by": "e", "data": {"name": "A"}}]
    }
    html, _counts = report_html(make_facts("en"), records_from(records))
    assert "landscape" not in re.sub(r"@page landscape", "", html)


def test_portability_report_says_what_was_asked():
    html, _counts = report_html(make_facts("en", "portability"), records_from(sample_records()))
    assert "machine-readable format (Article 20" in html


def test_portability_report_points_to_the_data_files_not_the_schemas():
    html, _counts = report_html(make_facts("en", "portability"), records_from(sample_records()))
    assert "data/browsing/web-analytics.json, data/browsing/web-analytics.csv." in html
    assert "schema/browsing/" not in html


def test_records_without_fields_still_show_their_source():
    records = {"browsing": [{"source": "web analytics", "key": "1", "found_by": "e", "data": {}}]}
    html, counts = report_html(make_facts("en"), records_from(records))
    assert counts["browsing"] == 1
    assert "web analytics" in html


def test_categories_run_on_between_pages_but_never_split_a_row():
    # Six categories whose purposes fill most of a page each: kept whole, each would start on
    # a page of its own after a blank remainder; now they run on, each row kept whole.
    filler = "We use it to run and improve the service we provide to your business. "
    categories = [
        dataclasses.replace(
            category,
            slug=f"kind{n}",
            code=f"2.{n}",
            name=f"Kind {n}",
            purposes=[f"PURPOSESTART{n} " + filler * 14 + f"PURPOSEEND{n}"],
            retention=f"RETENTION{n}",
        )
        for n, category in enumerate([register("en")[0]] * 6)
    ]
    pdf = render_report(make_facts("en", categories=categories), records_from({}))
    pages = ["".join(page.split()) for page in pdf_pages(pdf)]

    def page_of(marker: str) -> int:
        found = [n for n, page in enumerate(pages) if marker in page and "Contents" not in page]
        assert len(found) == 1, marker
        return found[0]

    for n in range(6):
        assert page_of(f"PURPOSESTART{n}") == page_of(f"PURPOSEEND{n}"), n
    # Some category begins on the page where the one before it ends.
    assert any(page_of(f"RETENTION{n}") == page_of(f"PURPOSESTART{n + 1}") for n in range(5))


@pytest.mark.parametrize(
    ("language", "salutation"), [("en", "Dear Sir or Madam,"), ("sq", "Të nderuar,")]
)
def test_a_report_without_the_subjects_name_greets_politely_and_names_no_addressee(
    language, salutation
):
    facts = dataclasses.replace(make_facts(language), subject_name="")
    text = flat("\n".join(pdf_pages(render_report(facts, records_from(sample_records())))))
    assert salutation in text
    assert "Addressed to" not in text and "Drejtuar" not in text
