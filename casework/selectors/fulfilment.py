"""Reads of fulfilment: a case's plans, what a plan does (its fingerprint), and its progress."""

from __future__ import annotations

import hashlib
import json

from casework.models import Case, FulfilmentAction, FulfilmentPlan, PlanKeep


def latest_plan(case: Case, *states: str) -> FulfilmentPlan | None:
    """The case's newest plan (in one of `states`, when given)."""
    plans = case.plans.order_by("-number")
    if states:
        plans = plans.filter(state__in=states)
    return plans.first()


def plan_fingerprint(plan: FulfilmentPlan) -> str:
    """What the plan would do, as stored now: its actions and the records it keeps."""
    actions = list(
        plan.actions.order_by("position").values_list("position", "system_id", "manual", "change")
    )
    kept = list(
        plan.kept.order_by("system_id", "source", "record_key").values_list(
            "system_id", "record_key", "verdict", "rule_code", "rule_version", "decision"
        )
    )
    text = json.dumps(
        {"intent": plan.intent, "corrections": plan.corrections, "actions": actions, "kept": kept},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def undecided_keeps(plan: FulfilmentPlan) -> list[PlanKeep]:
    """Records the rules leave to a person (kept while needed to defend a legal claim?) and
    nobody has decided yet."""
    return list(plan.kept.filter(verdict=PlanKeep.Verdict.REVIEW, decision=""))


def plan_executed(case: Case) -> bool:
    """The case's approved plan has been carried out: every action done or confirmed."""
    return case.plans.filter(
        state=FulfilmentPlan.State.APPROVED, executed_at__isnull=False
    ).exists()


def plan_progress(plan: FulfilmentPlan) -> dict[str, int]:
    """Actions per state."""
    counts = dict.fromkeys(FulfilmentAction.State.values, 0)
    for state in plan.actions.values_list("state", flat=True):
        counts[state] += 1
    return counts


def earlier_decisions(plan: FulfilmentPlan) -> dict[tuple[int, str], str]:
    """(system id, record key) -> keep | erase, as decided on the case's earlier plans (the
    newest decision wins): a plan drafted again does not ask again."""
    decided: dict[tuple[int, str], str] = {}
    rows = (
        PlanKeep.objects.filter(plan__case_id=plan.case_id, plan__number__lt=plan.number)
        .exclude(decision="")
        .order_by("plan__number", "decided_at")
        .values_list("system_id", "record_key", "decision")
    )
    for system_id, key, decision in rows:
        decided[(system_id, key)] = decision
    return decided


def plan_verification_failed(plan: FulfilmentPlan) -> bool:
    """The verification scan could not search some system (it said so, per system)."""
    return any("error" in entry for entry in (plan.verification or {}).values())


def plan_needs_retry(plan: FulfilmentPlan) -> bool:
    """Something to run again: a failed action, or a scan that could not reach a system."""
    if plan.actions.filter(state=FulfilmentAction.State.FAILED).exists():
        return True
    return bool(plan.verified_at and plan_verification_failed(plan))
