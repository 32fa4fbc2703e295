"""The case's plan of changes in the admin: the dry run staff review before submitting it
(per system, what changes and what is kept and why), the approver's view of the same plan, the
progress of its actions, and the confirmation of manual ones."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from casework import operations, selectors, services
from casework.actors import Actor
from casework.admin.processors import ProcessorAdminViews
from casework.models import (
    CHANGING_TYPES,
    Case,
    FulfilmentAction,
    FulfilmentPlan,
    latest_request_plan,
)
from casework.selectors.fulfilment import AskedCorrection
from dsar.connectors.changes import Change
from dsar.models import DataCategory, SourceSystem

PLAN_OPERATIONS = ("draft_plan", "submit_plan", "approve")


class FulfilmentAdminViews(ProcessorAdminViews):
    """Mixed into CaseAdmin (which provides _case_or_404, _case_url, _change_url and
    operation_url)."""

    def plan_context(self, request: HttpRequest, case: Case) -> dict[str, Any]:
        """For the case page: a link to the plan, with its state."""
        if case.request_type not in CHANGING_TYPES:
            return {}
        plan = selectors.latest_plan(case)
        return {
            "plan_summary": {
                "url": self._case_url("plan", case, "latest"),
                "state": plan.get_state_display() if plan else _("No plan drafted yet"),
                "number": plan.number if plan else None,
            },
            **self.others_told_context(request, case),
        }

    def plan_view(self, request: HttpRequest, object_id: str, number: str) -> HttpResponse:
        """One plan of the case (its newest: "latest"): GET changes nothing."""
        case = self._case_or_404(request, object_id)
        plans = case.plans.order_by("-number")
        plan = plans.first() if number == "latest" else plans.filter(number=number).first()
        language = "sq" if request.LANGUAGE_CODE.startswith("sq") else "en"
        systems = (
            SourceSystem.objects.in_bulk(
                set(plan.actions.values_list("system_id", flat=True))
                | set(plan.kept.values_list("system_id", flat=True))
            )
            if plan
            else {}
        )
        categories = {c.slug: c.text("name", language) for c in DataCategory.objects.all()}
        by_system: dict[int, dict[str, Any]] = defaultdict(lambda: {"actions": [], "kept": []})
        may_confirm = request.user.has_perm("casework.complete_manual_run")
        if plan is not None:
            for action in plan.actions.order_by("position"):
                by_system[action.system_id]["actions"].append(
                    {
                        "action": action,
                        "describe": _describe(action),
                        "outcomes": _outcome_counts(action),
                        "confirm_url": self._case_url("plan_confirm", case, action.pk)
                        if may_confirm and action.state == FulfilmentAction.State.WAITING
                        else None,
                    }
                )
            for kept in plan.kept.order_by("source", "record_key"):
                by_system[kept.system_id]["kept"].append(
                    {
                        "kept": kept,
                        "category": categories.get(kept.category, kept.category),
                        "reason": kept.reason_sq if language == "sq" else kept.reason_en,
                    }
                )
        actor = Actor.staff(request.user)
        asked = selectors.asked_corrections(case) if case.request_type == "rectification" else []
        keys = set(plan.corrections) if plan else set()
        keys |= {item.key for item in asked if item.key}
        current = selectors.current_values(case, keys) if asked or keys else {}
        may_decide_corrections = bool(asked) and operations.BY_NAME["draft_plan"].offered(
            case, actor
        )
        context = {
            "asked": _asked_rows(asked, plan, current),
            "may_decide_corrections": may_decide_corrections,
            "held_fields": selectors.held_fields() if may_decide_corrections else {},
            "corrections_url": self._case_url("plan_corrections", case, "latest"),
            "decided": selectors.corrections_decided(plan, asked) if plan else [],
            "current": current,
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Plan of changes"),
            "subtitle": case.reference,
            "case": case,
            "plan": plan,
            "plans": list(plans.values_list("number", "state")),
            "change_url": self._change_url(case),
            "systems": [
                {"system": systems[pk], **entry}
                for pk, entry in sorted(by_system.items(), key=lambda item: systems[item[0]].name)
            ],
            "undecided": len(selectors.undecided_keeps(plan)) if plan else 0,
            "may_decide": bool(
                plan
                and plan.state == FulfilmentPlan.State.DRAFT
                and request.user.has_perm("casework.prepare_plan")
            ),
            "decide_url": self._case_url("plan_decide", case, "latest"),
            "progress": selectors.plan_progress(plan) if plan else {},
            "instructions": self._instruction_rows(request, case),
            "plan_actions": [
                {"label": op.label, "url": self.operation_url(case, op.name)}
                for op in (operations.BY_NAME[name] for name in PLAN_OPERATIONS)
                if op.offered(case, actor)
            ],
            **self._verification_ways(case, plan, actor),
        }
        return TemplateResponse(request, "admin/casework/case/plan.html", context)

    def _verification_ways(
        self, case: Case, plan: FulfilmentPlan | None, actor: Actor
    ) -> dict[str, str | None]:
        """The ways forward when the verification scan of the request's plan in force was not
        clean: search again (records it does not keep are still there), or retry (a system
        could not be searched), each offered only when it can be run now."""
        ways: dict[str, str | None] = {"search_again_url": None, "retry_url": None}
        if plan is None or plan.verification_clean is not False:
            return ways
        if plan != latest_request_plan(case):
            return ways
        for key, name in (("search_again_url", "search_again"), ("retry_url", "retry_actions")):
            if operations.BY_NAME[name].offered(case, actor):
                ways[key] = self.operation_url(case, name)
        return ways

    def plan_decide_view(
        self, request: HttpRequest, object_id: str, number: str = "latest"
    ) -> HttpResponse:
        """POST: records left to a person are kept, or erased (the plan is drafted again)."""
        case = self._case_or_404(request, object_id)
        plan = selectors.latest_plan(case)
        if request.method != "POST" or plan is None:
            return HttpResponseRedirect(self._case_url("plan", case, "latest"))
        try:
            keep_ids = [int(pk) for pk in request.POST.getlist("keep")]
            services.plan_decide_keeps(
                plan=plan,
                actor=Actor.staff(request.user),
                keep_ids=keep_ids,
                decision=request.POST.get("decision", ""),
            )
        except ValueError:
            messages.error(request, _("Choose the records from the list."))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Decided. An erasure is drafted into a new plan."))
        return HttpResponseRedirect(self._case_url("plan", case, "latest"))

    def plan_corrections_view(
        self, request: HttpRequest, object_id: str, number: str = "latest"
    ) -> HttpResponse:
        """POST: staff's decision on each correction asked for (accept, edit, refuse with a
        reason); a plan is drafted with them (what `draft_plan` does on the command line)."""
        case = self._case_or_404(request, object_id)
        if request.method != "POST":
            return HttpResponseRedirect(self._case_url("plan", case, "latest"))
        decisions = [
            services.CorrectionDecision(
                item.name,
                request.POST.get(f"decision-{number}", ""),
                value=request.POST.get(f"value-{number}", ""),
                field=request.POST.get(f"field-{number}", "") if not item.key else "",
                reason=request.POST.get(f"reason-{number}", ""),
            )
            for number, item in enumerate(selectors.asked_corrections(case))
        ]
        try:
            plan = services.plan_decide_corrections(
                case=case, actor=Actor.staff(request.user), decisions=decisions
            )
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, operations.refusal_text(exc))
        else:
            messages.success(
                request,
                _("Plan %(n)d is being drafted with your decisions.") % {"n": plan.number},
            )
        return HttpResponseRedirect(self._case_url("plan", case, "latest"))

    def plan_confirm_view(
        self, request: HttpRequest, object_id: str, action_id: str
    ) -> HttpResponse:
        """POST: a manual action was carried out by hand (the note says what was changed)."""
        case = self._case_or_404(request, object_id)
        if request.method != "POST":
            return HttpResponseRedirect(self._case_url("plan", case, "latest"))
        action = get_object_or_404(FulfilmentAction, pk=action_id, plan__case=case)
        try:
            services.action_confirm(
                action=action, actor=Actor.staff(request.user), note=request.POST.get("note", "")
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("The change is confirmed."))
        return HttpResponseRedirect(self._case_url("plan", case, "latest"))


def _asked_rows(
    asked: list[AskedCorrection],
    plan: FulfilmentPlan | None,
    current: dict[str, list[tuple[str, str]]],
) -> list[dict[str, Any]]:
    """Each correction asked for, what each system holds of its field now, and the decision
    the form starts with: the latest plan's, else accept (refuse, for words that name no
    field: it cannot be made as asked)."""
    corrections = plan.corrections if plan else {}
    refused = plan.refused_corrections if plan else {}
    rows = []
    for item in asked:
        decision, value, field, reason = ("accept" if item.key else "refuse"), "", "", ""
        if item.name in refused:
            decision, reason = "refuse", refused[item.name]
        elif item.key in corrections and corrections[item.key] != item.correct:
            decision, value = "edit", corrections[item.key]
        rows.append(
            {
                "item": item,
                "current": current.get(item.key, []) if item.key else [],
                "decision": decision,
                "value": value,
                "field": field,
                "reason": reason,
            }
        )
    return rows


def _describe(action: FulfilmentAction) -> str:
    return Change.from_dict(action.change).describe()


def _outcome_counts(action: FulfilmentAction) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for outcome in action.results.values():
        counts[outcome] += 1
    return dict(counts)
