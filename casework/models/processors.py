"""What a change to the source systems asks of others: the processors that run a system for
the controller (Art. 28: a hosting, maintenance or service partner) are instructed to make the
same change, and confirm it; the recipients the subject's data was disclosed to are told of a
rectification, erasure or restriction (Art. 19), or why they could not be.

Both are made when a changing plan is approved (`casework.services.processors`), one row per
processor instruction and per recipient, and the case completes only when none is open.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from casework.models.case import Case
from casework.models.fulfilment import FulfilmentPlan


class ProcessorInstruction(models.Model):
    """The instruction to the processor that runs one system of the plan: e-mailed (the case
    reference and a link, never personal data), confirmed through the link's page (the token
    is the key: single-use, expiring, stored only as its hash) or by staff in the admin."""

    class State(models.TextChoices):
        PENDING = "pending", _("To be sent")
        SENT = "sent", _("Sent, awaiting confirmation")
        CONFIRMED = "confirmed", _("Confirmed")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="processor_instructions")
    plan = models.ForeignKey(FulfilmentPlan, on_delete=models.CASCADE, related_name="instructions")
    system = models.ForeignKey("dsar.SourceSystem", on_delete=models.PROTECT, related_name="+")
    # As the register named them when instructed: a later edit of the system changes no case.
    processor = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    due_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    token_hash = models.CharField(max_length=64, blank=True, db_index=True)
    token_expires_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # Who confirmed: the processor's person (their name, as they typed it), or staff.
    confirmed_name = models.CharField(max_length=200, blank=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    confirmation_note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["case", "plan", "system"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "system"], name="one_instruction_per_system")
        ]

    def __str__(self) -> str:
        return f"Instruction to {self.processor} ({self.system_id}) for case {self.case_id}"


class RecipientNotice(models.Model):
    """Art. 19: one recipient the subject's data was disclosed to, told of the rectification,
    erasure or restriction; or not, because it proved impossible or would involve
    disproportionate effort (with the reason)."""

    class Outcome(models.TextChoices):
        PENDING = "pending", _("To be told")
        SENT = "sent", _("Told")
        IMPOSSIBLE = "impossible", _("Impossible")
        DISPROPORTIONATE = "disproportionate", _("Disproportionate effort")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="recipient_notices")
    plan = models.ForeignKey(
        FulfilmentPlan, on_delete=models.CASCADE, related_name="recipient_notices"
    )
    recipient = models.ForeignKey("dsar.Recipient", on_delete=models.PROTECT, related_name="+")
    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.PENDING)
    reason = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["case", "plan", "recipient"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "recipient"], name="one_notice_per_recipient")
        ]

    def __str__(self) -> str:
        return f"Notice to {self.recipient_id} for case {self.case_id}: {self.outcome}"
