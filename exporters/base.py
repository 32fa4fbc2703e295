"""The exporter plug-in: one class per file format (pretix's BaseExporter shape).

An exporter writes the records of one source table of a category (the bundle writes a file per
table, so that a file's columns are those of one mapping) to a binary file object and says how
many it wrote. It is given `records`, a re-iterable of normalised records (see `context.py`): it may
read them more than once, each pass streams them anew, and it must never hold them all.
Exporters are listed by dotted path in settings.DSAR_EXPORTERS (see `registry.py`); a new
format (XLSX, HTML, ...) is one subclass and one line there.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, ClassVar

from exporters.context import BundleFacts, CategoryInfo, Record, SourceTable


@dataclass
class ExportStats:
    """What an exporter wrote for one category."""

    records: int = 0


class BaseExporter(abc.ABC):
    identifier: ClassVar[str] = ""
    verbose_name: ClassVar[str] = ""
    extension: ClassVar[str] = ""
    media_type: ClassVar[str] = "application/octet-stream"
    # The folder of the bundle the file goes to, and the bundles that carry it.
    folder: ClassVar[str] = "data"
    kinds: ClassVar[tuple[str, ...]] = ("access", "portability")
    # False for a file about the records (a schema) rather than of them
    holds_records: ClassVar[bool] = True

    def filename(self, category: CategoryInfo, table: SourceTable | None = None) -> str:
        """`data/<category>/<system>-<table>.json` for one source table of a category (the
        bundle writes one file per table); `data/<category>.json` for a whole category."""
        if table is None:
            return f"{self.folder}/{category.slug}.{self.extension}"
        return f"{self.folder}/{category.slug}/{table.stem}.{self.extension}"

    @abc.abstractmethod
    def write(
        self,
        fileobj: IO[bytes],
        facts: BundleFacts,
        category: CategoryInfo,
        records: Iterable[Record],
        table: SourceTable | None = None,
    ) -> ExportStats:
        """Write one file to `fileobj`: the records of one source table of the category
        (`table` says its columns), or of the whole category; every exporter implements it."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.identifier}>"


class TextBatcher:
    """Text written in UTF-8 to a binary stream, in chunks of about `chunk` characters: one
    encode and one write per chunk instead of one per record. Unencodable text (lone surrogates
    from a broken source) becomes "?" rather than failing the bundle."""

    def __init__(self, fileobj: IO[bytes], chunk: int = 256 * 1024):
        self._fileobj = fileobj
        self._chunk = chunk
        self._parts: list[str] = []
        self._size = 0

    def write(self, text: str) -> int:
        self._parts.append(text)
        self._size += len(text)
        if self._size >= self._chunk:
            self.flush()
        return len(text)

    def flush(self) -> None:
        if self._parts:
            self._fileobj.write("".join(self._parts).encode("utf-8", errors="replace"))
            self._parts.clear()
            self._size = 0


@contextmanager
def text_writer(fileobj: IO[bytes]) -> Iterator[TextBatcher]:
    """A text layer over a binary stream, flushed (not closed) when done."""
    text = TextBatcher(fileobj)
    yield text
    text.flush()
