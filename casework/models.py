"""The case and its audit trail.

A case is a state machine (django-fsm-2). Transitions here only check their own guards and
change fields; `casework.services` checks permissions, saves, writes the audit event and
enqueues follow-up work, all in one transaction (STYLE.md, "django-fsm-2").
"""

from __future__ import annotations

import threading

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import RETURN_VALUE, ConcurrentTransitionMixin, FSMField, transition

from casework.deadlines import REGIME_CHOICES


class RequestType(models.TextChoices):
    ACCESS = "access", _("Access (Art. 15)")
    RECTIFICATION = "rectification", _("Rectification (Art. 16)")
    ERASURE = "erasure", _("Erasure (Art. 17)")
    RESTRICTION = "restriction", _("Restriction (Art. 18)")
    PORTABILITY = "portability", _("Portability (Art. 20)")
    OBJECTION = "objection", _("Objection (Art. 21)")


class State(models.TextChoices):
    RECEIVED = "received", _("Received, not yet verified")
    VERIFIED = "verified", _("Verified")
    AWAITING_SUBJECT = "awaiting_subject", _("Awaiting the subject")
    GATHERING = "gathering", _("Gathering data")
    IN_REVIEW = "in_review", _("In review")
    FULFILLING = "fulfilling", _("Fulfilling")
    COMPLETED = "completed", _("Completed")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    MERGED = "merged", _("Merged into another case")
    EXPIRED = "expired", _("Expired (never verified)")


OPEN_STATES = [
    State.RECEIVED,
    State.VERIFIED,
    State.AWAITING_SUBJECT,
    State.GATHERING,
    State.IN_REVIEW,
    State.FULFILLING,
]
ASKABLE_STATES = [State.RECEIVED, State.VERIFIED, State.IN_REVIEW]
# The response to the subject is sent once the data is reviewed (or the changes are made).
RESPONSE_STATES = [State.IN_REVIEW, State.FULFILLING]


CHANGING_TYPES = ("erasure", "rectification")
# Requests answered with a bundle of the subject's data.
BUNDLE_TYPES = ("access", "portability")


class Channel(models.TextChoices):
    WEB = "web", _("Web form")
    EMAIL = "email", _("E-mail")
    LETTER = "letter", _("Letter")
    PHONE = "phone", _("Phone")
    IN_PERSON = "in_person", _("In person")
    API = "api", _("API")


class Language(models.TextChoices):
    SQ = "sq", _("Albanian")
    EN = "en", _("English")


class RestrictionGround(models.TextChoices):
    ACCURACY_CONTESTED = "a", _("Art. 18(1)(a): the accuracy of the data is contested")
    UNLAWFUL = "b", _("Art. 18(1)(b): processing is unlawful and erasure is opposed")
    LEGAL_CLAIMS = "c", _("Art. 18(1)(c): the data is needed by the subject for legal claims")
    OBJECTION_PENDING = "d", _("Art. 18(1)(d): an objection is pending verification")


class AskPurpose(models.TextChoices):
    IDENTITY = "identity", _("More proof of identity")
    AUTHORITY = "authority", _("A representative's authority")
    CALLBACK = "callback", _("A call-back check through a channel on record")
    CLARIFICATION = "clarification", _("A clarification of the request")


class VerificationMethod(models.TextChoices):
    EMAIL_LINK = "email_link", _("The subject confirmed the e-mail link")
    STAFF_CHECK = "staff_check", _("Staff checked identity through a channel on record")


def _response_ready(case: Case) -> bool:
    return case.response_sent_at is not None


def _bundle_ready_if_needed(case: Case) -> bool:
    if case.request_type in BUNDLE_TYPES:
        return case.bundle_ready_at is not None
    return True


def _plan_prepared_if_needed(case: Case) -> bool:
    # Erasure and rectification change source systems: a prepared plan must exist to approve.
    if case.request_type in CHANGING_TYPES:
        return case.plan_prepared_by_id is not None
    return True


def _reviewed_if_needed(case: Case) -> bool:
    # The bundle is built from the reviewed view only: release needs the review done.
    if case.request_type in BUNDLE_TYPES:
        return case.review_completed_at is not None
    return True


