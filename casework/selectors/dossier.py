"""The plain data of a case's dossier (exporters.dossier renders it): its facts, timeline,
audit events, letters, deadline history, decisions with their reasons, and plans with their
actions, with every label in the case's language. Nothing of the subject's gathered records:
the dossier shows of the subject what the letters showed them (their name and address)."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import Any

from django.db.models import Count
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from casework import deadlines
from casework.audit import current_action, event_hash
from casework.models import (
    AuditChain,
    AuditEvent,
    Case,
    CaseNote,
    FulfilmentPlan,
    Notice,
    ObjectionDecision,
    RecordDecision,
    State,
    VerificationMethod,
)
from casework.selectors.case import reason_told
from dsar.models import ControllerInfo
from exporters.dossier import (
    DossierAction,
    DossierEntry,
    DossierEvent,
    DossierFacts,
    DossierLetter,
    DossierPlan,
)

# Events of the timeline besides the changes of state, worded for a reader of the dossier.
TIMELINE = {
    "case.created": gettext_lazy("Request received and recorded"),
    "case.assigned": gettext_lazy("Case assigned"),
    "case.deadline_extended": gettext_lazy("Deadline extended"),
    "case.response_sent": gettext_lazy("Response to the subject recorded as sent"),
    "case.receipt_confirmed": gettext_lazy("Receipt confirmed to the subject"),
    "case.notice_sent": gettext_lazy("Notice sent to the subject"),
    "case.letter_posted": gettext_lazy("Letter posted to the subject"),
    "review.completed": gettext_lazy("Review of the gathered data completed"),
    "review.reopened": gettext_lazy("Review reopened"),
    "objection.decided": gettext_lazy("Objection decided by the DPO"),
    "plan.submitted": gettext_lazy("Plan of changes submitted for approval"),
    "plan.approved": gettext_lazy("Plan of changes approved"),
    "plan.executed": gettext_lazy("Plan of changes carried out"),
    "plan.verified": gettext_lazy("Changes verified in the systems"),
    "bundle.built": gettext_lazy("Subject's data prepared"),
    "bundle.downloaded": gettext_lazy("Subject's data downloaded"),
    "case.release_revoked": gettext_lazy("Release revoked by the DPO"),
    "case.legal_hold_set": gettext_lazy("Legal hold set"),
    "case.legal_hold_lifted": gettext_lazy("Legal hold lifted"),
    "case.purged": gettext_lazy("Case file reduced to anonymous statistics"),
}

# Decisions, with the reason staff recorded (a note the event references).
DECISIONS = {
    "case.verified": gettext_lazy("Identity verified"),
    "case.sources_skipped": gettext_lazy("Went on without a failed source"),
    "case.approved": gettext_lazy("Release or changes approved"),
    "case.rejected": gettext_lazy("Request refused"),
    "case.deadline_extended": gettext_lazy("Deadline extended"),
    "objection.decided": gettext_lazy("Objection decided"),
    "case.withdrawn": gettext_lazy("Withdrawal recorded"),
    "case.merged": gettext_lazy("Merged into another case"),
    "case.release_revoked": gettext_lazy("Release revoked"),
    "restriction.lifting_decided": gettext_lazy("Lifting of the restriction decided"),
    "case.legal_hold_set": gettext_lazy("Legal hold set"),
    "case.legal_hold_lifted": gettext_lazy("Legal hold lifted"),
}

CHANNELS = {"email": gettext_lazy("e-mail"), "post": gettext_lazy("post")}


def _label(choices, value: str) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return value


def _by(event: AuditEvent) -> str:
    return event.actor_label or event.actor_kind


def _details(details: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (key, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
        for key, value in sorted(details.items())
    ]


def chain_intact(case: Case) -> bool | None:
    """Whether the case's chain verifies: events numbered from 1 without a gap, each hash
    right and linked to the one before, the last one the chain's head (None: no chain)."""
    chain = AuditChain.objects.filter(case=case).first()
    if chain is None:
        return None
    seq, last = 0, ""
    for event in AuditEvent.objects.filter(chain=chain).order_by("seq").iterator():
        if event.seq != seq + 1 or event.prev_hash != last:
            return False
        if event_hash(event, chain.key) != event.hash:
            return False
        seq, last = event.seq, event.hash
    return (chain.head_seq, chain.head_hash) == (seq, last)


