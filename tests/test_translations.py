"""The Albanian translations (casework and dsar): complete, with the placeholders intact, and
actually served at run time.

The .po files are read with a small parser (no dependency on polib). The run-time checks use
the compiled casework catalog, which `make test` builds (`manage.py compilemessages` inside
casework/) before pytest runs.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.template.loader import render_to_string
from django.utils import translation

from casework.models import AskPurpose, Channel, RequestType, RestrictionGround, State

ROOT = Path(__file__).resolve().parent.parent
PO_FILES = {
    "casework": ROOT / "casework" / "locale" / "sq" / "LC_MESSAGES" / "django.po",
    "dsar": ROOT / "dsar" / "locale" / "sq" / "LC_MESSAGES" / "django.po",
}


# --- a small .po parser ---------------------------------------------------------------------------


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str | None = None
    msgctxt: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    line: int = 0

    @property
    def label(self) -> str:
        return f"line {self.line}: {self.msgid[:60]!r}"


_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "r": "\r"}
_KEYWORD = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+"(.*)"$')


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), text)


def parse_po(path: Path) -> list[Entry]:
    """Entries of a .po file, header included (msgid ""); obsolete (#~) entries are left out."""
    entries: list[Entry] = []
    entry: Entry | None = None
    target: tuple[str, int | None] | None = None

    def flush() -> None:
        nonlocal entry, target
        if entry is not None and entry.msgstr:
            entries.append(entry)
        entry, target = None, None

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line:
            flush()
            continue
        if line.startswith("#,"):
            if entry is not None and entry.msgstr:
                flush()
            entry = entry or Entry(line=number)
            entry.flags |= {flag.strip() for flag in line[2:].split(",") if flag.strip()}
            continue
        if line.startswith("#"):
            continue  # comments, references, previous msgids, obsolete entries
        match = _KEYWORD.match(line)
        if match:
            keyword, index, text = match.groups()
            if keyword in ("msgctxt", "msgid") and entry is not None and entry.msgstr:
                flush()
            entry = entry or Entry(line=number)
            if keyword == "msgid":
                entry.line = number
            if keyword.startswith("msgstr"):
                target = ("msgstr", int(index) if index is not None else 0)
                entry.msgstr[target[1]] = ""
            else:
                target = (keyword, None)
                setattr(entry, keyword, "")
            _append(entry, target, _unescape(text))
        elif line.startswith('"') and line.endswith('"') and entry is not None and target:
            _append(entry, target, _unescape(line[1:-1]))
        else:
            raise AssertionError(f"{path}:{number}: cannot parse {raw!r}")
    flush()
    return entries


def _append(entry: Entry, target: tuple[str, int | None], text: str) -> None:
    name, index = target
    if name == "msgstr":
        entry.msgstr[index] += text
    else:
        setattr(entry, name, (getattr(entry, name) or "") + text)


def messages(app: str) -> list[Entry]:
    return [e for e in parse_po(PO_FILES[app]) if e.msgid]


def header(app: str) -> str:
    first = parse_po(PO_FILES[app])[0]
    assert first.msgid == "", "the header must come first"
    return first.msgstr[0]


# Python %-format (named and positional, not %%), Django template variables, str.format fields.
_PLACEHOLDER = re.compile(
    r"%%|%(?:\(\w+\))?[#0\- +]*(?:\d+|\*)?(?:\.\d+)?[diouxXeEfFgGcrsa]"
    r"|\{\{\s*[\w.|:\"' ]+?\s*\}\}"
    r"|\{\w*(?:![rsa])?(?::[^{}]*)?\}"
)


def placeholders(text: str) -> Counter[str]:
    found = (re.sub(r"\s+", "", p) for p in _PLACEHOLDER.findall(text))
    return Counter(p for p in found if p != "%%")


# --- the files ------------------------------------------------------------------------------------


@pytest.mark.parametrize("app", PO_FILES)
def test_header_declares_albanian_utf8_and_its_plural_rule(app):
    text = header(app)
    assert "Language: sq\n" in text
    assert "Content-Type: text/plain; charset=UTF-8\n" in text
    assert "Plural-Forms: nplurals=2; plural=(n != 1);\n" in text


@pytest.mark.parametrize("app", PO_FILES)
def test_every_message_is_translated_and_none_is_fuzzy(app):
    entries = messages(app)
    assert entries, f"{PO_FILES[app]} has no messages"
    untranslated = [
        e.label
        for e in entries
        if not e.msgstr
        or any(not s.strip() for s in e.msgstr.values())
        or (e.msgid_plural is not None and sorted(e.msgstr) != [0, 1])
    ]
    assert not untranslated, f"untranslated in {app}: {untranslated}"
    fuzzy = [e.label for e in entries if "fuzzy" in e.flags]
    assert not fuzzy, f"fuzzy in {app}: {fuzzy}"


@pytest.mark.parametrize("app", PO_FILES)
def test_translations_keep_the_placeholders(app):
    wrong = []
    for e in messages(app):
        for index, text in e.msgstr.items():
            source = e.msgid if index == 0 or e.msgid_plural is None else e.msgid_plural
            if placeholders(text) != placeholders(source):
                wrong.append(f"{e.label} [{index}]: {sorted(placeholders(text))}")
    assert not wrong, f"placeholders differ in {app}: {wrong}"


def test_the_placeholder_check_sees_each_kind():
    assert placeholders("%(ref)s, %d, {{ due }}, {name}, 100%%") == Counter(
        ["%(ref)s", "%d", "{{due}}", "{name}"]
    )
    assert placeholders("%(ref)s") != placeholders("%(reference)s")
    assert placeholders("%(n)d") != placeholders("%(n)s")


def test_the_parser_reads_plurals_continuations_and_flags(tmp_path):
    po = tmp_path / "django.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Language: sq\\n"\n\n'
        '#: a.py:1\n#, fuzzy, python-format\nmsgid ""\n"%(n)d day "\n"overdue"\n'
        'msgid_plural "%(n)d days overdue"\nmsgstr[0] "%(n)d ditë"\nmsgstr[1] ""\n\n'
        'msgid "Say \\"hi\\""\nmsgstr "Thuaj „hi“"\n\n'
        '#~ msgid "gone"\n#~ msgstr "ikur"\n',
        encoding="utf-8",
    )
    head, plural, quoted = parse_po(po)
    assert head.msgstr == {0: "Language: sq\n"}
    assert plural.msgid == "%(n)d day overdue"
    assert plural.msgid_plural == "%(n)d days overdue"
    assert plural.msgstr == {0: "%(n)d ditë", 1: ""}
    assert plural.flags == {"fuzzy", "python-format"}
    assert quoted.msgid == 'Say "hi"'


