"""The CSV folder connector's change side: rows found by what they hold, not where they are, and
each file rewritten whole and atomically, every row it does not change kept byte for byte."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dsar.connectors import files
from dsar.connectors.base import ConnectorError
from dsar.connectors.changes import (
    ERASED_MARK,
    Change,
    ChangeRequest,
    Intent,
    Outcome,
    RecordRef,
    Strategy,
    salted_hash,
)
from dsar.connectors.files import CsvFolderConnector
from dsar.identifiers import Identifier

ARTA = "arta.krasniqi@demo.example"
NAMESAKE = "arta.k@other.demo.example"  # the same name and company, another person

HEADER = "Email,Name,Company,Phone,Registered\r\n"
OTHER = '"besnik@demo.example","Besnik Hoxha","Vlora","+355 69 111 1111","2023-05-02"\r\n'
ARTAS = f"{ARTA},Arta Krasniqi,Drini,+355 69 123 4567,2024-03-14\r\n"
NAMESAKES = f'{NAMESAKE},Arta Krasniqi,Drini,,"2022-11-30"\r\n'
LAST = "dritan@demo.example,Dritan Shehu,Durres,,2021-01-09"  # no final newline
CONTENT = HEADER + OTHER + ARTAS + NAMESAKES + LAST


def config(folder: Path, **extra) -> dict:
    return {
        "folder": str(folder),
        "category": "events",
        "identifiers": {"email": "Email", "name_company": ["Name", "Company"]},
        "columns": {
            "Name": {"field": "full_name"},
            "Company": {},
            "Email": {"field": "business_email"},
            "Phone": {},
            "Registered": {},
        },
        "changes": {"erase": "delete", "rectify": ["Name", "Email"]},
        **extra,
    }


@pytest.fixture
def folder(tmp_path, settings) -> Path:
    settings.VAR_DIR = tmp_path / "var"
    folder = tmp_path / "events"
    folder.mkdir()
    (folder / "fair.csv").write_bytes(CONTENT.encode())
    return folder


@pytest.fixture
def connector(folder) -> CsvFolderConnector:
    return CsvFolderConnector(config(folder), name="events")


def records_of(connector: CsvFolderConnector, email: str) -> list[RecordRef]:
    """What gathering stores of the subject with this e-mail."""
    (match,) = connector.find_subject([Identifier("email", email)]).matches
    return [
        RecordRef(source=r.source, key=r.key, category=r.category, subject_key=r.subject_key)
        for r in connector.export(match)
    ]


def erase(connector: CsvFolderConnector, email: str) -> Change:
    (change,) = connector.plan_changes(ChangeRequest(Intent.ERASE, records_of(connector, email)))
    return change


def read(folder: Path) -> str:
    return (folder / "fair.csv").read_bytes().decode()


# --- erasure by deletion ---------------------------------------------------------------------


def test_erasure_deletes_the_subjects_row_and_keeps_every_other_byte(connector, folder):
    change = erase(connector, ARTA)
    assert (change.target, change.strategy, len(change.fingerprints)) == (
        "fair.csv",
        Strategy.DELETE,
        1,
    )
    result = connector.apply(change)
    assert list(result.outcomes.values()) == [Outcome.DONE]
    assert read(folder) == HEADER + OTHER + NAMESAKES + LAST


def test_erasure_applied_twice_is_already_done_and_leaves_the_file_alone(connector, folder):
    change = erase(connector, ARTA)
    connector.apply(change)
    before = (folder / "fair.csv").stat()
    again = connector.apply(change)
    assert list(again.outcomes.values()) == [Outcome.ALREADY_DONE]
    after = (folder / "fair.csv").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert read(folder) == HEADER + OTHER + NAMESAKES + LAST


def test_a_row_moved_by_another_subjects_erasure_is_still_found(connector, folder):
    artas = erase(connector, ARTA)
    others = erase(connector, "besnik@demo.example")  # the row before Arta's
    connector.apply(others)
    assert list(connector.apply(artas).outcomes.values()) == [Outcome.DONE]
    assert read(folder) == HEADER + NAMESAKES + LAST


def test_a_namesake_with_another_email_is_untouched(connector, folder):
    connector.apply(erase(connector, ARTA))
    assert NAMESAKES in read(folder)
    (match,) = connector.find_subject([Identifier("email", NAMESAKE)]).matches
    assert [r.data["Email"] for r in connector.export(match)] == [NAMESAKE]


def test_the_index_follows_the_rewrite(connector, folder):
    connector.find_subject([Identifier("email", ARTA)])  # the index is built
    connector.apply(erase(connector, ARTA))
    assert connector.find_subject([Identifier("email", ARTA)]).matches == []
    (match,) = connector.find_subject([Identifier("email", "dritan@demo.example")]).matches
    assert [r.data["Name"] for r in connector.export(match)] == ["Dritan Shehu"]


def test_the_index_follows_a_rewrite_that_keeps_the_size_within_the_same_second(connector, folder):
    records = records_of(connector, ARTA)
    mtime = (folder / "fair.csv").stat().st_mtime_ns
    (change,) = connector.plan_changes(
        ChangeRequest(Intent.RECTIFY, records, corrections={"full_name": "Arto Krasniqi"})
    )
    connector.apply(change)
    os.utime(folder / "fair.csv", ns=(mtime, mtime))  # as a coarse clock would leave it
    assert len(read(folder)) == len(CONTENT)
    found = connector.find_subject([Identifier("name_company", "Arto Krasniqi|Drini")])
    (match,) = found.matches
    assert [r.data["Email"] for r in connector.export(match)] == [ARTA]


def test_a_rewrite_leaves_no_file_behind_in_the_folder(connector, folder):
    connector.apply(erase(connector, ARTA))
    assert sorted(p.name for p in folder.iterdir()) == ["fair.csv"]


def test_a_failure_while_writing_leaves_the_original(connector, folder, monkeypatch):
    change = erase(connector, ARTA)

    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", fail)
    with pytest.raises(ConnectorError) as failure:
        connector.apply(change)
    assert "Arta" not in str(failure.value) and ARTA not in str(failure.value)
    assert read(folder) == CONTENT
    assert sorted(p.name for p in folder.iterdir()) == ["fair.csv"]


def test_a_plan_made_after_the_file_moved_does_not_take_another_persons_row(connector, folder):
    records = records_of(connector, ARTA)  # gathered; then the file changes under the case
    (folder / "fair.csv").write_bytes((HEADER + NAMESAKES + ARTAS).encode())
    request = ChangeRequest(Intent.ERASE, records, identifiers={"email": ARTA})
    (change,) = connector.plan_changes(request)
    assert change.fingerprints == ()
    assert list(connector.apply(change).outcomes.values()) == [Outcome.MISSING]
    assert read(folder) == HEADER + NAMESAKES + ARTAS


# --- masking and rectification ----------------------------------------------------------------


def test_masking_keeps_the_row_and_masks_each_column_its_own_way(folder):
    masks = {"Name": "redact", "Email": "hash", "Phone": "null", "Registered": "generalise"}
    connector = CsvFolderConnector(config(folder, changes={"erase": {"mask": masks}}))
    records = records_of(connector, "besnik@demo.example")
    request = ChangeRequest(Intent.ERASE, records, salt="pepper")
    (change,) = connector.plan_changes(request)
    assert change.strategy == Strategy.MASK
    assert [c for c, _mask in change.columns] == ["Name", "Email", "Phone", "Registered"]
    connector.apply(Change.from_dict(change.to_dict(), salt="pepper"))  # as stored with a plan
    hashed = salted_hash("besnik@demo.example", "pepper")
    # Every cell of that row was quoted: the masked row is quoted the same way.
    masked = f'"{hashed}","{ERASED_MARK}","Vlora","","2023-01-01"\r\n'
    assert read(folder) == HEADER + masked + ARTAS + NAMESAKES + LAST
    again = connector.apply(change)
    assert list(again.outcomes.values()) == [Outcome.ALREADY_DONE]


def test_rectification_sets_the_rectifiable_columns_by_their_register_fields(connector, folder):
    records = records_of(connector, ARTA)
    corrections = {"full_name": "Arta Krasniqi-Hoxha", "company": "Drini Sh.p.k."}
    changes = connector.plan_changes(
        ChangeRequest(Intent.RECTIFY, records, corrections=corrections)
    )
    by_hand, automatic = sorted(changes, key=lambda c: not c.manual)
    # Company may not be rectified in the files: a person does it.
    assert by_hand.manual and by_hand.columns == (("company", "Drini Sh.p.k."),)
    assert automatic.columns == (("Name", "Arta Krasniqi-Hoxha"),)
    assert list(connector.apply(automatic).outcomes.values()) == [Outcome.DONE]
    corrected = f"{ARTA},Arta Krasniqi-Hoxha,Drini,+355 69 123 4567,2024-03-14\r\n"
    assert read(folder) == HEADER + OTHER + corrected + NAMESAKES + LAST
    assert list(connector.apply(automatic).outcomes.values()) == [Outcome.ALREADY_DONE]


def test_restriction_and_marketing_are_planned_by_hand(connector):
    records = records_of(connector, ARTA)
    for intent in (Intent.RESTRICT, Intent.STOP_MARKETING):
        (change,) = connector.plan_changes(ChangeRequest(intent, records))
        assert change.manual and change.target == "fair.csv"
        with pytest.raises(ConnectorError):
            connector.apply(change)


def test_without_a_changes_block_erasure_is_planned_by_hand(folder):
    plain = config(folder)
    del plain["changes"]
    connector = CsvFolderConnector(plain)
    (change,) = connector.plan_changes(ChangeRequest(Intent.ERASE, records_of(connector, ARTA)))
    assert change.manual


# --- what the retention rules read -----------------------------------------------------------


def test_a_deleted_row_no_longer_exists_and_rows_are_dated_by_their_column(folder):
    connector = CsvFolderConnector(config(folder, dated_by="Registered"))
    records = records_of(connector, ARTA) + records_of(connector, "dritan@demo.example")
    facts = connector.describe_records(records)
    assert [f.dated.isoformat() for f in facts.values()] == ["2024-03-14", "2021-01-09"]
    connector.apply(erase(connector, "dritan@demo.example"))
    facts = connector.describe_records(records)
    assert [f.exists for f in facts.values()] == [True, False]


# --- the configuration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes, problem",
    [
        ({"erase": "shred"}, "changes.erase must be delete, or {mask:"),
        ({"erase": {"mask": {"Name": "blur"}}}, "changes.erase.mask.Name: must be one of"),
        ({"rectify": "Name"}, "changes.rectify must be a list of column names"),
        ({"restrict": "flag"}, "changes: unknown keys: restrict (files can only erase"),
        ("delete", "changes must be a mapping"),
    ],
)
def test_a_bad_changes_block_is_a_clear_problem(folder, changes, problem):
    problems = CsvFolderConnector.validate_config(config(folder, changes=changes))
    assert any(p.startswith(problem) for p in problems), problems


def test_the_demo_lists_declare_their_changes():
    from django.conf import settings

    for name in ("events.yaml", "prospects.yaml"):
        mapping = {"mapping_file": str(Path(settings.BASE_DIR) / "dsar/data/demo" / name)}
        assert CsvFolderConnector.validate_config(mapping) == []
