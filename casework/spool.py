"""Scratch files of a bundle build: the reviewed records split by category into encrypted
temporary files, read back category by category without holding any in memory."""

from __future__ import annotations

import gzip
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from itertools import chain
from pathlib import Path
from typing import Any

from django.conf import settings

from casework.models import Case
from casework.results import LineBatcher, json_lines
from casework.selectors.bundles import request_records
from casework.selectors.review import reviewed_records
from dsar.crypto import DecryptingReader, EncryptingWriter


class Spool:
    """The reviewed records split by category into encrypted temporary files, so that each
    category can be read (twice, for the CSV columns) without holding it in memory; then the
    request's own records (its category of its own), which review does not touch."""

    def __init__(self, case: Case, folder: Path, *, register_only: bool = False) -> None:
        self.folder = folder
        self.counts: dict[str, int] = {}
        if register_only:
            return  # the register's part only (BundleFacts.register_only): no record is read
        with ExitStack() as stack:
            writers: dict[str, LineBatcher] = {}
            for category, record in chain(reviewed_records(case), request_records(case)):
                lines = writers.get(category)
                if lines is None:
                    raw = stack.enter_context(open(self._path(category), "wb"))
                    sealed = stack.enter_context(
                        EncryptingWriter(raw, associated_id=f"spool:{category}")
                    )
                    gz = stack.enter_context(
                        gzip.GzipFile(fileobj=sealed, mode="wb", compresslevel=1)
                    )
                    lines = writers[category] = LineBatcher(gz)
                    # Last in, first out: the batch is flushed before gzip closes.
                    stack.callback(lines.flush)
                lines.write(record)
                self.counts[category] = self.counts.get(category, 0) + 1

    def _path(self, category: str) -> Path:
        return self.folder / f"{category}.jsonl.gz.enc"

    def __call__(self, category: str) -> Iterator[dict[str, Any]]:
        if category not in self.counts:
            return
        with (
            open(self._path(category), "rb") as raw,
            DecryptingReader(raw, associated_id=f"spool:{category}") as plain,
            gzip.GzipFile(fileobj=plain, mode="rb") as gz,
        ):
            yield from json_lines(gz)


EXPORT_PREFIX = "export"  # the scratch of an export to a medium (no row of its own)


def scratch(prefix: str) -> tempfile.TemporaryDirectory:
    """A scratch folder whose name starts with `prefix` (a build's attempt, or an export to a
    medium), deleted on exit; the sweeper deletes those of builds that died."""
    folder = Path(settings.VAR_DIR) / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(dir=folder, prefix=f"{prefix}-", ignore_cleanup_errors=True)


def scratch_folders() -> list[Path]:
    folder = Path(settings.VAR_DIR) / "tmp"
    return sorted(p for p in folder.glob("*") if p.is_dir()) if folder.is_dir() else []
