"""The admin where the privacy team works cases.

Everything that changes a case goes through `casework.services`: the change page edits only the
assignee (through `case_assign`), transitions and other operations each have a confirmation page
whose form calls one service with the signed-in staff member as the actor, and cases are created
by `case_create`. The audit trail is shown, never edited.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F
from django.forms import Form
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
)
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_fsm import ConcurrentTransition, TransitionNotAllowed

from casework import deadlines, operations, permissions, roles, selectors, services
from casework.actors import Actor
from casework.admin import audit as audit_admin
from casework.admin.details import details_html
from casework.admin.figures import DeadlineFilter, FailedSourceFilter, WaitingFilter
from casework.admin.forms import (
    CaseIntakeForm,
)
from casework.admin.fulfilment import FulfilmentAdminViews
from casework.admin.gathering import ATTENTION_COLOUR, GatheringAdminViews, source_counts
from casework.admin.review import ReviewAdminViews, review_summary_details
from casework.models import (
    BUNDLE_TYPES,
    AuditEvent,
    Case,
    CaseNote,
    ConnectorRun,
    State,
)
from casework.selectors.access import visible_cases
from dsar.identifiers import InvalidEmail, email_key

# What the confirmation page of an operation shows it acts on, where a number helps.
OPERATION_DETAILS = {
    "complete_review": review_summary_details,
    "reopen_review": review_summary_details,
}


def release_listing(case: Case) -> dict[str, Any] | None:
    """The release check on the approval page: what the bundle carries besides the verified
    channel. Personal data, shown to the approver only."""
    if case.request_type not in BUNDLE_TYPES:
        return None
    items = selectors.release_check_for_page(case)
    if not items:
        return None
    verified = selectors.verified_email(case)
    return {
        "warning": _(
            "The bundle carries these contact details and identifiers besides the verified "
            "channel. It goes to whoever holds that channel: check that each belongs to the "
            "subject, and leave out or redact in the review what does not."
        ),
        "caption": (
            _("Verified channel: %(email)s") % {"email": verified}
            if verified
            else _("Verified channel: identity was checked by staff, not by the e-mail link")
        ),
        "headers": [_("Kind"), _("Value"), _("Found in"), _("Records")],
        "rows": [
            [
                item.kind_label,
                _("%(value)s (given on the request)") % {"value": item.value}
                if item.on_request
                else item.value,
                "; ".join(item.places),
                item.count,
            ]
            for item in items
        ],
    }


# What the confirmation page of an operation lists, where the operation acts on a list.
OPERATION_LISTINGS = {"approve": release_listing}

STATE_COLOURS = {
    State.RECEIVED: "#417690",
    State.VERIFIED: "#2b6cb0",
    State.AWAITING_SUBJECT: "#b7791f",
    State.GATHERING: "#6b46c1",
    State.NEEDS_IDENTIFIER: "#b7791f",
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


class RestrictionFilter(admin.SimpleListFilter):
    """Restrictions in force: the subject's records are marked restricted in the systems."""

    title = _("restriction")
    parameter_name = "restricted"

    def lookups(self, request, model_admin):
        return [("yes", _("Restriction in force"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(pk__in=selectors.restrictions_in_force().values("pk"))
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
    fields = (
        "seq",
        "created_at",
        "action_name",
        "actor_column",
        "from_state",
        "to_state",
        "details_list",
    )
    ordering = ("seq",)

    action_name = audit_admin.action_name
    actor_column = audit_admin.actor_column
    details_list = audit_admin.details_list


class CaseNoteInline(ReadOnlyInline):
    model = CaseNote
    fields = ("created_at", "kind", "author", "visible_to_subject", "text")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("author")


class AssigneeFilter(admin.RelatedFieldListFilter):
    """Who a case can be assigned to (the privacy team and the DPO): the staff list, not the
    distinct assignees of every case (a scan of the whole table on each page)."""

    def field_choices(self, field, request, model_admin):
        return [(u.pk, str(u)) for u in permissions.assignable_staff()]


class CaseChangeList(ChangeList):
    """The case list, with the sources of the page's cases counted in one query: counted for
    the page only, after paging (a join and a grouping over every case before paging grew
    with the data)."""

    def get_results(self, request):
        super().get_results(request)
        cases = list(self.result_list)
        counts = {
            row["case_id"]: row
            for row in ConnectorRun.objects.filter(
                case_id__in=[c.pk for c in cases], gathering=F("case__gathering")
            )
            .values("case_id")
            .annotate(**source_counts())
            .order_by()
        }
        for case in cases:
            row = counts.get(case.pk, {})
            case.sources_total = row.get("sources_total", 0)
            case.sources_open = row.get("sources_open", 0)
        self.result_list = cases


@admin.register(Case)
class CaseAdmin(GatheringAdminViews, ReviewAdminViews, FulfilmentAdminViews, admin.ModelAdmin):
    # Fits a 1280 px window beside the filters: the regime shares the request type's cell and
    # the receipt shows its date only.
    list_display = (
        "reference",
        "subject",
        "request_column",
        "state_badge",
        "sources_column",
        "days_left_badge",
        "assignee",
        "received_on",
    )
    list_filter = (
        "state",
        "request_type",
        "regime",
        ("assignee", AssigneeFilter),
        OverdueFilter,
        DueSoonFilter,
        RestrictionFilter,
        # Behind the dashboard's figures (casework.dashboard).
        DeadlineFilter,
        WaitingFilter,
        FailedSourceFilter,
    )
    search_fields = ("reference",)
    # "N results (M total)" counts every case the user may see on each page: with a million
    # cases that count was the slowest query of the list.
    show_full_result_count = False
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
                    "details_list",
                    "assignee",
                    "confidentiality",
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
                    "mailbox_lost",
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
                    "legal_hold",
                    "purged_at",
                    "created_at",
                    "updated_at",
                )
            },
        ),
    )

    class Media:
        css = {"all": ["casework/admin.css"]}

    # --- list ----------------------------------------------------------------------------------

    @admin.display(description=_("subject"), ordering="name")
    def subject(self, case: Case) -> str:
        if case.purged_at is not None:
            # Counted in the dashboard's figures, kept without its subject (retention): said
            # so, rather than a blank row behind a figure.
            return format_html(
                '<span class="case-purged">{}</span>',
                _("Personal data deleted on %(date)s (retention)")
                % {"date": date_format(deadlines.local_date(case.purged_at))},
            )
        name = case.name or case.email or "—"
        if case.confidential:
            return format_html(
                '{} <span class="case-confidential">{}</span>', name, _("confidential")
            )
        return name

    @admin.display(description=_("request"), ordering="request_type")
    def request_column(self, case: Case) -> str:
        return format_html(
            '{}<div class="case-regime">{}</div>',
            case.get_request_type_display(),
            case.get_regime_display(),
        )

    @admin.display(description=_("received"), ordering="received_at")
    def received_on(self, case: Case) -> str:
        return date_format(timezone.localtime(case.received_at), "j M Y")

    @admin.display(description=_("state"), ordering="state")
    def state_badge(self, case: Case) -> str:
        colour = STATE_COLOURS.get(case.state, "#718096")
        return format_html(
            '<span class="case-state case-state-{}" style="{}">{}</span>',
            case.state,
            BADGE.format(colour),
            case.get_state_display(),
        )

    @admin.display(description=_("details"))
    def details_list(self, case: Case) -> str:
        return details_html(case.details)

    @admin.display(description=_("legal hold"))
    def legal_hold(self, case: Case) -> str:
        if case.legal_hold_at is None:
            return "—"
        return _("Since %(at)s, by %(by)s: %(reason)s") % {
            "at": date_format(timezone.localtime(case.legal_hold_at), "j M Y"),
            "by": case.legal_hold_by or "—",
            "reason": case.legal_hold_reason,
        }

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

    def changelist_view(self, request, extra_context=None):
        # The list needs the width: the side bar repeats the home page's list of tables
        # (Home in the breadcrumbs has it), and without it eight columns and the filters fit
        # a 1280 px window.
        return super().changelist_view(
            request, {"is_nav_sidebar_enabled": False, **(extra_context or {})}
        )

    def get_changelist(self, request, **kwargs):
        return CaseChangeList

    def get_queryset(self, request):
        # Confidential cases only for the DPO, their assignee and named staff: in the list,
        # the search, every page of a case and every view under it (_case_or_404).
        return visible_cases(request.user, super().get_queryset(request))

    @admin.display(description=_("confidential"))
    def confidentiality(self, case: Case) -> str:
        if not case.confidential:
            return _("No")
        named = ", ".join(u.get_username() for u in case.confidential_staff.order_by("username"))
        return _("Yes: seen by the DPO, the assignee and %(named)s") % {
            "named": named or _("no one else")
        }

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if "@" in term:
            # An e-mail finds the subject's cases by the exact address only (the one rule,
            # dsar.identifiers.email_key): neither a partial address nor a look-alike lists
            # other people's cases.
            try:
                return queryset.filter(email=email_key(term)), False
            except InvalidEmail:
                return queryset.none(), False
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
            context.update(self.plan_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def case_buttons(self, request: HttpRequest, case: Case) -> list[dict[str, Any]]:
        """The operations the signed-in user may run now (casework.operations), as buttons
        in the order of a case's life."""
        return [
            {
                "name": op.name,
                "label": op.label,
                "url": self.operation_url(case, op.name),
                "danger": op.danger,
            }
            for op in operations.offered(case, Actor.staff(request.user))
            if op.button
        ] + self.dossier_button(request, case)

    def dossier_button(self, request: HttpRequest, case: Case) -> list[dict[str, Any]]:
        try:
            services.check_export_dossier(case, Actor.staff(request.user))
        except PermissionDenied:
            return []
        info = self.opts.app_label, self.opts.model_name
        url = reverse(f"{self.admin_site.name}:{info[0]}_{info[1]}_dossier", args=[case.pk])
        return [{"name": "dossier", "label": _("Dossier (PDF)"), "url": url, "danger": False}]

    def dossier_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The case's dossier, for staff who may see the case (the export is audited)."""
        case = self._case_or_404(request, object_id)
        pdf = services.export_dossier(case=case, actor=Actor.staff(request.user))
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{case.reference}-dossier.pdf"'
        response["Cache-Control"] = "no-store"
        return response

    # --- confirmation pages ----------------------------------------------------------------------

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/operation/<str:name>/",
                view(self.operation_view),
                name="{}_{}_operation".format(*info),
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
                "<path:object_id>/plan/<str:number>/",
                view(self.plan_view),
                name="{}_{}_plan".format(*info),
            ),
            path(
                "<path:object_id>/plan/<str:number>/decide/",
                view(self.plan_decide_view),
                name="{}_{}_plan_decide".format(*info),
            ),
            path(
                "<path:object_id>/plan/<str:number>/corrections/",
                view(self.plan_corrections_view),
                name="{}_{}_plan_corrections".format(*info),
            ),
            path(
                "<path:object_id>/plan-action/<int:action_id>/confirm/",
                view(self.plan_confirm_view),
                name="{}_{}_plan_confirm".format(*info),
            ),
            path(
                "<path:object_id>/processor/<int:instruction_id>/confirm/",
                view(self.processor_confirm_view),
                name="{}_{}_processor_confirm".format(*info),
            ),
            path(
                "<path:object_id>/processor/<int:instruction_id>/resend/",
                view(self.processor_resend_view),
                name="{}_{}_processor_resend".format(*info),
            ),
            path(
                "<path:object_id>/dossier/",
                view(self.dossier_view),
                name="{}_{}_dossier".format(*info),
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

    def operation_url(self, case: Case, name: str) -> str:
        return self._case_url("operation", case, name)

    def _case_url(self, view: str, case: Case, arg: Any) -> str:
        info = self.opts.app_label, self.opts.model_name
        return reverse(f"{self.admin_site.name}:{info[0]}_{info[1]}_{view}", args=[case.pk, arg])

    def _change_url(self, case: Case) -> str:
        info = self.opts.app_label, self.opts.model_name
        return reverse(f"{self.admin_site.name}:{info[0]}_{info[1]}_change", args=[case.pk])

    def _case_or_404(self, request: HttpRequest, object_id: str) -> Case:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        case = self.get_object(request, unquote(object_id))
        if case is None:
            raise Http404("No such case.")
        if not self.has_view_or_change_permission(request, case):
            raise PermissionDenied
        return case

    @staticmethod
    def _outcome(case: Case, op: operations.Operation) -> str:
        """Where the case goes, for an operation that is a transition ("" otherwise)."""
        meta = permissions.transition_meta(case, op.transition) if op.transition else None
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

    def operation_view(self, request: HttpRequest, object_id: str, name: str) -> HttpResponse:
        """The confirmation page of one operation (GET) and its form's POST, which runs the
        operation's service as the signed-in staff member."""
        op = operations.BY_NAME.get(name)
        if op is None:
            raise Http404(f"No operation {name!r}.")
        case = self._case_or_404(request, object_id)
        actor = Actor.staff(request.user)
        change_url = self._change_url(case)
        if request.method == "POST":
            form = operations.OperationForm(request.POST, operation=op, case=case)
            if form.is_valid():
                try:
                    result = op.run(case=case, actor=actor, values=form.cleaned_data)
                except ValidationError as exc:
                    form.add_service_errors(exc)
                except (PermissionDenied, TransitionNotAllowed, ConcurrentTransition) as exc:
                    self.message_user(request, self._refused(op.label, exc), messages.ERROR)
                    return HttpResponseRedirect(change_url)
                else:
                    case.refresh_from_db()
                    done = _("%(label)s: done. State: %(state)s.") % {
                        "label": op.label,
                        "state": case.get_state_display(),
                    }
                    if op.done is not None:
                        done = f"{op.done(result)} {done}"
                    self.message_user(request, done, messages.SUCCESS)
                    return HttpResponseRedirect(change_url)
        else:
            refusal = op.refusal(case, actor)  # no form for something that cannot succeed
            if refusal:
                self.message_user(request, self._refused(op.label, refusal), messages.ERROR)
                return HttpResponseRedirect(change_url)
            form = operations.OperationForm(operation=op, case=case)
        details = OPERATION_DETAILS.get(op.name)
        listing = OPERATION_LISTINGS.get(op.name)
        return self._confirm_page(
            request,
            case,
            label=op.label,
            explanation=op.explain(case),
            form=form,
            outcome=self._outcome(case, op),
            danger=op.danger,
            details=details(case) if details else [],
            listing=listing(case) if listing else None,
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

    # --- review of the gathered data -------------------------------------------------------------

    @staticmethod
    def _refused(label: str, exc: Exception | str) -> str:
        reason = str(exc) or _("You are not allowed to do this.")
        if isinstance(exc, ConcurrentTransition):
            reason = _("Someone else changed the case meanwhile; open it again.")
        return _("%(label)s was refused, nothing changed: %(reason)s") % {
            "label": label,
            "reason": reason,
        }
