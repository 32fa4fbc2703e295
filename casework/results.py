"""Gathered records at rest: compressed JSON Lines, encrypted (dsar.crypto) with a key of the
file's own, written through Django's storage API. Streamed both ways: nothing holds a whole
system's answer in memory."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage

from dsar.crypto import DecryptingReader, EncryptingWriter

RUN_FOLDER = "runs"
# Files of a search are named for the run and the attempt (casework.work.attempt_prefix), so
# that the sweeper finds what a killed attempt left; a person's upload has a prefix of its own.
RUN_PREFIX = "run"
MANUAL_PREFIX = "manual"


def _json_default(value: Any) -> str:
    return str(value)


def associated_id(run_id: int) -> str:
    return f"connector-run:{run_id}"


def temporary_folder() -> Path:
    return Path(settings.VAR_DIR) / "tmp"


def stored_name(run_id: int, attempt: int, prefix: str = RUN_PREFIX) -> str:
    return f"{RUN_FOLDER}/{prefix}-{run_id}-{attempt}.jsonl.gz.enc"


def temporary_files() -> list[Path]:
    """The half-written record files of searches now being stored (or of killed ones)."""
    folder = temporary_folder()
    return sorted(folder.glob(f"{RUN_PREFIX}-*")) if folder.is_dir() else []


def stored_files() -> list[str]:
    """The storage names of every stored record file."""
    if not default_storage.exists(RUN_FOLDER):
        return []
    return [f"{RUN_FOLDER}/{name}" for name in default_storage.listdir(RUN_FOLDER)[1]]


def write_records(
    run_id: int, attempt: int, records: Iterable[dict[str, Any]], *, prefix: str = RUN_PREFIX
) -> tuple[str, int]:
    """Store records for a run; return (storage name, count). The name is new per attempt, so a
    half-written file of a killed attempt is never the one a finished row points at."""
    tmp_dir = temporary_folder()
    tmp_dir.mkdir(parents=True, exist_ok=True)
    count = 0
    with tempfile.NamedTemporaryFile(
        dir=tmp_dir, prefix=f"{prefix}-{run_id}-{attempt}-", suffix=".enc", delete=False
    ) as tmp:
        try:
            with (
                EncryptingWriter(tmp, associated_id=associated_id(run_id)) as sealed,
                gzip.GzipFile(fileobj=sealed, mode="wb", compresslevel=5, mtime=0) as gz,
            ):
                for record in records:
                    gz.write(json.dumps(record, ensure_ascii=False, default=_json_default).encode())
                    gz.write(b"\n")
                    count += 1
            tmp.flush()
            tmp.seek(0)
            name = default_storage.save(stored_name(run_id, attempt, prefix), File(tmp))
        finally:
            # The sweeper may have deleted it first, had the attempt died meanwhile.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp.name)
    return name, count


def read_records(run_id: int, name: str) -> Iterator[dict[str, Any]]:
    """Stream the records stored for a run (verified chunk by chunk while reading)."""
    with (
        default_storage.open(name, "rb") as raw,
        DecryptingReader(raw, associated_id=associated_id(run_id)) as plain,
        gzip.GzipFile(fileobj=plain, mode="rb") as gz,
    ):
        for line in gz:
            if line.strip():
                yield json.loads(line)


def delete(name: str) -> bool:
    """Delete a stored record file; False when there was none."""
    if name and default_storage.exists(name):
        default_storage.delete(name)
        return True
    return False
