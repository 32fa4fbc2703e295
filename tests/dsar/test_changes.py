"""The change side's shared vocabulary (dsar/connectors/changes.py) and the base connector's
default: every change by hand."""

from __future__ import annotations

import datetime as dt

import pytest

from dsar.connectors.base import BaseConnector, ConnectorError
from dsar.connectors.changes import (
    Change,
    ChangeRequest,
    Intent,
    Mask,
    RecordRef,
    Strategy,
    generalised,
    salted_hash,
)


def test_a_change_survives_storage_without_its_salt():
    change = Change(
        target="accounts",
        strategy=Strategy.MASK,
        keys=("accounts:1", "accounts:2"),
        columns=(("full_name", Mask.REDACT), ("email", Mask.HASH)),
        salt="secret",
    )
    stored = change.to_dict()
    assert "secret" not in repr(stored)
    back = Change.from_dict(stored, salt="secret")
    assert back == change


def test_a_change_narrowed_to_some_records_keeps_their_fingerprints_only():
    change = Change(
        target="list.csv",
        strategy=Strategy.DELETE,
        keys=("a", "b", "c"),
        fingerprints=(("a", "1"), ("b", "2"), ("c", "3")),
    )
    narrowed = change.only(["c", "a"])
    assert narrowed.keys == ("a", "c")
    assert narrowed.fingerprints == (("a", "1"), ("c", "3"))


def test_a_rectification_is_described_by_its_columns_never_its_values():
    change = Change(
        target="accounts",
        strategy=Strategy.RECTIFY,
        keys=("accounts:1",),
        columns=(("position", "Head of printing"),),
    )
    assert change.describe() == "set position in 1 record of accounts"
    assert "Head" not in change.describe()


def test_without_a_change_side_every_record_is_changed_by_hand_one_task_per_source():
    connector = BaseConnector({})
    request = ChangeRequest(
        intent=Intent.ERASE,
        records=[RecordRef("tickets", "t1"), RecordRef("calls", "c1"), RecordRef("tickets", "t2")],
    )
    changes = connector.plan_changes(request)
    assert [(c.target, c.keys, c.manual) for c in changes] == [
        ("tickets", ("t1", "t2"), True),
        ("calls", ("c1",), True),
    ]
    assert all(c.strategy == Strategy.DELETE and c.instructions for c in changes)
    with pytest.raises(ConnectorError):
        connector.apply(changes[0])


def test_generalising_keeps_the_year_only():
    assert generalised(dt.date(1990, 7, 14)) == dt.date(1990, 1, 1)
    assert generalised(dt.datetime(2024, 5, 6, 7, 8)) == dt.datetime(2024, 1, 1)
    assert generalised("2019-03-04T10:00:00") == "2019-01-01"
    assert generalised("unknown") is None


def test_hashes_agree_within_a_plan_and_differ_between_salts():
    assert salted_hash("arta@example.com", "a") == salted_hash("arta@example.com", "a")
    assert salted_hash("arta@example.com", "a") != salted_hash("arta@example.com", "b")
    assert salted_hash(None, "a") is None
    assert "arta" not in salted_hash("arta@example.com", "a")
