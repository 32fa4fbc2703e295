"""E-mails the portal sends, in the subject's language with text and HTML parts. Called from
tasks only (never in a web request), so that the form answers alike whoever asks."""

from __future__ import annotations

import logging

from django.conf import settings
from django.utils import translation

from casework import deadlines, letters
from casework.actors import Actor
from casework.mail import send_email
from casework.models import CHANGING_TYPES, Bundle, Case, PortalToken, State, is_categories_only
from casework.portal import selectors, services
from casework.portal.context_processors import limits
from casework.selectors import may_email
from casework.selectors.optouts import opt_out_told
from casework.services.case import case_confirm_receipt

logger = logging.getLogger(__name__)


def _base_context(case: Case) -> dict:
    # The limits the texts state (verify_hours, status_hours, code_minutes...), as the pages
    # get them from their context processor: e-mails are rendered without a request.
    return {
        **limits(),
        "case": case,
        "due_on": deadlines.local_date(case.due_at),
        "received_on": deadlines.local_date(case.received_at),
        "site_url": settings.SITE_URL,
    }


def _opt_out_told(case: Case) -> list[str]:
    with translation.override(case.language):
        return opt_out_told(case)


def send_verification_link(case: Case) -> bool:
    """The link that confirms the e-mail address of a new request (single use, valid for
    DSAR_VERIFY_TOKEN_HOURS)."""
    if not may_email(case) or case.state != State.RECEIVED:
        return False
    token = services.issue_token(case=case, purpose=PortalToken.Purpose.VERIFY)
    send_email(
        to=[case.email],
        template="casework/email/portal_verify",
        context={
            **_base_context(case),
            "verify_url": services.absolute_url("verify", case.language, token=token),
            "resend_url": services.absolute_url("resend", case.language),
        },
        language=case.language,
        cases=[case],
    )
    # The message tells the subject we have their request: the receipt confirmation that
    # CCPA/CPRA asks for within 10 business days.
    case_confirm_receipt(case=case, actor=Actor.system(), how="confirmation e-mail")
    logger.info("case %s: confirmation link sent", case.reference)
    return True


def send_acknowledgement(case: Case) -> bool:
    """The request is confirmed: the reference, the due date and a status link."""
    if not may_email(case):
        return False
    token = services.issue_token(case=case, purpose=PortalToken.Purpose.STATUS)
    send_email(
        to=[case.email],
        template="casework/email/portal_acknowledged",
        context={
            **_base_context(case),
            "status_url": services.absolute_url("status", case.language, token=token),
            "waits_for_staff": selectors.waits_for_staff(case),
        },
        language=case.language,
        cases=[case],
    )
    logger.info("case %s: acknowledgement sent", case.reference)
    return True


def send_receipt_confirmation(case: Case) -> bool:
    """CCPA/CPRA: we received the request (the reference, when, and when we will answer).
    For a subject no other message told yet; no link: nothing to do with it."""
    if not may_email(case):
        return False
    send_email(
        to=[case.email],
        template="casework/email/received",
        context=_base_context(case),
        language=case.language,
        cases=[case],
    )
    logger.info("case %s: receipt confirmation sent", case.reference)
    return True


def send_status_links(email: str, language: str) -> int:
    """One e-mail with a fresh status link for each of the address's recent requests; nothing
    when there are none (the page that asked answers the same either way)."""
    cases = selectors.cases_for_status_links(email)
    if not cases:
        return 0
    language = cases[0].language or language
    links = [
        {
            "case": case,
            "url": services.absolute_url(
                "status",
                language,
                token=services.issue_token(case=case, purpose=PortalToken.Purpose.STATUS),
            ),
        }
        for case in cases
    ]
    send_email(
        to=[cases[0].email],
        template="casework/email/portal_status_links",
        context={**limits(), "links": links},
        language=language,
        cases=cases,
    )
    logger.info("status links sent for %d case(s)", len(links))
    return len(links)


def send_download_code(bundle: Bundle) -> bool:
    """A one-time code for the download, to the verified e-mail of the case."""
    case = bundle.case
    if not may_email(case) or case.verified_at is None:
        return False
    if bundle.revoked_at is not None:
        return False  # the DPO withdrew the release after the code was asked for
    code = services.create_download_code(bundle=bundle)
    send_email(
        to=[case.email],
        template="casework/email/portal_download_code",
        context={
            **_base_context(case),
            "code": code,
        },
        language=case.language,
        cases=[case],
    )
    logger.info("case %s: download code sent", case.reference)
    return True


def send_bundle_ready(case: Case) -> bool:
    """The subject's data is ready: a fresh status link, where they ask for the one-time code
    that unlocks the download. Only to the verified e-mail; the data never travels by e-mail."""
    if not may_email(case):
        return False
    token = services.issue_token(case=case, purpose=PortalToken.Purpose.STATUS)
    send_email(
        to=[case.email],
        template="casework/email/portal_bundle_ready",
        context={
            **_base_context(case),
            "status_url": services.absolute_url("status", case.language, token=token),
            "register_only": is_categories_only(case),
        },
        language=case.language,
        cases=[case],
    )
    logger.info("case %s: bundle-ready notice sent", case.reference)
    return True


def send_question(case: Case) -> bool:
    """Staff asked the subject something: what for, and a status link to read and answer it
    (the question itself is on the status page, not in the e-mail)."""
    if not may_email(case):
        return False
    token = services.issue_token(case=case, purpose=PortalToken.Purpose.STATUS)
    send_email(
        to=[case.email],
        template="casework/email/question",
        context={
            **_base_context(case),
            "purpose": case.get_awaiting_purpose_display(),
            "status_url": services.absolute_url("status", case.language, token=token),
        },
        language=case.language,
        cases=[case],
    )
    logger.info("case %s: question notice sent", case.reference)
    return True


def send_completed(case: Case) -> bool:
    """The request is completed."""
    if not may_email(case):
        return False
    token = services.issue_token(case=case, purpose=PortalToken.Purpose.STATUS)
    send_email(
        to=[case.email],
        template="casework/email/completed",
        context={
            **_base_context(case),
            "status_url": services.absolute_url("status", case.language, token=token),
            # Marketing and disclosure stopped, or the opt-out lifted (in the subject's
            # language: send_email renders in it, and so are these read).
            "opt_out": _opt_out_told(case),
        },
        language=case.language,
        # A change to the source systems is answered with its letter: what was done, where,
        # what was kept and why.
        attachment=letters.letter_pdf(case, "completed")
        if case.request_type in CHANGING_TYPES
        else None,
        cases=[case],
    )
    logger.info("case %s: completion notice sent", case.reference)
    return True
