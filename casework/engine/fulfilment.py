"""Fulfilment on a worker: drafting a plan of changes (the dry run) and carrying it out.

Drafting reads the records review left in, asks each system's connector what it knows of them
(`describe_records`) and what it would change (`plan_changes`), and applies the retention
rules (dsar.retention) to an erasure: the plan stores, per system, the changes in the order to
apply them, and every record kept with the rule that keeps it.

Execution applies exactly the stored changes (`apply`), one action at a time in plan order, on
the work engine: an action is claimed before it runs and marked done after, its outcome kept
per record key, so a redelivered task skips what is done and a system failing half-way leaves
an exact record of what was done and what was not; a second run continues without repeating.
Manual actions wait for a person to confirm them. A case no longer being fulfilled (withdrawn)
stops before its next action.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from casework import queue, work
from casework.actors import Actor
from casework.audit import record_event, take_case
from casework.engine.bundles import delete_bundle
from casework.engine.gathering import delete_gathered_records
from casework.models import (
    OPEN_STATES,
    Bundle,
    Case,
    ConnectorRun,
    FulfilmentAction,
    FulfilmentPlan,
    State,
)
from casework.selectors.fulfilment import (
    earlier_decisions,
    fields_changed,
    left_in_place_before,
    plan_may_run,
)
from casework.selectors.identity import verified_channel
from casework.selectors.retention import not_on_hold
from casework.selectors.review import records_left_in
from casework.services.fulfilment import (
    DraftedPlan,
    lift_if_told,
    plan_drafted,
    plan_failed,
)
from dsar.connectors import connector_for
from dsar.connectors.base import (
    ConfigurationError,
    ConnectorError,
    SubjectMatch,
    TransientConnectorError,
)
from dsar.connectors.changes import (
    Change,
    ChangeRequest,
    Intent,
    Outcome,
    RecordFacts,
    RecordRef,
    Strategy,
)
from dsar.identifiers import Identifier
from dsar.models import DataCategory, SourceSystem
from dsar.retention import Decision, RuleSnapshot, Verdict, decide

logger = logging.getLogger(__name__)
CLOSED_STATES = [state for state in State.values if state not in OPEN_STATES]


# --- drafting --------------------------------------------------------------------------------


@dataclass
class _SystemRecords:
    system: SourceSystem
    refs: dict[tuple[str, str], RecordRef] = field(default_factory=dict)  # (source, key)
    categories: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # by key


def _records_by_system(case) -> tuple[list[_SystemRecords], set[Identifier]]:
    """The records review left in, per system: each (source, key) once, with every category a
    row was exported under (one SQL row may fill two); and the identifiers that found them
    (trusted, by construction). One pass over the stored records."""
    systems: dict[int, _SystemRecords] = {}
    found: set[Identifier] = set()
    for kept in records_left_in(case):
        entry = systems.setdefault(kept.run.system_id, _SystemRecords(kept.run.system))
        source = str(kept.record.get("source", ""))
        entry.refs.setdefault(
            (source, kept.key),
            RecordRef(
                source=source,
                key=kept.key,
                category=kept.category,
                subject_key=str(kept.record.get("subject_key", "")),
            ),
        )
        entry.categories[kept.key].add(kept.category)
        found_by = kept.record.get("found_by")
        if isinstance(found_by, dict) and found_by.get("kind") and found_by.get("value"):
            found.add(Identifier(found_by["kind"], found_by["value"]))
    return [systems[pk] for pk in sorted(systems)], found


def _records_restricted(plan: FulfilmentPlan) -> list[_SystemRecords]:
    """For lifting a restriction: the records it marked, as the restriction plan kept them
    (our own copies of them may be gone by now)."""
    systems = SourceSystem.objects.in_bulk({row["system"] for row in plan.records})
    by_system: dict[int, _SystemRecords] = {}
    for row in plan.records:
        system = systems.get(row["system"])
        if system is None:
            continue  # a system since deleted from the register: nothing left to lift there
        entry = by_system.setdefault(system.pk, _SystemRecords(system))
        ref = RecordRef(
            source=row["source"],
            key=row["key"],
            category=row["category"],
            subject_key=row["subject_key"],
        )
        entry.refs.setdefault((ref.source, ref.key), ref)
        entry.categories[ref.key].add(ref.category)
    return [by_system[pk] for pk in sorted(by_system)]


def _restricted_rows(by_system: list[_SystemRecords]) -> list[dict]:
    return [
        {
            "system": entry.system.pk,
            "source": ref.source,
            "key": ref.key,
            "category": ref.category,
            "subject_key": ref.subject_key,
        }
        for entry in by_system
        for ref in entry.refs.values()
    ]


def _rules() -> dict[str, RuleSnapshot]:
    return {
        category.slug: RuleSnapshot.of(category.retention_rule)
        for category in DataCategory.objects.select_related("retention_rule").exclude(
            retention_rule=None
        )
    }


def _marketing_categories() -> set[str]:
    """Categories the register uses for direct marketing (a purpose flagged so)."""
    return set(
        DataCategory.objects.filter(purposes__direct_marketing=True).values_list("slug", flat=True)
    )


def _legitimate_interest_categories() -> set[str]:
    """Categories the register processes on legitimate interests, other than for direct
    marketing (profiling, analytics, ...): what an objection under Art. 21(1) concerns."""
    return set(
        DataCategory.objects.filter(
            purposes__legal_bases__code="legitimate_interests", purposes__direct_marketing=False
        ).values_list("slug", flat=True)
    )


def _concerning(
    changes: list[Change], categories: dict[str, set[str]], concerned: set[str]
) -> list[Change]:
    """Of what a system would do by hand, only what concerns records of the `concerned`
    categories: a person is not asked to stop marketing with repair records that no marketing
    reads. What the system does itself (suppression lists, flags) stays."""
    kept = []
    for change in changes:
        if not change.manual:
            kept.append(change)
            continue
        keys = [key for key in change.keys if categories.get(key, set()) & concerned]
        if keys:
            kept.append(change.only(keys))
    return kept


def _identifiers(case) -> dict[str, str]:
    """The subject's verified identifiers, one per kind, for suppression lists."""
    found: dict[str, str] = {}
    for identifier in sorted(verified_channel(case), key=lambda i: (i.kind, i.value)):
        found.setdefault(identifier.kind, identifier.value)
    return found


