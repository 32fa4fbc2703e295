"""Building the subject's bundle (access or portability) from the reviewed view.

One Bundle row per build, claimed atomically like every unit of work. The build spools the
reviewed records by category into encrypted temporary files (one pass over the stored runs),
hands the exporters plain data (BundleFacts, records by category), and streams the ZIP through
an encrypting writer into storage. Only when the whole file is stored does the row become
`ready`; a worker killed mid-build leaves a `building` row the sweeper takes back, and no file
a download could serve.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from casework import deadlines, review
from casework.actors import Actor
from casework.audit import record_event
from casework.models import BUNDLE_TYPES, Bundle, Case, ConnectorRun
from dsar.crypto import DecryptingReader, EncryptingWriter
from dsar.models import ControllerInfo, DataCategory
from exporters.bundle import write_bundle, write_encrypted_zip
from exporters.context import BundleFacts, CategoryInfo

logger = logging.getLogger(__name__)
GENERATOR_VERSION = "dsar-casework 0.1"


def associated_id(bundle_id: int) -> str:
    return f"bundle:{bundle_id}"


# --- the facts, from the register and the case ----------------------------------------------------


def _category_info(category: DataCategory, language: str) -> CategoryInfo:
    def names(objects) -> list[str]:
        return [o.text("name", language) for o in objects]

    rule = category.retention_rule
    retention = ""
    if rule is not None:
        retention = rule.text("description", language) or rule.text("name", language)
    return CategoryInfo(
        slug=category.slug,
        code=category.code,
        name=category.text("name", language),
        description=category.text("description", language),
        examples=category.text("examples", language),
        origin=category.origin,
        portable=category.portable,
        held=category.held,
        not_held_reason=category.text("not_held_reason", language),
        purposes=names(category.purposes.all()),
        legal_bases=[
            f"{b.text('name', language)} ({b.article})" for b in category.legal_bases.all()
        ],
        sources=names(category.sources.all()),
        recipients=names(category.recipients.all()),
        retention=retention,
        transfers=[
            f"{t.text('destination', language)}: {t.text('safeguard', language)}"
            for t in category.transfers.all()
        ],
        special_category_note=category.text("special_category_note", language)
        if category.may_reveal_special_category
        else "",
        other_people_note=category.text("other_people_note", language)
        if category.concerns_other_people
        else "",
    )


def bundle_facts(case: Case, kind: str) -> BundleFacts:
    language = case.language
    controller = ControllerInfo.load()
    categories = DataCategory.objects.prefetch_related(
        "purposes", "legal_bases", "sources", "recipients", "transfers"
    ).select_related("retention_rule")
    failed = sorted(
        {
            r.system.name
            for r in ConnectorRun.objects.filter(
                case=case, state=ConnectorRun.State.FAILED
            ).select_related("system")
        }
    )
    return BundleFacts(
        reference=case.reference,
        request_type=kind,
        language=language,
        subject_name=case.name,
        received_on=deadlines.local_date(case.received_at),
        due_on=deadlines.local_date(case.due_at),
        generated_at=timezone.now(),
        controller_name=controller.text("name", language) if controller else "",
        controller_contact=controller.text("contact", language) if controller else "",
        dpo_email=controller.dpo_email if controller else "",
        rights_text=controller.text("rights", language) if controller else "",
        complaint_text=controller.text("complaint", language) if controller else "",
        failed_sources=failed,
        categories=[_category_info(c, language) for c in categories],
        generator_version=GENERATOR_VERSION,
        time_zone=settings.DSAR_TIME_ZONE,
    )


# --- spooling the reviewed view by category --------------------------------------------------------


class Spool:
    """The reviewed records split by category into encrypted temporary files, so that each
    category can be read (twice, for the CSV columns) without holding it in memory."""

    def __init__(self, case: Case, folder: Path) -> None:
        self.folder = folder
        self.counts: dict[str, int] = {}
        with ExitStack() as stack:
            writers: dict[str, Any] = {}
            for category, record in review.reviewed_records(case):
                gz = writers.get(category)
                if gz is None:
                    raw = stack.enter_context(open(self._path(category), "wb"))
                    sealed = stack.enter_context(
                        EncryptingWriter(raw, associated_id=f"spool:{category}")
                    )
                    gz = writers[category] = stack.enter_context(
                        gzip.GzipFile(fileobj=sealed, mode="wb", compresslevel=1)
                    )
                gz.write(json.dumps(record, ensure_ascii=False).encode() + b"\n")
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
            for line in gz:
                yield json.loads(line)


def _scratch() -> tempfile.TemporaryDirectory:
    folder = Path(settings.VAR_DIR) / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(dir=folder, prefix="bundle-")


# --- requesting and building -------------------------------------------------------------------


def request_bundle(*, case: Case, actor: Actor) -> Bundle:
    """Queue a build of the case's bundle (after approval of an access or portability case)."""
    if case.request_type not in BUNDLE_TYPES:
        raise ValidationError("Only access and portability cases have a bundle.")
    if case.review_completed_at is None:
        raise ValidationError("The review of the gathered data is not complete.")
    with transaction.atomic():
        bundle = Bundle.objects.create(case=case, kind=case.request_type)
        record_event(case, "bundle.requested", actor=actor, details={"bundle": bundle.pk})
        from casework import tasks

        tasks.build_bundle.delay_on_commit(bundle.pk)
    return bundle


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
        with _scratch() as scratch:
            spool = Spool(case, Path(scratch))
            tmp_path = Path(scratch) / "bundle.enc"
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
        Case.objects.filter(pk=bundle.case_id).update(bundle_ready_at=now)
        from casework.portal import tasks as portal_tasks

        portal_tasks.send_bundle_ready.delay_on_commit(bundle.case_id)
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


def open_bundle(bundle: Bundle):
    """A readable stream of the decrypted ZIP (verified chunk by chunk)."""
    raw = default_storage.open(bundle.file, "rb")
    return DecryptingReader(raw, associated_id=associated_id(bundle.pk), close_fileobj=True)


def sweep(now: dt.datetime | None = None) -> int:
    """Re-queue builds whose worker died or whose message was lost."""
    from casework import tasks

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
        tasks.build_bundle.delay(bundle_id)
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


# --- delivery on a medium -------------------------------------------------------------------------


def export_to_medium(
    *,
    case: Case,
    actor: Actor,
    path: str | os.PathLike,
    plain: bool = False,
    details: dict[str, Any] | None = None,
) -> str | None:
    """Write the bundle to a file for delivery by post or on a medium: an AES-encrypted ZIP
    whose passphrase is returned once (to be sent by another channel), or with `plain` an
    unencrypted ZIP, which the audit trail says. Audited like a download."""
    from casework.services import require_perm

    require_perm(actor, "casework.build_bundle")
    if case.request_type not in BUNDLE_TYPES:
        raise ValidationError("Only access and portability cases have a bundle.")
    if case.review_completed_at is None:
        raise ValidationError("The review of the gathered data is not complete.")
    facts = bundle_facts(case, case.request_type)
    with _scratch() as scratch:
        spool = Spool(case, Path(scratch))
        if plain:
            with open(path, "wb") as out:
                write_bundle(out, facts, spool, kind=case.request_type)
            passphrase = None
        else:
            passphrase = write_encrypted_zip(path, facts, spool, case.request_type)
    os.chmod(path, 0o600)
    with transaction.atomic():
        record_event(
            case,
            "bundle.exported_to_medium",
            actor=actor,
            details={
                "encrypted": not plain,
                "records": sum(spool.counts.values()),
                **(details or {}),
            },
        )
    return passphrase
