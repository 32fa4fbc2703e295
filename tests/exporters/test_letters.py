"""Letters for the other outcomes, in the subject's language, read back from the PDF."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from exporters.context import LetterFacts
from exporters.letters import letter_html, render_letter

from .conftest import REFERENCE, SCRIPT, pdf_pages, squeeze

COMPLAINT = {
    "en": ("lodge a complaint with a supervisory authority", "effective judicial remedy"),
    "sq": ("paraqisni një ankesë pranë një autoriteti mbikëqyrës", "mjeti efektiv ankimi gjyqësor"),
}


def letter(kind: str, language: str = "en", **extra) -> LetterFacts:
    request_type = (
        kind
        if kind in ("rectification", "erasure", "restriction", "objection")
        else (extra.pop("request_type", "erasure"))
    )
    return LetterFacts(
        kind=kind,
        reference=REFERENCE,
        language=language,
        subject_name="Arta Krasniqi",
        request_type=request_type,
        received_on=dt.date(2026, 11, 2),
        generated_at=dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC),
        controller_name="Canon Albania sh.p.k.",
        controller_contact="Rruga e Kavajës 1, Tiranë",
        dpo_email="dpo@canon.demo.example",
        due_on=dt.date(2026, 12, 2),
        **extra,
    )


class Text:
    """The letter's text; `phrase in text` ignores where lines were wrapped."""

    def __init__(self, pages: list[str]):
        self.squeezed = squeeze("\n".join(pages))

    def __contains__(self, phrase: str) -> bool:
        return squeeze(phrase) in self.squeezed


def text_of(facts: LetterFacts) -> Text:
    pages = pdf_pages(render_letter(facts))
    for page in pages:
        assert REFERENCE in page
    return Text(pages)


@pytest.mark.parametrize("language", ["en", "sq"])
def test_erasure_letter_says_what_was_done_and_what_was_kept_and_why(language):
    facts = letter(
        "erasure",
        language,
        done=["Your online account was erased.", "Your survey answers were erased."],
        kept=[
            ("Purchases (2.8)", "Invoices must be kept for 10 years (tax law)."),
            ("Marketing suppression", "So that we never send you marketing again."),
        ],
        processors=["Support desk is run for us by Adriatik Hosting Sh.p.k."],
        backups=["Support desk: the copies in its backups are overwritten by 4 January 2027."],
        recipients=[("Canon group companies", "We told them of the change on 5 December 2026.")],
    )
    text = text_of(facts)
    title = {"en": "Your request for erasure: what we have done", "sq": "Kërkesa juaj për fshirje"}
    assert title[language] in text
    assert "Your online account was erased." in text
    assert "Invoices must be kept for 10 years (tax law)." in text
    assert "Marketing suppression" in text
    kept = {"en": "We have kept the following data", "sq": "Kemi ruajtur të dhënat e mëposhtme"}
    assert kept[language] in text
    recipients = {"en": "(Art. 19 GDPR)", "sq": "(neni 19 i GDPR-së)"}
    assert recipients[language] in text
    assert "Adriatik Hosting Sh.p.k." in text and "4 January 2027" in text
    assert "Canon group companies" in text
    # Without recipients to tell, the letter claims no notification (Art. 19).
    assert recipients[language] not in text_of(letter("erasure", language, done=["Erased."]))
    for phrase in COMPLAINT[language]:
        assert phrase in text


def test_erasure_letter_without_kept_data_says_none_was_kept():
    text = text_of(letter("erasure", done=["Everything was erased."]))
    assert "We have kept none of the data covered by your request." in text


@pytest.mark.parametrize("kind", ["rectification", "restriction", "objection"])
@pytest.mark.parametrize("language", ["en", "sq"])
def test_done_letters_in_both_languages(kind, language):
    text = text_of(letter(kind, language, done=["Done: X"], kept=[("Category Y", "Reason Z")]))
    article = {"rectification": "16", "restriction": "18", "objection": "21"}[kind]
    assert (f"Art. {article} GDPR" if language == "en" else f"neni {article} i GDPR-së") in text
    assert "Done: X" in text and "Reason Z" in text
    for phrase in COMPLAINT[language]:
        assert phrase in text
    if kind == "restriction":
        assert ("Art. 18(3)" if language == "en" else "neni 18(3)") in text


@pytest.mark.parametrize("language", ["en", "sq"])
def test_refusal_letter_gives_the_reason(language):
    reason = "The request repeats one we answered on 1 October 2026 (Art. 12(5) GDPR)."
    text = text_of(letter("refusal", language, request_type="access", reason=reason))
    decided = {
        "en": "We have decided not to act on your request, for the following reason:",
        "sq": "Kemi vendosur të mos ndërmarrim veprime për kërkesën tuaj",
    }
    assert decided[language] in text
    assert reason in text
    for phrase in COMPLAINT[language]:
        assert phrase in text


@pytest.mark.parametrize("language", ["en", "sq"])
def test_extension_letter_gives_the_new_date_and_the_reason(language):
    facts = letter(
        "extension",
        language,
        request_type="access",
        reason="Your data is held in 14 systems.",
        new_due_on=dt.date(2027, 2, 2),
    )
    text = text_of(facts)
    dates = {
        "en": ("2 February 2027", "2 December 2026"),
        "sq": ("2 shkurt 2027", "2 dhjetor 2026"),
    }
    new, old = dates[language]
    assert new in text and old in text
    assert "Your data is held in 14 systems." in text
    assert ("Art. 12(3) GDPR" if language == "en" else "neni 12(3) i GDPR-së") in text
    for phrase in COMPLAINT[language]:
        assert phrase in text


def test_letters_escape_what_they_are_given():
    html = letter_html(letter("refusal", reason=SCRIPT, request_type="access"))
    assert "<script" not in html and "&lt;script&gt;" in html


def test_a_custom_complaint_text_replaces_the_standard_one():
    text = text_of(
        letter(
            "refusal",
            request_type="access",
            reason="r",
            complaint_text="Write to the Commissioner, Rr. Abdi Toptani, Tirana.",
        )
    )
    assert "Write to the Commissioner, Rr. Abdi Toptani, Tirana." in text
    assert "effective judicial remedy" in text  # always said


@pytest.mark.parametrize(
    ("kind", "extra", "message"),
    [
        ("refusal", {}, "reason"),
        ("extension", {"reason": "busy"}, "new due date"),
        ("extension", {"new_due_on": dt.date(2027, 1, 1)}, "reason"),
        ("apology", {}, "kind"),
    ],
)
def test_a_letter_without_what_the_subject_must_be_told_is_refused(kind, extra, message):
    with pytest.raises(ValueError, match=message):
        letter(kind, request_type="access", **extra)


def test_a_letter_without_the_subjects_name_greets_politely_and_names_no_addressee():
    facts = dataclasses.replace(letter("refusal", reason="r"), subject_name="")
    text = " ".join(" ".join(pdf_pages(render_letter(facts))).split())
    assert "Dear Sir or Madam," in text
    assert "Dear ," not in text and "Addressed to" not in text