def _keeping(decisions: list[Decision]) -> Decision | None:
    """Of a record's decisions (one per category it fills), the one that keeps it, if any: a
    keep outweighs a review, which outweighs an erasure."""
    for verdict in (Verdict.KEEP, Verdict.REVIEW):
        for decision in decisions:
            if decision.verdict == verdict:
                return decision
    return None


def _kept_row(system: SourceSystem, ref: RecordRef, category: str, decision: Decision) -> dict:
    rule = decision.rule
    return {
        "system_id": system.pk,
        "source": ref.source,
        "record_key": ref.key,
        "category": category,
        "verdict": "keep" if decision.verdict == Verdict.KEEP else "review",
        "ground": str(decision.ground),
        "rule_code": rule.code,
        "rule_version": rule.version,
        "reason_en": rule.keep_reason_en,
        "reason_sq": rule.keep_reason_sq,
        "until": decision.until,
    }


def draft_changes(plan: FulfilmentPlan) -> DraftedPlan:
    """The dry run: what the plan would change in every system, and what it keeps."""
    case = plan.case
    intent = Intent(plan.intent)
    identifiers = _identifiers(case)
    if intent == Intent.LIFT_RESTRICTION:
        by_system, found_by = _records_restricted(plan), set()
    else:
        by_system, found_by = _records_by_system(case)
    trusted = frozenset(verified_channel(case) | found_by)
    rules = _rules() if intent == Intent.ERASE else {}
    decided = earlier_decisions(plan)
    concerned = {
        Intent.STOP_MARKETING: _marketing_categories,
        Intent.OBJECT: _legitimate_interest_categories,
    }.get(intent, set)()
    # Searched again after an erasure: what an earlier plan masked or had changed by hand.
    done_before = left_in_place_before(plan) if intent == Intent.ERASE else set()
    today = timezone.localdate()
    drafted = DraftedPlan()
    if intent == Intent.RESTRICT:
        drafted.records = _restricted_rows(by_system)
    suppressions: list[tuple[int, Change]] = []
    for entry in by_system:
        refs = list(entry.refs.values())
        with connector_for(entry.system) as connector:
            if intent != Intent.ERASE:
                request = ChangeRequest(
                    intent=intent,
                    records=refs,
                    corrections=plan.corrections,
                    identifiers=identifiers,
                    salt=plan.salt,
                    known=trusted,
                )
                changes = connector.plan_changes(request)
                if intent in (Intent.STOP_MARKETING, Intent.OBJECT):
                    changes = _concerning(changes, entry.categories, concerned)
                drafted.actions += [(entry.system.pk, c) for c in changes]
                continue
            facts = connector.describe_records(refs)
            to_change, suppress = [], False
            for ref in refs:
                known = facts.get(ref.key, RecordFacts())
                if not known.exists:
                    continue  # gone since it was gathered: nothing to erase
                if (entry.system.pk, ref.key) in done_before:
                    continue  # masked, or changed by hand, by an earlier plan: not twice
                categories = sorted(entry.categories[ref.key])
                decisions = [decide(rules.get(c), known, today) for c in categories]
                keeping = _keeping(decisions)
                decision = decided.get((entry.system.pk, ref.key))
                if keeping is not None and keeping.verdict == Verdict.REVIEW and decision:
                    # A person decided on an earlier plan: not asked again.
                    keeping = keeping if decision == "keep" else None
                if keeping is not None:
                    category = categories[decisions.index(keeping)]
                    row = _kept_row(entry.system, ref, category, keeping)
                    if decision == "keep" and keeping.verdict == Verdict.REVIEW:
                        row["decision"] = "keep"
                    drafted.kept.append(row)
                    continue
                to_change.append(ref)
                suppress = suppress or any(d.verdict == Verdict.SUPPRESS for d in decisions)
            if suppress and identifiers:
                # The marketing opt-out is kept for good: listed before anything is erased.
                request = ChangeRequest(
                    intent=Intent.STOP_MARKETING, records=refs, identifiers=identifiers
                )
                suppressions += [
                    (entry.system.pk, change)
                    for change in connector.plan_changes(request)
                    if change.strategy == Strategy.SUPPRESS and not change.manual
                ]
            if to_change:
                request = ChangeRequest(
                    intent=intent,
                    records=to_change,
                    identifiers=identifiers,
                    salt=plan.salt,
                    known=trusted,
                )
                drafted.actions += [(entry.system.pk, c) for c in connector.plan_changes(request)]
    drafted.actions = suppressions + drafted.actions
    return drafted