def _unverified_too_long(case: Case) -> bool:
    since = case.received_at if case.state == State.RECEIVED else case.awaiting_since
    if case.state == State.AWAITING_SUBJECT and case.awaiting_from != State.RECEIVED:
        return False
    limit = timezone.timedelta(days=settings.DSAR_UNVERIFIED_EXPIRY_DAYS)
    return since is not None and timezone.now() - since >= limit


def _may_approve(case: Case, user) -> bool:
    """Four eyes: whoever prepared a plan of changes cannot approve it."""
    if not user.has_perm("casework.approve_case"):
        return False
    if case.request_type in CHANGING_TYPES:
        return case.plan_prepared_by_id != user.pk  # no plan yet: the condition says so
    return True


_response_ready.explanation = _("the response to the subject has not been sent")
_bundle_ready_if_needed.explanation = _("the bundle has not been built")
_plan_prepared_if_needed.explanation = _("no plan of changes has been prepared")
_reviewed_if_needed.explanation = _("the review of the gathered data is not complete")
_unverified_too_long.explanation = _("the request is not yet old enough to expire")


_CASE_REFRESH_LOCK = threading.RLock()  # see Case.refresh_from_db


class Case(ConcurrentTransitionMixin, models.Model):
    reference = models.CharField(max_length=32, unique=True, editable=False)
    request_type = models.CharField(max_length=20, choices=RequestType.choices)
    state = FSMField(default=State.RECEIVED, choices=State.choices, protected=True, db_index=True)
    channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.WEB)

    # The subject: at least one contact channel (enforced by the service and a constraint).
    email = models.EmailField(blank=True)
    postal_address = models.TextField(blank=True)
    name = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    customer_number = models.CharField(max_length=64, blank=True)
    company = models.CharField(max_length=200, blank=True)
    language = models.CharField(max_length=2, choices=Language.choices, default=Language.EN)

    # A representative acting for the subject, and the proof of authority.
    has_representative = models.BooleanField(default=False)
    representative_name = models.CharField(max_length=200, blank=True)
    representative_relationship = models.CharField(max_length=200, blank=True)
    representative_authority = models.FileField(upload_to="authority/%Y/", blank=True)

    # Type-specific details: rectification {"corrections": [{"field", "current", "correct"}]},
    # objection {"processing", "direct_marketing", "grounds"}, erasure {"scope"}.
    details = models.JSONField(default=dict, blank=True)
    restriction_ground = models.CharField(
        max_length=1, choices=RestrictionGround.choices, blank=True
    )

    regime = models.CharField(max_length=20, choices=REGIME_CHOICES)
    received_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField()
    receipt_confirmation_due_at = models.DateTimeField(null=True, blank=True)
    receipt_confirmed_at = models.DateTimeField(null=True, blank=True)
    paused_days = models.PositiveIntegerField(default=0)
    paused_at = models.DateTimeField(null=True, blank=True)
    # Extension: the new due date lives in due_at; the original stays here.
    original_due_at = models.DateTimeField(null=True, blank=True)
    extension_reason = models.TextField(blank=True)
    extension_announced_at = models.DateTimeField(null=True, blank=True)

    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    verified_at = models.DateTimeField(null=True, blank=True)
    verification_method = models.CharField(
        max_length=20, choices=VerificationMethod.choices, blank=True
    )
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    # Asking the subject: the state to come back to, and why we asked.
    awaiting_from = models.CharField(max_length=20, choices=State.choices, blank=True)
    awaiting_purpose = models.CharField(max_length=20, choices=AskPurpose.choices, blank=True)
    awaiting_since = models.DateTimeField(null=True, blank=True)

    # Four eyes for changes to source systems: who prepared the plan, who approved it.
    plan_prepared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    plan_prepared_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)

    sources_skipped_reason = models.TextField(blank=True)
    review_completed_at = models.DateTimeField(null=True, blank=True)
    review_completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Set when gathering stopped with a source that failed after its retries: staff retry it
    # or go on without it (with a reason).
    gathering_blocked_at = models.DateTimeField(null=True, blank=True)
    response_sent_at = models.DateTimeField(null=True, blank=True)
    bundle_ready_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.TextField(blank=True)
    rejected_as_unfounded = models.BooleanField(default=False)
    possible_duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="possible_duplicates"
    )
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged_cases"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["due_at"]
        indexes = [
            models.Index(fields=["state", "due_at"]),
            models.Index(fields=["email"]),
            models.Index(fields=["request_type", "state"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(email="") | ~Q(postal_address=""), name="case_has_contact_channel"
            ),
        ]
        permissions = [
            ("verify_case", "Can verify a subject's identity"),
            ("ask_subject", "Can ask the subject for information"),
            ("record_answer", "Can record the subject's answer"),
            ("start_gathering", "Can start gathering (system)"),
            ("mark_gathered", "Can mark gathering done (system)"),
            ("proceed_without_source", "Can go on without a failed source"),
            ("prepare_plan", "Can prepare a fulfilment plan"),
            ("approve_case", "Can approve release or changes"),
            ("fulfil_case", "Can mark a case fulfilled"),
            ("record_response", "Can record the response sent to the subject"),
            ("reject_case", "Can reject a request (told to the subject)"),
            ("extend_deadline", "Can extend a deadline"),
            ("withdraw_case", "Can record a withdrawal"),
            ("merge_case", "Can merge duplicate cases"),
            ("expire_case", "Can expire unverified cases (system)"),
            ("assign_case", "Can assign cases"),
        ]

    def __str__(self) -> str:
        return self.reference

    def refresh_from_db(self, *args, **kwargs) -> None:
        # django-fsm-2 lifts the protection of `state` on the field, for every case in the
        # process, while it refreshes one, and puts it back after: two threads refreshing
        # cases at once (a threaded server or worker pool) put it back under each other's
        # feet ("Direct state modification is not allowed"). One refresh at a time.
        with _CASE_REFRESH_LOCK:
            super().refresh_from_db(*args, **kwargs)

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    # --- transitions: guards and field changes only; services do the rest ----------------

    @transition(
        field=state,
        source=State.RECEIVED,
        target=State.VERIFIED,
        permission="casework.verify_case",
        custom={"label": _("Verify identity"), "subject": True, "note": "optional"},
    )
    def verify(self, *, how: str, by=None, at=None) -> None:
        self.verified_at = at or timezone.now()
        self.verification_method = how
        self.verified_by = by

    @transition(
        field=state,
        source=ASKABLE_STATES,
        target=State.AWAITING_SUBJECT,
        permission="casework.ask_subject",
        custom={"label": _("Ask the subject"), "note": "required"},
    )
    def ask_subject(self, *, purpose: str, at=None) -> None:
        self.awaiting_from = self.state
        self.awaiting_purpose = purpose
        self.awaiting_since = at or timezone.now()

    @transition(
        field=state,
        source=State.AWAITING_SUBJECT,
        target=RETURN_VALUE(State.RECEIVED, State.VERIFIED, State.IN_REVIEW),
        permission="casework.record_answer",
        custom={"label": _("Record the subject's answer"), "subject": True, "note": "optional"},
    )
    def answered(self) -> str:
        back = self.awaiting_from
        self.awaiting_from = ""
        self.awaiting_purpose = ""
        self.awaiting_since = None
        return back

    @transition(
        field=state,
        source=[State.RECEIVED, State.AWAITING_SUBJECT],
        target=State.EXPIRED,
        permission="casework.expire_case",
        conditions=[_unverified_too_long],
        custom={"label": _("Expire"), "system": True},
    )
    def expire(self) -> None:
        self.closed_at = timezone.now()

    @transition(
        field=state,
        source=State.VERIFIED,
        target=State.GATHERING,
        permission="casework.start_gathering",
        custom={"label": _("Start gathering"), "system": True},
    )
    def start_gathering(self) -> None:
        pass

    @transition(
        field=state,
        source=State.GATHERING,
        target=State.IN_REVIEW,
        permission="casework.mark_gathered",
        custom={"label": _("Gathered"), "system": True},
    )
    def gathered(self) -> None:
        pass

    @transition(
        field=state,
        source=State.GATHERING,
        target=State.IN_REVIEW,
        permission="casework.proceed_without_source",
        custom={"label": _("Proceed without the failed sources"), "note": "required"},
    )
    def proceed_without_source(self, *, reason: str) -> None:
        self.sources_skipped_reason = reason

    @transition(
        field=state,
        source=State.IN_REVIEW,
        target=State.FULFILLING,
        permission=_may_approve,
        conditions=[_plan_prepared_if_needed, _reviewed_if_needed],
        custom={
            "label": _("Approve"),
            "note": "optional",
            "perm": "casework.approve_case",
            "denied": _("The person who prepared the plan cannot also approve it (four eyes)."),
        },
    )
    def approve(self, *, by, at=None) -> None:
        self.approved_by = by
        self.approved_at = at or timezone.now()

    @transition(
        field=state,
        source=State.FULFILLING,
        target=State.COMPLETED,
        permission="casework.fulfil_case",
        conditions=[_response_ready, _bundle_ready_if_needed],
        custom={"label": _("Mark fulfilled")},
    )
    def fulfilled(self) -> None:
        self.closed_at = timezone.now()

    @transition(
        field=state,
        source=OPEN_STATES,
        target=State.REJECTED,
        permission="casework.reject_case",
        custom={"label": _("Reject"), "note": "required"},
    )
    def reject(self, *, reason: str, unfounded: bool = False) -> None:
        self.rejection_reason = reason
        self.rejected_as_unfounded = unfounded
        self.closed_at = timezone.now()

    @transition(
        field=state,
        source=OPEN_STATES,
        target=State.WITHDRAWN,
        permission="casework.withdraw_case",
        custom={"label": _("Record withdrawal"), "subject": True, "note": "optional"},
    )
    def withdraw(self) -> None:
        self.closed_at = timezone.now()

    @transition(
        field=state,
        source=OPEN_STATES,
        target=State.MERGED,
        permission="casework.merge_case",
        custom={"label": _("Merge into another case"), "note": "optional", "needs_target": True},
    )
    def merge(self, *, into: Case) -> None:
        self.merged_into = into
        self.closed_at = timezone.now()


class CaseNote(models.Model):
    """Free text about a case (reasons, questions, answers). Kept out of the audit trail, which
    stores only the note's id and hash, so that the trail never holds raw personal data."""

    class Kind(models.TextChoices):
        REASON = "reason", _("Reason")
        QUESTION = "question", _("Question to the subject")
        ANSWER = "answer", _("Answer from the subject")
        INTERNAL = "internal", _("Internal note")
        VERIFICATION = "verification", _("How identity was checked")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="notes")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    text = models.TextField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    visible_to_subject = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.case_id}"


