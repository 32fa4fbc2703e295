"""The subject's bundle, from the staff side: a build is requested when an access or
portability case is approved; the bundle can be written to a medium for delivery by post; and
the case is marked ready when a build is stored (`casework.engine.bundles` builds it)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from casework import queue
from casework.actors import Actor
from casework.audit import record_event
from casework.models import BUNDLE_TYPES, Bundle, Case, Notice
from casework.permissions import require_perm
from casework.selectors.bundles import bundle_facts
from casework.spool import EXPORT_PREFIX, Spool, scratch
from exporters.bundle import write_bundle, write_encrypted_zip


def request_bundle(*, case: Case, actor: Actor) -> Bundle:
    """Queue a build of the case's bundle (after approval of an access or portability case)."""
    if case.request_type not in BUNDLE_TYPES:
        raise ValidationError("Only access and portability cases have a bundle.")
    if case.review_completed_at is None:
        raise ValidationError("The review of the gathered data is not complete.")
    with transaction.atomic():
        bundle = Bundle.objects.create(case=case, kind=case.request_type)
        record_event(case, "bundle.requested", actor=actor, details={"bundle": bundle.pk})
        queue.enqueue_on_commit("build_bundle", bundle.pk)
    return bundle


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
    require_perm(actor, "casework.build_bundle")
    if case.request_type not in BUNDLE_TYPES:
        raise ValidationError("Only access and portability cases have a bundle.")
    if case.review_completed_at is None:
        raise ValidationError("The review of the gathered data is not complete.")
    facts = bundle_facts(case, case.request_type)
    with scratch(EXPORT_PREFIX) as folder:
        spool = Spool(case, Path(folder), register_only=facts.register_only)
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


def case_mark_bundle_ready(*, case_id: int, at: dt.datetime) -> None:
    """A bundle of the case is stored and ready to download (inside the transaction that
    marks the bundle ready); the subject is told by e-mail after commit."""
    Case.objects.filter(pk=case_id).update(bundle_ready_at=at)
    queue.enqueue_on_commit("notify_subject", case_id, Notice.READY)
