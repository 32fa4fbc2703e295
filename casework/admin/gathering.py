"""The case's Sources and Identifiers in the admin: what each source answered, confirming learnt
identifiers, and completing manual searches."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
)
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from casework import selectors, services
from casework.actors import Actor
from casework.admin.forms import (
    ConfirmIdentifierForm,
    ManualSearchForm,
    add_service_errors,
)
from casework.models import (
    Case,
    CaseIdentifier,
    ConnectorRun,
)
from dsar.identifiers import IDENTIFIER_LABELS, Identifier

# --- what staff can do to a case -----------------------------------------------------------------


RUN_COLOURS = {
    ConnectorRun.State.SUCCEEDED: "#2f855a",
    ConnectorRun.State.FAILED: "#ba2121",
    ConnectorRun.State.PENDING: "#2b6cb0",
    ConnectorRun.State.RUNNING: "#2b6cb0",
    ConnectorRun.State.WAITING: "#b7791f",
}


ATTENTION_COLOUR = "#ba2121"


def source_counts(prefix: str = "") -> dict[str, Any]:
    """Aggregates over a case's runs, for `annotate` on cases (prefix "runs__") or `aggregate` on
    one case's runs (no prefix). A source is a system, whatever the number of rounds it was
    searched in: it has answered when none of its runs is still open or failed. Only the
    runs of the case's current gathering count (with no prefix, pass only those)."""
    system, state = f"{prefix}system", f"{prefix}state"
    current = Q(**{f"{prefix}gathering": F("gathering")}) if prefix else Q()
    return {
        "sources_total": Count(system, distinct=True, filter=current),
        "sources_open": Count(
            system,
            distinct=True,
            filter=current
            & Q(**{f"{state}__in": [*ConnectorRun.ACTIVE, ConnectorRun.State.FAILED]}),
        ),
        "sources_failed": Count(
            system, distinct=True, filter=current & Q(**{state: ConnectorRun.State.FAILED})
        ),
        "sources_records": Coalesce(Sum(f"{prefix}records_count", filter=current), 0),
    }


def identifier_label(kind: str) -> str:
    return str(IDENTIFIER_LABELS.get(kind, kind))


def identifier_text(case: Case, kind: str, value: str) -> str:
    """An identifier's value as people write it. Values are stored normalised (lower case,
    digits only, "name|company"): one the request gave reads as the subject wrote it there,
    and a name and company pair reads "name, company"."""
    written = {
        "email": case.email,
        "phone": case.phone,
        "customer_number": case.customer_number,
        "name_company": f"{case.name}|{case.company}",
    }.get(kind, "")
    if written.strip("|") and Identifier(kind, written).value == value:
        value = written
    if kind == "name_company":
        name, _bar, company = value.partition("|")
        return f"{name}, {company}"
    return value


def _kind_counts(identifiers: list[dict[str, Any]]) -> list[str]:
    """ "Phone: 2": the kinds of identifiers a run learnt, never their values."""
    counts = sorted(Counter(i["kind"] for i in identifiers).items())
    return [f"{identifier_label(kind)}: {n}" for kind, n in counts]


def _duration(ms: int | None) -> str:
    if ms is None:
        return "—"
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


class GatheringAdminViews:
    """The gathering part of CaseAdmin: the change page's sections and their views."""

    def gathering_context(
        self, request: HttpRequest, case: Case, buttons: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """The Sources and Identifiers sections of the change page, and the notice when
        gathering needs a person. Three queries whatever the number of runs: the runs, one
        aggregate for the summary, the identifiers."""
        user = request.user
        runs = list(selectors.current_runs(case).select_related("system"))
        names = {r.system.slug: r.system.name for r in runs}
        context: dict[str, Any] = {"sources": None, "identifiers": None, "gathering_blocked": None}
        if case.gathering_blocked_at is not None:
            urls = {b["name"]: b["url"] for b in buttons}
            failed = sorted({r.system.name for r in runs if r.state == ConnectorRun.State.FAILED})
            context["gathering_blocked"] = {
                "systems": ", ".join(failed) or _("a source"),
                "retry_url": urls.get("retry_sources"),
                "proceed_url": urls.get("proceed_without_source"),
            }
        if runs and user.has_perm("casework.view_connectorrun"):
            summary = selectors.current_runs(case).aggregate(**source_counts())
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
                    "kind_label": identifier_label(i.kind),
                    "value": identifier_text(case, i.kind, i.value),
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
                        if may_confirm and selectors.confirmable(i, case)
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
            # Connector errors never quote source values (casework.engine.gathering); a transient one on a
            # pending run is the last attempt's, shown while it waits to try again.
            "error": run.error
            if run.state in (ConnectorRun.State.FAILED, ConnectorRun.State.PENDING)
            else "",
            "error_kind": run.error_kind,
            "learnt": _kind_counts(run.learnt),
            "ambiguous": _kind_counts(run.ambiguous),
            "owner": run.system.owner_email if run.state == ConnectorRun.State.WAITING else "",
            "complete_url": (
                self._case_url("run_complete", case, run.pk)
                if may_complete and run.state == ConnectorRun.State.WAITING
                else None
            ),
        }

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
        if not selectors.confirmable(identifier, case):
            reason = _(
                "Only an unconfirmed identifier learnt from a source system and followed, on an "
                "open case, is confirmed here."
            )
            return self._refuse(request, case, label, reason)
        form = ConfirmIdentifierForm(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            try:
                services.confirm_identifier(identifier=identifier, actor=Actor.staff(request.user))
            except ValidationError as exc:
                add_service_errors(form, exc)
            except PermissionDenied as exc:
                return self._refuse(request, case, label, exc)
            else:
                self.message_user(
                    request,
                    _("Identifier confirmed: %(kind)s learnt from %(source)s.")
                    % {"kind": identifier_label(identifier.kind), "source": identifier.source},
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
                (_("Kind"), identifier_label(identifier.kind)),
                (_("Value"), identifier_text(case, identifier.kind, identifier.value)),
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
        if run.state != ConnectorRun.State.WAITING:
            reason = _("This search is not waiting for a person.")
            return self._refuse(request, case, label, reason)
        if request.method == "POST":
            form = ManualSearchForm(request.POST, request.FILES, run=run)
            if form.is_valid():
                try:
                    run = services.complete_manual_run(
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
        manual = selectors.manual_settings(run.system)
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
                    (
                        identifier_label(i.kind),
                        identifier_text(case, i.kind, i.value),
                        _("the request") if i.source == "request" else i.source,
                    )
                    for i in identifiers
                ],
            },
        )
