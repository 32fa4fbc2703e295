"""Portal tasks: every e-mail to a subject and every lookup by e-mail address happens here,
never in the web request (DESIGN.md, "No enumeration"). Thin: take IDs, call a module.
Loaded by the worker through settings.CELERY_IMPORTS."""

from __future__ import annotations

from celery import shared_task

from casework.models import Bundle, Case, State
from casework.portal import emails, services

RETRY = {"autoretry_for": (OSError,), "retry_backoff": True, "max_retries": 5}


@shared_task(acks_late=True, **RETRY)
def open_pending_submissions() -> int:
    """Open the cases of the requests from the public form no task has taken yet."""
    return services.open_pending_submissions()


@shared_task(acks_late=True, **RETRY)
def open_submission(submission_id: int) -> str | None:
    """Open the case of one request from the public form; returns its reference."""
    case = services.open_submission(submission_id)
    return case.reference if case else None


@shared_task
def sweep_submissions() -> int:
    return services.sweep_submissions()


@shared_task
def purge_failed_submissions() -> int:
    return services.purge_failed_submissions()


@shared_task(acks_late=True, **RETRY)
def send_verification_link(case_id: int) -> bool:
    case = Case.objects.filter(pk=case_id).first()
    return emails.send_verification_link(case) if case else False


@shared_task(acks_late=True, **RETRY)
def resend_verification_link(email: str, reference: str) -> bool:
    """A new confirmation link, when the e-mail and reference match a request still waiting
    for confirmation; nothing otherwise."""
    case = Case.objects.filter(
        email__iexact=email.strip(), reference=reference.strip().upper(), state=State.RECEIVED
    ).first()
    return emails.send_verification_link(case) if case else False


@shared_task(acks_late=True, **RETRY)
def send_acknowledgement(case_id: int) -> bool:
    case = Case.objects.filter(pk=case_id).first()
    return emails.send_acknowledgement(case) if case else False


@shared_task(acks_late=True, **RETRY)
def send_status_links(email: str, language: str) -> int:
    return emails.send_status_links(email, language)


@shared_task(acks_late=True, **RETRY)
def send_download_code(bundle_id: int) -> bool:
    bundle = Bundle.objects.select_related("case").filter(pk=bundle_id).first()
    if bundle is None or bundle.state != Bundle.State.READY:
        return False
    return emails.send_download_code(bundle)


@shared_task(acks_late=True, **RETRY)
def send_bundle_ready(case_id: int) -> bool:
    case = Case.objects.filter(pk=case_id).first()
    return emails.send_bundle_ready(case) if case else False
