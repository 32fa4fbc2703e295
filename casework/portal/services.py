"""Portal services: intake from the public form, tokens, e-mail confirmation and one-time
download codes. Every change to a case goes through casework.services; this module adds only
what is the portal's own (tokens and codes) and the audit events that go with it."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
import time
import uuid
from functools import partial
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_fsm import TransitionNotAllowed

from casework import bundles, services
from casework.actors import Actor
from casework.audit import record_event
from casework.models import (
    Bundle,
    Case,
    Channel,
    DownloadCode,
    PortalSubmission,
    PortalToken,
    State,
)
from casework.portal import selectors

logger = logging.getLogger(__name__)

# The cache key of the opener's bell (wake_opener).
OPENER_BELL = "portal:opener-bell"
OPENER_PAUSE_SECONDS = 0.05
Purpose = PortalToken.Purpose
Submission = PortalSubmission.State


# --- tokens --------------------------------------------------------------------------------------


class TokenError(Exception):
    """A link that opens nothing; `status` is the HTTP status of the page that says so."""

    status = 404
    reason = "unknown"


class TokenUnknown(TokenError):
    pass


class TokenExpired(TokenError):
    status = 410
    reason = "expired"


class TokenUsed(TokenError):
    status = 410
    reason = "used"


def token_lifetime(purpose: str) -> dt.timedelta:
    if purpose == Purpose.VERIFY:
        return dt.timedelta(hours=settings.DSAR_VERIFY_TOKEN_HOURS)
    if purpose == Purpose.STATUS:
        return dt.timedelta(hours=settings.DSAR_STATUS_TOKEN_HOURS)
    return dt.timedelta(minutes=settings.DSAR_DOWNLOAD_TOKEN_MINUTES)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def issue_token(*, case: Case, purpose: str, bundle: Bundle | None = None) -> str:
    """A new token (256 bits from `secrets`); only its SHA-256 is stored. Returns the token,
    which exists from here on only in the e-mail or page it is put in."""
    raw = secrets.token_urlsafe(32)
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


# --- intake ----------------------------------------------------------------------------------------


AUTHORITY_TYPES = {"pdf": "application/pdf", "jpg": "image/jpeg", "png": "image/png"}


def authority_kind(upload: UploadedFile) -> str | None:
    """ "pdf", "jpg" or "png" from the file's first bytes (not its name or declared type)."""
    upload.seek(0)
    head = upload.read(8)
    upload.seek(0)
    return _kind_of(head)


def _kind_of(head: bytes) -> str | None:
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    return None


def receive_submission(
    *, language: str, authority: UploadedFile | None = None, **fields: Any
) -> PortalSubmission:
    """The web request's part of a request from the public form: store it as one row (with the
    representative's authority, under a random name) and wake the opener, the task that opens
    its case (`wake_opener`). Nothing about the subject is looked up here, so the form answers
    alike whoever the e-mail belongs to; the case and its reference are made by the worker.

    The opener is woken after commit; should that fail, the row stays pending and the sweeper
    queues it (`sweep_submissions`), so no request is lost.
    """
    submission = PortalSubmission(language=language, payload=fields)
    if authority is not None:
        kind = authority_kind(authority)
        if kind is None:
            raise ValueError("not a PDF, JPEG or PNG file")
        # A random name: the subject's file name may itself be personal data.
        submission.authority.save(f"{uuid.uuid4().hex}.{kind}", authority, save=False)
    try:
        submission.save()  # one INSERT, committed on its own (or with the caller's transaction)
    except Exception:
        if submission.authority:
            submission.authority.storage.delete(submission.authority.name)
        raise
    # Once the row is committed, the opener is woken; should that fail, it is logged, and the
    # sweeper queues the row later (robust: the subject still gets the page).
    transaction.on_commit(wake_opener, robust=True)
    return submission


def wake_opener() -> bool:
    """Ring the opener's bell: queue `open_pending_submissions` unless the bell is ringing
    already, that is unless an opener is queued or at work, and will find this submission
    (it silences the bell before its last look; see there). One cache operation per post
    instead of a task publish (a third of the form's own cost), and one task for a burst of
    posts. Returns whether a task was queued. The bell expires after
    DSAR_OPENER_BELL_SECONDS, so an opener whose message was lost holds nothing up for long.
    The cache must be one that web and worker processes share (Redis, or the database).
    """
    if not cache.add(OPENER_BELL, 1, timeout=settings.DSAR_OPENER_BELL_SECONDS):
        return False
    _queue_opener()
    return True


