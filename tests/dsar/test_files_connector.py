"""The CSV folder connector: one match per person however many identifiers find them, and no
identifier learnt from a cell with nothing to match on."""

from __future__ import annotations

import pytest

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
