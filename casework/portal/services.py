"""Portal services: tokens, e-mail confirmation and one-time download codes. Every change to a
case goes through casework.services; this module adds only what is the portal's own (tokens and
codes) and the audit events that go with it. Requests from the form are received by
`casework.services.submissions` and opened by `casework.engine.submissions`."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_fsm import TransitionNotAllowed

from casework import queue
from casework.actors import Actor
from casework.audit import record_event
from casework.models import Bundle, Case, DownloadCode, Notice, PortalToken, State
from casework.portal import selectors
from casework.selectors.bundles import open_bundle
from casework.services.case import case_verify
from casework.tokens import (
    TokenError,
    TokenExpired,
    TokenUnknown,
    TokenUsed,
    hash_token,
    new_token,
)

logger = logging.getLogger(__name__)


# --- tokens --------------------------------------------------------------------------------------


def token_lifetime(purpose: str) -> dt.timedelta:
    if purpose == PortalToken.Purpose.VERIFY:
        return dt.timedelta(hours=settings.DSAR_VERIFY_TOKEN_HOURS)
    if purpose == PortalToken.Purpose.STATUS:
        return dt.timedelta(hours=settings.DSAR_STATUS_TOKEN_HOURS)
    return dt.timedelta(minutes=settings.DSAR_DOWNLOAD_TOKEN_MINUTES)


def issue_token(*, case: Case, purpose: str, bundle: Bundle | None = None) -> str:
    """A new token (256 bits from `secrets`); only its SHA-256 is stored. Returns the token,
    which exists from here on only in the e-mail or page it is put in."""
    raw = new_token()
    PortalToken.objects.create(
        case=case,
        purpose=purpose,
        bundle=bundle,
        token_hash=hash_token(raw),
        expires_at=timezone.now() + token_lifetime(purpose),
    )
    return raw


def _find(raw: str, purpose: str, *, lock: bool = False) -> PortalToken:
    if not raw or len(raw) > 100:
        raise TokenUnknown
    tokens = PortalToken.objects.select_related("case")
    if lock:
        tokens = tokens.select_for_update(of=("self",))
    token = tokens.filter(token_hash=hash_token(raw), purpose=purpose).first()
    if token is None:
        raise TokenUnknown
    if token.used_at is not None:
        raise TokenUsed
    if token.expires_at <= timezone.now():
        raise TokenExpired
    return token


def check_token(raw: str, purpose: str) -> PortalToken:
    """The valid token `raw` of `purpose`, consuming nothing (a GET, a reusable status link)."""
    return _find(raw, purpose)


def consume_token(raw: str, purpose: str) -> PortalToken:
    """Mark a single-use token used, inside the caller's transaction; a second use raises
    TokenUsed (the row is locked, so two concurrent uses cannot both succeed)."""
    with transaction.atomic():
        token = _find(raw, purpose, lock=True)
        token.used_at = timezone.now()
        token.save(update_fields=["used_at"])
    return token


def absolute_url(name: str, language: str, **kwargs: Any) -> str:
    from django.urls import reverse
    from django.utils import translation

    with translation.override(language):
        path = reverse(f"portal:{name}", kwargs=kwargs)
    return settings.SITE_URL.rstrip("/") + path


# --- e-mail confirmation ---------------------------------------------------------------------------


class RequestClosed(TokenError):
    """The request the link belongs to is closed (expired, withdrawn, ...)."""

    status = 410
    reason = "closed"


def confirm_email(*, raw_token: str) -> Case:
    """The subject confirmed the e-mail link (a POST from the page the link opens).

    An ordinary request is verified through case_verify, which starts gathering. A
    representative's request, or one whose mailbox was said to be lost, stays `received`: the
    confirmation is recorded as an audit event and staff verify it (checking the authority or
    through a channel on record) with the admin's Verify button.
    The acknowledgement e-mail is sent by a task after commit. Raises TokenError (RequestClosed
    among them); returns the case as it is now.
    """
    subject = Actor.subject()
    with transaction.atomic():
        token = consume_token(raw_token, PortalToken.Purpose.VERIFY)
        case = Case.objects.select_for_update().get(pk=token.case_id)
        if not case.is_open:
            raise RequestClosed
        if case.state != State.RECEIVED:
            return case  # verified meanwhile (by staff, or another link): nothing to do
        if selectors.waits_for_staff(case):
            record_event(
                case,
                selectors.EMAIL_CONFIRMED,
                actor=subject,
                details={
                    "waits_for": "authority" if case.has_representative else "channel_on_record"
                },
            )
        else:
            try:
                case = case_verify(case=case, actor=subject, already_locked=True)
            except TransitionNotAllowed:
                return case
        queue.enqueue_on_commit("notify_subject", case.pk, Notice.ACKNOWLEDGED)
    return case


# --- one-time download codes -----------------------------------------------------------------------


class CodeError(Exception):
    message = _("That code cannot be used. Ask for a new code.")
    new_code_needed = True


class CodeMissing(CodeError):
    message = _("There is no code waiting for this download. Ask for a code first.")


class CodeExpired(CodeError):
    @property
    def message(self) -> str:
        minutes = settings.DSAR_CODE_MINUTES
        return ngettext(
            "That code has expired (codes are valid for %(count)d minute). Ask for a new code.",
            "That code has expired (codes are valid for %(count)d minutes). Ask for a new code.",
            minutes,
        ) % {"count": minutes}


class CodeExhausted(CodeError):
    message = _("Too many wrong tries with that code. Ask for a new code.")


class CodeRevoked(CodeError):
    message = _("This download was withdrawn. We will contact you.")
    new_code_needed = False


class CodeWrong(CodeError):
    new_code_needed = False

    def __init__(self, remaining: int) -> None:
        super().__init__()
        self.remaining = remaining
        self.new_code_needed = remaining <= 0


def _code_hash(bundle_id: int, code: str) -> str:
    # Keyed: a 6-digit code hashed without a key would be found by trying them all.
    message = f"download-code:{bundle_id}:{code}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def create_download_code(*, bundle: Bundle) -> str:
    """A new 6-digit code for `bundle` (earlier unused codes stop working). Returns the code,
    which exists from here on only in the e-mail."""
    code = f"{secrets.randbelow(10**6):06d}"
    now = timezone.now()
    with transaction.atomic():
        DownloadCode.objects.filter(bundle=bundle, used_at__isnull=True, expires_at__gt=now).update(
            expires_at=now
        )
        DownloadCode.objects.create(
            bundle=bundle,
            code_hash=_code_hash(bundle.pk, code),
            expires_at=now + dt.timedelta(minutes=settings.DSAR_CODE_MINUTES),
        )
        record_event(
            bundle.case, "bundle.code_sent", actor=Actor.system(), details={"bundle": bundle.pk}
        )
    return code


def check_download_code(*, bundle: Bundle, code: str) -> str:
    """Check a code for `bundle`; on success it is used up and a single-use download token is
    returned. A wrong code counts a try (committed, even though this raises CodeWrong)."""
    code = (code or "").strip().replace(" ", "")
    now = timezone.now()
    with transaction.atomic():
        if Bundle.objects.filter(pk=bundle.pk, revoked_at__isnull=False).exists():
            raise CodeRevoked  # revoked since the page was opened: no download token
        latest = (
            DownloadCode.objects.select_for_update()
            .filter(bundle=bundle, used_at__isnull=True)
            .order_by("-created_at", "-pk")
            .first()
        )
        if latest is None:
            raise CodeMissing
        if latest.expires_at <= now:
            raise CodeExpired
        if latest.attempts >= settings.DSAR_CODE_MAX_TRIES:
            raise CodeExhausted
        right = hmac.compare_digest(latest.code_hash, _code_hash(bundle.pk, code))
        if right:
            latest.used_at = now
            latest.save(update_fields=["used_at"])
            record_event(
                bundle.case,
                "bundle.code_verified",
                actor=Actor.subject(),
                details={"bundle": bundle.pk},
            )
            return issue_token(
                case=bundle.case, purpose=PortalToken.Purpose.DOWNLOAD, bundle=bundle
            )
        latest.attempts += 1
        latest.save(update_fields=["attempts"])
        remaining = settings.DSAR_CODE_MAX_TRIES - latest.attempts
    raise CodeWrong(remaining)


# --- the download ----------------------------------------------------------------------------------


class DownloadGone(Exception):
    """The bundle can no longer be downloaded: `reason` is window, limit, revoked or
    unavailable."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def start_download(*, raw_token: str):
    """Use a download token: check the bundle's window and download limit, audit the download
    and return (bundle, a readable decrypted stream). Raises TokenError or DownloadGone."""
    now = timezone.now()
    with transaction.atomic():
        token = consume_token(raw_token, PortalToken.Purpose.DOWNLOAD)
        # The bundle row is locked so that two downloads cannot both take the last one.
        bundle = (
            Bundle.objects.select_for_update(of=("self",))
            .select_related("case")
            .filter(pk=token.bundle_id, case_id=token.case_id)
            .first()
        )
        if bundle is not None and (bundle.state != Bundle.State.READY or not bundle.file):
            bundle = None
        found = selectors.bundle_download(bundle, now)
        if isinstance(found, str):
            raise DownloadGone(found)
        record_event(
            bundle.case, selectors.DOWNLOADED, actor=Actor.subject(), details={"bundle": bundle.pk}
        )
    logger.info("case %s: bundle %s downloaded", bundle.case.reference, bundle.pk)
    return bundle, open_bundle(bundle)
