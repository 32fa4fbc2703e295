"""The audit anchor leaves the database: every DSAR_AUDIT_ANCHOR_SECONDS beat appends the newest
checkpoint (its number, the head hash it seals, its HMAC, the time) to a sink outside the
database. Whoever rolls the database back (deletes the newest events with their checkpoints
and the anchor row) cannot reach the copies: `verify_audit_trail --anchors FILE` compares them.

Sinks are plug-ins (settings.DSAR_AUDIT_ANCHOR_SINK, a dotted path): an append-only file by
default; an object store with a retention lock is one class more."""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

from casework.models import AuditAnchor, AuditCheckpoint


class AnchorSink(ABC):
    """Where anchors are kept: `append` one, `read` them all back (oldest first)."""

    @abstractmethod
    def append(self, anchor: dict[str, Any]) -> None: ...

    @abstractmethod
    def read(self) -> list[dict[str, Any]]: ...


class FileSink(AnchorSink):
    """JSON Lines in a file opened for appending only (settings.DSAR_AUDIT_ANCHOR_FILE); each
    line is flushed to disk before the next beat. Keep the file on other storage than the
    database, or copy it away."""

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = Path(path or settings.DSAR_AUDIT_ANCHOR_FILE)

    def append(self, anchor: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as out:
            out.write(json.dumps(anchor, sort_keys=True) + "\n")
            out.flush()
            os.fsync(out.fileno())

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with open(self.path, encoding="utf-8") as lines:
            return [json.loads(line) for line in lines if line.strip()]


def sink() -> AnchorSink:
    return import_string(settings.DSAR_AUDIT_ANCHOR_SINK)()


def current_anchor() -> dict[str, Any] | None:
    """The newest checkpoint as an anchor: its number, the chain and head it seals, its HMAC."""
    anchor = AuditAnchor.objects.filter(pk=1).first()
    if anchor is None or not anchor.seq:
        return None
    checkpoint = AuditCheckpoint.objects.filter(seq=anchor.seq).first()
    return {
        "seq": anchor.seq,
        "mac": anchor.mac,
        "chain": checkpoint.chain_key if checkpoint else "",
        "head_seq": checkpoint.head_seq if checkpoint else None,
        "head_hash": checkpoint.head_hash if checkpoint else "",
    }


def export_anchor(target: AnchorSink | None = None) -> dict[str, Any] | None:
    """Append the current anchor to the sink, unless it is the one appended last (nothing was
    recorded since). Returns what was appended."""
    target = target or sink()
    anchor = current_anchor()
    if anchor is None:
        return None
    kept = target.read()
    if kept and (kept[-1].get("seq"), kept[-1].get("mac")) == (anchor["seq"], anchor["mac"]):
        return None
    anchor["exported_at"] = timezone.now().isoformat()
    target.append(anchor)
    return anchor


def anchor_breaks(anchors: list[dict[str, Any]]) -> list[str]:
    """What the database contradicts in exported anchors: a checkpoint they name that is gone
    (the line of checkpoints was cut off, the anchor rolled back) or that differs."""
    problems = []
    macs = dict(AuditCheckpoint.objects.values_list("seq", "mac"))
    newest = max(macs, default=0)
    for anchor in anchors:
        seq, mac = anchor.get("seq"), anchor.get("mac")
        if seq is None:
            continue
        if seq > newest:
            problems.append(
                f"checkpoints were cut off: an anchor exported at {anchor.get('exported_at')} "
                f"names checkpoint #{seq}, the database ends at #{newest}"
            )
        elif macs.get(seq) != mac:
            problems.append(f"checkpoint #{seq} differs from the anchor exported for it")
    return problems
