"""The admin where the privacy team works cases.

Everything that changes a case goes through `casework.services`: the change page edits only the
assignee (through `case_assign`), transitions and other operations each have a confirmation page
whose form calls one service with the signed-in staff member as the actor, and cases are created
by `case_create`. The audit trail is shown, never edited.
"""

from __future__ import annotations

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
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_fsm import ConcurrentTransition, TransitionNotAllowed

from casework import deadlines, gathering, roles, selectors, services
from casework.actors import Actor
from casework.forms import (
    AddNoteForm,
    AnsweredForm,
    ApproveForm,
    AskSubjectForm,
    CaseIntakeForm,
    CaseOperationForm,
    ConfirmIdentifierForm,
    ExtendForm,
    FulfilForm,
    ManualSearchForm,
    MergeForm,
    PreparePlanForm,
    ProceedWithoutSourceForm,
    RecordResponseForm,
    RejectForm,
    RetryFailedForm,
    VerifyForm,
    WithdrawForm,
    add_service_errors,
)
from casework.models import (
    CHANGING_TYPES,
    RESPONSE_STATES,
    AuditEvent,
    Case,
    CaseIdentifier,
    CaseNote,
    ConnectorRun,
    PublicHoliday,
    State,
)

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


def identifier_confirmable(identifier: CaseIdentifier, case: Case) -> bool:
    """Learnt identifiers that are followed are confirmed by staff before they drive a change;
    the request's own are the subject's word, and ambiguous ones are not followed at all."""
    return (
        case.is_open
        and identifier.status == CaseIdentifier.Status.FOLLOWED
        and identifier.source != "request"
        and identifier.confirmed_at is None
    )


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
                        if may_confirm and identifier_confirmable(i, case)
                        else None
                    ),
                }
                for i in identifiers
            ]
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

        return self._operation_view(request, case, op, label=op.label, refusal=refusal, outcome="")

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
        if not identifier_confirmable(identifier, case):
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
        instructions = run.system.config.get("instructions", "")
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
            details=[(_("Instructions"), instructions)] if instructions else [],
            listing={
                "caption": _("Search for"),
                "headers": [_("Kind"), _("Value"), _("Given in / learnt from")],
                "rows": [
                    (i.kind, i.value, _("the request") if i.source == "request" else i.source)
                    for i in identifiers
                ],
            },
        )

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