def _queue_opener() -> None:
    from casework.portal import tasks

    try:
        tasks.open_pending_submissions.delay()
    except Exception:
        # A bell left ringing with no opener would make every post until it expires leave
        # its row to the sweeper; silenced, the next post rings again.
        cache.delete(OPENER_BELL)
        raise


def open_pending_submissions(*, budget_seconds: float | None = None) -> int:
    """The opener: open the case of every submission no task has taken yet, one at a time
    (several openers may run: each takes its rows with SKIP LOCKED). Returns how many cases
    it opened.

    Before it stops it silences the bell and looks once more, so that a post whose ring
    found the bell still ringing is not left behind: that post's row was committed before
    the bell was silenced, so the last look sees it. Should rows remain, it rings the bell
    itself and goes on, unless another post rang it first (that post queued an opener).
    After `budget_seconds` (default DSAR_OPENER_BUDGET_SECONDS) it queues a fresh opener and
    stops, so that a long backlog does not make one long task. A submission that fails in an
    unforeseen way is logged and left to the sweeper; the opener goes on with the others.
    """
    budget = settings.DSAR_OPENER_BUDGET_SECONDS if budget_seconds is None else budget_seconds
    deadline = time.monotonic() + budget
    opened = 0
    try:
        while True:
            submission_id = _take_next_submission()
            if submission_id is not None:
                opened += _open_taken(submission_id) is not None
            else:
                cache.delete(OPENER_BELL)
                if not _untaken().exists():
                    return opened
                if not cache.add(OPENER_BELL, 1, timeout=settings.DSAR_OPENER_BELL_SECONDS):
                    return opened
                # Rows are left that no take found: new ones, or ones another transaction
                # holds locked for a moment. A short pause, so that a held row is not polled hot.
                time.sleep(OPENER_PAUSE_SECONDS)
            if time.monotonic() > deadline:
                _queue_opener()
                return opened
    except BaseException:
        # Stopped early (the database or the broker failed, or the time limit): the next
        # post rings again rather than trusting this opener; the sweeper has the rest.
        cache.delete(OPENER_BELL)
        raise


def _untaken():
    return PortalSubmission.objects.filter(state=Submission.PENDING, deliveries=0)


def _take_next_submission() -> int | None:
    """Take the oldest submission no task has taken: its first delivery is counted in the
    same transaction, so that no other opener takes it, and a row whose opener died is left
    to the sweeper (which counts each further delivery)."""
    with transaction.atomic():
        submission_id = (
            _untaken()
            .select_for_update(skip_locked=True)
            .order_by("pk")
            .values_list("pk", flat=True)
            .first()
        )
        if submission_id is not None:
            PortalSubmission.objects.filter(pk=submission_id).update(
                deliveries=1, updated_at=timezone.now()
            )
    return submission_id


def _open_taken(submission_id: int) -> Case | None:
    """Open a submission this opener took. An unforeseen failure is logged, not raised: the
    row, counted once, is the sweeper's to deliver again, and the opener goes on with the
    other submissions. The time limit stops the opener (its row goes to the sweeper too)."""
    try:
        return _open(submission_id)
    except SoftTimeLimitExceeded:
        raise
    except Exception as exc:
        # The class only: a driver's message can quote the values (DESIGN.md, "Security").
        logger.error(
            "form submission %s could not be opened (%s); left to the sweeper",
            submission_id,
            type(exc).__name__,
        )
        return None


def _queue_delivery(submission_id: int) -> None:
    """One counted delivery of one submission (`open_submission`): the sweeper's, staff's."""
    from casework.portal import tasks

    tasks.open_submission.delay(submission_id)


def open_submission(submission_id: int) -> Case | None:
    """Open the case of one stored form submission (a delivery from the sweeper or a retry
    by staff; the opener takes new ones). Returns the case, or None when there is nothing
    (more) to do: the submission was opened already (meanwhile, too), or it failed.

    Each delivery is counted first, in a transaction of its own, so that a submission that
    kills its worker every time is marked failed after DSAR_SUBMISSION_MAX_DELIVERIES.
    """
    pending = PortalSubmission.objects.filter(pk=submission_id, state=Submission.PENDING)
    limit = settings.DSAR_SUBMISSION_MAX_DELIVERIES
    now = timezone.now()
    if not pending.filter(deliveries__lt=limit).update(
        deliveries=F("deliveries") + 1, updated_at=now
    ):
        if pending.update(
            state=Submission.FAILED,
            error=f"delivered {limit} times without being opened",
            updated_at=now,
        ):
            logger.error("form submission %s failed: delivered %s times", submission_id, limit)
        return None
    return _open(submission_id)