def draft(plan_id: int) -> str:
    """Draft one plan (a claimed FulfilmentPlan row); returns what happened."""
    plan = work.claim(FulfilmentPlan, plan_id, select_related=("case",))
    if plan is None:
        return "skipped"
    gave_up = work.over_delivery_bound(plan, settings.DSAR_GATHER_MAX_DELIVERIES)
    if gave_up:
        plan_failed(plan, gave_up)
        return "failed"

    def work_on_it() -> DraftedPlan:
        with work.KeepAlive(plan):
            return draft_changes(plan)

    outcome, drafted = attempt(plan, work_on_it, task="draft_plan", failed=plan_failed)
    if outcome:
        return outcome
    if not plan_drafted(plan, drafted):
        return "taken back"
    if plan.intent == Intent.LIFT_RESTRICTION:
        lift_if_told(plan.case)  # the subject may have been told already
    return "drafted"


def attempt(item, work_on_it, *, task: str, failed):
    """Run the work of a claimed row, connector faults handled one way for every kind of
    fulfilment work: a transient one waits for the next attempt (with backoff; failed once
    the attempts are used up), a permanent one or a surprise fails the row visibly, its
    message never quoting values. ("", result) when the work was done, else (outcome, None)."""
    try:
        return "", work_on_it()
    except TransientConnectorError as exc:
        delay = work.retry_later(
            item,
            exc=exc,
            max_attempts=settings.DSAR_GATHER_MAX_ATTEMPTS,
            task=task,
            retry_after=exc.retry_after,
            error=str(exc)[:500],
        )
        if delay is None:
            failed(item, f"{exc} (gave up after {item.attempts} attempts)", exc)
            return "failed", None
        return "retrying", None
    except (ConfigurationError, ConnectorError) as exc:
        failed(item, str(exc), exc)
        return "failed", None
    except Exception as exc:  # a bug or a driver surprise: fail visibly, never leak values
        logger.exception("%s %s: unexpected %s", type(item).__name__, item.pk, type(exc).__name__)
        failed(item, f"unexpected error ({type(exc).__name__})", exc)
        return "failed", None


