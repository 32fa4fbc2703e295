"""The case dossier (one PDF per case, for a regulator's inquiry or a complaint): built from
`casework.selectors.dossier` by `exporters.dossier`; exported by staff who may see the case,
each export on the case's trail. The admin, the command line and the staff API call these."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils.translation import gettext as _

from casework.actors import Actor
from casework.audit import record_event
from casework.models import Case
from casework.selectors.access import may_see_case
from casework.selectors.dossier import dossier_facts
from exporters.dossier import render_dossier

DOSSIER_EXPORTED = "case.dossier_exported"


def build_dossier(case: Case) -> bytes:
    """The case's dossier as PDF bytes (no permission check, nothing recorded)."""
    return render_dossier(dossier_facts(case))


def check_export_dossier(case: Case, actor: Actor) -> None:
    """Staff who read cases and may see this one (privacy team, DPO, auditor; a confidential
    case only its named staff and the DPO), or the system (the command line without --staff)."""
    if actor.kind == Actor.SYSTEM:
        return
    if actor.kind != Actor.STAFF or not actor.has_perm("casework.view_case"):
        raise PermissionDenied(_("You are not allowed to do this."))
    if not may_see_case(actor.user, case):
        raise PermissionDenied(_("You are not allowed to do this."))


def export_dossier(*, case: Case, actor: Actor) -> bytes:
    """The dossier for `actor`, the export recorded on the case's trail (who, when; the
    dossier's size, never its content)."""
    check_export_dossier(case, actor)
    pdf = build_dossier(case)
    with transaction.atomic():
        record_event(case, DOSSIER_EXPORTED, actor=actor, details={"bytes": len(pdf)})
    return pdf