def _open(submission_id: int) -> Case | None:
    """Open the case of a submission whose delivery was counted, and delete the row in the
    same transaction. One that breaks a rule of case_create the form did not foresee is marked
    failed at once, with the names of the fields at fault (not their values), for staff to
    see in the admin."""
    pending = PortalSubmission.objects.filter(pk=submission_id, state=Submission.PENDING)
    try:
        with transaction.atomic():
            # Waited for, not skipped: another transaction may hold the row a moment only
            # (a search for untaken rows that passes it over); once it lets go, the row is
            # pending still, or gone (opened meanwhile) and there is nothing to do.
            submission = pending.select_for_update().first()
            if submission is None:
                return None
            case = submit_request(
                language=submission.language,
                received_at=submission.received_at,
                authority_name=submission.authority.name or "",
                **submission.payload,
            )
            submission.delete()
    except (ValidationError, TypeError) as exc:
        # Retrying cannot help: a field case_create refuses, or fields it does not know (a
        # submission stored by an older version of the form).
        fault = _fault(exc)
        pending.update(state=Submission.FAILED, error=fault, updated_at=timezone.now())
        logger.error(
            "form submission %s failed: %s",
            submission_id,
            fault,
            exc_info=isinstance(exc, TypeError),
        )
        return None
    logger.info("form submission %s opened as case %s", submission_id, case.reference)
    return case


def _fault(exc: Exception) -> str:
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        return ("invalid: " + ", ".join(sorted(exc.error_dict)))[:300]
    return f"{type(exc).__name__} (see the worker's log)"


def retry_submission(*, submission: PortalSubmission, actor: Actor) -> None:
    """Staff put a failed submission back in the queue (after fixing what made it fail)."""
    services.require_perm(actor, "casework.change_portalsubmission")
    with transaction.atomic():
        updated = PortalSubmission.objects.filter(pk=submission.pk, state=Submission.FAILED).update(
            state=Submission.PENDING, deliveries=0, error="", updated_at=timezone.now()
        )
        if updated:
            transaction.on_commit(partial(_queue_delivery, submission.pk), robust=True)


def sweep_submissions(now: dt.datetime | None = None) -> int:
    """Queue again the submissions still pending after the sweep grace (a publish that failed
    after commit, a lost message, a flushed Redis, a killed worker). Those no task has taken
    get one opener for all of them; each taken one (its opener died) a delivery of its own,
    counted, so that one that kills its worker ends failed. Returns how many were found."""
    now = now or timezone.now()
    grace = dt.timedelta(seconds=settings.DSAR_SWEEP_GRACE_SECONDS)
    stale = PortalSubmission.objects.filter(state=Submission.PENDING, updated_at__lt=now - grace)
    taken = list(stale.filter(deliveries__gt=0).values_list("pk", flat=True))
    for submission_id in taken:
        _queue_delivery(submission_id)
    untaken = stale.filter(deliveries=0).count()
    if untaken:
        _queue_opener()  # past the bell: it may be ringing for an opener that was lost
    return len(taken) + untaken


def delete_submissions(submissions) -> int:
    """Delete submissions with their uploads (the representative's authority is personal
    data too; a row deleted alone would leave its file behind). Returns how many."""
    deleted = 0
    for submission in submissions:
        if submission.authority:
            submission.authority.storage.delete(submission.authority.name)
        submission.delete()
        deleted += 1
    return deleted


