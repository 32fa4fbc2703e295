"""The report's data pages, read back from the PDF: one table per source system and table, the
register's labels in the subject's language, values as people read them, withheld values with
their ground, rows kept whole across page breaks, and a tagged PDF (PDF/UA) in that language."""

from __future__ import annotations

import dataclasses
import io
import os
import re
from pathlib import Path

import pypdf
import pytest

from exporters.context import CategoryInfo, ColumnInfo, SystemInfo
from exporters.report import render_report, report_html

from .conftest import flat, make_facts, pdf_pages, records_from, squeeze

TICKETS = "/api/customers/{subject_key}/tickets"

LABELS = {
    "en": {
        "event_id": "Event",
        "registered_at": "Registered at",
        "paid_amount": "Event payment",
        "attended": "Attended",
        "emergency_contact_phone": "Emergency contact",
        "Dietary needs": "Dietary requirements",
        "Event": "Event",
        "subject": "Subject of the enquiry",
        "created_at": "Sent at",
    },
    "sq": {
        "event_id": "Aktiviteti",
        "registered_at": "Regjistruar më",
        "paid_amount": "Pagesa për aktivitetin",
        "attended": "Mori pjesë",
        "emergency_contact_phone": "Kontakti i emergjencës",
        "Dietary needs": "Kërkesat dietike",
        "Event": "Aktiviteti",
        "subject": "Tema e kërkesës",
        "created_at": "Dërguar më",
    },
}
SOURCE_COLUMNS = [
    "event_id",
    "registered_at",
    "paid_amount",
    "emergency_contact_phone",
    "dietary_needs",
    "Dietary needs",
    "created_at",
    "{subject_key}",
    "/api/",
]
EXPECTED = {
    "en": {
        "when": "4 December 2026, 14:05",
        "day": "12 June 2026, 11:00",
        "amount": "1,250.00 EUR",
        "yes": "yes",
        "withheld": "[withheld: another person's data (Art. 15(4) GDPR)]",
        "cut": "Showing 3 of 4 records; all are in data/events/crm-registrations.json, data/events/crm-registrations.csv.",
    },
    "sq": {
        "when": "4 dhjetor 2026, 14:05",
        "day": "12 qershor 2026, 11:00",
        "amount": "1250,00 EUR",
        "yes": "po",
        "withheld": "[e mbajtur: të dhëna të një personi tjetër (neni 15(4) i GDPR-së)]",
        "cut": "Tregohen 3 nga 4 regjistrime; të gjitha janë në data/events/crm-registrations.json, "
        "data/events/crm-registrations.csv.",
    },
}


def events_facts(language: str, *, other_people_note: str = "Emergency contacts are people."):
    labels = LABELS[language]
    crm = SystemInfo(
        name="CRM",
        columns={
            "registrations": {
                column: ColumnInfo(labels[column], "EUR" if column == "paid_amount" else "")
                for column in (
                    "event_id",
                    "registered_at",
                    "paid_amount",
                    "attended",
                    "emergency_contact_phone",
                )
            }
        },
    )
    lists = SystemInfo(
        name="Attendee lists",
        columns={"*": {c: ColumnInfo(labels[c]) for c in ("Event", "Dietary needs")}},
    )
    desk = SystemInfo(
        name="Support desk",
        columns={TICKETS: {c: ColumnInfo(labels[c]) for c in ("subject", "created_at")}},
    )
    events = CategoryInfo(
        slug="events",
        code="2.3",
        name="Events" if language == "en" else "Aktivitetet",
        other_people_note=other_people_note,
    )
    return dataclasses.replace(
        make_facts(language, categories=[events]), systems=[crm, lists, desk]
    )


def registration(i: int, **data) -> dict:
    base = {
        "event_id": "Printing for offices, Tirana 2026",
        "registered_at": "2026-12-04T13:05:00+00:00",
        "paid_amount": 1250,
        "attended": True,
        "emergency_contact_phone": "+355691234567",
    }
    return {
        "source": "CRM: registrations",
        "key": f"registrations:{i}",
        "found_by": "email",
        "data": {**base, **data},
    }


