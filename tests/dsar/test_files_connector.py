"""The CSV folder connector: one match per person however many identifiers find them, and no
identifier learnt from a cell with nothing to match on."""

from __future__ import annotations

import builtins
from pathlib import Path

import pytest

from dsar.connectors import files
from dsar.connectors.base import Lookup, SubjectMatch
from dsar.connectors.files import CsvFolderConnector
from dsar.identifiers import Identifier
from tests.casework.sources import write_csv

ARTA = "arta.krasniqi@demo.example"


@pytest.fixture
def connector(tmp_path, settings):
    settings.VAR_DIR = tmp_path / "var"
    write_csv(
        tmp_path / "events" / "fair.csv",
        [
            {"Email": ARTA, "Phone": "n/a", "Name": "Arta Krasniqi", "Company": "Drini"},
            {
                "Email": "other@demo.example",
                "Phone": "+355 69 000 0000",
                "Name": "O",
                "Company": "X",
            },
        ],
    )
    return CsvFolderConnector(
        {
            "folder": str(tmp_path / "events"),
            "category": "events",
            "identifiers": {
                "email": "Email",
                "phone": "Phone",
                "name_company": ["Name", "Company"],
            },
        }
    )


def test_a_row_found_by_several_identifiers_is_one_match(connector):
    lookup = connector.find_subject(
        [
            Identifier("email", ARTA),
            Identifier("name_company", "Arta Krasniqi|Drini"),
            Identifier("email", ARTA.upper()),
        ]
    )
    assert len(lookup.matches) == 1
    assert lookup.matches[0].found_by == Identifier("email", ARTA)
    assert len(list(connector.export(lookup.matches[0]))) == 1


def test_a_cell_with_nothing_to_match_on_is_not_learnt(connector):
    lookup = connector.find_subject([Identifier("email", ARTA)])
    kinds = {(i.kind, i.value) for i in lookup.learnt()}
    assert ("phone", "") not in kinds
    assert kinds == {("email", ARTA), ("name_company", "arta krasniqi|drini")}


def test_lookup_add_merges_what_each_identifier_taught():
    email, phone = Identifier("email", ARTA), Identifier("phone", "+355691234567")
    lookup = Lookup()
    lookup.add(SubjectMatch("42", email, frozenset({email})))
    lookup.add(SubjectMatch("42", phone, frozenset({phone})))
    lookup.add(SubjectMatch("43", phone, frozenset({phone})))
    assert [m.subject_key for m in lookup.matches] == ["42", "43"]
    assert lookup.matches[0].found_by == email
    assert lookup.matches[0].identifiers == {email, phone}


# --- one pass over each file per lookup -------------------------------------------------------

BESNIK = "besnik@office.demo.example"
DRITAN = "dritan@office.demo.example"


@pytest.fixture
def two_lists(tmp_path, settings):
    """Arta on both lists, written differently; Besnik and Dritan both sign as "Office|Tirana
    Office", a name and company that matches two people."""
    settings.VAR_DIR = tmp_path / "var"
    folder = tmp_path / "lists"
    write_csv(
        folder / "fair.csv",
        [
            {"Email": ARTA, "Phone": "+355 69 123 4567", "Name": "Arta Krasniqi", "Company": "Drini"},
            {"Email": BESNIK, "Phone": "n/a", "Name": "Office", "Company": "Tirana Office"},
            {"Email": "filler@demo.example", "Phone": "", "Name": "Filler", "Company": "F"},
        ],
    )  # fmt: skip
    write_csv(
        folder / "webinar.csv",
        [
            {"Email": DRITAN, "Phone": "", "Name": "Office", "Company": "Tirana Office"},
            {"Email": ARTA.upper(), "Phone": "00355691234567", "Name": "Arta  Krasniqi",
             "Company": "DRINI"},
        ],
    )  # fmt: skip
    return CsvFolderConnector(
        {
            "folder": str(folder),
            "category": "events",
            "identifiers": {
                "email": "Email",
                "phone": "Phone",
                "name_company": ["Name", "Company"],
            },
        },
        name="lists",
    )


CASE_IDENTIFIERS = [
    Identifier("phone", "+355 69 123 4567"),
    Identifier("email", ARTA),
    Identifier("name_company", "Office|Tirana Office"),
    Identifier("email", BESNIK),
    Identifier("customer_number", "C-1001"),  # a kind the lists do not hold
    Identifier("phone", "n/a"),  # nothing to match on
    Identifier("name_company", "Arta Krasniqi|Drini"),
    Identifier("email", "nobody@demo.example"),
    Identifier("name_company", "Office|Tirana Office"),  # asked twice
]


def one_by_one(connector: CsvFolderConnector, identifiers: list[Identifier]) -> Lookup:
    """The lookup as each identifier alone would make it, merged in the order asked."""
    merged = Lookup()
    for identifier in identifiers:
        alone = connector.find_subject([identifier])
        for match in alone.matches:
            merged.add(match)
        merged.ambiguous.extend(alone.ambiguous)
    return merged


def test_a_lookup_of_many_identifiers_equals_their_lookups_one_by_one(two_lists):
    together = two_lists.find_subject(CASE_IDENTIFIERS)
    assert together == one_by_one(two_lists, CASE_IDENTIFIERS)
    arta, besnik = together.matches
    assert arta.found_by == Identifier("phone", "+355 69 123 4567")
    assert arta.identifiers == {
        Identifier("email", ARTA),
        Identifier("phone", "+355 69 123 4567"),
        Identifier("name_company", "Arta Krasniqi|Drini"),
    }
    assert besnik.found_by == Identifier("email", BESNIK)
    assert [record.source for record in two_lists.export(arta)] == ["fair.csv", "webinar.csv"]
    office = Identifier("name_company", "Office|Tirana Office")
    assert [(a.identifier, a.matches) for a in together.ambiguous] == [(office, 2), (office, 2)]


def test_besnik_found_by_email_is_not_confused_with_his_colleague(two_lists):
    (besnik,) = two_lists.find_subject([Identifier("email", BESNIK)]).matches
    records = list(two_lists.export(besnik))
    assert [(r.source, r.data["Email"]) for r in records] == [("fair.csv", BESNIK)]


@pytest.fixture
def opened(monkeypatch):
    """The names of the files the files connector opens (through the builtin open)."""
    paths: list[str] = []

    def counting_open(file, *args, **kwargs):
        paths.append(Path(file).name)
        return builtins.open(file, *args, **kwargs)

    monkeypatch.setattr(files, "open", counting_open, raising=False)
    return paths


@pytest.mark.parametrize("how_many", [1, 3, len(CASE_IDENTIFIERS)])
def test_a_lookup_lists_the_folder_once_and_opens_each_file_once(two_lists, opened, how_many):
    listed = []
    list_files = two_lists.files

    def counting_files():
        listed.append(1)
        return list_files()

    two_lists.files = counting_files
    for _ in range(2):  # the first lookup also builds the indexes
        opened.clear()
        listed.clear()
        two_lists.find_subject(CASE_IDENTIFIERS[:how_many])
        assert sorted(opened) == ["fair.csv", "webinar.csv"]
        assert len(listed) == 1
