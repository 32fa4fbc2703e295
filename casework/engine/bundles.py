"""Building the subject's bundle (access or portability) from the reviewed view, on a worker.

One Bundle row per build, claimed atomically like every unit of work. The build spools the
reviewed records by category into encrypted temporary files (one pass over the stored runs),
hands the exporters plain data (BundleFacts, records by category), and streams the ZIP through
an encrypting writer into storage. Only when the whole file is stored does the row become
`ready`; a worker killed mid-build leaves a `building` row the sweeper takes back, and no file
a download could serve.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone, translation

from casework import queue, work
from casework.actors import Actor
from casework.audit import record_event, take_case
from casework.models import Bundle, Notice, State
from casework.selectors.bundles import (
    associated_id,
    bundle_facts,
    cases_ready_to_complete,
    ready_notice_lost,
    with_unregistered_categories,
)
from casework.selectors.retention import not_on_hold
from casework.services.bundles import case_mark_bundle_ready
from casework.services.case import case_complete_when_told
from casework.spool import EXPORT_PREFIX, Spool, scratch, scratch_folders
from dsar.crypto import EncryptingWriter
from exporters.bundle import write_bundle

logger = logging.getLogger(__name__)


BUNDLE_FOLDER = "bundles"
BUNDLE_PREFIX = "bundle"


def stored_name(bundle: Bundle) -> str:
    """Where an attempt stores its bundle: named for the bundle and the attempt."""
    return f"{BUNDLE_FOLDER}/{bundle.case_id}/{work.attempt_prefix(BUNDLE_PREFIX, bundle)}.zip.enc"


def build(bundle_id: int) -> str:
    bundle = work.claim(Bundle, bundle_id, select_related=("case",))
    if bundle is None:
        return "skipped"
    case = bundle.case
    gave_up = work.over_delivery_bound(bundle, settings.DSAR_BUNDLE_MAX_DELIVERIES)
    if gave_up:
        _fail(bundle, gave_up)
        return "failed"
    try:
        with work.KeepAlive(bundle):
            facts = bundle_facts(case, bundle.kind)
            with scratch(work.attempt_prefix(BUNDLE_PREFIX, bundle)) as folder:
                spool = Spool(case, Path(folder), register_only=facts.register_only)
                with translation.override(case.language):
                    facts = with_unregistered_categories(facts, spool.counts)
                tmp_path = Path(folder) / "bundle.enc"
                with (
                    open(tmp_path, "wb") as raw,
                    EncryptingWriter(raw, associated_id=associated_id(bundle.pk)) as sealed,
                ):
                    manifest = write_bundle(sealed, facts, spool, kind=bundle.kind)
                size = tmp_path.stat().st_size
                with open(tmp_path, "rb") as fh:
                    stored = default_storage.save(stored_name(bundle), File(fh))
    except Exception as exc:
        logger.exception("bundle %s: build failed (%s)", bundle.pk, type(exc).__name__)
        _fail(bundle, f"the build failed ({type(exc).__name__})", exc)
        return "failed"
    return "ready" if _finish(bundle, stored, size, manifest, spool.counts) else "taken back"


def _finish(bundle: Bundle, name: str, size: int, manifest, counts: dict[str, int]) -> bool:
    now = timezone.now()
    with transaction.atomic():
        take_case(bundle.case_id)
        stored = work.complete(
            bundle,
            state=Bundle.State.READY,
            file=name,
            size=size,
            records=sum(counts.values()),
            manifest={"files": [f.name for f in manifest.files], "counts": counts},
            error="",
            expires_at=now + dt.timedelta(days=settings.DSAR_BUNDLE_RETENTION_DAYS),
        )
        if not stored:
            # Taken back meanwhile: the new attempt stores its own file.
            transaction.on_commit(lambda: default_storage.delete(name))
            return False
        case_mark_bundle_ready(case_id=bundle.case_id, at=now)
        record_event(
            bundle.case,
            "bundle.built",
            actor=Actor.system(),
            details={"bundle": bundle.pk, "records": sum(counts.values()), "size": size},
        )
    return True


def _fail(bundle: Bundle, message: str, exc: Exception | None = None) -> None:
    with transaction.atomic():
        take_case(bundle.case_id)
        if not work.fail(bundle, exc=exc, error=message[:500]):
            return  # taken back meanwhile: the new attempt decides
        record_event(
            bundle.case, "bundle.failed", actor=Actor.system(), details={"bundle": bundle.pk}
        )


def remove_orphan_files(*, case_ids: Iterable[int] | None = None) -> int:
    """Delete what killed builds left: scratch folders no live attempt uses, and stored files
    no bundle owns, in the folders of the cases `case_ids` (None: of every case). Returns how
    many went."""
    removed = 0
    scratches = {
        str(path): found
        for path in scratch_folders()
        if (found := work.parse_attempt_name(path.name, BUNDLE_PREFIX))
    }
    for name in work.orphaned(Bundle, scratches, owner_field="file"):
        shutil.rmtree(name, ignore_errors=True)
        removed += 1
    if case_ids is None:
        # An export to a medium (a command) has no row: its scratch goes after a day.
        day_ago = time.time() - 24 * 3600
        for path in scratch_folders():
            if path.name.startswith(f"{EXPORT_PREFIX}-") and path.stat().st_mtime < day_ago:
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
    folders: Iterable[str] = ()
    if case_ids is None and default_storage.exists(BUNDLE_FOLDER):
        folders = default_storage.listdir(BUNDLE_FOLDER)[0]
    elif case_ids is not None:
        folders = [str(case_id) for case_id in case_ids]
    stored: dict[str, tuple[int, int]] = {}
    for folder in folders:
        path = f"{BUNDLE_FOLDER}/{folder}"
        if not default_storage.exists(path):
            continue
        for name in default_storage.listdir(path)[1]:
            found = work.parse_attempt_name(name, BUNDLE_PREFIX)
            if found:
                stored[f"{path}/{name}"] = found
    for name in work.orphaned(Bundle, stored, owner_field="file"):
        if default_storage.exists(name):
            default_storage.delete(name)
            removed += 1
    if removed:
        logger.info("%d file(s) of dead bundle builds deleted", removed)
    return removed


def sweep(now: dt.datetime | None = None) -> int:
    """Take back builds whose worker stopped renewing its lease (killed or hung) and queue
    them again with the builds whose message was lost; delete what the dead builds left."""
    taken_back = work.take_back_expired(Bundle, now=now)
    lost = work.lost_pending(Bundle, now=now).values_list("pk", flat=True)
    stale = sorted({pk for pk, _attempt in taken_back} | set(lost))
    for bundle_id in stale:
        queue.enqueue("build_bundle", bundle_id)
    cases = Bundle.objects.filter(pk__in=[pk for pk, _a in taken_back]).values_list("case_id")
    remove_orphan_files(case_ids={case_id for (case_id,) in cases})
    tell_again_where_lost(now)
    complete_told_cases()
    return len(stale)


def tell_again_where_lost(now: dt.datetime | None = None) -> int:
    """Queue the notice that the data is ready again where it was lost: the case completes
    only once the subject is told, so a lost message must not leave it waiting for ever."""
    lost = list(ready_notice_lost(now).values_list("pk", flat=True))
    for case_id in lost:
        queue.enqueue("notify_subject", case_id, Notice.READY)
    if lost:
        logger.warning("%d notice(s) that the data is ready queued again (lost)", len(lost))
    return len(lost)


def complete_told_cases() -> int:
    """The safety net of completion: an access or portability case whose subject was told
    its data is ready, but which did not complete where that was recorded (a worker killed
    in between, say), completes now, as of the telling. Returns how many completed."""
    completed = 0
    for case in cases_ready_to_complete().only("pk"):
        if case_complete_when_told(case=case).state == State.COMPLETED:
            completed += 1
    if completed:
        logger.info("%d case(s) completed once their subject was told", completed)
    return completed


def purge_expired(now: dt.datetime | None = None) -> int:
    """Delete bundles past their retention, with their keys (they live in the file). A case on
    legal hold keeps its bundles (past their expiry nothing downloads them)."""
    now = now or timezone.now()
    expired = not_on_hold(
        Bundle.objects.filter(state=Bundle.State.READY, expires_at__lt=now), via="case"
    ).select_related("case")
    count = 0
    for bundle in expired:
        delete_bundle(bundle)
        count += 1
    remove_orphan_files()
    return count


def delete_bundle(bundle: Bundle, **details) -> None:
    """Delete a stored bundle's file (its key goes with it) and say so on its case."""
    if bundle.file and default_storage.exists(bundle.file):
        default_storage.delete(bundle.file)
    with transaction.atomic():
        take_case(bundle.case_id)
        Bundle.objects.filter(pk=bundle.pk).update(state=Bundle.State.DELETED, file="")
        record_event(
            bundle.case,
            "bundle.deleted",
            actor=Actor.system(),
            details={"bundle": bundle.pk, **details},
        )
