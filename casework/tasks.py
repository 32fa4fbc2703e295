"""Celery tasks of the whole app: thin, take IDs, call services or the engine. Work is done as the
`system` actor. Services and the engine never import this module: they queue tasks by name
through `casework.queue`."""

from __future__ import annotations

import logging

from celery import shared_task
from django_fsm import TransitionNotAllowed

from casework import anchors, notifications, selectors, services
from casework.actors import Actor
from casework.engine import bundles, drp, fulfilment, gathering, submissions
from casework.models import Bundle, Case, State
from casework.portal import emails
from dsar.identifiers import InvalidEmail, email_key

logger = logging.getLogger(__name__)

# E-mails and openers retry a failing mail server or broker; the rows keep the rest.
RETRY = {"autoretry_for": (OSError,), "retry_backoff": True, "max_retries": 5}


# --- cases -----------------------------------------------------------------------------------------


@shared_task(acks_late=True)
def find_possible_duplicates(case_id: int) -> None:
    """After a request is saved (never in the web request itself): link it to an open case of
    the same subject and type, for staff to merge or keep."""
    case = Case.objects.filter(pk=case_id).first()
    if case is None or not case.is_open:
        return
    other = selectors.possible_duplicate_of(case)
    if other is not None:
        services.case_flag_duplicate(case=case, duplicate_of=other, actor=Actor.system())
        logger.info("case %s flagged as possible duplicate of %s", case.reference, other.reference)


@shared_task(acks_late=True)
def expire_unverified_cases() -> int:
    """Beat: close requests never verified within the expiry period."""
    system = Actor.system()
    expired = 0
    for case_id in selectors.cases_to_expire().values_list("pk", flat=True).iterator():
        try:
            services.case_expire(case=Case(pk=case_id), actor=system)
        except TransitionNotAllowed:
            continue  # verified or answered meanwhile
        expired += 1
    if expired:
        logger.info("expired %d unverified case(s)", expired)
    return expired


@shared_task(acks_late=True, **RETRY)
def send_reminders() -> dict:
    """Beat (`send-reminders`): deadline reminders, escalations, extensions to announce, CCPA
    receipt confirmations and the digest of unassigned cases (casework.services.reminders)."""
    return services.send_reminders()


@shared_task(acks_late=True, **RETRY)
def send_deadline_reminders() -> dict:
    """The reminder job's former name: a message queued before an upgrade still runs it."""
    return services.send_reminders()


@shared_task(acks_late=True)
def purge_closed_cases() -> int:
    """Beat (daily): reduce closed cases kept their accountability period to anonymous
    statistics; cases on legal hold are left alone."""
    return services.purge_expired_cases()


@shared_task(acks_late=True, **RETRY)
def notify_subject(case_id: int, notice: str) -> str:
    """Tell the subject of a notice: by e-mail, or by a letter for staff to post."""
    return notifications.notify_subject(Case.objects.get(pk=case_id), notice)


@shared_task(acks_late=True, **RETRY)
def notify_processor(instruction_id: int) -> bool:
    """After a plan's approval: the processor of a system it changes gets its instruction."""
    return notifications.notify_processor(instruction_id)


@shared_task(acks_late=True)
def export_audit_anchor() -> bool:
    """Beat: copy the audit anchor outside the database (casework.anchors)."""
    return anchors.export_anchor() is not None


# --- gathering -------------------------------------------------------------------------------------


@shared_task(acks_late=True)
def start_gathering(case_id: int) -> None:
    """Move a verified case into gathering, plan its runs and start on them here (their
    messages bring other workers in). Safe to deliver twice: a case no longer verified is
    left alone."""
    if not Case.objects.filter(pk=case_id, state=State.VERIFIED).exists():
        return
    try:
        services.start_gathering(case_id)
    except TransitionNotAllowed:
        return  # another delivery of this message got there first
    gathering.work_on_case(case_id)


@shared_task(acks_late=True)
def run_connector(run_id: int) -> str:
    """Search one system for one case (a ConnectorRun row, claimed atomically)."""
    return gathering.execute(run_id)


@shared_task(acks_late=True)
def sweep_gathering() -> dict:
    """Beat: re-queue runs and cases whose messages were lost."""
    return gathering.sweep()


@shared_task(acks_late=True)
def purge_gathered_records() -> int:
    """Beat: delete gathered records whose case's retention has ended."""
    return gathering.purge_results()