# --- execution -------------------------------------------------------------------------------


def next_action(plan: FulfilmentPlan) -> FulfilmentAction | None:
    """The first automatic action not done, in plan order, made pending (only it: the sweeper
    re-queues pending rows, and a later one must not run before it); None when none is left
    to run: all done, or the first not done has failed and waits for `retry_actions`."""
    for action in plan.actions.filter(manual=False).order_by("position"):
        if action.state == FulfilmentAction.State.DONE:
            continue
        if action.state == FulfilmentAction.State.PLANNED:
            FulfilmentAction.objects.filter(
                pk=action.pk, state=FulfilmentAction.State.PLANNED
            ).update(state=FulfilmentAction.State.PENDING, updated_at=timezone.now())
            action.refresh_from_db()
        if action.state in (FulfilmentAction.State.PENDING, FulfilmentAction.State.RUNNING):
            return action
        return None
    return None


def execute(plan_id: int) -> str:
    """Carry out the plan's next automatic action (which queues the one after)."""
    plan = FulfilmentPlan.objects.select_related("case").filter(pk=plan_id).first()
    if plan is None:
        return "skipped"  # a message outlived its plan (the case was deleted)
    if plan.state != FulfilmentPlan.State.APPROVED:
        return "not approved"
    if not plan_may_run(plan):
        return "case not being fulfilled"  # withdrawn, say: stop before the next action
    action = next_action(plan)
    if action is None:
        finish_if_done(plan)
        return "nothing to run"
    return apply_action(action.pk)


def apply_action(action_id: int) -> str:
    """Apply one claimed action: only its records not done yet. Done, the plan goes on."""
    action = work.claim(
        FulfilmentAction, action_id, select_related=("system", "plan", "plan__case")
    )
    if action is None:
        return "skipped"
    gave_up = work.over_delivery_bound(action, settings.DSAR_GATHER_MAX_DELIVERIES)
    if gave_up:
        _action_failed(action, gave_up)
        return "failed"
    if not plan_may_run(action.plan):
        work.release(action)
        FulfilmentAction.objects.filter(pk=action.pk).update(state=FulfilmentAction.State.PLANNED)
        return "case not being fulfilled"
    change = Change.from_dict(action.change, salt=action.plan.salt)
    results = dict(action.results)
    remaining = change.only([key for key in change.keys if key not in results])

    def work_on_it() -> None:
        with work.KeepAlive(action), connector_for(action.system) as connector:
            if remaining.keys:
                applied = connector.apply(remaining)
                results.update({key: str(value) for key, value in applied.outcomes.items()})

    outcome, _nothing = attempt(
        action, work_on_it, task="apply_fulfilment_action", failed=_action_failed
    )
    if outcome:
        return outcome
    with transaction.atomic():
        take_case(action.plan.case_id)
        if not work.complete(action, state=FulfilmentAction.State.DONE, results=results, error=""):
            return "taken back"
        counts = {str(o): sum(1 for v in results.values() if v == str(o)) for o in Outcome}
        record_event(
            action.plan.case,
            "plan.action_done",
            actor=Actor.system(),
            details={
                "plan": action.plan.number,
                "position": action.position,
                "system": action.system.slug,
                "target": action.target,
                "strategy": action.strategy,
                # A correction: which fields changed in this system (never their values).
                **({"fields": fields_changed(action)} if action.strategy == "rectify" else {}),
                **{k: v for k, v in counts.items() if v},
            },
        )
        queue.enqueue_on_commit("execute_plan", action.plan_id)
    return "done"


