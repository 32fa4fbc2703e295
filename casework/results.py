"""Gathered records at rest: compressed JSON Lines, encrypted (dsar.crypto) with a key of the
file's own, written through Django's storage API. Streamed both ways: nothing holds a whole
system's answer in memory."""

from __future__ import annotations

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


def _json_default(value: Any) -> str:
    return str(value)


def associated_id(run_id: int) -> str:
    return f"connector-run:{run_id}"


def write_records(run_id: int, attempt: int, records: Iterable[dict[str, Any]]) -> tuple[str, int]:
    """Store records for a run; return (storage name, count). The name is new per attempt, so a
    half-written file of a killed attempt is never the one a finished row points at."""
    tmp_dir = Path(settings.VAR_DIR) / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    count = 0
    with tempfile.NamedTemporaryFile(
        dir=tmp_dir, prefix="run-", suffix=".enc", delete=False
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
            name = default_storage.save(
                f"{RUN_FOLDER}/run-{run_id}-{attempt}.jsonl.gz.enc", File(tmp)
            )
        finally:
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


def delete(name: str) -> None:
    if name and default_storage.exists(name):
        default_storage.delete(name)
