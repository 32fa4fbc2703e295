"""Review of the gathered data: a decision per record or value."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from casework.models.case import Case
from casework.models.gathering import ConnectorRun


class RecordDecision(models.Model):
    """A reviewer's decision on one gathered record: leave it out (not the subject's), or redact
    one of its values (about other people, or covered by an exemption: Art. 15(4)). The bundle
    is built only from the records as these decisions leave them."""

    class Action(models.TextChoices):
        EXCLUDE = "exclude", _("Left out: not the subject's")
        REDACT = "redact", _("Value redacted")

    class Reason(models.TextChoices):
        NOT_SUBJECT = "not_subject", _("Not about the subject")
        OTHER_PERSON = "other_person", _("About another person")
        LEGAL_PRIVILEGE = "legal_privilege", _("Legal privilege")
        TRADE_SECRET = "trade_secret", _("Trade secret or intellectual property")
        OTHER_EXEMPTION = "other_exemption", _("Another exemption (see the note)")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="record_decisions")
    run = models.ForeignKey(ConnectorRun, on_delete=models.CASCADE, related_name="decisions")
    category = models.CharField(max_length=60)
    record_key = models.CharField(max_length=300)
    action = models.CharField(max_length=10, choices=Action.choices)
    field = models.CharField(max_length=200, blank=True)
    reason = models.CharField(max_length=20, choices=Reason.choices)
    note = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["decided_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "category", "record_key", "action", "field"],
                name="record_decision_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.category}/{self.record_key}"