class ReferenceCounter(models.Model):
    """Next number of the year's human-readable references (DSAR-2026-000042)."""

    year = models.PositiveIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last}"


class PublicHoliday(models.Model):
    """Days that are not business days (CCPA receipt confirmation)."""

    date = models.DateField(unique=True)
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date} {self.name}"


class WorkerHeartbeat(models.Model):
    """Written by every Celery worker every few seconds; /healthz reads it."""

    hostname = models.CharField(max_length=200, unique=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.hostname


# --- The audit trail ---------------------------------------------------------------------------


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


# --- gathering ---------------------------------------------------------------------------------


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


class ConnectorRun(models.Model):
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
    round = models.PositiveSmallIntegerField(default=1)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    identifiers = models.JSONField(default=list)  # searched in this run: [{"kind", "value"}]
    skip_subject_keys = models.JSONField(default=list)  # exported in earlier rounds
    attempts = models.PositiveIntegerField(default=0)  # deliveries claimed
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    records_count = models.PositiveBigIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True)  # records by category
    subject_keys = models.JSONField(default=list, blank=True)
    learnt = models.JSONField(default=list, blank=True)  # [{"kind", "value"}]
    ambiguous = models.JSONField(default=list, blank=True)  # [{"kind", "value", "matches"}]
    error_kind = models.CharField(max_length=20, blank=True)  # transient, permanent, config
    error = models.CharField(max_length=500, blank=True)  # never quotes source values
    result_file = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["case_id", "round", "system_id"]
        constraints = [
            models.UniqueConstraint(fields=["case", "system", "round"], name="connector_run_unique")
        ]
        indexes = [models.Index(fields=["state", "updated_at"])]
        permissions = [
            ("retry_run", "Can retry a failed source"),
            ("complete_manual_run", "Can complete a manual search"),
        ]

    def __str__(self) -> str:
        return f"{self.case_id}/{self.system_id}/round {self.round}"