def events_records() -> dict[str, list[dict]]:
    withheld = registration(2, emergency_contact_phone="[redacted]")
    withheld["withheld"] = {"emergency_contact_phone": "other_person"}
    return {
        "events": [
            registration(1),
            withheld,
            registration(3),
            registration(4),
            {
                "source": "Attendee lists: seminar-2026.csv",
                "key": "seminar-2026.csv:88",
                "found_by": "name_company",
                "data": {"Event": "Seminar", "Dietary needs": "vegetarian"},
            },
            {
                "source": f"Support desk: {TICKETS}",
                "key": "t1",
                "found_by": "phone",
                "data": {"subject": "Ticket for the seminar", "created_at": "2026-06-12 09:00:00"},
            },
        ]
    }


def save_artifact(name: str, pdf: bytes) -> None:
    """The rendered report, and a screenshot of each of its pages (PDFium), for a person to
    look at in the test artifacts."""
    folder = os.environ.get("DSAR_TEST_ARTIFACTS")
    if not folder:
        return
    import pypdfium2

    path = Path(folder) / "reports"
    path.mkdir(parents=True, exist_ok=True)
    (path / name).write_bytes(pdf)
    document = pypdfium2.PdfDocument(pdf)
    try:
        for number, page in enumerate(document, start=1):
            image = page.render(scale=1.5).to_pil()
            image.save(path / f"{Path(name).stem}-page-{number:02d}.png")
        assert len(list(path.glob(f"{Path(name).stem}-page-*.png"))) == len(document)
    finally:
        document.close()


@pytest.fixture(scope="module", params=["en", "sq"])
def events_report(request):
    """(language, html, pdf, whole text) of a report of event data from three systems."""
    language = request.param
    facts = events_facts(language)
    records = records_from(events_records())
    with pytest.MonkeyPatch.context() as patch:
        from django.conf import settings

        patch.setattr(settings, "DSAR_REPORT_MAX_ROWS", 3, raising=False)
        html, _counts = report_html(facts, records)
        pdf = render_report(facts, records)
    save_artifact(f"events-{language}.pdf", pdf)
    return language, html, pdf, flat("\n".join(pdf_pages(pdf)))


def data_pages(text: str, language: str) -> str:
    """The text from the data chapter on (chapter 2 quotes no column)."""
    marker = "5. Your data" if language == "en" else "5. Të dhënat tuaja"
    return text[text.rindex(marker) :]


def test_each_source_system_and_table_has_its_own_table(events_report):
    _language, html, _pdf, text = events_report
    assert html.count('<table class="records">') == 3
    data = data_pages(text, _language)
    assert "CRM (registrations)" in data
    assert "Attendee lists (seminar-2026.csv)" in data
    assert "Support desk (tickets)" in data


def test_no_source_column_name_or_url_template_appears_in_the_data_pages(events_report):
    language, _html, _pdf, text = events_report
    data = data_pages(text, language)
    for name in SOURCE_COLUMNS:
        assert name not in data, name


def test_every_header_is_a_register_label_in_the_reports_language(events_report):
    language, html, _pdf, text = events_report
    headers = re.findall(r'<th scope="col">([^<]*)</th>', html)
    # A column of times names their zone after its label, once for all its cells.
    labels = [header.removesuffix(" (Europe/Tirane)") for header in headers]
    assert headers and set(labels) <= set(LABELS[language].values())
    for header in headers:
        assert squeeze(header) in squeeze(text)


def test_a_column_of_times_names_their_zone_in_its_header_not_in_every_cell(events_report):
    language, html, _pdf, text = events_report
    headers = re.findall(r'<th scope="col">([^<]*)</th>', html)
    labels = LABELS[language]
    timed = {h for h in headers if h.endswith(" (Europe/Tirane)")}
    assert timed == {f"{labels[c]} (Europe/Tirane)" for c in ("registered_at", "created_at")}
    # Each header once per page its table runs on; here every table fits on one page.
    assert squeeze(text).count("(Europe/Tirane)") == len(timed)


def test_values_are_formatted_for_people_in_the_reports_language(events_report):
    language, _html, _pdf, text = events_report
    expected = EXPECTED[language]
    assert squeeze(expected["when"]) in squeeze(text)
    assert expected["day"] in text  # a time without an offset is UTC
    assert expected["amount"] in text
    assert f" {expected['yes']} " in text
    assert "2026-12-04" not in text and "True" not in text


