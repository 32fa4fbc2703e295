"""The audit trail: append-only events chained by hash, with HMAC checkpoints."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from casework.models.case import Case


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("the audit trail is append-only")

    def delete(self):
        raise PermissionError("the audit trail is append-only")

    def bulk_update(self, *args, **kwargs):
        raise PermissionError("the audit trail is append-only")


class AppendOnlyModel(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("the audit trail is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("the audit trail is append-only")


class AuditChain(models.Model):
    """The head of one chain of events: every case has one, and there is one global chain.

    Appending locks this row, so that concurrent events cannot fork the chain. `checkpoint` is
    an HMAC (DSAR_AUDIT_KEY) of the head, equal to the newest AuditCheckpoint of the chain.
    """

    GLOBAL_KEY = "global"

    key = models.CharField(max_length=40, unique=True)
    case = models.OneToOneField(
        Case, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_chain"
    )
    head_seq = models.PositiveBigIntegerField(default=0)
    head_hash = models.CharField(max_length=64, blank=True)
    checkpoint = models.CharField(max_length=64, blank=True)
    checkpoint_seq = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return self.key


class AuditEvent(AppendOnlyModel):
    chain = models.ForeignKey(AuditChain, on_delete=models.PROTECT, related_name="events")
    seq = models.PositiveBigIntegerField()
    case = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_events"
    )
    created_at = models.DateTimeField()
    action = models.CharField(max_length=80)
    actor_kind = models.CharField(max_length=10)  # staff, system, subject
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)
    from_state = models.CharField(max_length=20, blank=True)
    to_state = models.CharField(max_length=20, blank=True)
    details = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["chain_id", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["chain", "seq"], name="audit_event_seq_unique")
        ]

    def __str__(self) -> str:
        return f"{self.chain_id}#{self.seq} {self.action}"


class AuditCheckpoint(AppendOnlyModel):
    """One HMAC checkpoint per append, across all chains: the checkpoints form a chain of their
    own (each MACs the one before), so that events cut off the end of a chain, a deleted chain
    or a head row rolled back to an older checkpoint no longer match the newest checkpoint."""

    seq = models.PositiveBigIntegerField(unique=True)
    chain = models.ForeignKey(AuditChain, on_delete=models.PROTECT, related_name="+")
    chain_key = models.CharField(max_length=40)
    head_seq = models.PositiveBigIntegerField()
    head_hash = models.CharField(max_length=64)
    prev_mac = models.CharField(max_length=64, blank=True)
    mac = models.CharField(max_length=64)

    class Meta:
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"checkpoint #{self.seq}"


class AuditAnchor(models.Model):
    """Singleton: the newest checkpoint. Locked by every append so the checkpoints stay a line."""

    seq = models.PositiveBigIntegerField(default=0)
    mac = models.CharField(max_length=64, blank=True)

    def __str__(self) -> str:
        return f"anchor #{self.seq}"
