"""The exporters' Albanian catalog: complete, placeholders intact, compiled and not shadowed by
another app's catalog (the .po parser and placeholder check are the project's, see
tests/test_translations.py)."""

from __future__ import annotations

from pathlib import Path

from django.utils import translation

from tests.test_translations import parse_po, placeholders, served

PO = (
    Path(__file__).resolve().parents[2]
    / "exporters"
    / "locale"
    / "sq"
    / "LC_MESSAGES"
    / "django.po"
)


def entries():
    return [e for e in parse_po(PO) if e.msgid]


def test_header_declares_albanian_utf8_and_its_plural_rule():
    header = parse_po(PO)[0].msgstr[0]
    assert "Language: sq\n" in header
    assert "Content-Type: text/plain; charset=UTF-8\n" in header
    assert "Plural-Forms: nplurals=2; plural=(n != 1);\n" in header


def test_every_message_is_translated_keeps_its_placeholders_and_none_is_fuzzy():
    assert len(entries()) > 100
    for e in entries():
        assert "fuzzy" not in e.flags, e.label
        assert e.msgstr and all(s.strip() for s in e.msgstr.values()), e.label
        for index, text in e.msgstr.items():
            source = e.msgid if index == 0 or e.msgid_plural is None else e.msgid_plural
            assert placeholders(text) == placeholders(source), e.label


def test_every_message_is_served_as_translated():
    """The compiled catalog matches the .po (run `compilemessages` in exporters/), and no other
    catalog (an app listed before exporters, or LOCALE_PATHS) serves another text."""
    wrong = []
    with translation.override("sq"):
        for e in entries():
            got = {index: served(e, n) for index, n in ((0, 1), (1, 2)) if index in e.msgstr}
            if got != e.msgstr:
                wrong.append(f"{e.label}: {got}")
    assert not wrong


def test_albanian_texts_use_the_albanian_letters():
    texts = " ".join(s for e in entries() for s in e.msgstr.values())
    assert "ë" in texts and "ç" in texts
