"""Staff roles: a role that works cases is given by two people, never one."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class RoleGrant(models.Model):
    """A request to give a staff member a role that works cases (the privacy team, the DPO):
    it takes effect only once a second person, an administrator or a DPO, confirms it
    (`casework.services.staff.confirm_role`)."""

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting for a second person")
        CONFIRMED = "confirmed", _("Confirmed")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    role = models.CharField(_("role"), max_length=40)
    state = models.CharField(
        _("state"), max_length=10, choices=State.choices, default=State.PENDING
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(_("requested"), default=timezone.now)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    confirmed_at = models.DateTimeField(_("confirmed"), null=True, blank=True)

    class Meta:
        ordering = ["state", "-requested_at"]
        verbose_name = _("role to confirm")
        verbose_name_plural = _("roles to confirm")

    def __str__(self) -> str:
        return f"{self.role} for {self.user_id}"
