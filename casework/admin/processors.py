"""The processors instructed and the recipients to tell, in the admin: on the case page (who
is told, in what state, and the button to record a recipient told), on the plan page (each
processor's instruction, its due date, and its confirmation by staff)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _

from casework import deadlines, operations
from casework.actors import Actor
from casework.models import Case, ProcessorInstruction
from casework.selectors.optouts import case_disclosure_stopped
from casework.selectors.processors import case_instructions
from casework.selectors.recipients import (
    recipient_notices,
    recipients_disclosed_to,
    stopped_by_opt_out,
)
from casework.services import processors


class ProcessorAdminViews:
    """Mixed into CaseAdmin through FulfilmentAdminViews (which provide _case_or_404,
    _case_url and operation_url)."""

    def others_told_context(self, request: HttpRequest, case: Case) -> dict[str, Any]:
        """For the case page: the recipients the subject's data was disclosed to, and what
        each was told; the processors instructed."""
        language = "sq" if request.LANGUAGE_CODE.startswith("sq") else "en"
        notices = list(recipient_notices(case))
        told = {notice.recipient_id: notice for notice in notices}
        stopped = case_disclosure_stopped(case)
        recipients = [
            {
                "code": recipient.code,
                "name": recipient.text("name", language),
                "notice": told.get(recipient.pk),
                "disclosure_stopped": stopped and stopped_by_opt_out(recipient),
            }
            for recipient in recipients_disclosed_to(case)
        ]
        # A notice of a recipient no longer found (a review decision since) still shows.
        listed = {row["code"] for row in recipients}
        recipients += [
            {
                "code": notice.recipient.code,
                "name": notice.recipient.text("name", language),
                "notice": notice,
                "disclosure_stopped": stopped and stopped_by_opt_out(notice.recipient),
            }
            for notice in notices
            if notice.recipient.code not in listed
        ]
        op = operations.BY_NAME["record_recipient_notice"]
        return {
            "others_told": {
                "recipients": recipients,
                "instructions": self._instruction_rows(request, case),
                "record_url": self.operation_url(case, op.name)
                if op.offered(case, Actor.staff(request.user))
                else None,
            }
        }

    def _instruction_rows(self, request: HttpRequest, case: Case) -> list[dict[str, Any]]:
        may_confirm = request.user.has_perm("casework.complete_manual_run")
        rows = []
        for instruction in case_instructions(case):
            open_ = instruction.state != ProcessorInstruction.State.CONFIRMED
            rows.append(
                {
                    "instruction": instruction,
                    "due_on": deadlines.local_date(instruction.due_at),
                    "confirm_url": self._case_url("processor_confirm", case, instruction.pk)
                    if may_confirm and open_
                    else None,
                    "resend_url": self._case_url("processor_resend", case, instruction.pk)
                    if may_confirm and open_ and instruction.email
                    else None,
                }
            )
        return rows

    def processor_confirm_view(
        self, request: HttpRequest, object_id: str, instruction_id: str
    ) -> HttpResponse:
        """POST: the processor told staff it made the change (the note says how we know)."""
        case = self._case_or_404(request, object_id)
        if request.method == "POST":
            instruction = get_object_or_404(ProcessorInstruction, pk=instruction_id, case=case)
            try:
                processors.instruction_confirm(
                    instruction=instruction,
                    actor=Actor.staff(request.user),
                    note=request.POST.get("note", ""),
                )
            except (ValidationError, PermissionDenied) as exc:
                messages.error(request, operations.refusal_text(exc))
            else:
                messages.success(request, _("The processor's confirmation is recorded."))
        return HttpResponseRedirect(self._case_url("plan", case, "latest"))

    def processor_resend_view(
        self, request: HttpRequest, object_id: str, instruction_id: str
    ) -> HttpResponse:
        """POST: a new link to the processor (the earlier one stops working)."""
        case = self._case_or_404(request, object_id)
        if request.method == "POST":
            instruction = get_object_or_404(ProcessorInstruction, pk=instruction_id, case=case)
            try:
                processors.instruction_resend(
                    instruction=instruction, actor=Actor.staff(request.user)
                )
            except (ValidationError, PermissionDenied) as exc:
                messages.error(request, operations.refusal_text(exc))
            else:
                messages.success(request, _("A new link is being sent to the processor."))
        return HttpResponseRedirect(self._case_url("plan", case, "latest"))
