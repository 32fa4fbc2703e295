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
    dated_by: Registered              # optional: the column whose date counts for retention
    changes:                          # optional: what fulfilment may change in the files
      erase: delete                   # the rows go; or keep them with their personal cells masked:
      # erase: {mask: {Name: redact, Email: hash, Phone: null, Registered: generalise}}
      rectify: [Name, Company, Email] # the columns a correction may set

A correction names register fields: a column takes the value of the field it fills (its
`field:` in `columns`, else its name normalised: "Dietary needs" -> dietary_needs). Files have
no restriction flag or marketing consent: restriction and stopping marketing are planned by hand,
as is any change the `changes:` block does not declare.

or any of these keys in a YAML file named by `mapping_file` (merged in by BaseConnector).

Changing the files: a row's key is its byte offset, and offsets move when a file is rewritten
(another subject's erasure). So a plan reads each row at its offset when it is made and keeps
its fingerprint (a hash of its parsed values); `apply` finds the rows by fingerprint, wherever
they are now, and rewrites the file whole: a temporary file in the same folder, untouched rows
copied byte for byte, then an atomic rename. Rewrites of one folder take turns (a lock file under
settings.VAR_DIR/locks). A row no longer there (deleted, masked, corrected already) is
ALREADY_DONE, and the file is left as it is.

A subject here is whoever the matched rows describe; the subject key is derived from the set of
rows, so the same person found again by another identifier is recognised. An identifier whose rows carry different values of another identifier column (two
e-mails for one name and company) matches more than one person and is reported as ambiguous.
"""

from __future__ import annotations

import csv
import datetime as dt
import fcntl
import hashlib
import io
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
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
    manual_changes,
)
from dsar.connectors.changes import (
    ERASED_MARK,
    Change,
    ChangeRequest,
    ChangeResult,
    Intent,
    Mask,
    Outcome,
    RecordFacts,
    RecordRef,
    Strategy,
    generalised,
    salted_hash,
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
    "dated_by",
    "changes",
}
# What the `changes:` block may declare; restriction and marketing have nothing to act on in a
# CSV file, so they are always planned by hand.
CHANGE_KEYS = {"erase", "rectify"}
MASKS = {str(mask) for mask in Mask}


def _check_changes(changes: Any, problems: list[str]) -> None:
    if not isinstance(changes, dict):
        problems.append("changes must be a mapping with erase and/or rectify")
        return
    unknown = set(changes) - CHANGE_KEYS
    if unknown:
        problems.append(
            f"changes: unknown keys: {', '.join(sorted(map(str, unknown)))} (files can only "
            "erase and rectify; restriction and marketing are done by hand)"
        )
    erase = changes.get("erase")
    if erase is not None and erase != "delete":
        mask = erase.get("mask") if isinstance(erase, dict) and set(erase) == {"mask"} else None
        if not isinstance(mask, dict) or not mask:
            problems.append(
                "changes.erase must be delete, or {mask: {Column: redact|null|hash|generalise}}"
            )
        else:
            for column, how in mask.items():
                if not isinstance(column, str) or not column.strip() or how not in MASKS:
                    problems.append(
                        f"changes.erase.mask.{column}: must be one of {', '.join(sorted(MASKS))}"
                    )
    rectify = changes.get("rectify")
    if rectify is not None and not (
        isinstance(rectify, list)
        and rectify
        and all(isinstance(column, str) and column.strip() for column in rectify)
    ):
        problems.append("changes.rectify must be a list of column names")


def _fingerprint(values: list[str]) -> str:
    """What a row is, whatever its place in the file and however its cells are quoted."""
    return hashlib.sha256(json.dumps(values, ensure_ascii=False).encode()).hexdigest()


def _line_ending(raw: str) -> str:
    for ending in ("\r\n", "\n", "\r"):
        if raw.endswith(ending):
            return ending
    return ""  # the last row of a file without a final newline


def _masked(value: str, how: str, salt: str) -> str:
    if value == "":
        return ""  # nothing personal in an empty cell: it stays as it is
    if how == Mask.NULL:
        return ""
    if how == Mask.REDACT:
        return ERASED_MARK
    if how == Mask.HASH:
        return salted_hash(value, salt) or ""
    return generalised(value) or ""


def _date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None


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
        dated_by = config.get("dated_by")
        if dated_by is not None and not (isinstance(dated_by, str) and dated_by.strip()):
            problems.append("dated_by must name one column")
        if config.get("changes") is not None:
            _check_changes(config["changes"], problems)
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
        # The inode too: a rewritten file is a new file (see _rewrite), even when it keeps its
        # size within the file system's clock tick.
        version = (
            f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ino}:"
            f"{sorted(self.config['identifiers'].items())}"
        )
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
        return dict(zip(header, self._values(self._whole_row(line, fh)), strict=False))

    def _whole_row(self, line: str, fh: TextIO) -> str:
        # A quoted field may span lines: read on until the quotes balance.
        while line.count('"') % 2:
            more = fh.readline()
            if not more:
                break
            line += more
        return line

    def _values(self, raw: str) -> list[str]:
        return next(csv.reader(io.StringIO(raw), delimiter=self.config.get("delimiter", ",")), [])

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

    # --- the change side (changes.py) ------------------------------------------------------------

    def describe_records(self, records: Sequence[RecordRef]) -> dict[str, RecordFacts]:
        """A record exists while a row still starts at its offset (read soon after gathering;
        once the file is rewritten that may be another row, which is why `plan_changes` goes by
        content). It is dated by the `dated_by` column when the mapping names one. Nothing in a
        list is part of an active relationship."""
        dated_by = self.config.get("dated_by")
        facts = {}
        for name, refs in _by_file(records).items():
            header, rows = self._planned_rows(name, [ref.key for ref in refs], {})
            for ref in refs:
                values = rows.get(ref.key)
                if values is None:
                    facts[ref.key] = RecordFacts(exists=False)
                    continue
                row = dict(zip(header, values, strict=False))
                dated = _date(row.get(dated_by) or "") if dated_by else None
                facts[ref.key] = RecordFacts(exists=True, dated=dated)
        return facts

    def plan_changes(self, request: ChangeRequest) -> list[Change]:
        """One change per file: the rows' fingerprints as they are now, so that `apply` finds
        them however the file is rewritten meanwhile. A row no longer at its offset (or, when
        the request names the subject's identifiers, holding none of them) gets no fingerprint:
        `apply` reports it MISSING rather than change whatever row is there now."""
        declared = self.config.get("changes") or {}
        if request.intent == Intent.ERASE and "erase" in declared:
            erase = declared["erase"]
            strategy = Strategy.DELETE if erase == "delete" else Strategy.MASK
        elif request.intent == Intent.RECTIFY and "rectify" in declared:
            strategy = Strategy.RECTIFY
        else:
            return manual_changes(request)
        planned: list[Change] = []
        for name, refs in _by_file(request.records).items():
            keys = tuple(ref.key for ref in refs)
            header, rows = self._planned_rows(name, keys, request.known or request.identifiers)
            fingerprints = tuple((key, _fingerprint(rows[key])) for key in keys if key in rows)
            if strategy == Strategy.RECTIFY:
                columns, by_hand = self._corrections(header, request.corrections)
                if by_hand:
                    hand = ChangeRequest(Intent.RECTIFY, refs, corrections=by_hand)
                    planned += manual_changes(hand)
                if not columns:
                    continue
            elif strategy == Strategy.MASK:
                masks = declared["erase"]["mask"]
                columns = tuple((c, Mask(how)) for c, how in masks.items() if c in header)
                if not columns:  # the file has other columns than the mapping thought
                    planned += manual_changes(request, refs)
                    continue
            else:
                columns = ()
            planned.append(
                Change(
                    target=name,
                    strategy=strategy,
                    keys=keys,
                    columns=columns,
                    fingerprints=fingerprints,
                    salt=request.salt,
                )
            )
        return planned

    def apply(self, change: Change) -> ChangeResult:
        """Rewrite the change's file without (DELETE) or with changed (MASK, RECTIFY) the rows
        that have one of its fingerprints. Per key: DONE; ALREADY_DONE when no row has its
        fingerprint any more, or the row already reads as it should; MISSING when the plan
        found no row for it, or the file is gone."""
        if change.manual:
            raise ConnectorError(f"{self.name}: a manual change is carried out by a person")
        if change.strategy not in (Strategy.DELETE, Strategy.MASK, Strategy.RECTIFY):
            raise ConnectorError(f"{self.name}: files cannot {change.strategy}")
        result = ChangeResult({key: Outcome.MISSING for key in change.keys})
        path = self._file(change.target)
        if path is None:
            return result
        wanted = {fingerprint for _key, fingerprint in change.fingerprints}
        with self._folder_lock():
            try:
                changed = self._rewrite(path, change, wanted)
            except (OSError, UnicodeError, csv.Error) as exc:
                # The exception's text may quote the file's content: its type is enough.
                raise ConnectorError(
                    f"{self.name}: could not rewrite {change.target} ({type(exc).__name__})"
                ) from None
        for key, fingerprint in change.fingerprints:
            result.outcomes[key] = Outcome.DONE if fingerprint in changed else Outcome.ALREADY_DONE
        return result

    # --- helpers of the change side --------------------------------------------------------------

    def _file(self, name: str) -> Path | None:
        """The folder's file of that name; never a path outside the folder."""
        if not name or Path(name).name != name:
            return None
        path = self.folder / name
        return path if path.is_file() else None

    def _planned_rows(
        self, name: str, keys: Sequence[str], identifiers: Any
    ) -> tuple[list[str], dict[str, list[str]]]:
        """The file's header, and the values of the row at each key's offset. A key is left out
        when no row of the index starts there (the file was rewritten since it was gathered),
        or when `identifiers` (kind -> value, or a set of Identifier) are given and the row
        holds none of them."""
        path = self._file(name)
        if path is None:
            return [], {}
        subject = set()
        pairs = (
            [(i.kind, i.value) for i in identifiers]
            if isinstance(identifiers, (set, frozenset))
            else (identifiers or {}).items()
        )
        for kind, value in pairs:
            if kind in IDENTIFIER_KINDS:
                subject.add((kind, Identifier(kind, value).value))
        rows: dict[str, list[str]] = {}
        with self._open(path) as fh, closing(self._index(path, fh)) as db:
            fh.seek(0)
            header = self._values(self._whole_row(fh.readline(), fh))
            for key in keys:
                file_name, _, offset = key.rpartition(":")
                if file_name != name or not offset.isdigit():
                    continue
                query = "SELECT kind, value FROM ids WHERE offset = ?"
                held = set(db.execute(query, (int(offset),)))
                if not held or (subject and not held & subject):
                    continue
                fh.seek(int(offset))
                rows[key] = self._values(self._whole_row(fh.readline(), fh))
        return header, rows

    def _corrections(
        self, header: list[str], corrections: Any
    ) -> tuple[tuple[tuple[str, Any], ...], dict[str, Any]]:
        """(column, new value) for the rectifiable columns of this file whose field is corrected;
        and the corrected fields this file holds in columns that may not be rectified (those
        are corrected by hand)."""
        options = dict(listed_columns(self.config.get("columns") or list(header), "columns", []))
        rectifiable = self.config["changes"]["rectify"]
        columns, by_hand = [], {}
        for column in header:
            field_name = (options.get(column) or {}).get("field") or field_key(column)
            if field_name not in corrections:
                continue
            if column in rectifiable:
                columns.append((column, corrections[field_name]))
            elif column in options:
                by_hand[field_name] = corrections[field_name]
        return tuple(columns), by_hand

    @contextmanager
    def _folder_lock(self) -> Iterator[None]:
        """One rewrite of a folder at a time, across processes. The lock file lives under
        VAR_DIR, not in the data folder, where it could be taken for a list."""
        locks = Path(settings.VAR_DIR) / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(str(self.folder.resolve()).encode()).hexdigest()[:24]
        with open(locks / f"csv-{digest}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _rewrite(self, path: Path, change: Change, wanted: set[str]) -> set[str]:
        """Write the file again beside itself, then rename it into place: a reader sees the old
        file or the new one, never half of one. The header and every row the change does not
        touch are copied as they were, byte for byte. Returns the fingerprints of the rows
        changed; when there are none, the file is left as it is."""
        changed: set[str] = set()
        with self._open(path) as source:
            header_raw = self._whole_row(source.readline(), source)
            header = self._values(header_raw)
            # Closed by the `with target` below; kept past it to be renamed or removed.
            target = tempfile.NamedTemporaryFile(  # noqa: SIM115
                "w",
                encoding=self.config.get("encoding", "utf-8"),
                newline="",
                dir=path.parent,
                prefix=f".{path.name}.",
                suffix=".rewrite",
                delete=False,
            )
            try:
                with target:
                    target.write(header_raw)
                    while line := source.readline():
                        raw = self._whole_row(line, source)
                        values = self._values(raw)
                        fingerprint = _fingerprint(values)
                        if fingerprint not in wanted:
                            target.write(raw)
                            continue
                        if change.strategy == Strategy.DELETE:
                            changed.add(fingerprint)
                            continue
                        new = self._changed_values(header, values, change)
                        if new != values:
                            changed.add(fingerprint)
                            self._write_row(target, raw, new)
                        else:
                            target.write(raw)
                    target.flush()
                    os.fsync(target.fileno())
                if changed:
                    shutil.copymode(path, target.name)
                    os.replace(target.name, path)
                else:
                    os.unlink(target.name)
            except BaseException:
                Path(target.name).unlink(missing_ok=True)
                raise
        # The index follows the file: its next reader builds it again.
        self._index_path(path).unlink(missing_ok=True)
        return changed

    def _changed_values(self, header: list[str], values: list[str], change: Change) -> list[str]:
        new = list(values)
        for column, how in change.columns:
            if column not in header or header.index(column) >= len(new):
                continue  # a short row: nothing in that cell
            index = header.index(column)
            if change.strategy == Strategy.MASK:
                new[index] = _masked(new[index], how, change.salt)
            else:
                new[index] = "" if how is None else str(how)
        return new

    def _write_row(self, target: TextIO, raw: str, values: list[str]) -> None:
        """A changed row, with the line ending of the row it replaces, every cell quoted if
        every cell of that row was (else as little as the csv module needs)."""
        delimiter = self.config.get("delimiter", ",")
        ending = _line_ending(raw)
        text = raw[: len(raw) - len(ending)]
        quoted = f'"{delimiter}"'
        all_quoted = (
            len(text) >= 2
            and text.startswith('"')
            and text.endswith('"')
            and text.count(quoted) >= len(values) - 1
        )
        writer = csv.writer(
            target,
            delimiter=delimiter,
            lineterminator=ending,
            quoting=csv.QUOTE_ALL if all_quoted else csv.QUOTE_MINIMAL,
        )
        writer.writerow(values)


def _by_file(records: Sequence[RecordRef]) -> dict[str, list[RecordRef]]:
    by_file: dict[str, list[RecordRef]] = {}
    for record in records:
        by_file.setdefault(record.source, []).append(record)
    return by_file
