"""Gathering: the subject's identifiers and one run per (case, system, round)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from casework.models.case import Case
from casework.models.work import WorkItem


class CaseIdentifier(models.Model):
    """An identifier of the subject: given in the request, or learnt from a system. Learnt ones
    are followed to search the other systems (the identity graph); staff confirm them before
    they drive any change (erasure, rectification)."""

    class Status(models.TextChoices):
        FOLLOWED = "followed", _("Followed")
        AMBIGUOUS = "ambiguous", _("Ambiguous: matches several subjects, not followed")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="identifiers")
    kind = models.CharField(max_length=30)
    value = models.CharField(max_length=400)
    source = models.CharField(max_length=80)  # "request" or a system's slug
    round = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.FOLLOWED)
    matches = models.PositiveIntegerField(default=1)  # subjects it matched where ambiguous
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["round", "kind", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["case", "kind", "value"], name="case_identifier_unique")
        ]

    def __str__(self) -> str:
        return f"{self.kind} ({self.source})"


class ConnectorRun(WorkItem):
    """One unit of outside work: searching one system for one case in one round of the identity
    graph. The row, not the broker, is the truth about it (DESIGN.md, "Reliability")."""

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        WAITING = "waiting", _("Waiting for a person")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    ACTIVE = (State.PENDING, State.RUNNING, State.WAITING)

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="runs")
    system = models.ForeignKey("dsar.SourceSystem", on_delete=models.PROTECT, related_name="+")
    round = models.PositiveSmallIntegerField(default=1)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    identifiers = models.JSONField(default=list)  # searched in this run: [{"kind", "value"}]
    skip_subject_keys = models.JSONField(default=list)  # exported in earlier rounds
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    records_count = models.PositiveBigIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True)  # records by category
    subject_keys = models.JSONField(default=list, blank=True)
    learnt = models.JSONField(default=list, blank=True)  # [{"kind", "value"}]
    ambiguous = models.JSONField(default=list, blank=True)  # [{"kind", "value", "matches"}]
    error_kind = models.CharField(max_length=20, blank=True)  # transient, permanent, config
    error = models.CharField(max_length=500, blank=True)  # never quotes source values
    result_file = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["case_id", "round", "system_id"]
        constraints = [
            models.UniqueConstraint(fields=["case", "system", "round"], name="connector_run_unique")
        ]
        indexes = [models.Index(fields=["state", "updated_at"])]
        permissions = [
            ("retry_run", "Can retry a failed source"),
            ("complete_manual_run", "Can complete a manual search"),
        ]

    def __str__(self) -> str:
        return f"{self.case_id}/{self.system_id}/round {self.round}"
