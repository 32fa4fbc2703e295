"""A release approved by mistake: the DPO revokes it, and assesses the possible breach.

Revoking stops every download of the case's released bundles at once (the portal checks
`Bundle.revoked_at` when it shows the download, sends a code, takes a code and starts the
stream) and records a possible breach with what was released and when, for the DPO's
assessment under Art. 33. The bundle's file stays until its retention ends: it is the record
of what was released.
"""

from __future__ import annotations

import hashlib

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from casework.actors import Actor
from casework.audit import record_event
from casework.models import BreachRecord, Bundle, Case, State
from casework.permissions import check_assess_breach, check_revoke_release
from casework.selectors.release import (
    approval_release_check,
    bundle_downloads,
    released_bundles,
)
from casework.services.case import _lock, _require_text, _run


def _released(bundle: Bundle) -> dict:
    """A bundle in numbers: no value of the subject's data."""
    return {
        "bundle": bundle.pk,
        "kind": bundle.kind,
        "size": bundle.size,
        "records": bundle.records,
        "categories": dict((bundle.manifest or {}).get("counts") or {}),
        "files": list((bundle.manifest or {}).get("files") or []),
        "ready_at": bundle.finished_at.isoformat() if bundle.finished_at else None,
    }


def release_revoke(*, case: Case, actor: Actor, reason: str) -> BreachRecord:
    """Revoke the case's released bundles: from now on nothing downloads them, including a code
    already sent and a download page already open. Records a possible breach (what was
    released, when and by whose approval, the downloads so far) for the DPO's assessment."""
    reason = _require_text(reason)
    now = timezone.now()
    with transaction.atomic():
        locked = _lock(case)
        check_revoke_release(locked, actor)
        # Locked like a download locks its bundle: a download that started first is on the
        # trail, one that comes after finds the bundle revoked.
        bundles = list(released_bundles(locked).select_for_update())
        ids = [b.pk for b in bundles]
        Bundle.objects.filter(pk__in=ids).update(revoked_at=now, revoked_by=actor.user)
        downloads = bundle_downloads(ids, locked)
        breach = BreachRecord.objects.create(
            case=locked,
            kind=BreachRecord.Kind.RELEASE_REVOKED,
            bundle=bundles[0],
            released={
                "bundles": [_released(b) for b in bundles],
                "release_check": approval_release_check(locked),
            },
            released_at=min((b.finished_at for b in bundles if b.finished_at), default=None),
            approved_at=locked.approved_at,
            approved_by=locked.approved_by,
            downloads=downloads,
            revoked_at=now,
            revoked_by=actor.user,
            reason=reason,
        )
        record_event(
            locked,
            "case.release_revoked",
            actor=actor,
            details={
                "breach": breach.pk,
                "bundles": ids,
                "downloads": len(downloads),
                "reason_sha256": hashlib.sha256(reason.encode()).hexdigest(),
            },
        )
        if locked.state in (State.FULFILLING, State.COMPLETED):
            # Back to review: correct what was wrong, approve anew, a new bundle is built and
            # the subject told again. No release stands meanwhile, so the case cannot stay (or
            # be) closed as if one did: a completed case opens again, its closing undone.
            _run(locked, "release_withdrawn", actor, already_locked=True)
        else:
            Case.objects.filter(pk=locked.pk).update(bundle_ready_at=None)
    return breach


def check_breach_assessment(*, risk: str, notify_authority: bool | None) -> None:
    """Raise unless the assessment is complete and consistent with Art. 33(1): a breach that
    may result in a risk is notified to the supervisory authority."""
    if risk not in BreachRecord.Risk.values:
        raise ValidationError({"risk": _("Choose how likely the breach is to result in a risk.")})
    if notify_authority is None:
        raise ValidationError(
            {"notify_authority": _("Record whether the supervisory authority is notified.")}
        )
    if risk != BreachRecord.Risk.UNLIKELY and not notify_authority:
        raise ValidationError(
            {
                "notify_authority": _(
                    "A breach that may result in a risk is notified to the supervisory "
                    "authority (Art. 33(1))."
                )
            }
        )


def breach_assess(
    *,
    breach: BreachRecord,
    actor: Actor,
    risk: str,
    notify_authority: bool | None,
    note: str = "",
) -> BreachRecord:
    """The DPO's assessment of a possible breach: the risk, and whether the supervisory
    authority is notified (Art. 33(1): required unless the breach is unlikely to result in a
    risk). It can be revised as facts come in; every assessment is audited."""
    check_assess_breach(actor)
    check_breach_assessment(risk=risk, notify_authority=notify_authority)
    note = (note or "").strip()
    now = timezone.now()
    with transaction.atomic():
        locked = BreachRecord.objects.select_for_update().get(pk=breach.pk)
        locked.risk = risk
        locked.notify_authority = notify_authority
        locked.assessment_note = note
        locked.assessed_at = now
        locked.assessed_by = actor.user
        locked.save(
            update_fields=[
                "risk",
                "notify_authority",
                "assessment_note",
                "assessed_at",
                "assessed_by",
            ]
        )
        record_event(
            locked.case,
            "breach.assessed",
            actor=actor,
            details={
                "breach": locked.pk,
                "risk": risk,
                "notify_authority": notify_authority,
                "within_72_hours": now <= locked.authority_deadline,
            },
        )
    return locked
