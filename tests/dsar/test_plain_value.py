"""One rule for the values a record may hold (dsar.connectors.base.plain_value), used by the SQL
connector when it exports and by the exporters when they normalise a record: the union of what
the SQL connector's json_safe and the exporters' plain_value each did before."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
import math
import uuid
from collections import OrderedDict, namedtuple
from decimal import Decimal
from types import MappingProxyType

import pytest

from dsar.connectors.base import binary_summary, plain_value
from exporters import context


class Level(enum.IntEnum):
    LOW = 1


class Colour(enum.StrEnum):
    RED = "red"


class Money(float):
    pass


class Tags(list):
    pass


Point = namedtuple("Point", "x y")


def abc_summary() -> dict:
    return {"binary": 3, "sha256": hashlib.sha256(b"abc").hexdigest()}


@pytest.mark.parametrize(
    ("value", "plain"),
    [
        (None, None),
        (True, True),
        (7, 7),
        ("text", "text"),
        (1.5, 1.5),
        (math.nan, "nan"),
        (math.inf, "inf"),
        (-math.inf, "-inf"),
        (Decimal("1.10"), "1.10"),
        (Decimal("NaN"), "NaN"),
        (dt.datetime(2024, 3, 1, 9, 30, tzinfo=dt.UTC), "2024-03-01T09:30:00+00:00"),
        (dt.date(2024, 3, 1), "2024-03-01"),
        (dt.time(9, 30), "09:30:00"),
        (dt.timedelta(hours=1, minutes=30), "1:30:00"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (b"abc", abc_summary()),
        (bytearray(b"abc"), abc_summary()),
        (memoryview(b"abc"), abc_summary()),
        ({1: Decimal("2")}, {"1": "2"}),
        (OrderedDict(a=1), {"a": 1}),
        (MappingProxyType({"a": b"abc"}), {"a": abc_summary()}),
        ([Decimal("1.10"), None, True], ["1.10", None, True]),
        ((1, "a"), [1, "a"]),
        (Point(1, 2), [1, 2]),
        (Tags(["x"]), ["x"]),
        ({3, 1, 2}, [1, 2, 3]),
        (frozenset({"b", "a"}), ["a", "b"]),
        (Money(2.5), 2.5),
        (Money("nan"), "nan"),
        (Level.LOW, Level.LOW),
        (Colour.RED, Colour.RED),
        (object, str(object)),
    ],
    ids=repr,
)
def test_plain_value_turns_each_type_into_plain_json(value, plain):
    result = plain_value(value)
    assert result == plain
    assert type(result) is type(plain) or isinstance(value, enum.Enum)
    json.dumps(result, allow_nan=False)


def test_nested_values_are_made_plain_throughout():
    value = {
        "nan": math.nan,
        "uuid": uuid.UUID(int=1),
        "took": dt.timedelta(hours=1, minutes=30),
        "blob": memoryview(b"abc"),
        "list": [Decimal("1.10"), None, True, {"at": dt.date(2024, 1, 2)}],
    }
    assert plain_value(value) == {
        "nan": "nan",
        "uuid": "00000000-0000-0000-0000-000000000001",
        "took": "1:30:00",
        "blob": abc_summary(),
        "list": ["1.10", None, True, {"at": "2024-01-02"}],
    }


def test_binary_content_is_summarised_never_copied():
    content = bytes(range(256)) * 10
    assert plain_value(content) == binary_summary(content)
    assert binary_summary(content) == {
        "binary": 2560,
        "sha256": hashlib.sha256(content).hexdigest(),
    }


def test_the_exporters_use_the_same_function():
    assert context.plain_value is plain_value
    record = context.normalise_record(
        {
            "source": "crm",
            "key": "1",
            "found_by": "email",
            "data": {"total": Decimal("9.90"), "tags": {"b", "a"}, "photo": b"abc"},
        }
    )
    assert record["data"] == {"total": "9.90", "tags": ["a", "b"], "photo": abc_summary()}
    assert context.is_binary_summary(record["data"]["photo"])
