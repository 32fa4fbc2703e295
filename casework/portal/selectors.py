"""Reads for the portal: the regime of a request, and what the status page shows."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from casework import deadlines
from casework.models import (
    OPEN_STATES,
    AuditEvent,
    Bundle,
    Case,
    CaseNote,
    CountryRegime,
    PostalLetter,
    VerificationMethod,
)
from casework.selectors.bundles import download_ended_on, download_window_end  # noqa: F401 (the views read them here)
from dsar.identifiers import InvalidEmail, email_key

CALIFORNIA = "US-CA"
DOWNLOADED = "bundle.downloaded"
# The subject confirmed the e-mail link of a request that staff still verify.
EMAIL_CONFIRMED = "portal.email_confirmed"
# Every portal page names the controller and its DPO: read once a minute per process, not
# once a page (an edit shows at once in the process that saves it, within a minute elsewhere).
CONTROLLER_TTL_SECONDS = 60
_controller_cache: dict[str, tuple[float, dict[str, str]]] = {}


def controller_identity(language: str) -> dict[str, str]:
    """The controller's name in `language`, the DPO's e-mail and the supervisory authority, for
    the pages' header and footer ("" for the first two when the register has no controller
    information yet)."""
    cached = _controller_cache.get(language)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    from dsar.models import ControllerInfo

    controller = ControllerInfo.load()
    authority = settings.DSAR_SUPERVISORY_AUTHORITY
    identity = {
        "controller_name": controller.text("name", language) if controller else "",
        "dpo_email": controller.dpo_email if controller else "",
        "authority_name": authority["name"].get(language, authority["name"]["en"]),
        "authority_website": authority["website"],
    }
    _controller_cache[language] = (time.monotonic() + CONTROLLER_TTL_SECONDS, identity)
    return identity


def forget_controller_identity(**kwargs) -> None:
    _controller_cache.clear()


def regime_for(country: str, california_resident: bool = False) -> str:
    """The regime of a request from `country` (ISO 3166-1 alpha-2), from the CountryRegime
    table: a California resident is looked up as US-CA first. A country not in the table, or
    with a blank regime, gets settings.DSAR_DEFAULT_REGIME. One query."""
    code = (country or "").strip().upper()
    candidates = [CALIFORNIA, code] if code == "US" and california_resident else [code]
    found = dict(
        CountryRegime.objects.filter(country__in=candidates).values_list("country", "regime")
    )
    for candidate in candidates:
        if found.get(candidate):
            return found[candidate]
    return settings.DSAR_DEFAULT_REGIME


def waits_for_staff(case: Case) -> bool:
    """A representative's request, or one whose mailbox is lost: staff verify it through a
    channel on record (or check the authority), not the e-mail link."""
    return case.has_representative or case.mailbox_lost


def cases_for_status_links(email: str) -> list[Case]:
    """The cases a status link may be sent for to `email`: those whose own address it is,
    by the one rule (dsar.identifiers.email_key: no look-alike matches), and whose subject
    confirmed that address; open ones and those closed within the last 90 days, the most
    recent DSAR_STATUS_LINKS_MAX. Never a case whose mailbox the subject said was lost."""
    try:
        key = email_key(email)
    except InvalidEmail:
        return []
    recent = timezone.now() - dt.timedelta(days=90)
    confirmed = Q(verification_method=VerificationMethod.EMAIL_LINK) | Q(
        audit_events__action=EMAIL_CONFIRMED
    )
    cases = (
        Case.objects.filter(Q(state__in=OPEN_STATES) | Q(closed_at__gte=recent), email=key)
        .filter(confirmed, mailbox_lost=False)
        .distinct()
        .order_by("-received_at", "-pk")
    )
    return list(cases[: settings.DSAR_STATUS_LINKS_MAX])


def subject_messages(case: Case) -> QuerySet[CaseNote]:
    return CaseNote.objects.filter(case=case, visible_to_subject=True).order_by("created_at", "pk")


def letters_to_subject(case: Case) -> QuerySet[PostalLetter]:
    """The notices that went, or go, to the subject by post."""
    return PostalLetter.objects.filter(case=case).order_by("created_at", "pk")


def downloads_of(bundle: Bundle) -> int:
    """Downloads so far, counted on the audit trail (every download is an event)."""
    return AuditEvent.objects.filter(
        case_id=bundle.case_id, action=DOWNLOADED, details__bundle=bundle.pk
    ).count()


@dataclass(frozen=True)
class Download:
    bundle: Bundle
    window_ends: dt.datetime
    remaining: int


def _newest_ready(case: Case) -> Bundle | None:
    return case.bundles.filter(state=Bundle.State.READY).order_by("-finished_at", "-pk").first()


def bundle_download(bundle: Bundle | None, now: dt.datetime | None = None) -> Download | str:
    """`bundle` as a download while its window is open and downloads remain, or why it is
    not one: "unavailable" (no bundle), "revoked" (the DPO withdrew it), "window" or "limit"."""
    if bundle is None:
        return "unavailable"
    if bundle.revoked_at is not None:
        return "revoked"
    now = now or timezone.now()
    ends = download_window_end(bundle)
    if ends is None or ends <= now:
        return "window"
    remaining = settings.DSAR_DOWNLOAD_MAX - downloads_of(bundle)
    if remaining <= 0:
        return "limit"
    return Download(bundle=bundle, window_ends=ends, remaining=remaining)


def download_state(case: Case, now: dt.datetime | None = None) -> Download | str:
    """The case's newest ready bundle as a download, or why there is none to download."""
    return bundle_download(_newest_ready(case), now)


def current_download(case: Case, now: dt.datetime | None = None) -> Download | None:
    """The newest ready bundle, while its window is open and downloads remain."""
    found = download_state(case, now)
    return found if isinstance(found, Download) else None


def due_on(case: Case) -> dt.date:
    return deadlines.local_date(case.due_at)
