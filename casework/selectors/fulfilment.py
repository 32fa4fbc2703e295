"""Reads of fulfilment: a case's plans, what a plan does (its fingerprint), and its progress."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from django.utils import translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from casework.models import (
    AuditEvent,
    Case,
    FulfilmentAction,
    FulfilmentPlan,
    Notice,
    PlanKeep,
    PostalLetter,
    State,
)
from casework.selectors.review import records_left_in
from dsar.connectors.registry import exported_columns
from dsar.models import DataCategory, DataField, SourceSystem


def latest_plan(case: Case, *states: str) -> FulfilmentPlan | None:
    """The case's newest plan (in one of `states`, when given)."""
    plans = case.plans.order_by("-number")
    if states:
        plans = plans.filter(state__in=states)
    return plans.first()


def plan_fingerprint(plan: FulfilmentPlan) -> str:
    """What the plan would do, as stored now: its actions, the records it keeps, and the
    corrections it makes and refuses."""
    actions = list(
        plan.actions.order_by("position").values_list("position", "system_id", "manual", "change")
    )
    kept = list(
        plan.kept.order_by("system_id", "source", "record_key").values_list(
            "system_id", "record_key", "verdict", "rule_code", "rule_version", "decision"
        )
    )
    text = json.dumps(
        {
            "intent": plan.intent,
            "corrections": plan.corrections,
            # A refusal is told to the subject: changing one changes what was approved.
            "refused_corrections": plan.refused_corrections,
            "actions": actions,
            "kept": kept,
        },
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


def left_in_place_before(plan: FulfilmentPlan) -> set[tuple[int, str]]:
    """(system id, record key) of the records the case's earlier carried-out plans changed
    and meant to leave in place: masked rather than deleted, or changed by hand (a person
    confirmed it). A plan drafted after searching again does not change them twice, and its
    verification scan expects them. (A record an earlier plan deleted and that is still
    there is not one of them: it is planned again.)"""
    changed: set[tuple[int, str]] = set()
    actions = FulfilmentAction.objects.filter(
        plan__case_id=plan.case_id,
        plan__number__lt=plan.number,
        plan__intent=plan.intent,
        plan__state=FulfilmentPlan.State.APPROVED,
        plan__executed_at__isnull=False,
    ).exclude(manual=False, strategy="delete")
    for system_id, results in actions.values_list("system_id", "results"):
        changed.update(
            (system_id, key) for key, outcome in (results or {}).items() if outcome in TOOK_EFFECT
        )
    return changed


def plan_verification_failed(plan: FulfilmentPlan) -> bool:
    """The verification scan could not search some system (it said so, per system)."""
    return any("error" in entry for entry in (plan.verification or {}).values())


def plan_needs_retry(plan: FulfilmentPlan) -> bool:
    """Something to run again: a failed action, or a scan that could not reach a system."""
    if plan.actions.filter(state=FulfilmentAction.State.FAILED).exists():
        return True
    return bool(plan.verified_at and plan_verification_failed(plan))


def plan_outcome(case: Case) -> tuple[list[str], list[tuple[str, str]]]:
    """What the case's carried-out plan did, for the subject's letter, in the active language:
    one sentence per system and kind of change that took effect (never one that did not), and
    (category, why it is kept) for every kind of data kept. Empty when no plan was carried
    out. A case searched again after its erasure was flagged tells what all its plans did,
    each record once, and what they keep (as the newest plan that saw a record decided)."""
    plans = list(
        case.plans.filter(state=FulfilmentPlan.State.APPROVED, executed_at__isnull=False)
        .exclude(intent=FulfilmentPlan.Intent.LIFT_RESTRICTION)  # told apart, before it is done
        .order_by("number")
    )
    if not plans:
        return [], []
    plan = plans[-1]
    language = translation.get_language() or case.language
    systems = {s.pk: s.name for s in SourceSystem.objects.all()}
    fields = {
        f.key: f.text("name", language) for f in DataField.objects.filter(key__in=plan.corrections)
    }
    # One sentence per system and kind of change: the records of its tables added up, each
    # record once (a plan drafted again may find one already so).
    counted: dict[tuple[int, str, bool], set[tuple[str, str]]] = {}
    kept_rows: dict[tuple[int, str], PlanKeep | None] = {}
    for each in plans:
        for action in each.actions.order_by("position"):
            keys = {key for key, outcome in action.results.items() if outcome in TOOK_EFFECT}
            for key in action.change.get("keys", []):
                kept_rows[(action.system_id, key)] = None  # changed since it was kept
            if action.state != FulfilmentAction.State.DONE or not keys:
                continue
            group = counted.setdefault((action.system_id, action.strategy, action.manual), set())
            group.update((action.target, key) for key in keys)
        for keep in each.kept.exclude(decision=PlanKeep.Decision.ERASE):
            kept_rows[(keep.system_id, keep.record_key)] = keep
    done = [
        _done_sentence(strategy, manual, len(records), systems[system_id], fields, plan)
        for (system_id, strategy, manual), records in counted.items()
    ]
    keeps = sorted((k for k in kept_rows.values() if k is not None), key=lambda k: k.category)
    categories = {
        c.slug: c.text("name", language)
        for c in DataCategory.objects.filter(slug__in={k.category for k in keeps})
    }
    # One row per kind of data and reason, kept until the latest date among its records.
    until: dict[tuple[str, str], object] = {}
    for keep in keeps:
        row = (
            categories.get(keep.category, keep.category),
            keep.reason_sq if language == "sq" else keep.reason_en,
        )
        latest = until.get(row)
        until[row] = (
            keep.until if latest is None or (keep.until and keep.until > latest) else latest
        )
    kept = [
        (
            category,
            _("%(reason)s Until about %(date)s.")
            % {"reason": reason, "date": date_format(date, "j F Y")}
            if date
            else reason,
        )
        for (category, reason), date in until.items()
    ]
    return done, kept


# Outcomes that leave the record as the plan wanted it (already so counts: it is true).
TOOK_EFFECT = ("done", "already_done")


def _done_sentence(
    strategy: str, manual: bool, records: int, system: str, fields: dict, plan: FulfilmentPlan
) -> str:
    if manual:
        return _("%(system)s: changed by hand by the team that runs it, as you asked.") % {
            "system": system
        }
    if strategy == "delete":
        return ngettext(
            "%(system)s: %(n)d record erased.", "%(system)s: %(n)d records erased.", records
        ) % {"system": system, "n": records}
    if strategy == "mask":
        return ngettext(
            "%(system)s: your personal data removed from %(n)d record that we keep.",
            "%(system)s: your personal data removed from %(n)d records that we keep.",
            records,
        ) % {"system": system, "n": records}
    if strategy == "rectify":
        names = ", ".join(sorted({fields.get(k, k) for k in plan.corrections}))
        return _("%(system)s: corrected (%(fields)s).") % {"system": system, "fields": names}
    if strategy == "restrict":
        return _("%(system)s: your data is marked restricted: stored, not otherwise used.") % {
            "system": system
        }
    if strategy == "lift_restriction":
        return _("%(system)s: the restriction is lifted.") % {"system": system}
    if strategy == "suppress":
        return _(
            "%(system)s: your contact details are on our list of people who receive no "
            "marketing, which we keep so that none is sent to you again."
        ) % {"system": system}
    return _("%(system)s: marketing to you stopped.") % {"system": system}


# --- rectification -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AskedCorrection:
    """A correction as the subject asked for it, and the register field it names (if any)."""

    field: str
    current: str
    correct: str
    key: str  # the register's field key, "" when the words match none

    @property
    def name(self) -> str:
        """What staff decide it by: the register field key, else the subject's words."""
        return self.key or self.field


def held_fields() -> dict[str, str]:
    """Register field keys that some active system exports -> the field's English name: the
    fields a rectification can correct."""
    keys = {
        column.field
        for system in SourceSystem.objects.filter(active=True)
        for column in exported_columns(system)
    }
    names = dict(DataField.objects.filter(key__in=keys).values_list("key", "name_en"))
    return {key: names.get(key, key) for key in sorted(keys)}


def asked_corrections(case: Case) -> list[AskedCorrection]:
    """The corrections the request asks for, each matched to the register field whose key or
    name (in either language) the subject's words are, if any."""
    names: dict[str, str] = {}
    for key, name_en, name_sq in DataField.objects.values_list("key", "name_en", "name_sq"):
        for text in (key, key.replace("_", " "), name_en, name_sq):
            names.setdefault(_words(text), key)
    asked = []
    for item in (case.details or {}).get("corrections") or []:
        if not isinstance(item, dict):
            continue
        field = str(item.get("field", ""))
        asked.append(
            AskedCorrection(
                field=field,
                current=str(item.get("current", "")),
                correct=str(item.get("correct", "")),
                key=names.get(_words(field), ""),
            )
        )
    return asked


def _words(text: str) -> str:
    return " ".join(text.casefold().replace("_", " ").split())


def find_asked(asked: list[AskedCorrection], name: str) -> AskedCorrection | None:
    """The asked correction `name` stands for: its register field key, or the subject's words
    (whatever their case and spacing)."""
    for item in asked:
        if item.key and item.key == name.strip():
            return item
    wanted = _words(name)
    for item in asked:
        if not item.key and _words(item.field) == wanted:
            return item
    return None


@dataclass(frozen=True)
class CorrectionDecided:
    """A correction as decided on the plan, for staff: `decision` is accepted (the value the
    subject asked), edited (another value), refused (`reason`, told to the subject) or added
    (a field the subject's words meant, staff corrected it)."""

    name: str
    decision: str
    value: str = ""
    asked: str = ""
    reason: str = ""


def corrections_decided(
    plan: FulfilmentPlan, asked: list[AskedCorrection]
) -> list[CorrectionDecided]:
    """The plan's corrections and refusals beside what the subject asked, in the order asked
    (fields staff added for words that named none come last)."""
    rows = []
    for field, value in plan.corrections.items():
        item = find_asked(asked, field)
        if item is None:
            rows.append(CorrectionDecided(field, "added", value=str(value)))
        else:
            decision = "accepted" if str(value) == item.correct else "edited"
            rows.append(CorrectionDecided(field, decision, value=str(value), asked=item.correct))
    for name, reason in plan.refused_corrections.items():
        item = find_asked(asked, name)
        rows.append(
            CorrectionDecided(name, "refused", asked=item.correct if item else "", reason=reason)
        )
    order = {item.name: number for number, item in enumerate(asked)}
    return sorted(rows, key=lambda row: order.get(row.name, len(order)))


def corrections_refused(case: Case) -> list[tuple[str, str]]:
    """For the subject, in the active language: (what they asked to correct, why it was not
    corrected) for every correction refused by the case's carried-out plan."""
    plan = (
        case.plans.filter(state=FulfilmentPlan.State.APPROVED, executed_at__isnull=False)
        .order_by("-number")
        .first()
    )
    if plan is None or not plan.refused_corrections:
        return []
    language = translation.get_language() or case.language
    names = {
        f.key: f.text("name", language)
        for f in DataField.objects.filter(key__in=plan.refused_corrections)
    }
    # A refusal of words that named no field is told in the subject's own words.
    return [(names.get(name, name), reason) for name, reason in plan.refused_corrections.items()]


def fields_changed(action: FulfilmentAction) -> list[str]:
    """The register field keys a rectifying action sets (for the audit trail: keys, never
    values); a column its system's mapping does not name is given by its own name."""
    if action.strategy != "rectify":
        return []
    columns = [str(column) for column, _value in action.change.get("columns", [])]
    if action.manual:
        return sorted(columns)  # a manual change names the register's fields
    mapped = {(c.source, c.column): c.field for c in exported_columns(action.system)}
    return sorted(
        {
            mapped.get((action.target, column)) or mapped.get(("*", column)) or column
            for column in columns
        }
    )


def current_values(case: Case, keys) -> dict[str, list[tuple[str, str]]]:
    """For the register fields `keys`: (system name, value) wherever the records review left
    in hold one, so staff see what each system says before they approve a correction."""
    wanted = set(keys)
    if not wanted:
        return {}
    fields_by_system: dict[int, dict[tuple[str, str], str]] = {}
    found: dict[str, list[tuple[str, str]]] = {key: [] for key in sorted(wanted)}
    for kept in records_left_in(case):
        system = kept.run.system
        if system.pk not in fields_by_system:
            fields_by_system[system.pk] = {
                (c.source, c.column): c.field for c in exported_columns(system)
            }
        columns = fields_by_system[system.pk]
        source = str(kept.record.get("source", ""))
        for column, value in (kept.record.get("data") or {}).items():
            field = columns.get((source, column)) or columns.get(("*", column)) or column
            if field in wanted and value not in (None, ""):
                entry = (system.name, str(value))
                if entry not in found[field]:
                    found[field].append(entry)
    return found


def _carried_out(intent: str):
    return FulfilmentPlan.objects.filter(
        intent=intent, state=FulfilmentPlan.State.APPROVED, executed_at__isnull=False
    )


def restrictions_in_force():
    """Cases whose restriction was carried out (and not lifted): the subject's records are
    marked restricted in the systems, to be lifted only after telling them (Art. 18(3))."""
    restricted = _carried_out(FulfilmentPlan.Intent.RESTRICT).values("case_id")
    lifted = _carried_out(FulfilmentPlan.Intent.LIFT_RESTRICTION).values("case_id")
    return Case.objects.filter(pk__in=restricted).exclude(pk__in=lifted)


def restriction_in_force(case: Case) -> FulfilmentPlan | None:
    """The plan whose restriction of the case's records is in force (carried out, not lifted)."""
    if _carried_out(FulfilmentPlan.Intent.LIFT_RESTRICTION).filter(case=case).exists():
        return None
    return (
        _carried_out(FulfilmentPlan.Intent.RESTRICT).filter(case=case).order_by("-number").first()
    )


def lifting_under_way(case: Case) -> FulfilmentPlan | None:
    """The plan lifting the case's restriction, announced and not yet carried out."""
    return (
        case.plans.filter(intent=FulfilmentPlan.Intent.LIFT_RESTRICTION, executed_at=None)
        .exclude(state__in=(FulfilmentPlan.State.SUPERSEDED, FulfilmentPlan.State.FAILED))
        .order_by("-number")
        .first()
    )


def lifting_told(plan: FulfilmentPlan) -> bool:
    """Whether the subject has been told that the restriction is lifted, since the lifting
    was decided: the e-mail sent, or the letter posted (a letter waiting to be printed has
    told nobody)."""
    emailed = AuditEvent.objects.filter(
        case_id=plan.case_id,
        action="case.notice_sent",
        details__notice=Notice.LIFTING,
        details__sent_by="email",
        created_at__gte=plan.created_at,
    )
    posted = PostalLetter.objects.filter(
        case_id=plan.case_id,
        notice=Notice.LIFTING,
        state=PostalLetter.State.POSTED,
        posted_at__gte=plan.created_at,
    )
    return emailed.exists() or posted.exists()


def plan_may_run(plan: FulfilmentPlan) -> bool:
    """Whether the plan's changes may be carried out now: while its case is being fulfilled;
    a lifting of a restriction, on its completed case (it comes after the answer)."""
    if plan.intent == FulfilmentPlan.Intent.LIFT_RESTRICTION:
        return plan.case.state == State.COMPLETED
    return plan.case.state == State.FULFILLING
