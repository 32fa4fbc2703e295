"""Possible personal data breaches, for the DPO's assessment (GDPR Art. 33 and 34).

A record is written by the service that finds the possible breach (a release revoked by the
DPO: `casework.services.release.release_revoke`) and holds what happened in numbers and times,
never the personal data itself. The DPO's assessment is the only part anyone fills in by hand.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from casework.models.bundles import Bundle
from casework.models.case import Case

# Art. 33(1): the authority is notified within 72 hours of becoming aware of a breach, unless
# it is unlikely to result in a risk to the rights and freedoms of people.
AUTHORITY_NOTICE_HOURS = 72


class BreachRecord(models.Model):
    class Kind(models.TextChoices):
        RELEASE_REVOKED = "release_revoked", _("Release revoked")

    class Risk(models.TextChoices):
        UNLIKELY = "unlikely", _("Unlikely to result in a risk")
        RISK = "risk", _("Risk to the rights and freedoms of people")
        HIGH = "high", _("High risk (the people concerned are told, Art. 34)")

    case = models.ForeignKey(
        Case, on_delete=models.PROTECT, related_name="breaches", verbose_name=_("case")
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    bundle = models.ForeignKey(
        Bundle,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("bundle"),
    )
    # What was released, in numbers: {"bundles": [{"bundle", "kind", "size", "records",
    # "categories": {category: records}, "files", "ready_at"}]}. No values.
    released = models.JSONField(_("what was released"), default=dict, blank=True)
    released_at = models.DateTimeField(_("released"), null=True, blank=True)
    approved_at = models.DateTimeField(_("approved"), null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("approved by"),
    )
    # Downloads before the revocation, from the audit trail: [{"bundle", "at"}].
    downloads = models.JSONField(_("downloads"), default=list, blank=True)
    revoked_at = models.DateTimeField(_("revoked"))
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("revoked by"),
    )
    reason = models.TextField(_("reason"))

    # The DPO's assessment.
    risk = models.CharField(_("risk"), max_length=10, choices=Risk.choices, blank=True)
    notify_authority = models.BooleanField(
        _("notify the supervisory authority"),
        null=True,
        blank=True,
        help_text=_("Required unless the breach is unlikely to result in a risk (Art. 33(1))."),
    )
    assessment_note = models.TextField(_("assessment note"), blank=True)
    assessed_at = models.DateTimeField(_("assessed"), null=True, blank=True)
    assessed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("assessed by"),
    )

    class Meta:
        ordering = ["-revoked_at", "-pk"]
        verbose_name = _("possible breach")
        verbose_name_plural = _("possible breaches")
        permissions = [("assess_breach", "Can assess a possible breach (DPO)")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.case_id}"

    @property
    def authority_deadline(self) -> dt.datetime:
        """When a notification to the authority is due at the latest (Art. 33(1))."""
        return self.revoked_at + dt.timedelta(hours=AUTHORITY_NOTICE_HOURS)