# --- review and the bundle ---------------------------------------------------------------------


class RecordDecision(models.Model):
    """A reviewer's decision on one gathered record: leave it out (not the subject's), or redact
    one of its values (about other people, or covered by an exemption: Art. 15(4)). The bundle
    is built only from the records as these decisions leave them."""

    class Action(models.TextChoices):
        EXCLUDE = "exclude", _("Left out: not the subject's")
        REDACT = "redact", _("Value redacted")

    class Reason(models.TextChoices):
        NOT_SUBJECT = "not_subject", _("Not about the subject")
        OTHER_PERSON = "other_person", _("About another person")
        LEGAL_PRIVILEGE = "legal_privilege", _("Legal privilege")
        TRADE_SECRET = "trade_secret", _("Trade secret or intellectual property")
        OTHER_EXEMPTION = "other_exemption", _("Another exemption (see the note)")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="record_decisions")
    run = models.ForeignKey(ConnectorRun, on_delete=models.CASCADE, related_name="decisions")
    category = models.CharField(max_length=60)
    record_key = models.CharField(max_length=300)
    action = models.CharField(max_length=10, choices=Action.choices)
    field = models.CharField(max_length=200, blank=True)
    reason = models.CharField(max_length=20, choices=Reason.choices)
    note = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["decided_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "category", "record_key", "action", "field"],
                name="record_decision_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.category}/{self.record_key}"


class Bundle(models.Model):
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

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="bundles")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    file = models.CharField(max_length=300, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    records = models.PositiveBigIntegerField(default=0)
    manifest = models.JSONField(default=dict, blank=True)  # counts and hashes, no values
    error = models.CharField(max_length=500, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "updated_at"])]
        permissions = [
            ("review_records", "Can review gathered records (exclude, redact, complete)"),
            ("build_bundle", "Can build a bundle for delivery by other means"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} bundle of case {self.case_id}"


# --- the public portal (casework/portal/) --------------------------------------------------------


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


class PortalSubmission(models.Model):
    """A request from the public form, held until a worker opens its case.

    The web request stores this one row and queues one task (`casework.portal.tasks.
    open_submission`), so that the form answers quickly and alike for every e-mail; the case,
    its reference and its audit trail are created by the worker, dated from `received_at`.
    The row is the truth about that work (DESIGN.md, "Reliability"): a lost message is
    re-queued by the sweeper, and the row is deleted in the transaction that opens the case.
    It holds personal data only until then.
    """

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting to be opened")
        FAILED = "failed", _("Could not be opened")

    received_at = models.DateTimeField(_("received"), default=timezone.now)
    language = models.CharField(_("language"), max_length=2, choices=Language.choices)
    # Keyword arguments for casework.portal.services.submit_request (the form's cleaned data).
    payload = models.JSONField(default=dict)
    authority = models.FileField(upload_to="authority/%Y/", blank=True)
    state = models.CharField(
        _("state"), max_length=10, choices=State.choices, default=State.PENDING
    )
    # Deliveries of the task that opens it; bounded, so a submission that kills its worker
    # every time cannot loop for ever (settings.DSAR_SUBMISSION_MAX_DELIVERIES).
    deliveries = models.PositiveSmallIntegerField(_("deliveries"), default=0)
    # Why it failed: an exception's class or the fields found invalid, never their values.
    error = models.CharField(_("error"), max_length=300, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

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
