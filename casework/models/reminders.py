"""Reminders sent, one row each: a reminder is sent once per case, kind, due date and
recipient. The due date is part of the key, so a new due date (an extension, a paused clock
that resumed) arms the reminders again."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from casework.models.case import Case


class Reminder(models.Model):
    class Kind(models.TextChoices):
        DUE_7 = "due_7", _("Due within 7 days")
        DUE_3 = "due_3", _("Due within 3 days")
        DUE_1 = "due_1", _("Due within a day")
        OVERDUE = "overdue", _("Overdue: escalated to the DPO")
        ANNOUNCE_EXTENSION = "announce_extension", _("Extension to announce")
        RECEIPT = "receipt", _("Receipt confirmed to the subject")
        RECEIPT_DUE = "receipt_due", _("Receipt confirmation due")

    class Role(models.TextChoices):
        NONE = "", _("a staff member")
        SUBJECT = "subject", _("the subject")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="reminders")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # The due date the reminder was for (the case's deadline, its original deadline for an
    # extension to announce, the receipt confirmation's date).
    for_due_at = models.DateTimeField()
    # A staff member, or a role that is no user (the subject).
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    recipient_role = models.CharField(max_length=20, choices=Role.choices, blank=True)
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-sent_at", "pk"]
        verbose_name = _("reminder sent")
        verbose_name_plural = _("reminders sent")
        constraints = [
            models.UniqueConstraint(
                fields=["case", "kind", "for_due_at", "recipient"],
                condition=Q(recipient__isnull=False),
                name="reminder_once_per_due_date_and_user",
            ),
            models.UniqueConstraint(
                fields=["case", "kind", "for_due_at", "recipient_role"],
                condition=Q(recipient__isnull=True),
                name="reminder_once_per_due_date_and_role",
            ),
            models.CheckConstraint(
                condition=Q(recipient__isnull=False) | ~Q(recipient_role=""),
                name="reminder_has_a_recipient",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.case_id}"


class DigestSent(models.Model):
    """The digest of unassigned cases sent to one staff member for one day (in the
    controller's time zone). The reminder job runs every few hours, and again when it failed
    midway; the digest goes to each recipient once a day."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    for_date = models.DateField()
    cases = models.PositiveIntegerField()  # how many it listed (no references: they change)
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-sent_at", "pk"]
        verbose_name = _("digest sent")
        verbose_name_plural = _("digests sent")
        constraints = [
            models.UniqueConstraint(fields=["recipient", "for_date"], name="digest_once_a_day")
        ]

    def __str__(self) -> str:
        return f"digest for {self.recipient_id} on {self.for_date}"
