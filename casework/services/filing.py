"""Requests filed through the staff API (by staff, or by an intake client: another company
system): opened by `case_create` as the web form's are, unverified, and the subject asked to
confirm the e-mail as the form asks."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils.translation import gettext as _

from casework import queue
from casework.actors import Actor
from casework.models import Case
from casework.services.intake import Intake, case_create

FILE_PERMISSIONS = ("casework.add_case", "casework.file_case")


def case_file(*, intake: Intake, user) -> Case:
    actor = Actor.staff(user)
    if not any(actor.has_perm(p) for p in FILE_PERMISSIONS):
        raise PermissionDenied(_("You are not allowed to file requests."))
    with transaction.atomic():
        case = case_create(intake=intake, actor=actor, intake_details={"api": True})
        if case.email and not intake.mailbox_lost:
            queue.enqueue_on_commit("send_verification_link", case.pk)
    return case
