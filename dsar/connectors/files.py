"""CSV files in a folder (event attendee lists, purchased prospect lists), matched by identity
columns.

Each file is indexed once per change (size and modification time), into a small SQLite index
beside the project's state (settings.VAR_DIR/index/): identifier → byte offsets of the rows.
A lookup lists the folder once and opens each file once for all the identifiers it is given:
it reads the index, then seeks forward to the matching rows; no file is held in memory.

Config::

    folder: var/demo/events          # relative to settings.BASE_DIR, or absolute
    pattern: "*.csv"
    category: events                  # DataCategory slug for the rows
    encoding: utf-8
    delimiter: ","
    identifiers:                      # identifier kind -> column, or [name, company] columns
      email: Email
      name_company: [Name, Company]
    columns: [Name, Company, Dietary needs]   # exported columns (default: all), or with the
                                              # register field each fills:
    # columns: {Name: {field: full_name}, Company: {}, Dietary needs: {field: dietary_requirements}}
    label: {sq: Listat e pjesëmarrësve, en: Attendee lists}   # optional: what the report
                                      # calls the folder, before each file's name

or any of these keys in a YAML file named by `mapping_file` (merged in by BaseConnector).

A subject here is whoever the matched rows describe; the subject key is derived from the set of
rows, so the same person found again by another identifier is recognised. An identifier whose rows carry different values of another identifier column (two
e-mails for one name and company) matches more than one person and is reported as ambiguous.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any, ClassVar, TextIO

from django.conf import settings

from dsar.connectors.base import (
    AmbiguousIdentifier,
    BaseConnector,
    ConnectorError,
    ExportedColumn,
    Lookup,
    Record,
    SubjectMatch,
    check_label,
    field_key,
    listed_columns,
)
from dsar.identifiers import IDENTIFIER_KINDS, Identifier

KNOWN_KEYS = {
    "folder",
    "pattern",
    "category",
    "encoding",
    "delimiter",
    "identifiers",
    "columns",
    "label",
}


def _row_identifiers(row: dict[str, str], mapping: dict[str, Any]) -> set[Identifier]:
    found = set()
    for kind, column in mapping.items():
        if isinstance(column, list):
            name, company = (row.get(c, "") or "" for c in column)
            if not (name.strip() and company.strip()):
                continue
            identifier = Identifier(kind, f"{name}|{company}")
        else:
            identifier = Identifier(kind, row.get(column) or "")
        if identifier.usable:
            found.add(identifier)
    return found


class CsvFolderConnector(BaseConnector):
    kind: ClassVar[str] = "files"
    verbose_name: ClassVar[str] = "CSV files in a folder"

    @classmethod
    def columns_of_merged_config(cls, config: dict[str, Any]) -> list[ExportedColumn]:
        # Every file of the folder has the same columns: "*", whatever the file's name.
        return [
            ExportedColumn(
                config["category"],
                "*",
                name,
                options.get("field") or field_key(name),
                options.get("currency") or "",
            )
            for name, options in listed_columns(config.get("columns") or [], "columns", [])
        ]

    @classmethod
    def labels_of_merged_config(cls, config: dict[str, Any]) -> dict[str, dict[str, str]]:
        label = check_label(config.get("label"), "label", [])
        return {"*": label} if label else {}

    @classmethod
    def validate_merged_config(cls, config: dict[str, Any]) -> list[str]:
        problems = super().validate_merged_config(config)
        check_label(config.get("label"), "label", problems)
        unknown = set(config) - KNOWN_KEYS
        if unknown:
            problems.append(f"unknown keys: {', '.join(sorted(unknown))}")
        for key in ("folder", "category"):
            if not isinstance(config.get(key), str) or not config.get(key):
                problems.append(f"{key} is required")
        identifiers = config.get("identifiers")
        if not isinstance(identifiers, dict) or not identifiers:
            problems.append("identifiers must map identifier kinds to columns")
        else:
            for kind, column in identifiers.items():
                if kind not in IDENTIFIER_KINDS:
                    problems.append(f"identifiers: unknown identifier kind {kind!r}")
                elif kind == "name_company" and not (isinstance(column, list) and len(column) == 2):
                    problems.append(
                        "identifiers.name_company must name two columns [name, company]"
                    )
                elif kind != "name_company" and not isinstance(column, str):
                    problems.append(f"identifiers.{kind} must name one column")
        if config.get("columns") is not None:
            listed_columns(config["columns"], "columns", problems)
        if len(config.get("delimiter", ",")) != 1:
            problems.append("delimiter must be one character")
        return problems

    def searchable_kinds(self) -> frozenset[str]:
        return frozenset(self.config["identifiers"])

    # --- files and their index -----------------------------------------------------------------

    @property
    def folder(self) -> Path:
        folder = Path(self.config["folder"])
        return folder if folder.is_absolute() else Path(settings.BASE_DIR) / folder

    def files(self) -> list[Path]:
        if not self.folder.is_dir():
            raise ConnectorError(f"{self.name}: the folder does not exist")
        return sorted(
            p for p in self.folder.glob(self.config.get("pattern", "*.csv")) if p.is_file()
        )

    def _open(self, path: Path) -> TextIO:
        return open(path, newline="", encoding=self.config.get("encoding", "utf-8"))

    def _index_path(self, path: Path) -> Path:
        folder = Path(settings.VAR_DIR) / "index"
        folder.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(f"{self.name}|{path.resolve()}".encode()).hexdigest()[:24]
        return folder / f"csv-{digest}.sqlite3"

    def _index(self, path: Path, fh: TextIO) -> sqlite3.Connection:
        """The index of the file open as `fh`, rebuilt from it only when the file changed (size
        or mtime). The caller reads the rows through the same `fh`: one open per file."""
        stat = os.fstat(fh.fileno())  # of the file being read, even if it was just replaced
        version = f"{stat.st_size}:{stat.st_mtime_ns}:{sorted(self.config['identifiers'].items())}"
        index_path = self._index_path(path)
        db = sqlite3.connect(index_path)
        db.execute("CREATE TABLE IF NOT EXISTS meta (version TEXT)")
        current = db.execute("SELECT version FROM meta").fetchone()
        if current and current[0] == version:
            return db
        db.close()
        tmp = index_path.with_suffix(f".tmp{os.getpid()}")
        tmp.unlink(missing_ok=True)
        build = sqlite3.connect(tmp)
        build.execute("CREATE TABLE meta (version TEXT)")
        build.execute("CREATE TABLE ids (kind TEXT, value TEXT, offset INTEGER)")
        build.executemany("INSERT INTO ids VALUES (?, ?, ?)", self._scan(fh))
        build.execute("CREATE INDEX ids_lookup ON ids (kind, value)")
        build.execute("INSERT INTO meta VALUES (?)", (version,))
        build.commit()
        build.close()
        os.replace(tmp, index_path)  # atomic: a reader sees the old index or the new one
        return sqlite3.connect(index_path)

    def _scan(self, fh: TextIO) -> Iterator[tuple[str, str, int]]:
        """(kind, value, offset) of every usable identifier of every row, streamed."""
        mapping = self.config["identifiers"]
        fh.seek(0)
        header = self._header(fh)
        while True:
            offset = fh.tell()
            line = fh.readline()
            if not line:
                break
            row = self._parse(header, line, fh)
            for identifier in _row_identifiers(row, mapping):
                yield identifier.kind, identifier.value, offset

    def _header(self, fh: TextIO) -> list[str]:
        first = fh.readline()
        return (
            next(csv.reader([first], delimiter=self.config.get("delimiter", ","))) if first else []
        )

    def _parse(self, header: list[str], line: str, fh: TextIO) -> dict[str, str]:
        # A quoted field may span lines: read on until the quotes balance.
        while line.count('"') % 2:
            more = fh.readline()
            if not more:
                break
            line += more
        values = next(
            csv.reader(io.StringIO(line), delimiter=self.config.get("delimiter", ",")), []
        )
        return dict(zip(header, values, strict=False))

    def _rows_at(self, fh: TextIO, offsets: Iterable[int]) -> Iterator[tuple[int, dict[str, str]]]:
        """The rows at these offsets, in file order: one forward pass, one row in memory."""
        fh.seek(0)
        header = self._header(fh)
        for offset in sorted(set(offsets)):
            fh.seek(offset)
            yield offset, self._parse(header, fh.readline(), fh)

    def _offsets(self, db: sqlite3.Connection, identifier: Identifier) -> list[int]:
        query = "SELECT offset FROM ids WHERE kind = ? AND value = ?"
        return [o for (o,) in db.execute(query, (identifier.kind, identifier.value))]

    # --- the connector interface ---------------------------------------------------------------

    def check(self) -> list[str]:
        try:
            files = self.files()
        except ConnectorError as exc:
            return [str(exc)]
        problems = []
        wanted = set()
        for column in self.config["identifiers"].values():
            wanted |= set(column) if isinstance(column, list) else {column}
        wanted |= set(self.config.get("columns") or [])
        for path in files:
            with self._open(path) as fh:
                header = set(self._header(fh))
            missing = sorted(wanted - header)
            if missing:
                problems.append(f"{path.name}: missing column(s) {', '.join(missing)}")
        return problems

    def find_subject(self, identifiers: Iterable[Identifier]) -> Lookup:
        """Every identifier matched in one pass over each file: the folder is listed once and
        each file (and its index) opened once per lookup, however many identifiers a case has."""
        lookup = Lookup()
        mapping = self.config["identifiers"]
        searched = [identifier for identifier in identifiers if identifier.kind in mapping]
        if not searched:
            return lookup
        wanted = list(dict.fromkeys(searched))
        # Per identifier, where its rows are and the identifiers each of them holds; not the
        # rows themselves, so memory grows with the matches only.
        located: dict[Identifier, list[str]] = {identifier: [] for identifier in wanted}
        held: dict[Identifier, list[set[Identifier]]] = {identifier: [] for identifier in wanted}
        for path in self.files():
            with self._open(path) as fh, closing(self._index(path, fh)) as db:
                finders: dict[int, list[Identifier]] = {}
                for identifier in wanted:
                    for offset in self._offsets(db, identifier):
                        finders.setdefault(offset, []).append(identifier)
                for offset, row in self._rows_at(fh, finders):
                    row_ids = _row_identifiers(row, mapping)
                    for identifier in finders[offset]:
                        located[identifier].append(f"{path.name}:{offset}")
                        held[identifier].append(row_ids)
        # In the order asked, repeats included, as when each identifier was looked up alone.
        for identifier in searched:
            if not located[identifier]:
                continue
            learnt: set[Identifier] = set()
            people: dict[str, set[str]] = {}
            for row_ids in held[identifier]:
                learnt |= row_ids
                for other in row_ids:
                    if other.kind != identifier.kind:
                        people.setdefault(other.kind, set()).add(other.value)
            spread = max((len(values) for values in people.values()), default=1)
            if spread > 1:
                lookup.ambiguous.append(AmbiguousIdentifier(identifier, spread))
                continue
            # The key is the set of rows: found again by another identifier, the same person
            # is recognised and not exported twice.
            key = hashlib.sha256("|".join(sorted(located[identifier])).encode()).hexdigest()[:32]
            lookup.add(SubjectMatch(f"rows:{key}", identifier, frozenset(learnt)))
        return lookup

    def export(self, match: SubjectMatch) -> Iterator[Record]:
        identifier = match.found_by
        columns = self.config.get("columns")
        for path in self.files():
            with self._open(path) as fh:
                with closing(self._index(path, fh)) as db:
                    offsets = self._offsets(db, identifier)
                for offset, row in self._rows_at(fh, offsets):
                    data = {k: v for k, v in row.items() if columns is None or k in columns}
                    yield Record(
                        category=self.config["category"],
                        source=path.name,
                        key=f"{path.name}:{offset}",
                        data=data,
                        subject_key=match.subject_key,
                        found_by=identifier,
                    )