def _action_failed(
    action: FulfilmentAction, message: str, exc: BaseException | None = None
) -> None:
    with transaction.atomic():
        take_case(action.plan.case_id)
        if work.fail(action, exc=exc, error=message[:500]):
            record_event(
                action.plan.case,
                "plan.action_failed",
                actor=Actor.system(),
                details={
                    "plan": action.plan.number,
                    "position": action.position,
                    "system": action.system.slug,
                    "error_class": type(exc).__name__ if exc else "",
                },
            )


def finish_if_done(plan: FulfilmentPlan) -> bool:
    """Every action done (the manual ones confirmed): the plan is carried out, once; an
    erasure is then verified by searching every system again."""
    if plan.actions.exclude(state=FulfilmentAction.State.DONE).exists():
        return False
    with transaction.atomic():
        take_case(plan.case_id)
        now = timezone.now()
        if not FulfilmentPlan.objects.filter(pk=plan.pk, executed_at=None).update(
            executed_at=now, updated_at=now
        ):
            return False
        record_event(
            plan.case, "plan.executed", actor=Actor.system(), details={"plan": plan.number}
        )
        if plan.intent == Intent.LIFT_RESTRICTION:
            record_event(
                plan.case, "restriction.lifted", actor=Actor.system(), details={"plan": plan.number}
            )
        queue.enqueue_on_commit("verify_plan", plan.pk)
    return True


# --- the verification scan -------------------------------------------------------------------


def expected_after(plan: FulfilmentPlan) -> dict[int, set[str]]:
    """Per system, the record keys an erasure leaves on purpose: kept by a rule (or a
    person's decision), masked rather than deleted, or changed by hand (a person confirmed),
    by this plan or, for a case searched again, by an earlier one."""
    expected: dict[int, set[str]] = defaultdict(set)
    for system_id, key in left_in_place_before(plan):
        expected[system_id].add(key)
    for system_id, key in plan.kept.exclude(decision="erase").values_list(
        "system_id", "record_key"
    ):
        expected[system_id].add(key)
    for action in plan.actions.all():
        if action.manual or action.strategy != str(Strategy.DELETE):
            expected[action.system_id].update(action.change.get("keys", []))
    return expected


def scan_system(connector, identifiers, kept_subjects: dict[str, Identifier]) -> set[str]:
    """The keys of every record the system still holds for the subject: found again by the
    identifiers that found them before, and exported for the subjects whose records the plan
    keeps (a masked account no longer answers to the e-mail it held)."""
    found: set[str] = set()
    lookup = connector.find_subject(identifiers)
    matches = {m.subject_key: m for m in lookup.matches}
    for subject_key, identifier in kept_subjects.items():
        matches.setdefault(subject_key, SubjectMatch(subject_key, identifier))
    for match in matches.values():
        found.update(record.key for record in connector.export(match))
    return found


def verify(plan_id: int) -> str:
    """After an erasure is carried out: search every system again with the identifiers that
    found the subject's records; anything found that the plan does not keep is flagged, and
    the case cannot complete until a new plan deals with it."""
    plan = FulfilmentPlan.objects.select_related("case").filter(pk=plan_id).first()
    if plan is None or plan.executed_at is None or plan.verified_at is not None:
        return "skipped"
    if plan.intent != Intent.ERASE:
        # Nothing is meant to be gone: each action's outcome is the record of what was done.
        _store_verification(plan, {}, clean=True)
        return "not needed"
    expected = expected_after(plan)
    by_system, found_by = _records_by_system(plan.case)
    identifiers = set(verified_channel(plan.case))
    # A subject exported by its key is tagged with an identifier: the verified channel's.
    tag = min(identifiers, key=lambda i: (i.kind, i.value), default=Identifier("email", ""))
    kept_subjects: dict[int, dict[str, Identifier]] = defaultdict(dict)
    kept_keys = set(plan.kept.exclude(decision="erase").values_list("system_id", "record_key"))
    for entry in by_system:
        for ref in entry.refs.values():
            if (entry.system.pk, ref.key) in kept_keys and ref.subject_key:
                kept_subjects[entry.system.pk][ref.subject_key] = tag
    identifiers |= found_by
    report: dict[str, dict] = {}
    clean = True
    for entry in by_system:
        system = entry.system
        try:
            with connector_for(system) as connector:
                found = scan_system(connector, identifiers, kept_subjects[system.pk])
        except (ConfigurationError, ConnectorError) as exc:
            report[system.slug] = {"error": type(exc).__name__}
            clean = False
            continue
        unexpected = sorted(found - expected[system.pk])
        report[system.slug] = {
            "found": len(found),
            "kept": len(found & expected[system.pk]),
            "unexpected": unexpected[:100],
            "unexpected_count": len(unexpected),
        }
        clean = clean and not unexpected
    _store_verification(plan, report, clean=clean)
    return "clean" if clean else "flagged"


