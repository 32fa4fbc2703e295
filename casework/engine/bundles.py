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
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from casework import queue
from casework.actors import Actor
from casework.audit import record_event
from casework.models import Bundle
from casework.selectors.bundles import associated_id, bundle_facts
from casework.services.bundles import case_mark_bundle_ready
from casework.spool import Spool, scratch
from dsar.crypto import EncryptingWriter
from exporters.bundle import write_bundle

logger = logging.getLogger(__name__)


def _claim(bundle_id: int) -> Bundle | None:
    claimed = Bundle.objects.filter(pk=bundle_id, state=Bundle.State.PENDING).update(
        state=Bundle.State.BUILDING, attempts=F("attempts") + 1, claimed_at=timezone.now(), error=""
    )
    return Bundle.objects.select_related("case").get(pk=bundle_id) if claimed else None


def build(bundle_id: int) -> str:
    bundle = _claim(bundle_id)
    if bundle is None:
        return "skipped"
    case = bundle.case
    if bundle.attempts > settings.DSAR_GATHER_MAX_DELIVERIES:
        _fail(bundle, f"gave up after {bundle.attempts - 1} deliveries without finishing")
        return "failed"
    name = f"bundles/{case.pk}/bundle-{bundle.pk}-{bundle.attempts}.zip.enc"
    try:
        facts = bundle_facts(case, bundle.kind)
        with scratch() as folder:
            spool = Spool(case, Path(folder))
            tmp_path = Path(folder) / "bundle.enc"
            with (
                open(tmp_path, "wb") as raw,
                EncryptingWriter(raw, associated_id=associated_id(bundle.pk)) as sealed,
            ):
                manifest = write_bundle(sealed, facts, spool, kind=bundle.kind)
            size = tmp_path.stat().st_size
            with open(tmp_path, "rb") as fh:
                stored = default_storage.save(name, File(fh))
    except Exception as exc:
        logger.exception("bundle %s: build failed (%s)", bundle.pk, type(exc).__name__)
        _fail(bundle, f"the build failed ({type(exc).__name__})")
        return "failed"
    _finish(bundle, stored, size, manifest, spool.counts)
    return "ready"


def _finish(bundle: Bundle, name: str, size: int, manifest, counts: dict[str, int]) -> None:
    now = timezone.now()
    with transaction.atomic():
        updated = Bundle.objects.filter(
            pk=bundle.pk, state=Bundle.State.BUILDING, attempts=bundle.attempts
        ).update(
            state=Bundle.State.READY,
            file=name,
            size=size,
            records=sum(counts.values()),
            manifest={"files": [f.name for f in manifest.files], "counts": counts},
            finished_at=now,
            expires_at=now + dt.timedelta(days=settings.DSAR_BUNDLE_RETENTION_DAYS),
        )
        if not updated:
            transaction.on_commit(lambda: default_storage.delete(name))
            return
        case_mark_bundle_ready(case_id=bundle.case_id, at=now)
        record_event(
            bundle.case,
            "bundle.built",
            actor=Actor.system(),
            details={"bundle": bundle.pk, "records": sum(counts.values()), "size": size},
        )


def _fail(bundle: Bundle, message: str) -> None:
    with transaction.atomic():
        Bundle.objects.filter(pk=bundle.pk).update(
            state=Bundle.State.FAILED, error=message[:500], finished_at=timezone.now()
        )
        record_event(
            bundle.case, "bundle.failed", actor=Actor.system(), details={"bundle": bundle.pk}
        )


def sweep(now: dt.datetime | None = None) -> int:
    """Re-queue builds whose worker died or whose message was lost."""
    now = now or timezone.now()
    grace = dt.timedelta(seconds=settings.DSAR_SWEEP_GRACE_SECONDS)
    lease = dt.timedelta(seconds=settings.DSAR_TASK_TIME_LIMIT) + grace
    dead = list(
        Bundle.objects.filter(state=Bundle.State.BUILDING, claimed_at__lt=now - lease).values_list(
            "pk", flat=True
        )
    )
    Bundle.objects.filter(pk__in=dead, state=Bundle.State.BUILDING).update(
        state=Bundle.State.PENDING
    )
    lost = Bundle.objects.filter(state=Bundle.State.PENDING, updated_at__lt=now - grace)
    stale = sorted(set(dead) | set(lost.values_list("pk", flat=True)))
    for bundle_id in stale:
        queue.enqueue("build_bundle", bundle_id)
    return len(stale)


def purge_expired(now: dt.datetime | None = None) -> int:
    """Delete bundles past their retention, with their keys (they live in the file)."""
    now = now or timezone.now()
    expired = Bundle.objects.filter(state=Bundle.State.READY, expires_at__lt=now).select_related(
        "case"
    )
    count = 0
    for bundle in expired:
        if bundle.file and default_storage.exists(bundle.file):
            default_storage.delete(bundle.file)
        with transaction.atomic():
            Bundle.objects.filter(pk=bundle.pk).update(state=Bundle.State.DELETED, file="")
            record_event(
                bundle.case, "bundle.deleted", actor=Actor.system(), details={"bundle": bundle.pk}
            )
        count += 1
    return count
