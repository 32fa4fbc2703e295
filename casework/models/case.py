"""The case: its state machine, its notes, and the numbering and calendar it relies on.

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
    NEEDS_IDENTIFIER = "needs_identifier", _("Needs an identifier to search by")
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
    State.NEEDS_IDENTIFIER,
    State.IN_REVIEW,
    State.FULFILLING,
]
ASKABLE_STATES = [State.RECEIVED, State.VERIFIED, State.IN_REVIEW]
# The response to the subject is sent once the data is reviewed (or the changes are made).
RESPONSE_STATES = [State.IN_REVIEW, State.FULFILLING]


# Requests carried out in the source systems by a plan of changes (casework.models.fulfilment).
CHANGING_TYPES = ("erasure", "rectification", "restriction", "objection")
# Requests answered with a bundle of the subject's data.
BUNDLE_TYPES = ("access", "portability")
# Approvals that always need a second person (settings.DSAR_FOUR_EYES may add BUNDLE_TYPES).
FOUR_EYES_BUILT_IN = frozenset(CHANGING_TYPES)


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
    # An authorised agent's verified e-mail claim (DRP), where its trust policy says it is
    # enough (an opt-out of sale: it releases nothing).
    AGENT_ATTESTATION = "agent_attestation", _("An authorised agent attested the e-mail")


def _response_ready(case: Case) -> bool:
    return case.response_sent_at is not None


def _bundle_ready_if_needed(case: Case) -> bool:
    if case.request_type in BUNDLE_TYPES:
        return case.bundle_ready_at is not None
    return True


def _plan_prepared_if_needed(case: Case) -> bool:
    # Erasure and rectification change source systems: a prepared plan must exist to approve.
    # Lifting an objection changes no source system, only our record of opt-outs.
    if case.request_type in CHANGING_TYPES and not is_objection_lifting(case):
        return case.plan_prepared_by_id is not None
    return True


def latest_request_plan(case: Case):
    """The newest approved plan carrying out the request itself (a later lifting of a
    restriction is not the request's plan), or None."""
    return (
        case.plans.filter(state="approved")
        .exclude(intent="lift_restriction")
        .order_by("-number")
        .first()
    )


def _changes_made_if_needed(case: Case) -> bool:
    # Erasure and rectification complete only once the approved plan has been carried out:
    # the case never says "completed" for changes that were not made. Lifting an objection
    # is made in our own record of opt-outs, in the transaction that completes the case.
    if case.request_type in CHANGING_TYPES and not is_objection_lifting(case):
        # The newest plan carried out, and (an erasure) its verification scan found only what
        # it keeps: an older plan, clean or flagged, no longer speaks for the case.
        plan = latest_request_plan(case)
        return plan is not None and plan.executed_at is not None and plan.verification_clean is True
    return True


def _processors_confirmed(case: Case) -> bool:
    # A processor instructed to make the change in a system it runs confirms it first.
    return (
        not case.processor_instructions.filter(plan__state="approved")
        .exclude(state="confirmed")
        .exists()
    )


def _recipients_told(case: Case) -> bool:
    # Art. 19: every recipient is told of the change, or the reason it is not is recorded.
    return not case.recipient_notices.filter(plan__state="approved", outcome="pending").exists()


def _verification_flagged(case: Case) -> bool:
    # The newest plan was carried out and its verification scan found records it does not
    # keep (a system it could not search is retried instead: `retry_actions`).
    plan = latest_request_plan(case)
    return plan is not None and plan.executed_at is not None and plan.flagged


def _answered_by_a_bundle(case: Case) -> bool:
    # Access and portability are answered by their bundle: they complete by themselves once
    # the subject is told it is ready (`casework.services.case_complete_when_told`).
    return case.request_type in BUNDLE_TYPES


def _completed_by_hand(case: Case) -> bool:
    return case.request_type not in BUNDLE_TYPES


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


def four_eyes_types() -> frozenset[str]:
    """Request types whose approval needs a second person: those changing source systems
    (erasure, rectification, restriction, objection; but see `needs_four_eyes`: an objection
    to direct marketing needs one), and what settings.DSAR_FOUR_EYES adds (it can only add:
    access, portability)."""
    return FOUR_EYES_BUILT_IN | frozenset(settings.DSAR_FOUR_EYES)


def is_marketing_objection(case: Case) -> bool:
    """An objection to direct marketing: always honoured (Art. 21(3)), so carried out after
    one staff member's review, with no second approver. Not its lifting (an opt-in)."""
    details = case.details or {}
    return (
        case.request_type == "objection"
        and bool(details.get("direct_marketing"))
        and not details.get("lifting")
    )


def is_objection_lifting(case: Case) -> bool:
    """An objection case that lifts the subject's earlier opt-outs (a "sale:opt-in": consent
    to marketing and disclosure again): carried out in our own record of opt-outs by the
    `lift_objection` operation, by one person; no source system is searched or changed."""
    return case.request_type == "objection" and bool((case.details or {}).get("lifting"))


def stops_disclosure(details: dict | None) -> bool:
    """An objection's details ask to stop disclosing the subject's data to third parties (a
    "sale:opt-out"), and it is no lifting."""
    details = details or {}
    return bool(details.get("disclosure")) and not details.get("lifting")


def is_opt_out(case: Case) -> bool:
    """An objection to direct marketing, to disclosure to third parties, or both: completed,
    it is recorded in our own record of opt-outs (`casework.models.OptOut`)."""
    return is_marketing_objection(case) or (
        case.request_type == "objection" and stops_disclosure(case.details)
    )


def is_categories_only(case: Case) -> bool:
    """An access request for the categories of data and how they are used (Art. 15(1)(a)-(h):
    the register's part of the report), and no copy of the data itself."""
    return case.request_type == "access" and (case.details or {}).get("scope") == "categories"


def needs_no_search(case: Case) -> bool:
    """Nothing in the source systems is needed to answer it: a categories-only access is
    answered from the register, a lifting from our own record of opt-outs."""
    return is_categories_only(case) or is_objection_lifting(case)


def needs_four_eyes(case: Case) -> bool:
    """Whether this case's approval needs a second person (see four_eyes_types)."""
    return (
        case.request_type in four_eyes_types()
        and not is_marketing_objection(case)
        and not is_objection_lifting(case)
    )


def _may_approve(case: Case, user) -> bool:
    """Four eyes: whoever prepared a plan of changes cannot approve it; where releases need
    four eyes too, whoever completed the review cannot approve the release."""
    if not user.has_perm("casework.approve_case"):
        return False
    if not needs_four_eyes(case):
        return True
    if case.request_type in CHANGING_TYPES:
        return case.plan_prepared_by_id != user.pk  # no plan yet: the condition says so
    return case.review_completed_by_id != user.pk


_response_ready.explanation = _("the response to the subject has not been sent")
_bundle_ready_if_needed.explanation = _("the bundle has not been built")
_plan_prepared_if_needed.explanation = _("no plan of changes has been prepared")
_changes_made_if_needed.explanation = _("the approved changes have not all been made and verified")
_processors_confirmed.explanation = _(
    "a processor has not yet confirmed the change it was instructed to make"
)
_recipients_told.explanation = _(
    "a recipient has not yet been told of the change, nor the reason it is not recorded"
)
_reviewed_if_needed.explanation = _("the review of the gathered data is not complete")
_verification_flagged.explanation = _(
    "the verification scan after the changes found nothing the plan does not keep"
)
_answered_by_a_bundle.explanation = _(
    "only an access or portability case is answered by its bundle"
)
_completed_by_hand.explanation = _(
    "an access or portability case completes by itself once the subject is told the data is ready"
)
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
    # The subject said they can no longer open the mailbox of `email`: nothing is e-mailed
    # there (`casework.selectors.may_email`); notices go by post, and staff verify identity
    # through a channel on record.
    mailbox_lost = models.BooleanField(
        _("mailbox lost"),
        default=False,
        help_text=_("The subject can no longer open this mailbox: notices go by post."),
    )

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
    # A confidential case (a complaint about a staff member, say; not a restriction request):
    # only the DPO, its assignee and the staff named here see it. It still counts in totals.
    confidential = models.BooleanField(default=False)
    confidential_staff = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="+"
    )

    verified_at = models.DateTimeField(null=True, blank=True)
    verification_method = models.CharField(
        max_length=20, choices=VerificationMethod.choices, blank=True
    )
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The request's address looks like (UTS #39 skeleton) an address we already hold, but is
    # another address: accepted, and nothing is released until staff clear it.
    email_skeleton = models.CharField(max_length=400, blank=True, db_index=True)
    lookalike_flagged_at = models.DateTimeField(null=True, blank=True)
    lookalike_cleared_at = models.DateTimeField(null=True, blank=True)
    lookalike_cleared_by = models.ForeignKey(
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

    # Which gathering the case's searches and review are about: 1, then one more each time
    # staff search again after a verification scan flagged records (`gather_again`).
    gathering = models.PositiveSmallIntegerField(default=1)
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

    # A legal hold set by the DPO (litigation, a regulator's inquiry): no purge of any kind
    # touches the case until it is lifted (`casework.services.retention`).
    legal_hold_at = models.DateTimeField(_("legal hold since"), null=True, blank=True)
    legal_hold_reason = models.TextField(_("reason for the legal hold"), blank=True)
    legal_hold_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Reduced to an anonymous statistics row once its accountability period ran out: the
    # subject's fields are blank, its notes, letters and files gone; its audit trail stays.
    purged_at = models.DateTimeField(_("purged"), null=True, blank=True)

    class Meta:
        ordering = ["due_at"]
        indexes = [
            models.Index(fields=["state", "due_at"]),
            models.Index(fields=["email"]),
            models.Index(fields=["request_type", "state"]),
            # The dashboard's figures (casework.selectors.dashboard), read from the index alone
            # on PostgreSQL (covering: INCLUDE); elsewhere the include is left out.
            models.Index(
                fields=["received_at"],
                include=["request_type", "channel", "regime", "assignee"],
                name="case_received_figures",
            ),
            models.Index(
                fields=["closed_at"],
                include=["state", "received_at", "due_at", "request_type", "regime", "assignee"],
                condition=Q(closed_at__isnull=False),
                name="case_closed_figures",
            ),
            models.Index(
                fields=["extension_announced_at"],
                condition=Q(original_due_at__isnull=False),
                name="case_extended_figures",
            ),
            # The few confidential cases, looked up before every list of a user who may not
            # see them all (casework.selectors.access).
            models.Index(
                fields=["assignee"],
                condition=Q(confidential=True),
                name="case_confidential",
            ),
            # The open cases (few among a million closed ones): workload and waiting figures.
            models.Index(
                fields=["state", "request_type"],
                include=["due_at", "regime", "assignee", "review_completed_at"],
                condition=Q(state__in=OPEN_STATES),
                name="case_open_figures",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                # A purged case (casework.services.retention) keeps no contact at all.
                condition=~Q(email="") | ~Q(postal_address="") | Q(purged_at__isnull=False),
                name="case_has_contact_channel",
            ),
        ]
        permissions = [
            ("verify_case", "Can verify a subject's identity"),
            ("ask_subject", "Can ask the subject for information"),
            ("record_answer", "Can record the subject's answer"),
            ("start_gathering", "Can start gathering (system)"),
            ("mark_gathered", "Can mark gathering done (system)"),
            ("proceed_without_source", "Can go on without a failed source"),
            ("add_identifier", "Can add an identifier to search by, with its evidence"),
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
            ("revoke_release", "Can revoke a release approved by mistake (DPO)"),
            ("lift_restriction", "Can lift a restriction (the subject is told first)"),
            ("decide_objection", "Can decide an objection to legitimate interests (DPO)"),
            ("lift_objection", "Can lift an objection to marketing and disclosure (an opt-in)"),
            ("file_case", "Can file requests and follow the ones it filed (intake clients)"),
            ("view_confidential", "Can see every confidential case (DPO)"),
            ("manage_confidential", "Can make a case confidential and name who sees it (DPO)"),
            ("view_dashboard", "Can see the dashboard's figures (DPO, privacy team, auditor)"),
            ("hold_case", "Can set and lift a legal hold on a case (DPO)"),
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
    def lookalike_held(self) -> bool:
        """Flagged as a look-alike of an address we hold, and not yet cleared by staff."""
        return self.lookalike_flagged_at is not None and self.lookalike_cleared_at is None

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def on_legal_hold(self) -> bool:
        return self.legal_hold_at is not None

    # --- transitions: guards and field changes only; services do the rest ----------------

    @transition(
        field=state,
        source=State.RECEIVED,
        target=State.VERIFIED,
        permission="casework.verify_case",
        custom={"event": "case.verified", "subject": True},
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
        custom={"event": "case.subject_asked"},
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
        custom={"event": "case.answered", "subject": True},
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
        custom={"event": "case.expired"},
    )
    def expire(self) -> None:
        self.closed_at = timezone.now()

    @transition(
        field=state,
        source=State.VERIFIED,
        target=State.GATHERING,
        permission="casework.start_gathering",
        custom={"event": "case.gathering_started"},
    )
    def start_gathering(self) -> None:
        pass

    @transition(
        field=state,
        source=State.GATHERING,
        target=State.IN_REVIEW,
        permission="casework.mark_gathered",
        custom={"event": "case.gathered"},
    )
    def gathered(self) -> None:
        pass

    @transition(
        field=state,
        source=State.GATHERING,
        target=State.NEEDS_IDENTIFIER,
        permission="casework.mark_gathered",
        custom={"event": "case.identifier_needed"},
    )
    def needs_identifier(self) -> None:
        """Nothing the case holds can be searched by in any system: it waits here, never in
        review as if the subject had no data, until staff add an identifier."""

    @transition(
        field=state,
        source=State.NEEDS_IDENTIFIER,
        target=State.GATHERING,
        permission="casework.add_identifier",
        custom={"event": "case.identifier_added"},
    )
    def identifier_added(self) -> None:
        pass

    @transition(
        field=state,
        source=[State.GATHERING, State.NEEDS_IDENTIFIER],
        target=State.IN_REVIEW,
        permission="casework.proceed_without_source",
        custom={"event": "case.sources_skipped"},
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
            "event": "case.approved",
            "perm": "casework.approve_case",
            "denied": _(
                "The person who prepared the plan, or completed the review of the data to be "
                "released, cannot also approve it (four eyes)."
            ),
        },
    )
    def approve(self, *, by, at=None) -> None:
        self.approved_by = by
        self.approved_at = at or timezone.now()

    @transition(
        field=state,
        # Completed too: an access case completes when the subject is told, while its bundle
        # can still be downloaded (and revoked).
        source=[State.FULFILLING, State.COMPLETED],
        target=State.IN_REVIEW,
        permission="casework.revoke_release",
        conditions=[_answered_by_a_bundle],
        custom={"event": "case.release_withdrawn"},
    )
    def release_withdrawn(self) -> None:
        # The DPO revoked the release: the review opens again, to be corrected and approved
        # anew (a new bundle, a new release check, a new notice); nothing of the revoked one
        # stands, and a completed case is open again.
        self.review_completed_at = None
        self.review_completed_by = None
        self.approved_by = None
        self.approved_at = None
        self.bundle_ready_at = None
        self.response_sent_at = None
        self.closed_at = None

    @transition(
        field=state,
        source=State.FULFILLING,
        target=State.GATHERING,
        permission="casework.prepare_plan",
        conditions=[_verification_flagged],
        custom={"event": "case.gathering_again"},
    )
    def gather_again(self) -> None:
        # The systems still hold records the carried-out plan does not keep: every system is
        # searched again, and the four-eyes path runs again on what they hold now (a new
        # review, a new plan prepared by one person and approved by another). The earlier
        # plan stays as it is: approved, carried out, flagged.
        self.gathering += 1
        self.gathering_blocked_at = None
        self.sources_skipped_reason = ""
        self.review_completed_at = None
        self.review_completed_by = None
        self.plan_prepared_by = None
        self.plan_prepared_at = None
        self.approved_by = None
        self.approved_at = None

    @transition(
        field=state,
        source=State.FULFILLING,
        target=State.COMPLETED,
        permission="casework.fulfil_case",
        conditions=[
            _completed_by_hand,
            _response_ready,
            _bundle_ready_if_needed,
            _changes_made_if_needed,
            _processors_confirmed,
            _recipients_told,
        ],
        custom={"event": "case.fulfilled"},
    )
    def fulfilled(self) -> None:
        self.closed_at = timezone.now()

    @transition(
        field=state,
        source=State.FULFILLING,
        target=State.COMPLETED,
        permission="casework.fulfil_case",
        conditions=[_answered_by_a_bundle, _response_ready, _bundle_ready_if_needed],
        custom={"event": "case.completed"},
    )
    def completed_when_told(self, *, at) -> None:
        # The system's, once the bundle is ready and the subject was told: the deadline is met
        # when the subject is told, not when someone notices.
        self.closed_at = at

    @transition(
        field=state,
        source=OPEN_STATES,
        target=State.REJECTED,
        permission="casework.reject_case",
        custom={"event": "case.rejected"},
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
        custom={"event": "case.withdrawn", "subject": True},
    )
    def withdraw(self) -> None:
        self.closed_at = timezone.now()

    @transition(
        field=state,
        source=OPEN_STATES,
        target=State.MERGED,
        permission="casework.merge_case",
        custom={"event": "case.merged"},
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


class Notice(models.TextChoices):
    """What the subject is told, and when (casework.notifications.notify_subject)."""

    # Worded for the subject: the status page lists the letters by these names.
    ACKNOWLEDGED = "acknowledged", _("Acknowledgement of your request")
    # CCPA/CPRA: receipt confirmed within 10 business days, to a subject who had no other
    # message saying so (casework.services.reminders).
    RECEIVED = "received", _("Confirmation that we received your request")
    QUESTION = "question", _("A question about your request")
    REJECTED = "rejected", _("Our decision not to act on your request")
    EXTENDED = "extended", _("An extension of the time to answer")
    READY = "ready", _("Your data is ready")
    COMPLETED = "completed", _("Your request is completed")
    LIFTING = "lifting", _("Notice that a restriction is lifted")


class PostalLetter(models.Model):
    """A notice that goes by post because the subject may not be e-mailed (no e-mail, or a
    lost mailbox): a task for staff, who print its PDF, post it and mark it posted."""

    class State(models.TextChoices):
        TO_POST = "to_post", _("To be posted")
        POSTED = "posted", _("Posted")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="letters")
    notice = models.CharField(_("notice"), max_length=20, choices=Notice.choices)
    state = models.CharField(
        _("state"), max_length=10, choices=State.choices, default=State.TO_POST
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    posted_at = models.DateTimeField(_("posted"), null=True, blank=True)
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["state", "created_at", "pk"]
        verbose_name = _("letter to post")
        verbose_name_plural = _("letters to post")

    def __str__(self) -> str:
        return f"{self.get_notice_display()} for {self.case_id}"


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