# --- fulfilment --------------------------------------------------------------------------------


@shared_task(acks_late=True)
def draft_plan(plan_id: int) -> str:
    """Draft a plan of changes: the dry run (a FulfilmentPlan row, claimed atomically)."""
    return fulfilment.draft(plan_id)


@shared_task(acks_late=True)
def execute_plan(plan_id: int) -> str:
    """Carry out an approved plan's next action; each done action queues this again."""
    return fulfilment.execute(plan_id)


@shared_task(acks_late=True)
def apply_fulfilment_action(action_id: int) -> str:
    """Apply one action (a FulfilmentAction row, claimed atomically): a retry or the sweeper."""
    return fulfilment.apply_action(action_id)


@shared_task(acks_late=True)
def verify_plan(plan_id: int) -> str:
    """After an erasure: search every system again; flag anything the plan does not keep."""
    return fulfilment.verify(plan_id)


@shared_task(acks_late=True)
def purge_after_erasure(case_id: int) -> dict:
    """A completed erasure: our own copies of the subject's data are deleted too."""
    return fulfilment.purge_own_copies(case_id)


@shared_task(acks_late=True)
def sweep_fulfilment() -> dict:
    """Beat: re-queue plans and actions whose worker or message was lost."""
    return fulfilment.sweep()


# --- bundles ---------------------------------------------------------------------------------------


@shared_task(acks_late=True)
def build_bundle(bundle_id: int) -> str:
    """Build one bundle (a Bundle row, claimed atomically)."""
    return bundles.build(bundle_id)


@shared_task(acks_late=True)
def sweep_bundles() -> int:
    return bundles.sweep()


@shared_task(acks_late=True)
def purge_expired_bundles() -> int:
    return bundles.purge_expired()


# --- the public portal: form submissions and every e-mail to a subject ------------------------------
# Every e-mail to a subject and every lookup by e-mail address happens here, never in the web
# request (DESIGN.md, "No enumeration").


@shared_task(acks_late=True, **RETRY)
def open_pending_submissions() -> int:
    """Open the cases of the requests from the public form no task has taken yet."""
    return submissions.open_pending_submissions()


@shared_task(acks_late=True, **RETRY)
def open_submission(submission_id: int) -> str | None:
    """Open the case of one request from the public form; returns its reference."""
    case = submissions.open_submission(submission_id)
    return case.reference if case else None


@shared_task
def sweep_submissions() -> int:
    return submissions.sweep_submissions()


@shared_task
def purge_failed_submissions() -> int:
    return submissions.purge_failed_submissions()


@shared_task(acks_late=True, **RETRY)
def send_verification_link(case_id: int) -> bool:
    case = Case.objects.filter(pk=case_id).first()
    return emails.send_verification_link(case) if case else False


@shared_task(acks_late=True, **RETRY)
def resend_verification_link(email: str, reference: str) -> bool:
    """A new confirmation link, when the e-mail and reference match a request still waiting
    for confirmation; nothing otherwise."""
    try:
        key = email_key(email)
    except InvalidEmail:
        return False
    case = Case.objects.filter(
        email=key, reference=reference.strip().upper(), state=State.RECEIVED
    ).first()
    return emails.send_verification_link(case) if case else False


@shared_task(acks_late=True, **RETRY)
def send_status_links(email: str, language: str) -> int:
    return emails.send_status_links(email, language)


@shared_task(acks_late=True, **RETRY)
def send_download_code(bundle_id: int) -> bool:
    bundle = Bundle.objects.select_related("case").filter(pk=bundle_id).first()
    if bundle is None or bundle.state != Bundle.State.READY or bundle.revoked_at is not None:
        return False
    return emails.send_download_code(bundle)


# --- the Data Rights Protocol -------------------------------------------------------------------


@shared_task(acks_late=True)
def deliver_drp_callback(callback_id: int) -> str:
    """POST a status object to an agent's status_callback (a DrpCallback row, claimed)."""
    return drp.deliver(callback_id)


@shared_task(acks_late=True)
def sweep_drp_callbacks() -> int:
    """Beat: re-queue callbacks whose worker or message was lost."""
    return len(drp.sweep())


@shared_task(acks_late=True)
def purge_drp_seen_messages() -> int:
    """Beat: forget signed DRP messages past their expiry."""
    return services.purge_drp_seen_messages()
