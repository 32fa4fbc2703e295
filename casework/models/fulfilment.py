"""Fulfilment: the plan of changes a rectification, erasure, restriction or objection makes to
the source systems, its actions, and the records it keeps (with the rule that keeps them).

A plan is drafted by a worker from the records review left in (`FulfilmentPlan` is work: its
drafting is claimed, retried and swept like a gathering run), reviewed and submitted by one
member of the privacy team and approved by another. Each of its `FulfilmentAction`s is one
connector `Change` (dsar/connectors/changes.py): one system, one target, one strategy, a list
of record keys. Executing the plan applies exactly those changes, never a fresh query.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from casework.models.case import Case
from casework.models.work import WorkItem
from dsar.connectors.changes import Intent


class FulfilmentPlan(WorkItem):
    class State(models.TextChoices):
        PENDING = "pending", _("To be drafted")
        DRAFTING = "drafting", _("Being drafted")
        DRAFT = "draft", _("Draft, to be reviewed and submitted")
        SUBMITTED = "submitted", _("Submitted, awaiting approval")
        APPROVED = "approved", _("Approved")
        SUPERSEDED = "superseded", _("Superseded by a newer plan")
        FAILED = "failed", _("Drafting failed")

    RUNNING = State.DRAFTING  # the work engine's "being worked on"

    class Intent(models.TextChoices):
        ERASE = Intent.ERASE.value, _("Erase")
        RECTIFY = Intent.RECTIFY.value, _("Rectify")
        RESTRICT = Intent.RESTRICT.value, _("Restrict")
        LIFT_RESTRICTION = Intent.LIFT_RESTRICTION.value, _("Lift the restriction")
        STOP_MARKETING = Intent.STOP_MARKETING.value, _("Stop marketing")
        OBJECT = Intent.OBJECT.value, _("Stop the processing objected to")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="plans")
    number = models.PositiveIntegerField(_("plan"), help_text=_("1 for the case's first plan"))
    intent = models.CharField(max_length=20, choices=Intent.choices)
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    # For salted hashes (Mask.HASH): the same for every change of the plan, kept out of them.
    salt = models.CharField(max_length=64, editable=False)
    # Rectification: register field key -> the approved new value.
    corrections = models.JSONField(default=dict, blank=True)
    # Rectification: the corrections asked for and refused -> the reason the subject is told
    # (keyed by the register field, or by the subject's words where they named none).
    refused_corrections = models.JSONField(default=dict, blank=True)
    # What the actions and kept records were when submitted: an approval holds for exactly
    # this, and a plan changed since loses it.
    fingerprint = models.CharField(max_length=64, blank=True)
    drafted_at = models.DateTimeField(null=True, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    # Every action done or confirmed (set once, with the `plan.executed` event).
    executed_at = models.DateTimeField(null=True, blank=True)
    # The verification scan after an erasure: every system searched again; what it found per
    # system (record keys, never values), and whether all of it is what the plan keeps.
    verified_at = models.DateTimeField(null=True, blank=True)
    verification = models.JSONField(default=dict, blank=True)
    verification_clean = models.BooleanField(null=True)
    error = models.CharField(max_length=500, blank=True)
    # A restriction: the records it restricted (system id, source, key, category, subject
    # key), so that it can be lifted however long after, when our copies are long gone.
    records = models.JSONField(default=list, blank=True)
    # Lifting a restriction: why, as the subject is told before it is lifted (Art. 18(3)).
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["case", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["case", "number"], name="one_plan_number_per_case")
        ]

    def __str__(self) -> str:
        return f"Plan {self.number} of case {self.case_id}"

    @property
    def flagged(self) -> bool:
        """The verification scan found records the plan does not keep (not merely a system
        it could not search)."""
        return self.verification_clean is False and any(
            entry.get("unexpected_count") for entry in (self.verification or {}).values()
        )


class FulfilmentAction(WorkItem):
    """One change to one system: claimed before it is carried out, marked done after, so a
    redelivered task skips what is done. `results` keeps the outcome per record key, so a
    system failing half-way leaves an exact record of what was done and what was not."""

    class State(models.TextChoices):
        PLANNED = "planned", _("Planned")
        PENDING = "pending", _("Queued")
        RUNNING = "running", _("Running")
        WAITING = "waiting", _("Waiting for a person to confirm")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    plan = models.ForeignKey(FulfilmentPlan, on_delete=models.CASCADE, related_name="actions")
    position = models.PositiveIntegerField(help_text=_("Order of execution within the plan"))
    system = models.ForeignKey("dsar.SourceSystem", on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PLANNED)
    target = models.CharField(max_length=300)
    strategy = models.CharField(max_length=20)
    manual = models.BooleanField(default=False)
    change = models.JSONField(help_text=_("The connector's change, as planned"))
    records = models.PositiveIntegerField(default=0)
    results = models.JSONField(default=dict, blank=True)  # record key -> outcome
    error = models.CharField(max_length=500, blank=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmation_note = models.TextField(blank=True)

    class Meta:
        ordering = ["plan", "position"]
        indexes = [models.Index(fields=["state", "updated_at"])]

    def __str__(self) -> str:
        return f"{self.strategy} {self.records} in {self.target}"


class PlanKeep(models.Model):
    """A record the plan does not erase, with the rule that keeps it, as the rule read then
    (its code, version and words): a later edit of the rule changes no plan."""

    class Verdict(models.TextChoices):
        KEEP = "keep", _("Kept")
        REVIEW = "review", _("A person decides")

    class Decision(models.TextChoices):
        KEEP = "keep", _("Keep")
        ERASE = "erase", _("Erase")

    plan = models.ForeignKey(FulfilmentPlan, on_delete=models.CASCADE, related_name="kept")
    system = models.ForeignKey("dsar.SourceSystem", on_delete=models.PROTECT, related_name="+")
    source = models.CharField(max_length=300)
    record_key = models.CharField(max_length=500)
    category = models.CharField(max_length=60)
    verdict = models.CharField(max_length=10, choices=Verdict.choices)
    ground = models.CharField(max_length=10)  # dsar.retention.Ground
    rule_code = models.CharField(max_length=50)
    rule_version = models.PositiveIntegerField()
    reason_en = models.TextField(blank=True)
    reason_sq = models.TextField(blank=True)
    until = models.DateField(null=True, blank=True)
    # Verdict REVIEW: what a person decided, and who.
    decision = models.CharField(max_length=10, choices=Decision.choices, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["plan", "system", "source", "record_key"]

    def __str__(self) -> str:
        return f"{self.record_key} kept under {self.rule_code} v{self.rule_version}"


class ObjectionDecision(models.Model):
    """The DPO's decision on an objection to processing based on legitimate interests
    (Art. 21(1)): the processing stops (a plan carries it out), or compelling legitimate
    grounds override the subject's interests (the request is refused). Either way the subject
    is told the decision with its reasons and their right to complain."""

    class Outcome(models.TextChoices):
        STOP = "stop", _("Stop the processing")
        COMPELLING = "compelling", _("Compelling legitimate grounds: the processing goes on")

    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="objection_decision")
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    # Told to the subject with the decision.
    reason = models.TextField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.get_outcome_display()} ({self.case_id})"
