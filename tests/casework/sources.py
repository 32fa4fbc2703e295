"""Small real source systems for gathering tests: CSV folders, and a flaky system that fails
a set number of times before answering (the edge of the world: a source we do not run)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from dsar.connectors.base import (
    BaseConnector,
    Lookup,
    Record,
    SubjectMatch,
    TransientConnectorError,
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
