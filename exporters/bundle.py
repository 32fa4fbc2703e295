"""The ZIP bundle the subject downloads, written streaming.

    data/<slug>/<system>-<table>.json, .csv
                               every included category with records: one file per exporter
                               and source table (a system's table, endpoint, or folder of
                               files), so that a file's columns are those of one mapping
    schema/<slug>/<system>-<table>.schema.json
                               portability bundles: the JSON Schema of each data file, from
                               the register's description of its columns
    report.pdf                 access bundles: the readable answer (report.py), written after
                               the data files, whose record counts it states
    manifest.json              last: every file with its size and SHA-256, the case reference,
                               kind, time, generator, categories and record counts, failed sources

An access bundle includes every category held; a portability bundle only the categories whose
CategoryInfo.portable is true (data the subject provided or that was observed from their use).

`write_bundle` writes to any writable object, also one that cannot seek (an encrypting stream):
entries are written with data descriptors, in chunks, hashed on the way. Records are read from
`records_by_category` once to find a category's source tables (and count their records; the
report reads its rows in the same pass), then once per data file of a table too big to keep
from that pass (KEEP_RECORDS); never held: memory does not grow with the number of records.
`write_encrypted_zip` writes the same content to an AES-256 encrypted ZIP file (WinZip AES, which
7-Zip, WinZip and macOS' Archive Utility open) for delivery on a medium, with a new passphrase.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import secrets
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any

import pyzipper
from django.utils import translation

from exporters.base import BaseExporter, ExportStats
from exporters.context import (
    BundleFacts,
    CategoryInfo,
    CategoryRecords,
    RecordsByCategory,
    SourceIndex,
    SourceTables,
    TableRecords,
    controller_zone,
    normalise_record,
    source_text,
)

MANIFEST_FORMAT = "dsar-bundle"
MANIFEST_VERSION = 2  # 2: a data file per source table, listed under its category's tables
CHUNK = 256 * 1024
COMPRESS_LEVEL = 6
# A category's first records kept from the pass that finds its tables: a table that fits is
# written from them, not read again (twice, for JSON and CSV), which spares a small table
# beside a big one two reads of the big one's stream.
KEEP_RECORDS = 1000


class BundleError(Exception):
    """The bundle could not be written consistently."""


@dataclass(frozen=True)
class ManifestFile:
    name: str
    size: int
    sha256: str
    media_type: str


@dataclass
class ManifestTable:
    """One source table of a category and its files."""

    system: str
    table: str  # as the mapping names it; "*" for every file of a folder
    records: int
    files: list[str] = field(default_factory=list)


@dataclass
class ManifestCategory:
    slug: str
    code: str
    name: str
    held: bool
    included: bool  # in this bundle (held; for portability, also portable)
    records: int | None  # None when not included
    files: list[str] = field(default_factory=list)
    tables: list[ManifestTable] = field(default_factory=list)


@dataclass
class Manifest:
    reference: str
    kind: str
    language: str
    generated_at: dt.datetime
    generator_version: str
    failed_sources: list[str]
    # Only the register's part was asked for: no data files (BundleFacts.register_only).
    register_only: bool = False
    categories: list[ManifestCategory] = field(default_factory=list)
    files: list[ManifestFile] = field(default_factory=list)
    # manifest.json itself (not listed inside it), filled in once it is written
    size: int = 0
    sha256: str = ""

    @property
    def complete(self) -> bool:
        return not self.failed_sources

    @property
    def total_records(self) -> int:
        return sum(c.records or 0 for c in self.categories)

    def file(self, name: str) -> ManifestFile:
        for entry in self.files:
            if entry.name == name:
                return entry
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": MANIFEST_FORMAT,
            "format_version": MANIFEST_VERSION,
            "reference": self.reference,
            "kind": self.kind,
            "language": self.language,
            "generated_at": self.generated_at.isoformat(),
            "generator": self.generator_version,
            "complete": self.complete,
            "failed_sources": list(self.failed_sources),
            **(
                {
                    "register_only": True,
                    "note": "Categories, purposes, recipients, retention and sources only, "
                    "as asked: no data files, and no system was searched.",
                }
                if self.register_only
                else {}
            ),
            "total_records": self.total_records,
            "categories": [asdict(c) for c in self.categories],
            "files": [asdict(f) for f in self.files],
        }


# --- streams --------------------------------------------------------------------------------------


class _Sink:
    """What zipfile writes to: only `write()` is needed of the target; the position is counted
    here (zipfile asks for it) and `seek` is absent, so zipfile writes data descriptors."""

    def __init__(self, target: IO[bytes]):
        self._target = target
        self._position = 0

    def write(self, data: bytes) -> int:
        self._target.write(data)
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        flush = getattr(self._target, "flush", None)
        if flush is not None:
            flush()


class _Digest(io.RawIOBase):
    """Passes bytes on to a ZIP entry, counting and hashing them."""

    def __init__(self, target: IO[bytes]):
        self._target = target
        self.size = 0
        self._sha256 = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        data = bytes(data)
        self._sha256.update(data)
        self.size += len(data)
        self._target.write(data)
        return len(data)

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()


class _ZipWriter:
    """Adds entries to an open ZipFile (zipfile's or pyzipper's), each streamed and hashed."""

    def __init__(self, zf: zipfile.ZipFile, date_time: tuple, manifest: Manifest):
        self.zf = zf
        # pyzipper's AESZipFile has ZipInfo of its own, which carries the encryption
        self.info_class = getattr(zf, "zipinfo_cls", zipfile.ZipInfo)
        self.date_time = date_time
        self.manifest = manifest

    def entry(self, name: str, media_type: str, write: Callable[[IO[bytes]], Any]) -> Any:
        info = self.info_class(name, date_time=self.date_time)
        info.compress_type = zipfile.ZIP_DEFLATED
        for attribute in ("compress_level", "_compresslevel"):  # Python 3.13+, older and pyzipper
            if hasattr(type(info), attribute):
                setattr(info, attribute, COMPRESS_LEVEL)
                break
        info.external_attr = 0o644 << 16
        with self.zf.open(info, "w", force_zip64=True) as raw:
            digest = _Digest(raw)
            buffered = io.BufferedWriter(digest, buffer_size=CHUNK)
            result = write(buffered)
            buffered.flush()
        self.manifest.files.append(ManifestFile(name, digest.size, digest.sha256, media_type))
        return result

    def bytes_entry(self, name: str, media_type: str, content: bytes) -> None:
        def write(out: IO[bytes]) -> None:
            view = memoryview(content)
            for start in range(0, len(view), CHUNK):
                out.write(view[start : start + CHUNK])

        self.entry(name, media_type, write)


# --- the content ----------------------------------------------------------------------------------


def included(category: CategoryInfo, kind: str) -> bool:
    return category.held and (kind == "access" or category.portable)


def _zip_time(facts: BundleFacts) -> tuple:
    local = facts.generated_at.astimezone(controller_zone(facts.time_zone))
    return (max(local.year, 1980), local.month, local.day, local.hour, local.minute, local.second)


def _write_with(exporter, facts, category, records, table, out: IO[bytes]) -> ExportStats:
    return exporter.write(out, facts, category, records, table)


def source_tables(
    index: SourceIndex,
    category: CategoryInfo,
    records_by_category: RecordsByCategory,
    *,
    also: Callable[[Mapping[str, Any]], None] | None = None,
    kept: dict[str, list[Mapping[str, Any]]] | None = None,
) -> SourceTables:
    """One pass over a category's records: its source tables, their record counts and columns
    (the source's own records, read without normalising them). Each record is also handed to
    `also` (the report's reader), and the first KEEP_RECORDS are kept in `kept` by table stem,
    so that small tables need not be read again."""
    tables = SourceTables(index, category.slug)
    room = KEEP_RECORDS if kept is not None else 0
    stream = records_by_category(category.slug)
    try:
        for record in stream:
            source = record.get("source")
            data = record.get("data")
            if isinstance(data, Mapping):
                keys = data if all(type(k) is str for k in data) else map(str, data)
            else:
                keys = ("value",) if data is not None else ()
            table = tables.add(source_text(source), keys)
            if also is not None:
                also(record)
            if room:
                kept.setdefault(table.stem, []).append(record)
                room -= 1
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    return tables


class KeptRecords:
    """A table's records kept from the first pass, re-iterable like TableRecords."""

    def __init__(self, records: list[Mapping[str, Any]]):
        self._records = records

    def __iter__(self):
        return map(normalise_record, self._records)


@dataclass
class _ReadCategory:
    """A category after its first pass: its source tables and the records kept from it."""

    entry: ManifestCategory
    category: CategoryInfo
    tables: list
    kept: dict[str, list[Mapping[str, Any]]]


def _read_category(
    entry: ManifestCategory,
    category: CategoryInfo,
    records_by_category: RecordsByCategory,
    index: SourceIndex,
    report_reader=None,
) -> _ReadCategory:
    """The first pass over a category: its source tables and their record counts, the first
    records kept, and the report's reader (if any) fed with every record."""
    kept: dict[str, list[Mapping[str, Any]]] = {}
    also = report_reader.add if report_reader is not None else None
    tables = list(source_tables(index, category, records_by_category, also=also, kept=kept))
    entry.records = sum(t.records for t in tables)
    return _ReadCategory(entry, category, tables, kept)


def _write_category(
    writer: _ZipWriter,
    read: _ReadCategory,
    exporters: Sequence[BaseExporter],
    facts: BundleFacts,
    records_by_category: RecordsByCategory,
) -> None:
    """The files of one category: per source table, from the records kept in the first pass
    when the table is small, else each from a new stream of its records."""
    entry, category, tables = read.entry, read.category, read.tables
    for table in tables:
        small = read.kept.get(table.stem)
        if small is not None and len(small) == table.records:
            records = KeptRecords(small)
        elif len(tables) == 1:
            records = CategoryRecords(records_by_category, category.slug)  # nothing to filter
        else:
            records = TableRecords(records_by_category, category.slug, table.sources)
        listed = ManifestTable(system=table.system, table=table.place, records=table.records)
        for exporter in exporters:
            name = exporter.filename(category, table)
            stats: ExportStats = writer.entry(
                name,
                exporter.media_type,
                partial(_write_with, exporter, facts, category, records, table),
            )
            listed.files.append(name)
            if exporter.holds_records and stats.records != table.records:
                raise BundleError(f"{category.slug}: the records changed while writing {name}")
        entry.files.extend(listed.files)
        entry.tables.append(listed)


def _write_contents(
    zf: zipfile.ZipFile,
    facts: BundleFacts,
    records_by_category: RecordsByCategory,
    kind: str,
    exporters: Sequence[BaseExporter] | None,
) -> Manifest:
    if kind not in ("access", "portability"):
        raise ValueError("kind must be 'access' or 'portability'")
    if exporters is None:
        from exporters.registry import exporters_for

        exporters = exporters_for(kind)
    manifest = Manifest(
        reference=facts.reference,
        kind=kind,
        language=facts.language,
        generated_at=facts.generated_at,
        generator_version=facts.generator_version,
        failed_sources=list(facts.failed_sources),
        register_only=facts.register_only,
    )
    writer = _ZipWriter(zf, _zip_time(facts), manifest)
    index = SourceIndex(facts)
    with translation.override(facts.language):
        # First every category's first pass (its tables and counts; an access bundle's report
        # reads its rows in the same pass), then the report is rendered beside the writing of
        # the data files, on the other core: it needs nothing that writing finds out.
        first_passes: list[_ReadCategory] = []
        read: dict[str, Any] = {}
        for category in facts.categories:
            entry = ManifestCategory(
                slug=category.slug,
                code=category.code,
                name=category.name,
                held=category.held,
                # A register-only bundle holds no data of any category.
                included=included(category, kind) and not facts.register_only,
                records=None,
            )
            manifest.categories.append(entry)
            if entry.included:
                reader = None
                if kind == "access":
                    from exporters.report import category_reader

                    reader = category_reader(category, facts, exporters=exporters)
                first_passes.append(
                    _read_category(entry, category, records_by_category, index, reader)
                )
                if reader is not None:
                    read[category.slug] = reader.finish()
        report = None
        if kind == "access":
            from exporters.pdf import render_pdf_beside
            from exporters.report import report_html

            html, _counts = report_html(facts, records_by_category, exporters=exporters, read=read)
            report = render_pdf_beside(html)
        try:
            for first_pass in first_passes:
                _write_category(writer, first_pass, exporters, facts, records_by_category)
            if report is not None:
                # Last but one: the report states the data files' record counts.
                writer.bytes_entry("report.pdf", "application/pdf", report.result())
        finally:
            if report is not None:
                report.cancel()
        manifest_json = json.dumps(manifest.to_dict(), ensure_ascii=False, indent=2) + "\n"
        content = manifest_json.encode("utf-8")
        writer.bytes_entry("manifest.json", "application/json", content)
        manifest.files.pop()  # manifest.json is not listed in itself
        manifest.size = len(content)
        manifest.sha256 = hashlib.sha256(content).hexdigest()
    return manifest


def write_bundle(
    fileobj: IO[bytes],
    facts: BundleFacts,
    records_by_category: RecordsByCategory,
    *,
    kind: str | None = None,
    exporters: Sequence[BaseExporter] | None = None,
) -> Manifest:
    """Write the bundle as a ZIP to `fileobj` (only its `write()` is used) and return its
    manifest. `kind` defaults to the request type of `facts`; `exporters` to those of
    settings.DSAR_EXPORTERS for that kind. `fileobj` is neither closed nor flushed-and-closed:
    the caller finishes it (an encrypting stream writes its tag then)."""
    sink = _Sink(fileobj)
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        manifest = _write_contents(
            zf, facts, records_by_category, kind or facts.request_type, exporters
        )
    return manifest


# --- on a medium: an AES-encrypted ZIP file -------------------------------------------------------

# No 0/O, 1/l/I: a passphrase read out or typed from a letter must not be misread.
PASSPHRASE_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # noqa: S105 - an alphabet
PASSPHRASE_GROUPS = 6
PASSPHRASE_GROUP_LENGTH = 4  # 24 characters from 32: 120 bits


def new_passphrase() -> str:
    return "-".join(
        "".join(secrets.choice(PASSPHRASE_ALPHABET) for _ in range(PASSPHRASE_GROUP_LENGTH))
        for _ in range(PASSPHRASE_GROUPS)
    )


def write_encrypted_zip(
    path: str | Path,
    facts: BundleFacts,
    records_by_category: RecordsByCategory,
    kind: str | None = None,
    *,
    exporters: Sequence[BaseExporter] | None = None,
) -> str:
    """Write the bundle to `path` as a ZIP whose entries are AES-256 encrypted (WinZip AES),
    and return the new passphrase, which the caller sends through another channel."""
    passphrase = new_passphrase()
    with pyzipper.AESZipFile(
        path, "w", compression=pyzipper.ZIP_DEFLATED, allowZip64=True, encryption=pyzipper.WZ_AES
    ) as zf:
        zf.setpassword(passphrase.encode("ascii"))
        zf.setencryption(pyzipper.WZ_AES, nbits=256)
        _write_contents(zf, facts, records_by_category, kind or facts.request_type, exporters)
    return passphrase
