"""The change side of connectors: what a fulfilment case does to a source system.

The shape is pretix's data shredder: the dry run and the real run are two methods of the same
connector object, so they cannot disagree.

- `describe_records(records)` reads what the retention rules need to know of each record in
  the system as it is now (is it part of an active relationship, of when is it dated);
- `plan_changes(request)` says exactly what would change: a list of `Change`s, each one
  strategy over records of one target (a table, an endpoint, a folder), in the order they
  must be applied (children before their parents);
- `apply(change)` does one of them, idempotently: a record already gone, a value already set,
  a suppression already there are reported as `ALREADY_DONE`, never done twice, never an error.

The case side (casework) decides which records are kept under the register's retention rules,
stores the changes it keeps as rows of work, and applies each with `apply`: what the approver
saw is what runs, never a fresh query.

A record the mapping gives no automatic change for is planned as a manual change (`manual`):
a person with access to the system carries it out and confirms it.

Changes travel as JSON (`to_dict` / `from_dict`): they are stored with the plan.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


class Intent(enum.StrEnum):
    """What the subject asked for, as far as a source system is concerned."""

    ERASE = "erase"  # Art. 17
    RECTIFY = "rectify"  # Art. 16: set fields to the approved values
    RESTRICT = "restrict"  # Art. 18: mark the subject's records restricted
    LIFT_RESTRICTION = "lift_restriction"  # Art. 18(3)
    STOP_MARKETING = "stop_marketing"  # Art. 21(2)-(3): suppression list, marketing flags off
    OBJECT = "object"  # Art. 21(1): stop processing based on legitimate interests (DPO decided)


class Strategy(enum.StrEnum):
    """How one change treats its records."""

    DELETE = "delete"  # the record goes
    MASK = "mask"  # the named columns are masked, each by its `Mask`; the record stays
    RECTIFY = "rectify"  # the named columns take the approved values
    RESTRICT = "restrict"  # the record's restriction flag is set
    LIFT_RESTRICTION = "lift_restriction"  # ... and cleared
    SUPPRESS = "suppress"  # the subject's contact details go on the suppression list
    STOP_MARKETING = "stop_marketing"  # the record's marketing flag is cleared / it is ended
    STOP_PROCESSING = "stop_processing"  # the record is no longer used for the objected processing


class Mask(enum.StrEnum):
    """How a masked column loses its personal data."""

    NULL = "null"  # emptied
    REDACT = "redact"  # replaced by ERASED_MARK
    HASH = "hash"  # a salted hash: rows still join and count, the value is gone
    GENERALISE = "generalise"  # a date or time becomes its year's first day (kept for statistics)


ERASED_MARK = "[erased]"

# Which strategies serve which intent: a mapping may declare only these for it.
STRATEGIES_FOR = {
    Intent.ERASE: {Strategy.DELETE, Strategy.MASK, Strategy.SUPPRESS},
    Intent.RECTIFY: {Strategy.RECTIFY},
    Intent.RESTRICT: {Strategy.RESTRICT},
    Intent.LIFT_RESTRICTION: {Strategy.LIFT_RESTRICTION},
    Intent.STOP_MARKETING: {Strategy.SUPPRESS, Strategy.STOP_MARKETING},
    Intent.OBJECT: {Strategy.STOP_PROCESSING},
}


class Outcome(enum.StrEnum):
    """What applying a change did to one of its records."""

    DONE = "done"
    ALREADY_DONE = "already_done"  # nothing left to do: gone, set, listed already
    MISSING = "missing"  # not there (deleted meanwhile by someone else): nothing to do


@dataclass(frozen=True)
class RecordRef:
    """A record a plan is about, as gathering stored it."""

    source: str  # the table, endpoint template or file, as the connector's records name it
    key: str  # the record's key in the system (Record.key)
    category: str = ""
    subject_key: str = ""


@dataclass(frozen=True)
class RecordFacts:
    """What the retention rules need to know about a record, read from the system."""

    exists: bool = True
    active: bool = False  # part of an open order, repair, contract, ticket ... (the mapping says)
    dated: dt.date | None = None  # the date that counts for the retention period


@dataclass(frozen=True)
class ChangeRequest:
    intent: Intent
    records: Sequence[RecordRef]
    # Intent.RECTIFY: register field key -> the approved new value.
    corrections: Mapping[str, Any] = field(default_factory=dict)
    # Intent.STOP_MARKETING / a SUPPRESS strategy: the subject's identifiers to list
    # (kind -> normalised value, e.g. {"email": "arta@example.com"}).
    identifiers: Mapping[str, str] = field(default_factory=dict)
    # A secret for Mask.HASH, the same for every change of a plan.
    salt: str = ""
    # Every identifier trusted for the subject (dsar.identifiers.Identifier): a connector that
    # finds a record by its place (a CSV row by offset) checks the row still holds one of
    # them before changing it, so a file rewritten meanwhile never costs another person a row.
    known: frozenset = frozenset()


@dataclass(frozen=True)
class Change:
    """One action on one target: a strategy over a list of records (their keys).

    `columns`: for MASK, (column, mask) pairs; for RECTIFY, (column, new value) pairs; for
    SUPPRESS, (identifier kind, value) pairs. `fingerprints`: per key, what the record was
    when planned, where the system has no stable key (a CSV row is found by it, not by its
    place). `manual`: a person carries it out; `instructions` says what to do, in words."""

    target: str
    strategy: Strategy
    keys: tuple[str, ...]
    columns: tuple[tuple[str, Any], ...] = ()
    fingerprints: tuple[tuple[str, str], ...] = ()
    manual: bool = False
    instructions: str = ""
    salt: str = field(default="", repr=False)

    def to_dict(self) -> dict[str, Any]:
        """For storage with the plan. The salt is not stored here: the plan keeps it apart."""
        return {
            "target": self.target,
            "strategy": str(self.strategy),
            "keys": list(self.keys),
            "columns": [[column, value] for column, value in self.columns],
            "fingerprints": [[key, value] for key, value in self.fingerprints],
            "manual": self.manual,
            "instructions": self.instructions,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, salt: str = "") -> Change:
        return cls(
            target=data["target"],
            strategy=Strategy(data["strategy"]),
            keys=tuple(data["keys"]),
            columns=tuple((column, value) for column, value in data.get("columns", [])),
            fingerprints=tuple((key, value) for key, value in data.get("fingerprints", [])),
            manual=bool(data.get("manual", False)),
            instructions=data.get("instructions", ""),
            salt=salt,
        )

    def only(self, keys: Sequence[str]) -> Change:
        """The same change over some of its records (those not done yet, say)."""
        wanted = set(keys)
        return Change(
            target=self.target,
            strategy=self.strategy,
            keys=tuple(k for k in self.keys if k in wanted),
            columns=self.columns,
            fingerprints=tuple(f for f in self.fingerprints if f[0] in wanted),
            manual=self.manual,
            instructions=self.instructions,
            salt=self.salt,
        )

    def describe(self) -> str:
        """In words, for staff (no values: a rectification names its columns, not the new
        values; a suppression the kinds of identifier)."""
        count = len(self.keys)
        what = f"{count} record{'s' if count != 1 else ''} of {self.target}"
        columns = ", ".join(str(column) for column, _value in self.columns)
        text = {
            Strategy.DELETE: f"delete {what}",
            Strategy.MASK: f"mask {columns} in {what}"
            + (
                " (" + ", ".join(f"{c}: {m}" for c, m in self.columns) + ")" if self.columns else ""
            ),
            Strategy.RECTIFY: f"set {columns} in {what}",
            Strategy.RESTRICT: f"mark {what} restricted",
            Strategy.LIFT_RESTRICTION: f"lift the restriction of {what}",
            Strategy.SUPPRESS: f"add the subject's {columns} to the suppression list {self.target}",
            Strategy.STOP_MARKETING: f"stop marketing in {what}",
            Strategy.STOP_PROCESSING: f"stop the processing objected to in {what}",
        }[self.strategy]
        return f"{text} (by hand)" if self.manual else text


@dataclass
class ChangeResult:
    """What `apply` did, per key of the change."""

    outcomes: dict[str, Outcome] = field(default_factory=dict)

    @property
    def changed(self) -> int:
        return sum(1 for outcome in self.outcomes.values() if outcome == Outcome.DONE)


def generalised(value: Any) -> Any:
    """Mask.GENERALISE: a date or time to the first day of its year (text kept as text)."""
    if isinstance(value, dt.datetime):
        return value.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    if isinstance(value, dt.date):
        return value.replace(month=1, day=1)
    if isinstance(value, str) and len(value) >= 4 and value[:4].isdigit():
        return f"{value[:4]}-01-01"
    return None


def salted_hash(value: Any, salt: str) -> str | None:
    """Mask.HASH: the same value gives the same hash within a plan (rows still join); without
    the salt, which the plan keeps apart, the value cannot be guessed back from its hash."""
    if value is None:
        return None
    digest = hmac.new(salt.encode(), str(value).encode(), hashlib.sha256).hexdigest()
    return f"sha256:{digest[:32]}"
