"""Small real source systems for gathering tests: CSV folders, and a flaky system that fails
a set number of times before answering (the edge of the world: a source we do not run)."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

from dsar.connectors.base import (
    BaseConnector,
    Lookup,
    Record,
    SubjectMatch,
    TransientConnectorError,
    manual_changes,
)
from dsar.connectors.changes import (
    Change,
    ChangeRequest,
    ChangeResult,
    Intent,
    Outcome,
    RecordFacts,
    RecordRef,
    Strategy,
)
from dsar.identifiers import Identifier
from dsar.models import SourceSystem


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def csv_system(
    slug: str, folder: Path, identifiers: dict, category: str = "events"
) -> SourceSystem:
    return SourceSystem.objects.create(
        name=slug.title(),
        slug=slug,
        connector="files",
        config={"folder": str(folder), "category": category, "identifiers": identifiers},
    )


class FlakyConnector(BaseConnector):
    """Fails with a transient error `fail_times` times (counted in a file), then finds one
    subject by e-mail with one record."""

    kind: ClassVar[str] = "flaky"

    @property
    def _counter(self) -> Path:
        return Path(self.config["counter"])

    def find_subject(self, identifiers: Iterable[Identifier]) -> Lookup:
        seen = int(self._counter.read_text() or 0) if self._counter.exists() else 0
        self._counter.write_text(str(seen + 1))
        if seen < self.config.get("fail_times", 0):
            raise TransientConnectorError(
                "flaky: 503 from the service", retry_after=self.config.get("retry_after")
            )
        email = next((i for i in identifiers if i.kind == "email"), None)
        if email is None:
            return Lookup()
        return Lookup(matches=[SubjectMatch("F-1", email, frozenset({email}))])

    def export(self, match: SubjectMatch) -> Iterator[Record]:
        yield Record(
            "online_account",
            "flaky",
            "flaky:1",
            {"login": match.found_by.value},
            match.subject_key,
            match.found_by,
        )


def flaky_system(tmp_path: Path, fail_times: int, **extra: Any) -> SourceSystem:
    return SourceSystem.objects.create(
        name="Flaky",
        slug="flaky",
        connector="flaky",
        config={"counter": str(tmp_path / "flaky-count"), "fail_times": fail_times, **extra},
    )


class LedgerConnector(BaseConnector):
    """A small system kept in a JSON file, with a change side: rows (key -> {category, email,
    status, dated, values}), a suppression list, and optional faults. Rows whose source is
    "paper" are changed by hand (the base's manual changes)."""

    kind: ClassVar[str] = "ledger"

    @property
    def _path(self) -> Path:
        return Path(self.config["file"])

    def _load(self) -> dict:
        return json.loads(self._path.read_text())

    def _save(self, data: dict) -> None:
        self._path.write_text(json.dumps(data))

    def find_subject(self, identifiers: Iterable[Identifier]) -> Lookup:
        emails = {i.value for i in identifiers if i.kind == "email"}
        found = Lookup()
        for email in sorted(emails):
            if any(row["email"] == email for row in self._load()["rows"].values()):
                identifier = Identifier("email", email)
                found.add(SubjectMatch(email, identifier, frozenset({identifier})))
        return found

    def export(self, match: SubjectMatch) -> Iterator[Record]:
        for key, row in self._load()["rows"].items():
            if row["email"] == match.subject_key:
                yield Record(
                    row["category"],
                    row.get("source", "rows"),
                    key,
                    dict(row.get("values", {})),
                    match.subject_key,
                    match.found_by,
                )

    def describe_records(self, records: Sequence[RecordRef]) -> dict[str, RecordFacts]:
        rows = self._load()["rows"]
        facts = {}
        for record in records:
            row = rows.get(record.key)
            if row is None:
                facts[record.key] = RecordFacts(exists=False)
                continue
            dated = row.get("dated")
            facts[record.key] = RecordFacts(
                active=row.get("status") == "open",
                dated=dt.date.fromisoformat(dated) if dated else None,
            )
        return facts

    def plan_changes(self, request: ChangeRequest) -> list[Change]:
        paper = [r for r in request.records if r.source == "paper"]
        rows = [r for r in request.records if r.source != "paper"]
        changes = []
        if request.intent == Intent.ERASE and rows:
            changes.append(Change("rows", Strategy.DELETE, tuple(r.key for r in rows)))
        if request.intent == Intent.STOP_MARKETING and "email" in request.identifiers:
            changes.append(
                Change(
                    "suppressions",
                    Strategy.SUPPRESS,
                    tuple(sorted({r.subject_key for r in request.records})),
                    columns=(("email", request.identifiers["email"]),),
                )
            )
        return changes + (manual_changes(request, paper) if paper else [])

    def apply(self, change: Change) -> ChangeResult:
        fault = self.config.get("fail_on_key")
        counter = Path(self.config.get("counter", "/nonexistent"))
        data = self._load()
        result = ChangeResult()
        for key in change.keys:
            if key == fault and counter.exists() and int(counter.read_text()) > 0:
                left = int(counter.read_text())
                counter.write_text(str(left - 1))
                self._save(data)  # what was done before the fault stays done
                raise TransientConnectorError("ledger: 503 from the service")
            if change.strategy == Strategy.DELETE:
                done = data["rows"].pop(key, None) is not None
            else:
                email = dict(change.columns)["email"]
                done = email not in data["suppressed"]
                if done:
                    data["suppressed"].append(email)
            if done:  # each effect once: the tests count them
                data.setdefault("applied", []).append(key)
            result.outcomes[key] = Outcome.DONE if done else Outcome.ALREADY_DONE
        self._save(data)
        return result


def ledger_system(path: Path, rows: dict, **extra: Any) -> SourceSystem:
    path.write_text(json.dumps({"rows": rows, "suppressed": []}))
    return SourceSystem.objects.create(
        name="Ledger", slug="ledger", connector="ledger", config={"file": str(path), **extra}
    )
