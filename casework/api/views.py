"""The API's views: parse, call a selector, a service or an operation, shape the answer."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp import match_token, user_has_device
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from casework import audit, operations, selectors
from casework.actors import Actor
from casework.api import serializers as s
from casework.api.filters import CaseFilter
from casework.api.permissions import READ_CASES, CaseListPermission, any_of
from casework.api.schema import ErrorSerializer
from casework.dashboard.figures import every_figure
from casework.dashboard.forms import FiltersForm
from casework.deadlines import REGIME_CHOICES
from casework.models import (
    ApiToken,
    AuditEvent,
    Case,
    FulfilmentAction,
    FulfilmentPlan,
    RecordDecision,
    RequestType,
)
from casework.selectors.access import of_visible_cases, visible_cases
from casework.selectors.sources import system_health
from casework.services.api_tokens import api_token_issue, api_token_revoke
from casework.services.dossier import export_dossier
from casework.services.filing import case_file
from casework.signin import TOO_MANY_FAILURES, count_failure, signin_allowed
from dsar.models import SourceSystem

VIEW_DASHBOARD = "casework.view_dashboard"
REFERENCE = OpenApiParameter(
    "reference", str, OpenApiParameter.PATH, description="DSAR-YYYY-NNNNNN"
)


def _visible_case(request, reference: str) -> Case:
    """The case `reference`, if the caller may see it; else 404 (never saying whether it exists)."""
    case = visible_cases(request.user).filter(reference=reference).first()
    if case is None:
        raise Http404
    return case


# --- cases ----------------------------------------------------------------------------------------


class CaseList(generics.ListCreateAPIView):
    """Cases the caller may see (an intake client: those it filed); filing a request."""

    permission_classes = [CaseListPermission]
    filterset_class = CaseFilter

    def reads_cases(self) -> bool:
        return self.request.user.has_perm(READ_CASES)

    def get_queryset(self):
        cases = visible_cases(self.request.user)
        return cases.select_related("assignee") if self.reads_cases() else cases

    def get_serializer_class(self):
        if getattr(self, "swagger_fake_view", False):
            return s.CaseSerializer
        if self.request.method == "POST":
            return s.CaseCreateSerializer
        return s.CaseSerializer if self.reads_cases() else s.FiledCaseSerializer

    @extend_schema(
        operation_id="cases_list",
        summary="List cases",
        description="Staff who read cases see every case they may (confidential ones only if "
        "named on them, or the DPO); an intake client sees the cases it filed, in short.",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="cases_create",
        summary="File a request",
        request=s.CaseCreateSerializer,
        responses={201: s.FiledCaseSerializer},
        description="Opens a case as the web form does: unverified, the subject asked to confirm "
        "the e-mail. For the privacy team, the DPO and intake clients.",
    )
    def post(self, request, *args, **kwargs):
        serializer = s.CaseCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with audit.origin(entered_via="api"):
            case = case_file(intake=serializer.intake(), user=request.user)
        return Response(s.FiledCaseSerializer(case).data, status=status.HTTP_201_CREATED)

    def filter_queryset(self, queryset):
        if self.request.method == "POST":
            return queryset
        return super().filter_queryset(queryset)


class CaseDetail(APIView):
    permission_classes = [CaseListPermission]

    @extend_schema(
        operation_id="cases_retrieve",
        summary="A case",
        parameters=[REFERENCE],
        responses={200: s.CaseDetailSerializer},
        description="With the counts of records gathered per system and of the review; never "
        "their values. An intake client sees its own cases in short.",
    )
    def get(self, request, reference: str):
        case = _visible_case(request, reference)
        if not request.user.has_perm(READ_CASES):
            return Response(s.FiledCaseSerializer(case).data)
        return Response(s.CaseDetailSerializer(case).data)


class CaseDossier(APIView):
    permission_classes = [any_of(READ_CASES)]

    @extend_schema(
        operation_id="cases_dossier",
        summary="The case's dossier (PDF)",
        parameters=[REFERENCE],
        responses={
            (200, "application/pdf"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="Timeline, audit events, letters, deadlines, decisions and plans; "
                "no gathered values",
            )
        },
        description="For a regulator's inquiry or a complaint. The export is on the case's "
        "audit trail.",
    )
    def get(self, request, reference: str):
        case = _visible_case(request, reference)
        with audit.origin(entered_via="api"):
            try:
                pdf = export_dossier(case=case, actor=Actor.staff(request.user))
            except PermissionDenied as exc:
                raise exceptions.PermissionDenied(str(exc)) from None
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="dossier-{case.reference}.pdf"'
        response["Cache-Control"] = "no-store"
        return response


# --- operations -----------------------------------------------------------------------------------


def _field(f: operations.Field, case: Case) -> dict[str, Any]:
    initial = f.initial(case) if f.initial is not None else None
    return {
        "name": f.name,
        "label": str(f.label),
        "kind": f.kind,
        "required": f.required,
        "help_text": str(f.help_text),
        "choices": [[str(v), str(label)] for v, label in f.choices],
        "initial": None if initial is None else str(initial),
    }


class CaseOperations(APIView):
    permission_classes = [any_of(READ_CASES)]

    @extend_schema(
        operation_id="cases_operations_list",
        summary="Operations offered on a case",
        parameters=[REFERENCE],
        responses={200: s.OperationSerializer(many=True)},
        description="The operations the caller may run on the case now, with their fields.",
    )
    def get(self, request, reference: str):
        case = _visible_case(request, reference)
        actor = Actor.staff(request.user)
        offered = []
        for op in operations.offered(case, actor):
            fields = [f for f in op.fields if f.applies_to(case)]
            offered.append(
                {
                    "name": op.name,
                    "label": str(op.label),
                    "explanation": op.explain(case),
                    "danger": op.danger,
                    "fields": [_field(f, case) for f in fields],
                    # What the acknowledgement covers, as the admin's approval page lists it:
                    # the caller sees the list, not only its fingerprint (release_seen).
                    "release_check": [
                        _release_item(item) for item in selectors.release_check_for_page(case)
                    ]
                    if operations.ACKNOWLEDGE in fields
                    else [],
                }
            )
        return Response(s.OperationSerializer(offered, many=True).data)


def _release_item(item: selectors.ReleaseItem) -> dict[str, Any]:
    return {
        "kind": item.kind,
        "kind_label": item.kind_label,
        "value": item.value,
        "places": item.places,
        "records": item.count,
        "on_request": item.on_request,
    }


class CaseOperationRun(APIView):
    permission_classes = [any_of(READ_CASES)]
    may_conflict = True

    @extend_schema(
        operation_id="cases_operations_run",
        summary="Run an operation on a case",
        parameters=[
            REFERENCE,
            OpenApiParameter(
                "name",
                str,
                OpenApiParameter.PATH,
                enum=sorted(operations.BY_NAME),
                description="The operation (see cases_operations_list)",
            ),
        ],
        request=OpenApiTypes.OBJECT,
        responses={200: s.OperationResultSerializer},
        description="The body holds the operation's fields by name (JSON or a form). Refusals: "
        "409 when the case's state does not allow it, 403 when the role does not, 400 for "
        "bad values (per field).",
    )
    def post(self, request, reference: str, name: str):
        op = operations.BY_NAME.get(name)
        if op is None:
            raise exceptions.NotFound(_("No operation “%(name)s”.") % {"name": name})
        case = _visible_case(request, reference)
        values = _operation_values(request.data, op)
        form = operations.OperationForm(values, operation=op, case=case)
        if not form.is_valid():
            raise exceptions.ValidationError(_form_errors(form))
        with audit.origin(entered_via="api"):
            try:
                result = op.run(
                    case=case, actor=Actor.staff(request.user), values=form.cleaned_data
                )
            except ValidationError as exc:
                form.add_service_errors(exc)
                raise exceptions.ValidationError(_form_errors(form)) from None
        case.refresh_from_db()
        message = _("%(label)s: done. State: %(state)s.") % {
            "label": op.label,
            "state": case.get_state_display(),
        }
        if op.done is not None:
            message = f"{op.done(result)} {message}"
        data = {"operation": op.name, "message": message, "case": case}
        return Response(s.OperationResultSerializer(data).data)


def _operation_values(data: Any, op: operations.Operation) -> QueryDict | dict[str, Any]:
    if isinstance(data, QueryDict):
        names = set(data.keys())
    elif isinstance(data, dict):
        names = set(data)
        for key, value in data.items():
            if isinstance(value, dict | list):
                raise exceptions.ValidationError({key: [_("Give a single value.")]})
    else:
        raise exceptions.ValidationError(
            {"non_field_errors": [_("Give the operation's fields as an object.")]}
        )
    unknown = sorted(names - {f.name for f in op.fields})
    if unknown:
        raise exceptions.ValidationError(
            {n: [_("This operation does not take this field.")] for n in unknown}
        )
    if isinstance(data, dict):
        # A JSON false is a flag left off, as an unticked checkbox is.
        return {k: v for k, v in data.items() if v is not False and v is not None}
    return data


def _form_errors(form) -> dict[str, list[str]]:
    return {
        ("non_field_errors" if name == "__all__" else name): [str(e) for e in errors]
        for name, errors in form.errors.items()
    }


# --- what a case holds: review decisions, plans, events ------------------------------------------


class CaseDecisions(generics.ListAPIView):
    permission_classes = [any_of("casework.view_recorddecision")]
    serializer_class = s.RecordDecisionSerializer
    filter_backends: list = []

    def get_queryset(self):
        case = _visible_case(self.request, self.kwargs["reference"])
        return RecordDecision.objects.filter(case=case).select_related("run__system", "decided_by")

    @extend_schema(
        operation_id="cases_decisions_list",
        summary="Review decisions of a case",
        parameters=[REFERENCE],
        description="Records left out and values redacted, with the reason. For reviewers.",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class CasePlans(generics.ListAPIView):
    permission_classes = [any_of(READ_CASES)]
    serializer_class = s.FulfilmentPlanSerializer
    filter_backends: list = []

    def get_queryset(self):
        case = _visible_case(self.request, self.kwargs["reference"])
        actions = FulfilmentAction.objects.select_related("system", "confirmed_by").order_by(
            "position"
        )
        return (
            FulfilmentPlan.objects.filter(case=case)
            .select_related("submitted_by", "approved_by")
            .prefetch_related(Prefetch("actions", queryset=actions))
        )

    @extend_schema(
        operation_id="cases_plans_list",
        summary="Plans of changes of a case",
        parameters=[REFERENCE],
        description="Each plan with its actions: the systems, strategies, states and record "
        "counts; not the values written.",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class CaseEvents(generics.ListAPIView):
    permission_classes = [any_of("casework.view_auditevent")]
    serializer_class = s.AuditEventSerializer
    filter_backends: list = []

    def get_queryset(self):
        case = _visible_case(self.request, self.kwargs["reference"])
        return AuditEvent.objects.filter(case=case).select_related("case")

    @extend_schema(
        operation_id="cases_events_list",
        summary="Audit trail of a case",
        parameters=[REFERENCE],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class AuditEvents(generics.ListAPIView):
    permission_classes = [any_of("casework.view_auditevent")]
    serializer_class = s.AuditEventSerializer
    filter_backends: list = []

    def get_queryset(self):
        return of_visible_cases(self.request.user, AuditEvent.objects.select_related("case"))

    @extend_schema(
        operation_id="audit_events_list",
        summary="The audit trail",
        description="Events of the cases the caller may see, and those of no case (sign-ins, "
        "register changes, API keys).",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


# --- source systems -----------------------------------------------------------------------------


class SourceSystems(generics.ListAPIView):
    permission_classes = [any_of("dsar.view_sourcesystem")]
    serializer_class = s.SourceSystemSerializer
    filter_backends: list = []
    queryset = SourceSystem.objects.all()

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "health": system_health(days=7)}

    @extend_schema(
        operation_id="source_systems_list",
        summary="Source systems and their health",
        description="Searches in the last 7 days per system: run, failed, running, mean time.",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class SourceSystemDetail(APIView):
    permission_classes = [any_of("dsar.view_sourcesystem")]

    @extend_schema(
        operation_id="source_systems_retrieve",
        summary="A source system and its health",
        parameters=[OpenApiParameter("slug", str, OpenApiParameter.PATH)],
        responses={200: s.SourceSystemSerializer},
    )
    def get(self, request, slug: str):
        system = get_object_or_404(SourceSystem, slug=slug)
        context = {"health": system_health(days=7)}
        return Response(s.SourceSystemSerializer(system, context=context).data)


# --- keys -----------------------------------------------------------------------------------------


class Token(APIView):
    throttle_scope = "api_token"

    def get_permissions(self):
        return [AllowAny()] if self.request.method == "POST" else [IsAuthenticated()]

    @extend_schema(
        operation_id="auth_token_create",
        summary="Get a key",
        request=s.TokenRequestSerializer,
        responses={201: s.TokenSerializer},
        auth=[],
        description="For staff: username, password and, when the account has a second factor "
        "(or staff must have one), the TOTP code. The key is shown once. Intake clients get "
        "theirs from an administrator (`manage.py issue_api_token`).",
    )
    def post(self, request):
        serializer = s.TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if not signin_allowed(data["username"], request._request):
            raise exceptions.Throttled(detail=str(TOO_MANY_FAILURES))
        user = authenticate(request._request, username=data["username"], password=data["password"])
        if user is None:
            raise exceptions.AuthenticationFailed(_("Wrong username or password."))
        if not user.is_staff:
            raise exceptions.PermissionDenied(
                _("Keys for intake clients are issued by an administrator.")
            )
        _check_second_factor(request, user, data.get("otp_token", ""))
        issued = api_token_issue(user=user, actor=Actor.staff(user), name=data.get("name", ""))
        body = {
            "key": issued.key,
            "prefix": issued.token.prefix,
            "name": issued.token.name,
            "expires_at": issued.token.expires_at,
        }
        return Response(s.TokenSerializer(body).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="auth_token_revoke",
        summary="Revoke the key presented",
        request=None,
        responses={204: OpenApiResponse(description="Revoked"), 400: ErrorSerializer},
    )
    def delete(self, request):
        if not isinstance(request.auth, ApiToken):
            raise exceptions.ValidationError(
                {"non_field_errors": [_("Present the key to revoke: Authorization: Bearer …")]},
                code="no_token",
            )
        api_token_revoke(token=request.auth, actor=Actor.staff(request.user))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _check_second_factor(request, user, code: str) -> None:
    from django.conf import settings

    has_device = user_has_device(user, confirmed=True)
    if not has_device and not settings.DSAR_STAFF_OTP_REQUIRED:
        return
    if not has_device:
        raise exceptions.PermissionDenied(
            _("Staff must have a second factor: ask an administrator to enrol one.")
        )
    if not code:
        raise exceptions.ValidationError(
            {"otp_token": [_("Give the code of your authenticator app.")]}, code="otp_required"
        )
    if match_token(user, code) is None:
        count_failure(user.get_username(), request._request)
        raise exceptions.AuthenticationFailed(_("Wrong code."), code="otp_invalid")


# --- the dashboard's figures ------------------------------------------------------------------------

DASHBOARD_FILTERS = [
    OpenApiParameter("start", OpenApiTypes.DATE, description="First day (default: a year ago)"),
    OpenApiParameter("end", OpenApiTypes.DATE, description="Last day (default: today)"),
    OpenApiParameter("regime", str, enum=[code for code, _label in REGIME_CHOICES]),
    OpenApiParameter("request_type", str, enum=list(RequestType.values)),
    OpenApiParameter("assignee", str, description="A username"),
]


class DashboardFigures(APIView):
    permission_classes = [any_of(VIEW_DASHBOARD)]

    @extend_schema(
        operation_id="dashboard_figures",
        summary="Every figure of the dashboard",
        parameters=DASHBOARD_FILTERS,
        responses={200: s.DashboardFiguresSerializer, 400: ErrorSerializer},
        description="The rows of the dashboard's CSV: one number a row, with the month, "
        "regime, type, state, channel or detail it is for. Counts include confidential cases; "
        "no row names a case.",
    )
    def get(self, request):
        unknown = sorted(set(request.query_params) - set(FiltersForm.FIELDS))
        if unknown:
            raise exceptions.ValidationError(
                {name: [_("Unknown parameter.")] for name in unknown}, code="unknown_parameter"
            )
        now = timezone.now()
        query = request.query_params.copy()
        if query.get("assignee"):  # a username, as in the case list's filter
            user = (
                FiltersForm(now=now).fields["assignee"].queryset.filter(username=query["assignee"])
            )
            query["assignee"] = str(user.first().pk) if user.exists() else "-1"
        form = FiltersForm.from_query(query, now=now)
        if form.is_bound and not form.is_valid():
            raise exceptions.ValidationError(
                {name: [str(e) for e in errors] for name, errors in form.errors.items()}
            )
        filters = form.filters()
        figures = [
            {**row, "detail": "" if row["detail"] in ("", None) else str(row["detail"])}
            for row in every_figure(filters, now)
        ]
        body = {"start": filters.start, "end": filters.end, "figures": figures}
        return Response(s.DashboardFiguresSerializer(body).data)
