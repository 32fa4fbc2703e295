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
    skeleton = models.CharField(max_length=400, blank=True, db_index=True)  # e-mails: look-alikes
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
    # The case's gathering it belongs to (Case.gathering): a case searched again after its
    # erasure was flagged has a second set of runs, and reads only its current one.
    gathering = models.PositiveSmallIntegerField(default=1)
    round = models.PositiveSmallIntegerField(default=1)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    identifiers = models.JSONField(default=list)  # searched in this run: [{"kind", "value"}]
    skip_subject_keys = models.JSONField(default=list)  # exported in earlier rounds
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    records_count = models.PositiveBigIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True)  # records by category
    subject_keys = models.JSONField(default=list, blank=True)
    # Each subject the system matched: [{"subject_key", "found_by": {"kind", "value"},
    # "identifiers": [...the record's own...], "counts": {category: n}}]; how far the match
    # is trusted is judged from these (`casework.selectors.identity`).
    matches = models.JSONField(default=list, blank=True)
    learnt = models.JSONField(default=list, blank=True)  # [{"kind", "value"}]
    ambiguous = models.JSONField(default=list, blank=True)  # [{"kind", "value", "matches"}]
    error_kind = models.CharField(max_length=20, blank=True)  # transient, permanent, config
    error = models.CharField(max_length=500, blank=True)  # never quotes source values
    result_file = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["case_id", "gathering", "round", "system_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "gathering", "system", "round"], name="connector_run_unique"
            )
        ]
        indexes = [
            models.Index(fields=["state", "updated_at"]),
            # The dashboard's connector health: the last 7 days' searches, from the index alone.
            models.Index(
                fields=["created_at"],
                include=["system", "state", "duration_ms"],
                name="connector_run_health",
            ),
        ]
        permissions = [
            ("retry_run", "Can retry a failed source"),
            ("complete_manual_run", "Can complete a manual search"),
        ]

    def __str__(self) -> str:
        return f"{self.case_id}/{self.system_id}/round {self.round}"


class RecordLink(models.Model):
    """Staff's decision on a subject record that the verified channel does not reach: found
    only through an identifier the requester typed (a claim, not a proof), or holding an
    e-mail address other than the verified one. Until confirmed, with the evidence gathered
    through the record's own contact details, its records reach no bundle, letter or status;
    left out, they never do."""

    class Decision(models.TextChoices):
        CONFIRMED = "confirmed", _("Confirmed: the subject's")
        LEFT_OUT = "left_out", _("Left out: not shown to be the subject's")

    class Evidence(models.TextChoices):
        CODE_TO_RECORD_EMAIL = (
            "code_email",
            _("A code sent to the record's own e-mail address was given back"),
        )
        CALL_TO_RECORD_PHONE = "call_phone", _("A call to the record's own phone number")
        DOCUMENT = "document", _("A document that ties the record to the subject")
        OTHER = "other", _("Other (say what in the note)")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="record_links")
    system = models.ForeignKey("dsar.SourceSystem", on_delete=models.PROTECT, related_name="+")
    subject_key = models.CharField(max_length=300)
    decision = models.CharField(max_length=10, choices=Decision.choices)
    evidence = models.CharField(max_length=12, choices=Evidence.choices, blank=True)
    note = models.TextField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["decided_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "system", "subject_key"], name="record_link_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} ({self.system_id})"


class LinkCode(models.Model):
    """A one-time code sent to the e-mail address a held record holds, for whoever reads that
    mailbox to give back to staff: evidence, checked here rather than taken on trust, that the
    requester controls the record's own address. Stored as an HMAC only."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="link_codes")
    system = models.ForeignKey("dsar.SourceSystem", on_delete=models.PROTECT, related_name="+")
    subject_key = models.CharField(max_length=300)
    code_hash = models.CharField(max_length=64)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"link code for case {self.case_id}"