# --- at run time ----------------------------------------------------------------------------------


def test_request_types_and_states_come_out_in_albanian():
    with translation.override("sq"):
        assert RequestType.ACCESS.label == "Aksesi (neni 15)"
        assert RequestType.ERASURE.label == "Fshirja (neni 17)"
        assert RequestType.PORTABILITY.label == "Transferueshmëria e të dhënave (neni 20)"
        assert State.RECEIVED.label == "E marrë, ende e paverifikuar"
        assert State.REJECTED.label == "E refuzuar"
        assert State.AWAITING_SUBJECT.label == "Në pritje të subjektit"
        sq = {
            str(label)
            for choices in (RequestType, State, Channel, RestrictionGround, AskPurpose)
            for label in choices.labels
        }
    with translation.override("en"):
        assert RequestType.ACCESS.label == "Access (Art. 15)"
        assert State.REJECTED.label == "Rejected"
        en = {
            str(label)
            for choices in (RequestType, State, Channel, RestrictionGround, AskPurpose)
            for label in choices.labels
        }
    # Only the API and E-mail channels read the same in both languages.
    assert en & sq == {"API", "E-mail"}


def test_rejection_email_is_in_albanian():
    context = {
        "case": SimpleNamespace(reference="DSAR-2026-000042"),
        "reason": "Kërkesë e përsëritur",
        "authority": SimpleNamespace(name="Komisioneri", website="https://www.idp.al"),
    }
    with translation.override("sq"):
        subject = render_to_string("casework/email/rejected_subject.txt", context).strip()
        body = render_to_string("casework/email/rejected.txt", context)
    assert subject == "Kërkesa juaj DSAR-2026-000042: vendimi ynë"
    assert "Kemi vendosur të mos ndërmarrim veprime për kërkesën tuaj DSAR-2026-000042." in body
    assert "pranë autoritetit mbikëqyrës (Komisioneri, https://www.idp.al)" in body
    assert "Kërkesë e përsëritur" in body
    with translation.override("en"):
        subject = render_to_string("casework/email/rejected_subject.txt", context).strip()
    assert subject == "Your request DSAR-2026-000042: our decision"


def test_extension_email_is_in_albanian():
    context = {"case": SimpleNamespace(reference="DSAR-2026-000042"), "reason": "", "due_on": "x"}
    with translation.override("sq"):
        subject = render_to_string("casework/email/extended_subject.txt", context).strip()
        body = render_to_string("casework/email/extended.txt", context)
    assert subject == "Kërkesa juaj DSAR-2026-000042: na nevojitet më shumë kohë"
    assert "Do t'ju përgjigjemi deri më x." in body


def test_every_casework_message_is_served_as_translated():
    """The compiled catalog matches the .po, and no other catalog (Django's, another app's, the
    project's LOCALE_PATHS) shadows a casework string with a different text."""
    served_wrong = []
    with translation.override("sq"):
        for e in messages("casework"):
            got = {index: served(e, n) for index, n in ((0, 1), (1, 2)) if index in e.msgstr}
            if got != e.msgstr:
                served_wrong.append(f"{e.label}: {got}")
    assert not served_wrong, (
        f"casework/locale is not compiled or is shadowed; run `make messages`: {served_wrong}"
    )


def served(e: Entry, n: int) -> str:
    if e.msgid_plural is None:
        if e.msgctxt is not None:
            return translation.pgettext(e.msgctxt, e.msgid)
        return translation.gettext(e.msgid)
    if e.msgctxt is not None:
        return translation.npgettext(e.msgctxt, e.msgid, e.msgid_plural, n)
    return translation.ngettext(e.msgid, e.msgid_plural, n)