def purge_failed_submissions(now: dt.datetime | None = None) -> int:
    """Delete failed submissions (and their uploads) left untouched for
    DSAR_SUBMISSION_RETENTION_DAYS: staff neither queued them again nor deleted them, and the
    personal data they hold must not be kept for ever. Returns how many."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.DSAR_SUBMISSION_RETENTION_DAYS)
    purged = delete_submissions(
        PortalSubmission.objects.filter(state=Submission.FAILED, updated_at__lt=cutoff)
    )
    if purged:
        logger.info("%d failed form submission(s) deleted after retention", purged)
    return purged


def submit_request(
    *,
    request_type: str,
    email: str,
    language: str,
    country: str,
    california_resident: bool = False,
    mailbox_lost: bool = False,
    authority_name: str = "",
    details: dict[str, Any] | None = None,
    received_at: dt.datetime | None = None,
    **fields: Any,
) -> Case:
    """Open the case of a request from the public form, through services.case_create (channel
    web, the page's language, the regime of the country), with the representative's authority
    (a file already stored, `authority_name`); the confirmation e-mail is sent by a task after
    commit. Called by `open_submission`, inside its transaction.

    A subject who lost access to the mailbox gets no e-mail there: the case waits for staff to
    verify through a channel on record, and results go only through that channel.
    """
    from casework.portal import tasks

    details = dict(details or {})
    details["country"] = country
    if california_resident:
        details["california_resident"] = True
    if mailbox_lost:
        details["mailbox_lost"] = True
    regime = selectors.regime_for(country, california_resident)
    with transaction.atomic():
        case = services.case_create(
            request_type=request_type,
            actor=Actor.subject(),
            email=email,
            language=language,
            regime=regime,
            channel=Channel.WEB,
            received_at=received_at,
            details=details,
            intake_details={"portal": True, "mailbox_lost": mailbox_lost},
            **fields,
        )
        if authority_name:
            _attach_authority(case, authority_name)
        if not mailbox_lost:
            tasks.send_verification_link.delay_on_commit(case.pk)
    return case


def _attach_authority(case: Case, name: str) -> None:
    """The stored authority becomes the case's, with its hash, size and type in the audit."""
    storage = case.representative_authority.storage
    digest, size, head = hashlib.sha256(), 0, b""
    with storage.open(name, "rb") as stored:
        for chunk in iter(lambda: stored.read(64 * 1024), b""):
            head = head or chunk[:8]
            digest.update(chunk)
            size += len(chunk)
    kind = _kind_of(head)
    Case.objects.filter(pk=case.pk).update(representative_authority=name)
    case.representative_authority.name = name
    record_event(
        case,
        "case.authority_received",
        actor=Actor.subject(),
        details={
            "sha256": digest.hexdigest(),
            "size": size,
            "type": AUTHORITY_TYPES.get(kind or "", "unknown"),
        },
    )


# --- e-mail confirmation ---------------------------------------------------------------------------


class RequestClosed(TokenError):
    """The request the link belongs to is closed (expired, withdrawn, ...)."""

    status = 410
    reason = "closed"


def confirm_email(*, raw_token: str) -> Case:
    """The subject confirmed the e-mail link (a POST from the page the link opens).

    An ordinary request is verified through services.case_verify, which starts gathering. A
    representative's request, or one whose mailbox was said to be lost, stays `received`: the
    confirmation is recorded as an audit event and staff verify it (checking the authority or
    through a channel on record) with the admin's Verify button.
    The acknowledgement e-mail is sent by a task after commit. Raises TokenError (RequestClosed
    among them); returns the case as it is now.
    """
    from casework.portal import tasks

    subject = Actor.subject()
    with transaction.atomic():
        token = consume_token(raw_token, Purpose.VERIFY)
        case = Case.objects.select_for_update().get(pk=token.case_id)
        if not case.is_open:
            raise RequestClosed
        if case.state != State.RECEIVED:
            return case  # verified meanwhile (by staff, or another link): nothing to do
        if selectors.waits_for_staff(case):
            record_event(
                case,
                "portal.email_confirmed",
                actor=subject,
                details={
                    "waits_for": "authority" if case.has_representative else "channel_on_record"
                },
            )
        else:
            try:
                case = services.case_verify(case=case, actor=subject, already_locked=True)
            except TransitionNotAllowed:
                return case
        tasks.send_acknowledgement.delay_on_commit(case.pk)
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
            return issue_token(case=bundle.case, purpose=Purpose.DOWNLOAD, bundle=bundle)
        latest.attempts += 1
        latest.save(update_fields=["attempts"])
        remaining = settings.DSAR_CODE_MAX_TRIES - latest.attempts
    raise CodeWrong(remaining)


# --- the download ----------------------------------------------------------------------------------


class DownloadGone(Exception):
    """The bundle can no longer be downloaded: `reason` is window, limit or unavailable."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def start_download(*, raw_token: str):
    """Use a download token: check the bundle's window and download limit, audit the download
    and return (bundle, a readable decrypted stream). Raises TokenError or DownloadGone."""
    now = timezone.now()
    with transaction.atomic():
        token = consume_token(raw_token, Purpose.DOWNLOAD)
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
    return bundle, bundles.open_bundle(bundle)