def _told(case: Case, event: AuditEvent, questions: list[CaseNote]) -> str:
    """What the subject was told with a notice: the question asked, the reason of a decision."""
    notice = event.details.get("notice", "")
    if notice == Notice.QUESTION:
        asked = [q for q in questions if q.created_at <= event.created_at]
        return asked[-1].text if asked else ""
    if notice == Notice.REJECTED:
        return reason_told(case, "refusal")
    if notice == Notice.EXTENDED:
        return reason_told(case, "extension")
    if notice == Notice.LIFTING:
        return reason_told(case, "lifting")
    return ""


def dossier_facts(case: Case, *, now=None) -> DossierFacts:
    """Everything the dossier shows, in the case's language."""
    with translation.override(case.language):
        return _dossier_facts(case, now or timezone.now())


def _dossier_facts(case: Case, now) -> DossierFacts:
    events = list(
        AuditEvent.objects.filter(case=case).order_by("chain_id", "seq").select_related("chain")
    )
    notes = dict(CaseNote.objects.filter(case=case).values_list("pk", "text"))
    questions = list(
        CaseNote.objects.filter(
            case=case, kind=CaseNote.Kind.QUESTION, visible_to_subject=True
        ).order_by("created_at", "pk")
    )

    def reason_of(event: AuditEvent) -> str:
        return notes.get(event.details.get("note"), "")

    timeline: list = []
    decisions: list[DossierEntry] = []
    history: list[DossierEntry] = [
        DossierEntry(
            case.received_at,
            _("Request received; deadline"),
            due=deadlines.local_date(case.original_due_at or case.due_at),
        )
    ]
    letters: list[DossierLetter] = []
    sent: list[AuditEvent] = []
    posted: dict[str, list] = {}
    objection = ObjectionDecision.objects.filter(case=case).first()
    for event in events:
        action = current_action(event.action)
        if event.to_state and event.to_state != event.from_state:
            timeline.append((event.created_at, _label(State, event.to_state)))
        elif action in TIMELINE:
            label = str(TIMELINE[action])
            if action == "case.notice_sent":
                label = f"{label}: {_label(Notice, event.details.get('notice', ''))}"
            timeline.append((event.created_at, label))
        if action in DECISIONS:
            outcome = ""
            reason = reason_of(event)
            if action == "case.verified":
                outcome = _label(VerificationMethod, event.details.get("method", ""))
            elif action == "case.rejected" and event.details.get("unfounded"):
                outcome = _("manifestly unfounded or excessive (Art. 12(5))")
            elif action == "case.deadline_extended":
                outcome = _("from %(from)s to %(to)s") % {
                    "from": event.details.get("from", ""),
                    "to": event.details.get("to", ""),
                }
                reason = reason or case.extension_reason
            elif action == "objection.decided" and objection is not None:
                outcome = objection.get_outcome_display()
                reason = objection.reason
            elif action == "case.merged":
                outcome = event.details.get("into", "")
            if action == "case.rejected":
                reason = reason or case.rejection_reason
            decisions.append(
                DossierEntry(event.created_at, str(DECISIONS[action]), _by(event), outcome, reason)
            )
        if action == "case.deadline_extended":
            history.append(
                DossierEntry(
                    event.created_at,
                    _("Deadline extended"),
                    _by(event),
                    reason=reason_of(event) or case.extension_reason,
                    due=_date(event.details.get("to")),
                )
            )
        if action == "case.notice_sent":
            sent.append(event)
        if action == "case.letter_posted":
            posted.setdefault(event.details.get("notice", ""), []).append(event.created_at)

    for event in sent:
        notice, channel = event.details.get("notice", ""), event.details.get("sent_by", "")
        # A letter queued for the post says when it was posted (in order, notice by notice).
        waiting = posted.get(notice) if channel == "post" else None
        letters.append(
            DossierLetter(
                at=event.created_at,
                notice=_label(Notice, notice),
                channel=str(CHANNELS.get(channel, channel)),
                posted_at=waiting.pop(0) if waiting else None,
                told=_told(case, event, questions),
            )
        )

    if case.paused_days:
        history.append(
            DossierEntry(
                None,
                _("Clock paused while waiting for the subject: %(n)d days")
                % {"n": case.paused_days},
            )
        )
    if case.receipt_confirmation_due_at:
        history.append(
            DossierEntry(
                case.receipt_confirmed_at,
                _("Receipt confirmation (due %(d)s)")
                % {"d": deadlines.local_date(case.receipt_confirmation_due_at)},
            )
        )
    if case.closed_at:
        history.append(
            DossierEntry(
                case.closed_at,
                _("Closed: %(state)s") % {"state": case.get_state_display()},
                due=deadlines.local_date(case.due_at),
            )
        )

    counts = Counter()
    for row in (
        RecordDecision.objects.filter(case=case)
        .values("action", "reason")
        .annotate(n=Count("pk"))
        .order_by("action", "reason")
    ):
        label = (
            f"{_label(RecordDecision.Action, row['action'])} "
            f"({_label(RecordDecision.Reason, row['reason'])})"
        )
        counts[label] += row["n"]

    controller = ControllerInfo.load()
    return DossierFacts(
        reference=case.reference,
        language=case.language,
        generated_at=now,
        controller_name=controller.text("name", case.language) if controller else "",
        request_type=case.get_request_type_display(),
        regime=case.get_regime_display(),
        channel=case.get_channel_display(),
        state=case.get_state_display(),
        subject_name=case.name,
        subject_contact=case.email or case.postal_address.replace("\n", ", "),
        assignee=case.assignee.get_username() if case.assignee else "",
        received_at=case.received_at,
        due_at=case.due_at,
        original_due_at=case.original_due_at,
        closed_at=case.closed_at,
        answered_in_time=(case.closed_at <= case.due_at) if case.closed_at else None,
        legal_hold=_hold(case),
        purged_at=case.purged_at,
        timeline=timeline,
        deadlines=history,
        decisions=decisions,
        review_counts=sorted(counts.items()),
        plans=_plans(case),
        letters=letters,
        events=[
            DossierEvent(
                seq=event.seq,
                at=event.created_at,
                action=current_action(event.action),
                actor=_by(event),
                from_state=event.from_state,
                to_state=event.to_state,
                details=_details(event.details),
                hash=event.hash[:16],
            )
            for event in events
        ],
        trail_intact=chain_intact(case),
    )


