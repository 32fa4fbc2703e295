"""The admin where the privacy team works cases.

Everything that changes a case goes through `casework.services`: the change page edits only the
assignee (through `case_assign`), transitions and other operations each have a confirmation page
whose form calls one service with the signed-in staff member as the actor, and cases are created
by `case_create`. The audit trail is shown, never edited.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django.forms import Form
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_fsm import ConcurrentTransition, TransitionNotAllowed

from casework import deadlines, gathering, review, roles, selectors, services
from casework.actors import Actor
from casework.forms import (
    AddNoteForm,
    AnsweredForm,
    ApproveForm,
    AskSubjectForm,
    CaseIntakeForm,
    CaseOperationForm,
    CompleteReviewForm,
    ConfirmIdentifierForm,
    ExcludeRecordForm,
    ExtendForm,
    FulfilForm,
    ManualSearchForm,
    MergeForm,
    PreparePlanForm,
    ProceedWithoutSourceForm,
    RecordDecisionForm,
    RecordResponseForm,
    RedactValueForm,
    RejectForm,
    ReopenReviewForm,
    RetryFailedForm,
    VerifyForm,
    WithdrawForm,
    add_service_errors,
)
from casework.models import (
    BUNDLE_TYPES,
    CHANGING_TYPES,
    RESPONSE_STATES,
    AuditEvent,
    Bundle,
    Case,
    CaseIdentifier,
    CaseNote,
    ConnectorRun,
    PublicHoliday,
    RecordDecision,
    State,
)
from dsar.models import DataCategory

# --- what staff can do to a case -----------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    """One thing staff do to a case: the service that does it and the form that asks for its
    arguments. `perm` and `when` only decide whether a button is shown; the service decides."""

    service: Callable[..., Any]
    form: type[CaseOperationForm]
    explanation: str
    label: str = ""  # transitions take theirs from the model
    perm: str = ""
    when: Callable[[Case], bool] | None = None
    danger: bool = False
    # The success message from what the service returned; by default the case's new state.
    done: Callable[[Any], str] | None = None
    # What the confirmation page shows the operation acts on: (label, value) pairs.
    details: Callable[[Case], list[tuple[str, Any]]] | None = None

    def offered(self, case: Case, user) -> bool:
        if self.perm and not user.has_perm(self.perm):
            return False
        return self.when is None or self.when(case)


# Transition name (a method of Case) -> the service that runs it.
TRANSITIONS: dict[str, Operation] = {
    "verify": Operation(
        services.case_verify,
        VerifyForm,
        _(
            "Records that you checked the subject's identity through a channel already on "
            "record. Gathering data from the source systems starts automatically."
        ),
    ),
    "ask_subject": Operation(
        services.case_ask_subject,
        AskSubjectForm,
        _(
            "Sends your message to the subject and puts the case on hold until they answer. "
            "Where the regime allows it for this question, the deadline clock pauses."
        ),
    ),
    "answered": Operation(
        services.case_answered,
        AnsweredForm,
        _(
            "Records the subject's answer. The case returns to the state it was in, and a "
            "paused clock resumes."
        ),
    ),
    "proceed_without_source": Operation(
        services.case_proceed_without_source,
        ProceedWithoutSourceForm,
        _(
            "Moves the case to review without the sources that failed. The reason is kept on the case."
        ),
    ),
    "approve": Operation(
        services.case_approve,
        ApproveForm,
        _(
            "Approves the release of the data or the planned changes to source systems. For "
            "erasure and rectification the approver must not be the person who prepared the plan."
        ),
    ),
    "fulfilled": Operation(
        services.case_fulfil,
        FulfilForm,
        _("Closes the case as completed. The response must have been sent to the subject."),
    ),
    "reject": Operation(
        services.case_reject,
        RejectForm,
        _("Closes the case as rejected. The subject is told the reason by e-mail."),
        danger=True,
    ),
    "withdraw": Operation(
        services.case_withdraw,
        WithdrawForm,
        _("Closes the case because the subject withdrew the request."),
    ),
    "merge": Operation(
        services.case_merge,
        MergeForm,
        _(
            "Closes this case as a duplicate and folds it into another open case of the same subject."
        ),
    ),
}


# Operations that are not transitions: the case keeps its state.
ACTIONS: dict[str, Operation] = {
    "extend": Operation(
        services.case_extend,
        ExtendForm,
        _(
            "Moves the deadline, within the regime's limit. The subject is told the new date and "
            "the reason; this must happen before the original deadline."
        ),
        label=_("Extend deadline"),
        perm="casework.extend_deadline",
        when=lambda case: case.is_open,
    ),
    "record_response": Operation(
        services.case_record_response,
        RecordResponseForm,
        _("Records that the response to the subject was sent; a case cannot complete without it."),
        label=_("Record response sent"),
        perm="casework.record_response",
        when=lambda case: case.state in RESPONSE_STATES,
    ),
    "prepare_plan": Operation(
        services.case_prepare_plan,
        PreparePlanForm,
        _(
            "Records the plan of changes to source systems, prepared by you. A colleague must "
            "approve it (four eyes)."
        ),
        label=_("Prepare plan"),
        perm="casework.prepare_plan",
        when=lambda case: case.state == State.IN_REVIEW and case.request_type in CHANGING_TYPES,
    ),
    "add_note": Operation(
        services.case_add_note,
        AddNoteForm,
        _("Adds an internal note to the case. The subject does not see it."),
        label=_("Add internal note"),
        perm="casework.add_casenote",
    ),
    "retry_failed": Operation(
        gathering.retry_failed,
        RetryFailedForm,
        _(
            "Searches the sources that failed again, each from a clean slate with its full "
            "number of attempts. Fix the cause first (a folder, a password, a system that was "
            "down). When every source has answered, the case moves to review."
        ),
        label=_("Retry failed sources"),
        perm="casework.retry_run",
        when=lambda case: (
            case.state == State.GATHERING
            and ConnectorRun.objects.filter(case=case, state=ConnectorRun.State.FAILED).exists()
        ),
        done=lambda n: (
            ngettext("%(n)d source queued again.", "%(n)d sources queued again.", n) % {"n": n}
        ),
    ),
    "complete_review": Operation(
        review.complete_review,
        CompleteReviewForm,
        _(
            "Marks the review of the gathered data complete: the bundle will be built from this "
            "reviewed view after approval. Records left out stay out of every file, and redacted "
            "values are replaced by “[redacted]”. Decisions cannot change until the review is "
            "reopened."
        ),
        label=_("Complete review"),
        perm="casework.review_records",
        when=selectors.review_is_open,
        done=lambda _case: _("The review is complete; approval builds the bundle from it."),
        details=lambda case: review_summary_details(case),
    ),
    "reopen_review": Operation(
        review.reopen_review,
        ReopenReviewForm,
        _(
            "Reopens the review so that records can be left out or values redacted again. The "
            "case cannot be approved until the review is completed once more; the decisions "
            "taken so far stay."
        ),
        label=_("Reopen review"),
        perm="casework.review_records",
        when=selectors.review_can_reopen,
        done=lambda _case: _("The review is open again."),
        details=lambda case: review_summary_details(case),
    ),
}


def transition_label(name: str) -> str:
    """The label a transition carries in the model, whatever state the case is in."""
    for t in getattr(Case, name)._django_fsm.transitions.values():
        return t.custom.get("label", name)
    return name


# --- display helpers -------------------------------------------------------------------------------

STATE_COLOURS = {
    State.RECEIVED: "#417690",
    State.VERIFIED: "#2b6cb0",
    State.AWAITING_SUBJECT: "#b7791f",
    State.GATHERING: "#6b46c1",
    State.IN_REVIEW: "#2c7a7b",
    State.FULFILLING: "#2f855a",
    State.COMPLETED: "#276749",
    State.REJECTED: "#ba2121",
    State.WITHDRAWN: "#718096",
    State.MERGED: "#718096",
    State.EXPIRED: "#718096",
}
DAYS_COLOURS = {"overdue": "#ba2121", "soon": "#b7791f", "ok": "#2f855a"}
BADGE = "color:#fff;background:{};padding:2px 8px;border-radius:10px;white-space:nowrap"


def days_left_urgency(days: int) -> str:
    """overdue, soon (within DSAR_DUE_SOON_DAYS, as the due-soon filter) or ok."""
    if days < 0:
        return "overdue"
    if days <= settings.DSAR_DUE_SOON_DAYS:
        return "soon"
    return "ok"


class OverdueFilter(admin.SimpleListFilter):
    title = _("overdue")
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", _("Overdue"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(pk__in=selectors.overdue_cases().values("pk"))
        return queryset


class DueSoonFilter(admin.SimpleListFilter):
    parameter_name = "due_soon"

    def __init__(self, *args, **kwargs):
        self.title = _("due within %(days)d days") % {"days": settings.DSAR_DUE_SOON_DAYS}
        super().__init__(*args, **kwargs)

    def lookups(self, request, model_admin):
        return [("yes", _("Due within %(days)d days") % {"days": settings.DSAR_DUE_SOON_DAYS})]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            due_soon = selectors.cases_due_within(days=settings.DSAR_DUE_SOON_DAYS)
            return queryset.filter(pk__in=due_soon.values("pk"))
        return queryset


class ReadOnlyInline(admin.TabularInline):
    """History shown on the case, never added, changed or deleted here, whoever looks."""

    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AuditEventInline(ReadOnlyInline):
    model = AuditEvent
    fk_name = "case"
    verbose_name = _("audit event")
    verbose_name_plural = _("audit trail")
    fields = ("seq", "created_at", "action", "actor_label", "from_state", "to_state", "details")
    ordering = ("seq",)


class CaseNoteInline(ReadOnlyInline):
    model = CaseNote
    fields = ("created_at", "kind", "author", "visible_to_subject", "text")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("author")


# --- gathering: what the sources answered ----------------------------------------------------------

Run = ConnectorRun.State
RUN_COLOURS = {
    Run.SUCCEEDED: "#2f855a",
    Run.FAILED: "#ba2121",
    Run.PENDING: "#2b6cb0",
    Run.RUNNING: "#2b6cb0",
    Run.WAITING: "#b7791f",
}
ATTENTION_COLOUR = "#ba2121"


def source_counts(prefix: str = "") -> dict[str, Any]:
    """Aggregates over a case's runs, for `annotate` on cases (prefix "runs__") or `aggregate` on
    one case's runs (no prefix). A source is a system, whatever the number of rounds it was
    searched in: it has answered when none of its runs is still open or failed."""
    system, state = f"{prefix}system", f"{prefix}state"
    return {
        "sources_total": Count(system, distinct=True),
        "sources_open": Count(
            system,
            distinct=True,
            filter=Q(**{f"{state}__in": [*ConnectorRun.ACTIVE, Run.FAILED]}),
        ),
        "sources_failed": Count(system, distinct=True, filter=Q(**{state: Run.FAILED})),
        "sources_records": Coalesce(Sum(f"{prefix}records_count"), 0),
    }


def _kind_counts(identifiers: list[dict[str, Any]]) -> list[str]:
    """ "phone: 2": the kinds of identifiers a run learnt, never their values."""
    return [f"{kind}: {n}" for kind, n in sorted(Counter(i["kind"] for i in identifiers).items())]


def _duration(ms: int | None) -> str:
    if ms is None:
        return "—"
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


# --- review: the gathered records as staff judge them ----------------------------------------------

REVIEW_PAGE_SIZE = 50
VALUE_PREVIEW_CHARS = 160


def review_summary_details(case: Case) -> list[tuple[str, Any]]:
    """What a review decides, in numbers, for the confirmation pages of complete and reopen."""
    summary = selectors.review_summary(case)
    return [
        (_("Records gathered"), summary.records),
        (_("Records left out (not the subject's)"), summary.excluded),
        (_("Values redacted"), summary.redacted),
    ]


def _normal_name(name: str) -> str:
    """ "Emergency contact", "emergency_contact" and "Emergency-Contact" are one field."""
    return re.sub(r"\W+", "_", name.casefold()).strip("_")


def category_flags(category: DataCategory | None, language: str) -> dict[str, Any] | None:
    """What the register says a reviewer must look at in this category, or None: the category's
    notes, and its fields flagged one by one (by normalised key and names, to mark columns)."""
    if category is None:
        return None
    fields: dict[str, list[str]] = {}
    flagged = []
    for f in category.fields.all():
        labels = []
        if f.concerns_other_people:
            labels.append(_("other people's data"))
        if f.may_reveal_special_category:
            labels.append(_("may reveal special-category data"))
        if not labels:
            continue
        flagged.append({"name": f.text("name", language), "labels": labels})
        for name in (f.key, f.name_en, f.name_sq):
            if name:
                fields[_normal_name(name)] = labels
    notes = []
    if category.concerns_other_people:
        notes.append(
            {
                "kind": "other_people",
                "title": _("Other people's data"),
                "text": category.text("other_people_note", language),
            }
        )
    if category.may_reveal_special_category:
        notes.append(
            {
                "kind": "special_category",
                "title": _("Special-category data (Art. 9)"),
                "text": category.text("special_category_note", language),
            }
        )
    if not notes and not flagged:
        return None
    return {"notes": notes, "fields": flagged, "by_field": fields}


def _value_preview(value: Any) -> dict[str, Any]:
    """A value as the review table shows it: text, cut short with the whole in a tooltip."""
    if value is None:
        text = ""
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False, default=str)
    if len(text) <= VALUE_PREVIEW_CHARS:
        return {"text": text, "full": "", "truncated": False}
    return {"text": text[:VALUE_PREVIEW_CHARS] + "…", "full": text, "truncated": True}


def _decision(d: RecordDecision, users: dict[int, Any]) -> dict[str, Any]:
    return {
        "reason": d.get_reason_display(),
        "note": d.note,
        "by": users.get(d.decided_by_id),
        "at": d.decided_at,
    }


def review_row(
    row: dict[str, Any],
    *,
    number: int,
    flags: dict[str, list[str]],
    users: dict[int, Any],
    show_identifier_value: bool,
) -> dict[str, Any]:
    """One record of `review.review_rows` as the review table shows it."""
    run = row["run"]
    excluded = None
    redactions: dict[str, RecordDecision] = {}
    for d in row["decisions"]:
        if d.action == RecordDecision.Action.EXCLUDE:
            excluded = d
        else:
            redactions[d.field] = d
    found_by = row["found_by"] if isinstance(row["found_by"], dict) else {}
    return {
        "number": number,
        "run": run.pk,
        "round": run.round,
        "system": run.system.name,
        "source": row["source"],
        "key": row["key"],
        "found_by_kind": found_by.get("kind", ""),
        "found_by_value": found_by.get("value", "") if show_identifier_value else None,
        "excluded": _decision(excluded, users) if excluded else None,
        "fields": [
            {
                "name": str(name),
                **_value_preview(value),
                "flags": flags.get(_normal_name(str(name)), []),
                "redacted": _decision(redactions[name], users) if name in redactions else None,
            }
            for name, value in row["data"].items()
        ],
    }


BUNDLE_COLOURS = {
    Bundle.State.PENDING: "#2b6cb0",
    Bundle.State.BUILDING: "#6b46c1",
    Bundle.State.READY: "#2f855a",
    Bundle.State.FAILED: "#ba2121",
    Bundle.State.DELETED: "#718096",
}


def bundle_row(bundle: Bundle) -> dict[str, Any]:
    """One build as the Bundle section shows it: its state and numbers, never its file."""
    return {
        "kind": bundle.get_kind_display(),
        "state": bundle.state,
        "state_label": bundle.get_state_display(),
        "colour": BUNDLE_COLOURS.get(bundle.state, "#718096"),
        "attempts": bundle.attempts,
        "records": bundle.records,
        "size": filesizeformat(bundle.size) if bundle.size else "—",
        "created_at": bundle.created_at,
        "finished_at": bundle.finished_at,
        "expires_at": bundle.expires_at,
        "error": bundle.error,
    }


class CaseChangeList(ChangeList):
    """The case list, with each case's sources counted in the same query (no query per row)."""

    def get_queryset(self, request, exclude_parameters=None):
        queryset = super().get_queryset(request, exclude_parameters)
        if exclude_parameters is None:  # facet counts need no sources
            queryset = queryset.annotate(**source_counts("runs__"))
        return queryset


