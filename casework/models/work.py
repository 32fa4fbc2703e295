"""One row per unit of background work (DESIGN.md, "Reliability"): the row, not the broker, is the
truth about it. `WorkItem` holds what every kind of work shares; `casework.work` claims, renews,
retries, fails and sweeps such rows, the same way for every kind."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class WorkItem(models.Model):
    """A unit of background work: a gathering run, a bundle build, a form submission.

    A worker takes the row by a conditional UPDATE (`casework.work.claim`) that counts the
    attempt and gives it a lease: a fresh token and an expiry, renewed while the work runs.
    Every write of the result carries the token, so a worker whose row was taken back (its
    lease ran out: it died, or hung) cannot overwrite the new attempt's result. The sweeper
    takes back rows whose lease ran out, and queues again rows whose message was lost.

    Each model names its own states; the engine reads which of them mean waiting, being
    worked on, and failed from PENDING, RUNNING and FAILED.
    """

    PENDING = "pending"
    RUNNING = "running"
    FAILED = "failed"

    attempts = models.PositiveIntegerField(
        _("attempts"), default=0, help_text=_("Times a worker took this work (each claim).")
    )
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    claimed_at = models.DateTimeField(_("claimed"), null=True, blank=True)
    lease_token = models.UUIDField(_("lease"), null=True, blank=True, editable=False)
    lease_expires_at = models.DateTimeField(_("lease expires"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("last heartbeat"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # The class of the last exception, never its message (a driver's message can quote values).
    last_error_class = models.CharField(_("last error"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        abstract = True
