"""The subject's bundle (access or portability), one row per build."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from casework.models.case import Case
from casework.models.work import WorkItem


class Bundle(WorkItem):
    """The subject's export (access or portability): one row per build, the truth about it.
    The file is encrypted with a key of its own; a row is `ready` only once the whole file is
    stored, so a worker killed mid-build leaves nothing a download could serve."""

    class Kind(models.TextChoices):
        ACCESS = "access", _("Access (report and data)")
        PORTABILITY = "portability", _("Portability (data the subject provided or caused)")

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        BUILDING = "building", _("Building")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")
        DELETED = "deleted", _("Deleted after its retention")

    RUNNING = State.BUILDING  # the work engine's "being worked on"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="bundles")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    file = models.CharField(max_length=300, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    records = models.PositiveBigIntegerField(default=0)
    manifest = models.JSONField(default=dict, blank=True)  # counts and hashes, no values
    error = models.CharField(max_length=500, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # A release approved by mistake, revoked by the DPO: nothing downloads it from then on
    # (`casework.services.release.release_revoke`; the portal checks it at every step).
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "updated_at"])]
        permissions = [
            ("review_records", "Can review gathered records (exclude, redact, complete)"),
            ("build_bundle", "Can build a bundle for delivery by other means"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} bundle of case {self.case_id}"