def _store_verification(plan: FulfilmentPlan, report: dict, *, clean: bool) -> None:
    with transaction.atomic():
        take_case(plan.case_id)
        now = timezone.now()
        if not FulfilmentPlan.objects.filter(pk=plan.pk, verified_at=None).update(
            verified_at=now, verification=report, verification_clean=clean, updated_at=now
        ):
            return
        flagged = sum(entry.get("unexpected_count", 0) for entry in report.values())
        record_event(
            plan.case,
            "plan.verified",
            actor=Actor.system(),
            details={
                "plan": plan.number,
                "clean": clean,
                "systems": len(report),
                "flagged": flagged,
                "errors": sum(1 for entry in report.values() if "error" in entry),
            },
        )


def sweep() -> dict[str, int]:
    """Queue again plans whose drafting and actions whose application lost their worker or
    their message."""
    drafts = work.sweep(FulfilmentPlan, task="draft_plan")
    actions = work.sweep(FulfilmentAction, task="apply_fulfilment_action")
    grace = timezone.now() - dt.timedelta(seconds=settings.DSAR_SWEEP_GRACE_SECONDS)
    unverified = list(
        FulfilmentPlan.objects.filter(
            executed_at__lt=grace, verified_at=None, state=FulfilmentPlan.State.APPROVED
        ).values_list("pk", flat=True)
    )
    for plan_id in unverified:
        queue.enqueue("verify_plan", plan_id)
    # A lifting whose start was missed (the worker stopped between the notice and the start).
    liftings = Case.objects.filter(
        plans__intent=Intent.LIFT_RESTRICTION,
        plans__state=FulfilmentPlan.State.DRAFT,
        plans__updated_at__lt=grace,
    ).distinct()
    started = sum(lift_if_told(case) is not None for case in liftings)
    return {
        "plans": len(drafts),
        "actions": len(actions),
        "verifications": len(unverified),
        "liftings": started,
    }


# --- our own copies --------------------------------------------------------------------------


def purge_own_copies(case_id: int) -> dict[str, int]:
    """After an erasure completes: our own copies of the subject's data go too, the records
    gathered for this case and for the subject's earlier closed cases, and their bundles.
    What accountability needs stays: the cases, their audit trails, the plans (record keys
    and rules, no values) and the counts."""
    case = Case.objects.filter(pk=case_id, request_type="erasure", state=State.COMPLETED).first()
    if case is None:
        return {"files": 0, "bundles": 0}
    same_subject = Case.objects.filter(pk=case.pk)
    if case.email:
        same_subject = Case.objects.filter(
            Q(pk=case.pk) | Q(email__iexact=case.email, state__in=CLOSED_STATES)
        )
    files = delete_gathered_records(
        ConnectorRun.objects.filter(case__in=same_subject), after_erasure=case.reference
    )
    bundles = 0
    # A case on legal hold keeps its copies (and gathered records: delete_gathered_records).
    ready = Bundle.objects.filter(case__in=same_subject, state=Bundle.State.READY)
    for bundle in not_on_hold(ready, via="case"):
        delete_bundle(bundle, after_erasure=case.reference)
        bundles += 1
    return {"files": files, "bundles": bundles}
