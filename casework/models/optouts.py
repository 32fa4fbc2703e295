"""Our own record of opt-outs: the proof that a subject objected to direct marketing, or to
the disclosure of their data to third parties (a "sale:opt-out"), kept per identifier.

A row is written when the objection's case completes (`casework.services.optouts`), one per
identifier of the subject and kind. The identifier is kept only as a keyed hash
(`casework.selectors.optouts.identifier_digest`): the row proves the opt-out of whoever holds
that identifier, and the register's recipients are checked against it, without the record
holding an e-mail address. A later opt-in lifts the rows (`lifted_at`, `lifted_by_case`);
nothing deletes them, so that when an opt-out was in force stays provable.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from casework.models.case import Case


class OptOut(models.Model):
    class Kind(models.TextChoices):
        MARKETING = "marketing", _("Direct marketing")
        DISCLOSURE = "disclosure", _("Disclosure to third parties")

    case = models.ForeignKey(
        Case, on_delete=models.PROTECT, related_name="opt_outs", verbose_name=_("case")
    )
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    # The kind of identifier (dsar.identifiers.IDENTIFIER_KINDS) and its normalised value's
    # keyed hash (HMAC-SHA256), never the value.
    identifier_kind = models.CharField(_("identifier kind"), max_length=30)
    identifier_hash = models.CharField(_("identifier hash"), max_length=64, editable=False)
    created_at = models.DateTimeField(_("recorded"), default=timezone.now)
    lifted_at = models.DateTimeField(_("lifted"), null=True, blank=True)
    lifted_by_case = models.ForeignKey(
        Case,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="lifted_opt_outs",
        verbose_name=_("lifted by case"),
    )

    class Meta:
        ordering = ["-created_at", "pk"]
        verbose_name = _("opt-out")
        verbose_name_plural = _("opt-outs")
        indexes = [
            models.Index(
                fields=["identifier_hash", "kind"],
                condition=Q(lifted_at__isnull=True),
                name="optout_in_force",
            )
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "kind", "identifier_kind", "identifier_hash"],
                name="optout_once_per_case",
            ),
            models.CheckConstraint(
                condition=Q(lifted_at__isnull=True) | Q(lifted_by_case__isnull=False),
                name="optout_lifted_by_a_case",
            ),
        ]

    def __str__(self) -> str:
        state = "lifted" if self.lifted_at else "in force"
        return f"{self.get_kind_display()} opt-out ({self.identifier_kind}), {state}"

    @property
    def in_force(self) -> bool:
        return self.lifted_at is None