def _date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return None


def _hold(case: Case) -> str:
    if case.legal_hold_at is None:
        return ""
    by = case.legal_hold_by.get_username() if case.legal_hold_by else ""
    return _("since %(at)s (%(by)s): %(reason)s") % {
        "at": deadlines.local_date(case.legal_hold_at),
        "by": by,
        "reason": case.legal_hold_reason,
    }


def _who_when(user, at) -> str:
    if at is None:
        return ""
    return f"{user.get_username() if user else '—'}, {deadlines.local_date(at)}"


def _plans(case: Case) -> list[DossierPlan]:
    plans = []
    for plan in (
        FulfilmentPlan.objects.filter(case=case)
        .select_related("submitted_by", "approved_by")
        .prefetch_related("actions__system", "actions__confirmed_by")
        .order_by("number")
    ):
        verification = ""
        if plan.verification_clean is True:
            verification = _("nothing left that the plan does not keep")
        elif plan.verification_clean is False:
            verification = _("records found that the plan does not keep")
        plans.append(
            DossierPlan(
                number=plan.number,
                intent=plan.get_intent_display(),
                state=plan.get_state_display(),
                submitted=_who_when(plan.submitted_by, plan.submitted_at),
                approved=_who_when(plan.approved_by, plan.approved_at),
                executed_at=plan.executed_at,
                verification=verification,
                actions=[
                    DossierAction(
                        position=action.position,
                        system=action.system.name,
                        action=f"{action.strategy}: {action.target}",
                        records=action.records,
                        status=action.get_state_display(),
                        confirmed=_who_when(action.confirmed_by, action.confirmed_at),
                    )
                    for action in sorted(plan.actions.all(), key=lambda a: a.position)
                ],
            )
        )
    return plans
