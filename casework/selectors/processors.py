"""Reads of the processors instructed to make a case's changes, and of the backups that keep
its data a while longer: for staff, for the processor's page, and for the subject's letter."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from casework.deadlines import local_date
from casework.models import FulfilmentAction, FulfilmentPlan, ProcessorInstruction
from dsar.connectors.changes import Change, Strategy
from dsar.models import SourceSystem

# The changes whose earlier state a backup still holds until it is overwritten.
BACKED_UP_INTENTS = (FulfilmentPlan.Intent.ERASE, FulfilmentPlan.Intent.RECTIFY)


def instructions_open(case) -> QuerySet[ProcessorInstruction]:
    """Instructions of the case's approved plans not yet confirmed by their processor."""
    return ProcessorInstruction.objects.filter(
        case=case, plan__state=FulfilmentPlan.State.APPROVED
    ).exclude(state=ProcessorInstruction.State.CONFIRMED)


def case_instructions(case) -> QuerySet[ProcessorInstruction]:
    """The instructions of the case's newest plan that has any."""
    plan = (
        FulfilmentPlan.objects.filter(case=case, instructions__isnull=False)
        .order_by("-number")
        .first()
    )
    if plan is None:
        return ProcessorInstruction.objects.none()
    return plan.instructions.select_related("system", "confirmed_by").order_by("system__name")


@dataclass(frozen=True)
class InstructedChange:
    """One change of the plan in the processor's system, without a personal value: where,
    what, how many records and their keys."""

    target: str
    strategy: str
    describe: str
    records: int
    keys: tuple[str, ...]
    manual: bool


def instructed_changes(instruction: ProcessorInstruction) -> list[InstructedChange]:
    """What the plan changes in the instruction's system, for the processor's page."""
    changes = []
    actions = FulfilmentAction.objects.filter(
        plan=instruction.plan_id, system=instruction.system_id
    ).order_by("position")
    for action in actions:
        change = Change.from_dict(action.change)
        # A suppression's "columns" are the subject's identifiers: never shown.
        suppress = change.strategy == Strategy.SUPPRESS
        changes.append(
            InstructedChange(
                target=change.target,
                strategy=str(change.strategy),
                describe=_describe_without_values(change),
                records=action.records,
                keys=() if suppress else change.keys,
                manual=change.manual,
            )
        )
    return changes


def _describe_without_values(change: Change) -> str:
    if change.strategy == Strategy.SUPPRESS:
        kinds = ", ".join(str(kind) for kind, _value in change.columns)
        return f"add the subject's {kinds} to the suppression list {change.target}"
    if change.strategy == Strategy.RECTIFY:
        columns = ", ".join(str(column) for column, _value in change.columns)
        return f"set {columns} in {len(change.keys)} record(s) of {change.target}"
    return change.describe()


def executed_plan(case) -> FulfilmentPlan | None:
    """The case's carried-out plan the subject's letter tells of."""
    return (
        case.plans.filter(state=FulfilmentPlan.State.APPROVED, executed_at__isnull=False)
        .exclude(intent=FulfilmentPlan.Intent.LIFT_RESTRICTION)
        .order_by("-number")
        .first()
    )


def processors_told(case) -> list[str]:
    """For the subject, in the active language: one sentence per processor instructed to make
    the change in a system it runs for us, and whether it confirmed."""
    plan = executed_plan(case)
    if plan is None:
        return []
    sentences = []
    for instruction in plan.instructions.select_related("system").order_by("system__name"):
        values = {"system": instruction.system.name, "processor": instruction.processor}
        if instruction.state == ProcessorInstruction.State.CONFIRMED:
            values["date"] = date_format(local_date(instruction.confirmed_at), "j F Y")
            sentences.append(
                _(
                    "%(system)s is run for us by %(processor)s: we instructed them to make the "
                    "same change, and they confirmed it on %(date)s."
                )
                % values
            )
        else:
            sentences.append(
                _(
                    "%(system)s is run for us by %(processor)s: we instructed them to make the "
                    "same change."
                )
                % values
            )
    return sentences


def backups_told(case) -> list[str]:
    """For the subject, in the active language: per system the change was made in that keeps
    backups, the date by which the copies in them are overwritten (the change's execution
    plus how long the register says its backups keep data)."""
    plan = executed_plan(case)
    if plan is None or plan.intent not in BACKED_UP_INTENTS:
        return []
    system_ids = plan.actions.filter(state=FulfilmentAction.State.DONE).values("system_id")
    systems = SourceSystem.objects.filter(pk__in=system_ids, backup_days__gt=0).order_by("name")
    return [
        _("%(system)s: the copies in its backups are overwritten by %(date)s.")
        % {
            "system": system.name,
            "date": date_format(
                local_date(plan.executed_at) + dt.timedelta(days=system.backup_days), "j F Y"
            ),
        }
        for system in systems
    ]
