"""Confidential cases (a complaint about a staff member, say): the DPO makes a case
confidential and names who else sees it. Who sees which case is decided in one place,
casework.selectors.access; these services only change the case's flag and its named staff."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from casework.actors import Actor
from casework.audit import record_event
from casework.models import Case, CaseNote
from casework.permissions import (
    check_end_confidential,
    check_make_confidential,
    check_name_confidential_staff,
    confidential_readers,
)
from casework.services.case import _lock, _note, _require_text


def case_make_confidential(*, case: Case, actor: Actor, reason: str) -> Case:
    reason = _require_text(reason)
    with transaction.atomic():
        locked = _lock(case)
        check_make_confidential(locked, actor)
        locked.confidential = True
        locked.save(update_fields=["confidential", "updated_at"])
        record_event(
            locked,
            "case.made_confidential",
            actor=actor,
            details=_note(locked, actor, CaseNote.Kind.REASON, reason),
        )
    return locked


def case_end_confidential(*, case: Case, actor: Actor, reason: str) -> Case:
    reason = _require_text(reason)
    with transaction.atomic():
        locked = _lock(case)
        check_end_confidential(locked, actor)
        locked.confidential = False
        locked.save(update_fields=["confidential", "updated_at"])
        locked.confidential_staff.clear()
        record_event(
            locked,
            "case.confidential_ended",
            actor=actor,
            details=_note(locked, actor, CaseNote.Kind.REASON, reason),
        )
    return locked


def case_name_confidential_staff(*, case: Case, actor: Actor, staff, named: bool = True) -> Case:
    """Name `staff` among those who see the confidential case (or, `named=False`, remove them)."""
    if staff is None or not confidential_readers().filter(pk=staff.pk).exists():
        raise ValidationError({"staff": _("Choose an active member of staff who reads cases.")})
    with transaction.atomic():
        locked = _lock(case)
        check_name_confidential_staff(locked, actor)
        if named:
            locked.confidential_staff.add(staff)
        else:
            locked.confidential_staff.remove(staff)
        record_event(
            locked,
            "case.confidential_staff_named" if named else "case.confidential_staff_removed",
            actor=actor,
            details={"user": staff.pk},
        )
    return locked