# --- cases -----------------------------------------------------------------------------------------


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = (
        "reference",
        "request_type",
        "state_badge",
        "sources_column",
        "days_left_badge",
        "regime",
        "assignee",
        "received_at",
    )
    list_filter = (
        "state",
        "request_type",
        "regime",
        ("assignee", admin.RelatedOnlyFieldListFilter),
        OverdueFilter,
        DueSoonFilter,
    )
    search_fields = ("reference",)
    search_help_text = _("A case reference, or the subject's exact e-mail address.")
    list_select_related = ("assignee",)
    ordering = ("due_at",)
    inlines = (CaseNoteInline, AuditEventInline)

    add_fieldsets = (
        (
            None,
            {
                "fields": (
                    "request_type",
                    "channel",
                    "received_at",
                    "regime",
                    "language",
                    "restriction_ground",
                )
            },
        ),
        (
            _("The subject"),
            {
                "fields": (
                    "email",
                    "postal_address",
                    "name",
                    "phone",
                    "customer_number",
                    "company",
                )
            },
        ),
        (_("Identity"), {"fields": ("identity_verified", "verification_note")}),
    )
    fieldsets = (
        (
            _("The request"),
            {
                "fields": (
                    "reference",
                    "state_badge",
                    "request_type",
                    "channel",
                    "regime",
                    "language",
                    "restriction_ground",
                    "details",
                    "assignee",
                    "entered_by",
                    "possible_duplicate_of",
                    "merged_into",
                )
            },
        ),
        (
            _("The subject"),
            {
                "fields": (
                    "name",
                    "email",
                    "postal_address",
                    "phone",
                    "customer_number",
                    "company",
                    "has_representative",
                    "representative_name",
                    "representative_relationship",
                    "representative_authority",
                )
            },
        ),
        (
            _("Deadline"),
            {
                "fields": (
                    "received_at",
                    "due_at",
                    "days_left_badge",
                    "receipt_confirmation_due_at",
                    "receipt_confirmed_at",
                    "paused_days",
                    "paused_at",
                    "original_due_at",
                    "extension_reason",
                    "extension_announced_at",
                )
            },
        ),
        (
            _("Handling"),
            {
                "fields": (
                    "verified_at",
                    "verification_method",
                    "verified_by",
                    "awaiting_from",
                    "awaiting_purpose",
                    "awaiting_since",
                    "sources_skipped_reason",
                    "plan_prepared_by",
                    "plan_prepared_at",
                    "approved_by",
                    "approved_at",
                    "response_sent_at",
                    "bundle_ready_at",
                    "rejection_reason",
                    "rejected_as_unfounded",
                    "closed_at",
                    "created_at",
                    "updated_at",
                )
            },
        ),
    )

    # --- list ----------------------------------------------------------------------------------

    @admin.display(description=_("state"), ordering="state")
    def state_badge(self, case: Case) -> str:
        colour = STATE_COLOURS.get(case.state, "#718096")
        return format_html(
            '<span class="case-state case-state-{}" style="{}">{}</span>',
            case.state,
            BADGE.format(colour),
            case.get_state_display(),
        )

    @admin.display(description=_("days left"), ordering="due_at")
    def days_left_badge(self, case: Case) -> str:
        if not case.is_open:
            return "—"
        days = deadlines.days_left(case.due_at, timezone.now())
        urgency = days_left_urgency(days)
        if days < 0:
            text = ngettext("%(n)d day overdue", "%(n)d days overdue", -days) % {"n": -days}
        else:
            text = str(days)
        return format_html(
            '<span class="days-left days-{}" style="{}">{}</span>',
            urgency,
            BADGE.format(DAYS_COLOURS[urgency]),
            text,
        )

    @admin.display(description=_("sources"))
    def sources_column(self, case: Case) -> str:
        """Answered of all sources, and a red marker when gathering needs a person; the counts
        come from CaseChangeList's annotations."""
        total = getattr(case, "sources_total", 0)
        if not total:
            return "—"
        text = f"{total - case.sources_open}/{total}"
        if case.gathering_blocked_at is None:
            return text
        return format_html(
            '{} <span class="sources-attention" style="{}" title="{}">{}</span>',
            text,
            BADGE.format(ATTENTION_COLOUR),
            _("Gathering needs attention: a source failed"),
            _("needs attention"),
        )

    def get_changelist(self, request, **kwargs):
        return CaseChangeList

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if "@" in term:
            # An e-mail finds the subject's cases by the exact address only: a partial address
            # must not list other people's cases.
            return queryset.filter(email__iexact=term), False
        return super().get_search_results(request, queryset, search_term)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    # --- permissions and the change page ----------------------------------------------------------

    def has_delete_permission(self, request, obj=None):
        return False  # cases are never deleted by hand

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        fields = [f for _name, opts in self.fieldsets for f in opts["fields"]]
        if request.user.has_perm("casework.assign_case"):
            fields.remove("assignee")
        return fields

    def get_inline_instances(self, request, obj=None):
        return [] if obj is None else super().get_inline_instances(request, obj)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = CaseIntakeForm
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None:
            form.staff_user = request.user  # a fresh class per request (modelform_factory)
        return form

    def get_changeform_initial_data(self, request):
        return {
            "channel": "letter",
            "regime": settings.DSAR_DEFAULT_REGIME,
            **super().get_changeform_initial_data(request),
        }

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "assignee":
            kwargs["queryset"] = (
                get_user_model()
                .objects.filter(is_active=True, groups__name__in=[roles.PRIVACY_TEAM, roles.DPO])
                .distinct()
                .order_by("username")
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if not change:
            return  # created by services.case_create while the intake form was validated
        if "assignee" in form.changed_data:
            services.case_assign(
                case=obj, actor=Actor.staff(request.user), assignee=form.cleaned_data["assignee"]
            )

    def save_related(self, request, form, formsets, change):
        # No related rows are written from this page: the inlines are read-only history.
        for formset in formsets:
            self.save_formset(request, form, formset, change)

    def save_formset(self, request, form, formset, change):
        formset.save(commit=False)  # only works out what changed, for the change message
        if formset.new_objects or formset.changed_objects or formset.deleted_objects:
            raise PermissionDenied

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["case_buttons"] = self.case_buttons(request, obj)
            context.update(self.gathering_context(request, obj, context["case_buttons"]))
            context.update(self.review_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def case_buttons(self, request: HttpRequest, case: Case) -> list[dict[str, Any]]:
        """The operations the signed-in user may start now, as buttons, in the order of the
        case's life (TRANSITIONS), then the other actions."""
        allowed = {t.name for t in selectors.allowed_transitions(case, Actor.staff(request.user))}
        buttons = [
            {
                "name": name,
                "label": transition_label(name),
                "url": self._operation_url("transition", case, name),
                "danger": op.danger,
            }
            for name, op in TRANSITIONS.items()
            if name in allowed
        ]
        for name, op in ACTIONS.items():
            if op.offered(case, request.user):
                buttons.append(
                    {
                        "name": name,
                        "label": op.label,
                        "url": self._operation_url("action", case, name),
                        "danger": False,
                    }
                )
        return buttons

    def gathering_context(
        self, request: HttpRequest, case: Case, buttons: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """The Sources and Identifiers sections of the change page, and the notice when
        gathering needs a person. Three queries whatever the number of runs: the runs, one
        aggregate for the summary, the identifiers."""
        user = request.user
        runs = list(ConnectorRun.objects.filter(case=case).select_related("system"))
        names = {r.system.slug: r.system.name for r in runs}
        context: dict[str, Any] = {"sources": None, "identifiers": None, "gathering_blocked": None}
        if case.gathering_blocked_at is not None:
            urls = {b["name"]: b["url"] for b in buttons}
            failed = sorted({r.system.name for r in runs if r.state == Run.FAILED})
            context["gathering_blocked"] = {
                "systems": ", ".join(failed) or _("a source"),
                "retry_url": urls.get("retry_failed"),
                "proceed_url": urls.get("proceed_without_source"),
            }
        if runs and user.has_perm("casework.view_connectorrun"):
            summary = ConnectorRun.objects.filter(case=case).aggregate(**source_counts())
            may_complete = user.has_perm("casework.complete_manual_run")
            context["sources"] = {
                "answered": summary["sources_total"] - summary["sources_open"],
                "total": summary["sources_total"],
                "records": summary["sources_records"],
                "failed": summary["sources_failed"],
                "rows": [self._run_row(run, case, may_complete) for run in runs],
            }
        if user.has_perm("casework.view_caseidentifier"):
            may_confirm = user.has_perm("casework.change_caseidentifier")
            identifiers = CaseIdentifier.objects.filter(case=case).select_related("confirmed_by")
            context["identifiers"] = [
                {
                    "kind": i.kind,
                    "value": i.value,
                    "source": _("the request")
                    if i.source == "request"
                    else names.get(i.source, i.source),
                    "round": i.round,
                    "status": i.get_status_display(),
                    "ambiguous": i.status == CaseIdentifier.Status.AMBIGUOUS,
                    "matches": i.matches,
                    "confirmed_by": i.confirmed_by,
                    "confirmed_at": i.confirmed_at,
                    "confirm_url": (
                        self._case_url("identifier_confirm", case, i.pk)
                        if may_confirm and gathering.confirmable(i, case)
                        else None
                    ),
                }
                for i in identifiers
            ]
        return context

    def review_context(self, request: HttpRequest, case: Case) -> dict[str, Any]:
        """The Review notice (a link to the review page while the case is in review, or once
        its review is complete) and the Bundle section of the change page."""
        context: dict[str, Any] = {"review": None, "bundles": None}
        if case.state == State.IN_REVIEW or case.review_completed_at is not None:
            summary = selectors.review_summary(case)
            context["review"] = {
                "url": self._review_url(case),
                "open": selectors.review_is_open(case),
                "records": summary.records,
                "excluded": summary.excluded,
                "redacted": summary.redacted,
                "completed_at": case.review_completed_at,
                "completed_by": case.review_completed_by,
            }
        if request.user.has_perm("casework.view_bundle"):
            rows = list(Bundle.objects.filter(case=case))
            if rows or case.request_type in BUNDLE_TYPES:
                context["bundles"] = [bundle_row(b) for b in rows]
        return context

    def _run_row(self, run: ConnectorRun, case: Case, may_complete: bool) -> dict[str, Any]:
        """One run as the Sources table shows it: counts and kinds, never identifier values."""
        return {
            "system": run.system.name,
            "round": run.round,
            "state": run.state,
            "state_label": run.get_state_display(),
            "colour": RUN_COLOURS.get(run.state, "#718096"),
            "attempts": run.attempts,
            "records": run.records_count,
            "counts": [f"{category}: {n}" for category, n in sorted(run.counts.items())],
            "duration": _duration(run.duration_ms),
            # Connector errors never quote source values (gathering._fail); a transient one on a
            # pending run is the last attempt's, shown while it waits to try again.
            "error": run.error if run.state in (Run.FAILED, Run.PENDING) else "",
            "error_kind": run.error_kind,
            "learnt": _kind_counts(run.learnt),
            "ambiguous": _kind_counts(run.ambiguous),
            "owner": run.system.owner_email if run.state == Run.WAITING else "",
            "complete_url": (
                self._case_url("run_complete", case, run.pk)
                if may_complete and run.state == Run.WAITING
                else None
            ),
        }

    # --- confirmation pages ----------------------------------------------------------------------

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/transition/<str:name>/",
                view(self.transition_view),
                name="{}_{}_transition".format(*info),
            ),
            path(
                "<path:object_id>/action/<str:name>/",
                view(self.action_view),
                name="{}_{}_action".format(*info),
            ),
            path(
                "<path:object_id>/identifier/<int:identifier_id>/confirm/",
                view(self.identifier_confirm_view),
                name="{}_{}_identifier_confirm".format(*info),
            ),
            path(
                "<path:object_id>/run/<int:run_id>/complete/",
                view(self.run_complete_view),
                name="{}_{}_run_complete".format(*info),
            ),
            path(
                "<path:object_id>/review/",
                view(self.review_view),
                name="{}_{}_review".format(*info),
            ),
            path(
                "<path:object_id>/review/<str:decision>/",
                view(self.review_decide_view),
                name="{}_{}_review_decide".format(*info),
            ),
            *super().get_urls(),
        ]

    def _operation_url(self, kind: str, case: Case, name: str) -> str:
        return self._case_url(kind, case, name)

    def _case_url(self, view: str, case: Case, arg: Any) -> str:
        info = self.opts.app_label, self.opts.model_name
        return reverse(f"{self.admin_site.name}:{info[0]}_{info[1]}_{view}", args=[case.pk, arg])

    def _change_url(self, case: Case) -> str:
        info = self.opts.app_label, self.opts.model_name
        return reverse(f"{self.admin_site.name}:{info[0]}_{info[1]}_change", args=[case.pk])

    def transition_view(self, request: HttpRequest, object_id: str, name: str) -> HttpResponse:
        op = TRANSITIONS.get(name)
        if op is None:
            raise Http404(f"No transition {name!r}.")
        case = self._case_or_404(request, object_id)
        meta = services.transition_meta(case, name)
        return self._operation_view(
            request,
            case,
            op,
            label=transition_label(name),
            refusal=lambda actor: services.check_transition(case, name, actor),
            outcome=self._transition_outcome(case, meta),
        )

    def action_view(self, request: HttpRequest, object_id: str, name: str) -> HttpResponse:
        op = ACTIONS.get(name)
        if op is None:
            raise Http404(f"No action {name!r}.")
        case = self._case_or_404(request, object_id)

        def refusal(actor: Actor) -> None:
            if not op.offered(case, actor.user):
                raise PermissionDenied(_("This is not possible for you on this case now."))

        return self._operation_view(
            request,
            case,
            op,
            label=op.label,
            refusal=refusal,
            outcome="",
            details=op.details(case) if op.details is not None else [],
        )

    def _case_or_404(self, request: HttpRequest, object_id: str) -> Case:
        case = self.get_object(request, unquote(object_id))
        if case is None:
            raise Http404("No such case.")
        if not self.has_view_or_change_permission(request, case):
            raise PermissionDenied
        return case

    @staticmethod
    def _transition_outcome(case: Case, meta) -> str:
        if meta is None:
            return ""
        if isinstance(meta.target, str):
            target = State(meta.target).label
        elif case.awaiting_from:
            target = State(case.awaiting_from).label
        else:
            target = _("the state it came from")
        return _("The case moves from “%(from)s” to “%(to)s”.") % {
            "from": case.get_state_display(),
            "to": target,
        }

    def _operation_view(
        self,
        request: HttpRequest,
        case: Case,
        op: Operation,
        *,
        label: str,
        refusal: Callable[[Actor], None],
        outcome: str,
        details: list[tuple[str, Any]] = (),
    ) -> HttpResponse:
        actor = Actor.staff(request.user)
        change_url = self._change_url(case)
        if request.method == "POST":
            form = op.form(request.POST, case=case)
            if form.is_valid():
                try:
                    result = op.service(case=case, actor=actor, **form.service_kwargs())
                except ValidationError as exc:
                    add_service_errors(form, exc)
                except (PermissionDenied, TransitionNotAllowed, ConcurrentTransition) as exc:
                    self.message_user(request, self._refused(label, exc), messages.ERROR)
                    return HttpResponseRedirect(change_url)
                else:
                    case.refresh_from_db()
                    done = _("%(label)s: done. State: %(state)s.") % {
                        "label": label,
                        "state": case.get_state_display(),
                    }
                    if op.done is not None:
                        done = f"{op.done(result)} {done}"
                    self.message_user(request, done, messages.SUCCESS)
                    return HttpResponseRedirect(change_url)
        else:
            try:
                refusal(actor)  # no form for something that cannot succeed
            except (PermissionDenied, TransitionNotAllowed) as exc:
                self.message_user(request, self._refused(label, exc), messages.ERROR)
                return HttpResponseRedirect(change_url)
            form = op.form(case=case)
        return self._confirm_page(
            request,
            case,
            label=label,
            explanation=op.explanation,
            form=form,
            outcome=outcome,
            danger=op.danger,
            details=details,
        )

    def _confirm_page(
        self,
        request: HttpRequest,
        case: Case,
        *,
        label: str,
        explanation: str,
        form: Form,
        outcome: str = "",
        danger: bool = False,
        details: list[tuple[str, Any]] = (),
        listing: dict[str, Any] | None = None,
    ) -> TemplateResponse:
        """The confirmation page every operation shares: what it does, what it acts on
        (`details`, label/value pairs; `listing`, a small table), and its form."""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": label,
            "subtitle": case.reference,
            "case": case,
            "label": label,
            "explanation": explanation,
            "outcome": outcome,
            "details": details,
            "listing": listing,
            "form": form,
            "danger": danger,
            "change_url": self._change_url(case),
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/casework/case/operation_confirm.html", context)

    def _refuse(
        self, request: HttpRequest, case: Case, label: str, exc: Exception | str
    ) -> HttpResponse:
        self.message_user(request, self._refused(label, exc), messages.ERROR)
        return HttpResponseRedirect(self._change_url(case))

    # --- gathering: identifiers and manual searches ----------------------------------------------

    def identifier_confirm_view(
        self, request: HttpRequest, object_id: str, identifier_id: int
    ) -> HttpResponse:
        """Confirm that an identifier learnt from a source is the subject's (GET asks, POST
        confirms), before it may drive a change to source systems."""
        case = self._case_or_404(request, object_id)
        identifier = get_object_or_404(CaseIdentifier, pk=identifier_id, case=case)
        identifier.case = case
        label = _("This identifier is the subject's")
        # Refused before anything is shown: the page shows the identifier's value.
        if not request.user.has_perm("casework.change_caseidentifier"):
            return self._refuse(request, case, label, PermissionDenied())
        if not gathering.confirmable(identifier, case):
            reason = _(
                "Only an unconfirmed identifier learnt from a source system and followed, on an "
                "open case, is confirmed here."
            )
            return self._refuse(request, case, label, reason)
        form = ConfirmIdentifierForm(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            try:
                gathering.confirm_identifier(identifier=identifier, actor=Actor.staff(request.user))
            except ValidationError as exc:
                add_service_errors(form, exc)
            except PermissionDenied as exc:
                return self._refuse(request, case, label, exc)
            else:
                self.message_user(
                    request,
                    _("Identifier confirmed: %(kind)s learnt from %(source)s.")
                    % {"kind": identifier.kind, "source": identifier.source},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(self._change_url(case))
        return self._confirm_page(
            request,
            case,
            label=label,
            explanation=_(
                "Confirms that this identifier, learnt from a source system, belongs to the "
                "subject. Only confirmed identifiers may drive changes to source systems "
                "(erasure, rectification). Check it against what the subject gave us; if in "
                "doubt, ask the subject instead."
            ),
            form=form,
            details=[
                (_("Kind"), identifier.kind),
                (_("Value"), identifier.value),
                (_("Learnt from"), identifier.source),
                (_("Round"), identifier.round),
            ],
        )

    def run_complete_view(self, request: HttpRequest, object_id: str, run_id: int) -> HttpResponse:
        """A person searched a manual system: attach the export, or record that nothing was
        found. The case waits for this before it goes to review."""
        case = self._case_or_404(request, object_id)
        run = get_object_or_404(ConnectorRun.objects.select_related("system"), pk=run_id, case=case)
        run.case = case
        label = _("Complete manual search of %(system)s") % {"system": run.system.name}
        # Refused before anything is shown: the page lists the subject's identifiers.
        if not request.user.has_perm("casework.complete_manual_run"):
            return self._refuse(request, case, label, PermissionDenied())
        if run.state != Run.WAITING:
            reason = _("This search is not waiting for a person.")
            return self._refuse(request, case, label, reason)
        if request.method == "POST":
            form = ManualSearchForm(request.POST, request.FILES, run=run)
            if form.is_valid():
                try:
                    run = gathering.complete_manual_run(
                        run=run, actor=Actor.staff(request.user), **form.service_kwargs()
                    )
                except ValidationError as exc:
                    add_service_errors(form, exc)
                except PermissionDenied as exc:
                    return self._refuse(request, case, label, exc)
                else:
                    case.refresh_from_db()
                    self.message_user(
                        request,
                        ngettext(
                            "Manual search of %(system)s recorded: %(n)d record. State: %(state)s.",
                            "Manual search of %(system)s recorded: %(n)d records. State: %(state)s.",
                            run.records_count,
                        )
                        % {
                            "system": run.system.name,
                            "n": run.records_count,
                            "state": case.get_state_display(),
                        },
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(self._change_url(case))
        else:
            form = ManualSearchForm(run=run)
        identifiers = CaseIdentifier.objects.filter(
            case=case, status=CaseIdentifier.Status.FOLLOWED
        )
        manual = gathering.manual_settings(run.system)
        if manual.problem:
            self.message_user(
                request,
                _(
                    "The settings of %(system)s could not be read, so its instructions and "
                    "data category are missing here: %(problem)s"
                )
                % {"system": run.system.name, "problem": manual.problem},
                messages.WARNING,
            )
        return self._confirm_page(
            request,
            case,
            label=label,
            explanation=_(
                "%(system)s has no connection we can query: search it by hand for the "
                "identifiers below, then attach what it holds about the subject, or tick "
                "“Nothing found”. The case waits for this answer."
            )
            % {"system": run.system.name},
            form=form,
            details=[(_("Instructions"), manual.instructions)] if manual.instructions else [],
            listing={
                "caption": _("Search for"),
                "headers": [_("Kind"), _("Value"), _("Given in / learnt from")],
                "rows": [
                    (i.kind, i.value, _("the request") if i.source == "request" else i.source)
                    for i in identifiers
                ],
            },
        )

    # --- review of the gathered data -------------------------------------------------------------

    def review_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The gathered records of one category, a page at a time, with what the register flags
        and the decisions taken; forms to leave out records and redact values while the review
        is open, for those who may review. GET changes nothing."""
        case = self._case_or_404(request, object_id)
        user = request.user
        counts = selectors.review_category_counts(case)
        decided = selectors.review_decision_counts(case)
        known = {c.slug: c for c in DataCategory.objects.filter(slug__in=counts)}
        # The register's order; a category the register does not know (yet) comes last.
        slugs = sorted(counts, key=lambda s: (known[s].sort_key, s) if s in known else ("~", s))
        categories = []
        for slug in slugs:
            category = known.get(slug)
            categories.append(
                {
                    "slug": slug,
                    "code": category.code if category else "",
                    "name": category.text("name", case.language) if category else slug,
                    "records": counts[slug],
                    "excluded": decided.get(slug, Counter())[RecordDecision.Action.EXCLUDE],
                    "redacted": decided.get(slug, Counter())[RecordDecision.Action.REDACT],
                    "flagged": bool(
                        category
                        and (category.concerns_other_people or category.may_reveal_special_category)
                    ),
                    "url": self._review_url(case, slug),
                }
            )
        current = None
        if categories:
            slug = request.GET.get("category") or categories[0]["slug"]
            current = next((c for c in categories if c["slug"] == slug), None)
            if current is None:
                raise Http404("No records of that category in this case.")
        context: dict[str, Any] = {}
        if current is not None:
            pages = max(1, math.ceil(current["records"] / REVIEW_PAGE_SIZE))
            try:
                page = min(max(int(request.GET.get("page", 1)), 1), pages)
            except ValueError:
                page = 1
            rows = review.review_rows(
                case,
                category=current["slug"],
                limit=REVIEW_PAGE_SIZE,
                offset=(page - 1) * REVIEW_PAGE_SIZE,
            )
            category = known.get(current["slug"])
            flags = category_flags(category, case.language)
            user_ids = {d.decided_by_id for r in rows for d in r["decisions"]}
            users = get_user_model().objects.in_bulk(user_ids) if user_ids else {}
            show_values = user.has_perm("casework.view_caseidentifier")
            first = (page - 1) * REVIEW_PAGE_SIZE
            context.update(
                category=current,
                flags=flags,
                page=page,
                pages=pages,
                previous_url=self._review_url(case, current["slug"], page - 1)
                if page > 1
                else None,
                next_url=self._review_url(case, current["slug"], page + 1)
                if page < pages
                else None,
                rows=[
                    review_row(
                        row,
                        number=first + i + 1,
                        flags=flags["by_field"] if flags else {},
                        users=users,
                        show_identifier_value=show_values,
                    )
                    for i, row in enumerate(rows)
                ],
            )
        may_decide = selectors.review_is_open(case) and user.has_perm("casework.review_records")
        actions = [
            {
                "name": name,
                "label": ACTIONS[name].label,
                "url": self._case_url("action", case, name),
            }
            for name in ("complete_review", "reopen_review")
            if ACTIONS[name].offered(case, user)
        ]
        context.update(
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": _("Review of the gathered data"),
                "subtitle": case.reference,
                "case": case,
                "change_url": self._change_url(case),
                "categories": categories,
                "total": sum(counts.values()),
                "may_decide": may_decide,
                "review_open": selectors.review_is_open(case),
                "review_actions": actions,
                "reasons": RecordDecision.Reason.choices,
                "exclude_url": self._case_url("review_decide", case, "exclude"),
                "redact_url": self._case_url("review_decide", case, "redact"),
            }
        )
        return TemplateResponse(request, "admin/casework/case/review.html", context)

    def review_decide_view(
        self, request: HttpRequest, object_id: str, decision: str
    ) -> HttpResponse:
        """Leave a record out, or redact one of its values (POST only), through the review
        service; the reviewer comes back to the same category and page."""
        decide = {
            "exclude": (ExcludeRecordForm, review.exclude_record),
            "redact": (RedactValueForm, review.redact_value),
        }.get(decision)
        if decide is None:
            raise Http404(f"No decision {decision!r}.")
        case = self._case_or_404(request, object_id)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        form_class, service = decide
        form: RecordDecisionForm = form_class(request.POST)
        if not form.is_valid():
            back = self._review_url(case, request.POST.get("category", ""))
            problems = "; ".join(
                f"{form.fields[name].label or name}: {' '.join(errors)}"
                if name in form.fields
                else " ".join(errors)
                for name, errors in form.errors.items()
            )
            self.message_user(
                request,
                _("Nothing was recorded: %(problems)s") % {"problems": problems},
                messages.ERROR,
            )
            return HttpResponseRedirect(back)
        data = form.cleaned_data
        back = self._review_url(case, data["category"], data.get("page") or 1)
        # Record-level check before the service: the run must be this case's.
        run = get_object_or_404(
            ConnectorRun.objects.select_related("system"), pk=data["run"], case=case
        )
        label = _("Leave out") if decision == "exclude" else _("Redact")
        try:
            service(case=case, actor=Actor.staff(request.user), run=run, **form.service_kwargs())
        except ValidationError as exc:
            self.message_user(
                request, self._refused(label, "; ".join(exc.messages)), messages.ERROR
            )
        except (PermissionDenied, TransitionNotAllowed, ConcurrentTransition) as exc:
            self.message_user(request, self._refused(label, exc), messages.ERROR)
        else:
            if decision == "exclude":
                done = _("Record left out of the bundle (%(system)s).") % {
                    "system": run.system.name
                }
            else:
                done = _("“%(field)s” redacted in the bundle (%(system)s).") % {
                    "field": data["field"],
                    "system": run.system.name,
                }
            self.message_user(request, done, messages.SUCCESS)
        return HttpResponseRedirect(back)

    def _review_url(self, case: Case, category: str = "", page: int = 1) -> str:
        info = self.opts.app_label, self.opts.model_name
        url = reverse(f"{self.admin_site.name}:{info[0]}_{info[1]}_review", args=[case.pk])
        query = {}
        if category:
            query["category"] = category
        if page > 1:
            query["page"] = page
        return f"{url}?{urlencode(query)}" if query else url

    @staticmethod
    def _refused(label: str, exc: Exception | str) -> str:
        reason = str(exc) or _("You are not allowed to do this.")
        if isinstance(exc, ConcurrentTransition):
            reason = _("Someone else changed the case meanwhile; open it again.")
        return _("%(label)s was refused, nothing changed: %(reason)s") % {
            "label": label,
            "reason": reason,
        }


# --- the audit trail and holidays ---------------------------------------------------------------


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "chain",
        "seq",
        "case",
        "action",
        "actor_label",
        "from_state",
        "to_state",
    )
    list_filter = ("actor_kind", "action")
    search_fields = ("action", "case__reference")
    list_select_related = ("chain", "case")
    ordering = ("-created_at", "-pk")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PublicHoliday)
class PublicHolidayAdmin(admin.ModelAdmin):
    list_display = ("date", "name")
    ordering = ("date",)
    date_hierarchy = "date"
