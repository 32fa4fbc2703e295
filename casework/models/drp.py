"""The Data Rights Protocol 1.0 (casework/drp/): authorised agents, the requests they filed,
the signed messages already accepted (no replay), and the status callbacks to deliver.

Tokens are stored only as their SHA-256; a signed message is remembered by its SHA-256 until
it expires, in the database (DESIGN.md, "Reliability": a replay cache must survive a restart).
"""

from __future__ import annotations

import uuid

from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from casework.models.case import Case
from casework.models.work import WorkItem

# The exercises of DRP 1.0, in the protocol's spelling.
EXERCISES = (
    "sale:opt-out",
    "sale:opt-in",
    "deletion",
    "access",
    "access:categories",
    "access:specific",
)
EXERCISE_CHOICES = [(name, name) for name in EXERCISES]


class DrpDenialReason(models.TextChoices):
    """The protocol's reasons for a denial (DRP 1.0, its `reason` of a denied status): the
    values are the protocol's words, the labels what the DPO chooses from."""

    SUSPECTED_FRAUD = "suspected_fraud", _("Suspected fraud")
    INSUF_VERIFICATION = "insuf_verification", _("Identity not sufficiently verified")
    NO_MATCH = "no_match", _("We hold no data about the person")
    CLAIM_NOT_COVERED = "claim_not_covered", _("The request is not covered by the law")
    OUTSIDE_JURISDICTION = "outside_jurisdiction", _("Outside our jurisdiction")
    TOO_MANY_REQUESTS = "too_many_requests", _("Too many requests (unfounded or excessive)")
    OTHER = "other", _("Other")


# Point 6 of the issue: an agent's verified e-mail claim suffices, by default, only for an
# opt-out of sale (it suppresses the claimed address and releases nothing).
DEFAULT_CLAIMS_SUFFICE_FOR = ["sale:opt-out"]


def default_trust_policy() -> dict:
    return {"email_claim_suffices_for": list(DEFAULT_CLAIMS_SUFFICE_FOR), "results_for": []}


class DrpAgent(models.Model):
    """An authorised agent (a consumer app filing requests for people), as the DRP directory
    lists it. Its bearer token (from pairing) is kept only as a hash; pairing again replaces it."""

    id = models.CharField(
        _("agent id"),
        max_length=100,
        primary_key=True,
        validators=[RegexValidator(r"^[A-Z][A-Z_]*$", _("Upper-case letters and underscores."))],
    )
    name = models.CharField(_("name"), max_length=200)
    verify_key = models.CharField(
        _("verify key"), max_length=100, help_text=_("The agent's Ed25519 verify key, base64.")
    )
    web_url = models.URLField(_("web URL"), blank=True)
    identity_assurance_url = models.URLField(_("identity assurance URL"), blank=True)
    contacts = models.JSONField(_("contacts"), default=dict, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    # {"email_claim_suffices_for": [exercises], "results_for": [exercises]}
    trust_policy = models.JSONField(
        _("trust policy"),
        default=default_trust_policy,
        blank=True,
        help_text=_(
            "email_claim_suffices_for: the exercises for which the agent's verified e-mail "
            "claim is enough (no verification of ours); results_for: the exercises whose "
            "results page the agent is told of."
        ),
    )
    token_hash = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    paired_at = models.DateTimeField(_("paired"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["id"]
        verbose_name = _("authorised agent (DRP)")
        verbose_name_plural = _("authorised agents (DRP)")

    def __str__(self) -> str:
        return f"{self.id} ({self.name})"

    def email_claim_suffices(self, exercise: str) -> bool:
        policy = self.trust_policy or {}
        return exercise in policy.get("email_claim_suffices_for", DEFAULT_CLAIMS_SUFFICE_FOR)

    def results_allowed(self, exercise: str) -> bool:
        return exercise in (self.trust_policy or {}).get("results_for", [])


class DrpRequest(models.Model):
    """A request an agent filed: the case it opened, and what the agent is told about it."""

    request_id = models.UUIDField(_("request id"), default=uuid.uuid4, unique=True, editable=False)
    agent = models.ForeignKey(
        DrpAgent, on_delete=models.PROTECT, related_name="requests", verbose_name=_("agent")
    )
    case = models.OneToOneField(
        Case, on_delete=models.CASCADE, related_name="drp_request", verbose_name=_("case")
    )
    exercise = models.CharField(_("exercise"), max_length=30, choices=EXERCISE_CHOICES)
    agent_request_id = models.CharField(_("agent's request id"), max_length=200, blank=True)
    status_callback = models.URLField(_("status callback"), max_length=500, blank=True)
    regime = models.CharField(_("regime asked for"), max_length=20, blank=True)
    # A denial's reason chosen by the DPO where the case's own facts do not say it.
    denial_reason = models.CharField(
        _("denial reason"),
        max_length=30,
        blank=True,
        choices=DrpDenialReason.choices,
    )
    last_status = models.CharField(_("last status sent"), max_length=20, blank=True)
    last_reason = models.CharField(_("last reason sent"), max_length=30, blank=True)
    last_expected_by = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(_("received"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("DRP request")
        verbose_name_plural = _("DRP requests")

    def __str__(self) -> str:
        return f"{self.request_id} ({self.exercise})"


class DrpSeenMessage(models.Model):
    """A signed message already accepted, by its SHA-256, until it expires: never accepted
    twice. Purged after its expiry by a scheduled sweep (`purge-drp-seen-messages`)."""

    digest = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.digest[:12]


class DrpCallback(WorkItem):
    """One delivery of a status object to a request's `status_callback` (casework.work)."""

    class State(models.TextChoices):
        PENDING = "pending", _("To deliver")
        RUNNING = "running", _("Being delivered")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    request = models.ForeignKey(DrpRequest, on_delete=models.CASCADE, related_name="callbacks")
    payload = models.JSONField(default=dict)
    state = models.CharField(
        _("state"), max_length=10, choices=State.choices, default=State.PENDING
    )
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    # Why it failed, in words of ours (never the receiver's answer).
    error = models.CharField(_("error"), max_length=200, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["state", "updated_at"])]
        verbose_name = _("DRP status callback")
        verbose_name_plural = _("DRP status callbacks")

    def __str__(self) -> str:
        return f"callback {self.pk} ({self.state})"
