"""The public portal: regimes by country, form submissions, tokens and download codes."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from casework.deadlines import REGIME_CHOICES
from casework.models.bundles import Bundle
from casework.models.case import Case, Language
from casework.models.work import WorkItem


class CountryRegime(models.Model):
    """Which regime applies to a request from a country (ISO 3166-1 alpha-2), editable in the
    admin. "US-CA" (ISO 3166-2) is a California resident. A blank regime, like a country not in
    the table, means settings.DSAR_DEFAULT_REGIME (`casework.portal.selectors.regime_for`)."""

    country = models.CharField(
        _("country code"),
        max_length=6,
        unique=True,
        help_text=_("ISO 3166-1 alpha-2 code (DE, GB, US), or US-CA for California residents."),
    )
    regime = models.CharField(
        _("regime"),
        max_length=20,
        choices=REGIME_CHOICES,
        blank=True,
        help_text=_("Leave blank to use the default regime (setting DSAR_DEFAULT_REGIME)."),
    )
    note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        ordering = ["country"]
        verbose_name = _("regime by country")
        verbose_name_plural = _("regimes by country")

    def __str__(self) -> str:
        return f"{self.country}: {self.regime or 'default'}"


class PortalSubmission(WorkItem):
    """A request from the public form, held until a worker opens its case.

    The web request stores this one row and rings the opener's bell
    (`casework.services.submissions`); a worker's opener opens it (`casework.engine.
    submissions`), so that the form answers quickly and alike for every e-mail; the case,
    its reference and its audit trail are created by the worker, dated from `received_at`.
    The row is the truth about that work (DESIGN.md, "Reliability"): a lost message is
    re-queued by the sweeper, and the row is deleted in the transaction that opens the case.
    It holds personal data only until then.
    """

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting to be opened")
        RUNNING = "running", _("Being opened")
        FAILED = "failed", _("Could not be opened")

    received_at = models.DateTimeField(_("received"), default=timezone.now)
    language = models.CharField(_("language"), max_length=2, choices=Language.choices)
    # Keyword arguments for casework.services.intake.submit_request (the form's cleaned data).
    payload = models.JSONField(default=dict)
    authority = models.FileField(upload_to="authority/%Y/", blank=True)
    state = models.CharField(
        _("state"), max_length=10, choices=State.choices, default=State.PENDING
    )
    # `attempts` (WorkItem) counts the workers that took it; bounded, so a submission that
    # kills its worker every time cannot loop for ever (DSAR_SUBMISSION_MAX_DELIVERIES).
    # Why it failed: an exception's class or the fields found invalid, never their values.
    error = models.CharField(_("error"), max_length=300, blank=True)

    class Meta:
        ordering = ["received_at", "pk"]
        indexes = [models.Index(fields=["state", "updated_at"])]
        verbose_name = _("form submission")
        verbose_name_plural = _("form submissions")

    def __str__(self) -> str:
        return f"submission {self.pk} ({self.state})"


class PortalToken(models.Model):
    """A link sent to the subject (verify the e-mail, see the status, download). Only the
    SHA-256 of the token is stored: a copy of this table opens nothing."""

    class Purpose(models.TextChoices):
        VERIFY = "verify", _("Confirm the e-mail address")
        STATUS = "status", _("See the status of the request")
        DOWNLOAD = "download", _("Download the result")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="portal_tokens")
    purpose = models.CharField(max_length=10, choices=Purpose.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    bundle = models.ForeignKey(
        Bundle, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["case", "purpose"])]

    def __str__(self) -> str:
        return f"{self.purpose} token of case {self.case_id}"


class DownloadCode(models.Model):
    """A one-time code e-mailed before a download (DESIGN.md, "Security"). Kept in the
    database, not the cache, so that its tries survive a restart; stored as an HMAC only."""

    bundle = models.ForeignKey(Bundle, on_delete=models.CASCADE, related_name="download_codes")
    code_hash = models.CharField(max_length=64)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"download code for bundle {self.bundle_id}"