def test_a_withheld_value_shows_its_ground(events_report):
    language, _html, _pdf, text = events_report
    assert EXPECTED[language]["withheld"] in text
    assert "[redacted]" not in text


def test_the_other_people_note_appears_where_such_data_was_left_out(events_report):
    _language, _html, _pdf, text = events_report
    assert "Emergency contacts are people." in text


def test_the_other_people_note_is_absent_where_nothing_was_left_out():
    facts = events_facts("en")
    records = events_records()
    del records["events"][1]["withheld"]
    html, _counts = report_html(facts, records_from(records))
    assert "Emergency contacts are people." not in html


def test_a_table_cut_by_the_row_limit_says_how_many_and_where_all_are(events_report):
    language, _html, _pdf, text = events_report
    assert EXPECTED[language]["cut"] in text


def test_the_pdf_is_tagged_and_names_its_language(events_report):
    language, _html, pdf, _text = events_report
    catalog = pypdf.PdfReader(io.BytesIO(pdf)).trailer["/Root"]
    assert bool(catalog["/MarkInfo"]["/Marked"])
    assert catalog["/Lang"] == language
    tree = catalog["/StructTreeRoot"].get_object()
    kinds = set()

    def walk(node, depth=0):
        node = node.get_object()
        if isinstance(node, dict) and "/S" in node:
            kinds.add(node["/S"])
            kids = node.get("/K")
            for kid in kids if isinstance(kids, list) else [kids]:
                if hasattr(kid, "get_object"):
                    walk(kid, depth + 1)

    for kid in tree["/K"]:
        walk(kid)
    # Lists stay lists (their bullets are drawn as images, not as marker text).
    assert {"/H1", "/H2", "/Table", "/TH", "/TD", "/P", "/L", "/LI"} <= kinds


def test_no_row_shorter_than_a_page_is_split_across_pages():
    # Rows of several lines each, many of them: without `break-inside: avoid` some row would
    # start at the foot of a page and end at the top of the next.
    filler = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor. "
    rows = [
        {
            "source": "CRM: registrations",
            "key": str(i),
            "found_by": "email",
            "data": {"event_id": f"ROWSTART{i:03d}", "emergency_contact_phone": ""},
        }
        for i in range(90)
    ]
    for i, row in enumerate(rows):
        row["data"]["emergency_contact_phone"] = filler * (1 + i % 3) + f"ROWEND{i:03d}"
    pdf = render_report(events_facts("en"), records_from({"events": rows}))
    save_artifact("rows-en.pdf", pdf)
    pages = ["".join(page.split()) for page in pdf_pages(pdf)]

    def page_of(marker: str) -> int:
        found = [n for n, page in enumerate(pages) if marker in page]
        assert len(found) == 1, marker
        return found[0]

    spans = {page_of(f"ROWSTART{i:03d}") for i in range(90)}
    assert len(spans) > 1  # the table does run over several pages
    for i in range(90):
        assert page_of(f"ROWSTART{i:03d}") == page_of(f"ROWEND{i:03d}"), i


def test_an_albanian_report_names_tables_by_their_albanian_label():
    facts = events_facts("sq")
    crm, lists, desk = facts.systems
    facts = dataclasses.replace(
        facts,
        systems=[
            dataclasses.replace(crm, labels={"registrations": "Regjistrimet në aktivitete"}),
            dataclasses.replace(lists, labels={"*": "Listat e pjesëmarrësve"}),
            dataclasses.replace(desk, labels={TICKETS: "Kërkesat për ndihmë"}),
        ],
    )
    text = flat("\n".join(pdf_pages(render_report(facts, records_from(events_records())))))
    data = data_pages(text, "sq")
    assert "CRM (Regjistrimet në aktivitete)" in data
    assert "Attendee lists (Listat e pjesëmarrësve: seminar-2026.csv)" in data
    assert "Support desk (Kërkesat për ndihmë)" in data
    assert "(registrations)" not in data and "(tickets)" not in data
