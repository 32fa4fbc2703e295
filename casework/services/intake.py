"""Intake: a request becomes a case, from any channel (web form, letter, phone, API, command
line). What the request says is one `Intake`; `case_create` checks it, numbers the case, dates
its deadlines by the regime and writes the first audit event."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from casework import deadlines, queue
from casework.actors import Actor
from casework.audit import record_event
from casework.models import (
    Case,
    Channel,
    Language,
    PublicHoliday,
    ReferenceCounter,
    RequestType,
    RestrictionGround,
    VerificationMethod,
    stops_disclosure,
)
from casework.portal import selectors
from casework.selectors.identity import looks_like_held_address
from casework.services.case import _require_text, case_verify
from dsar.identifiers import InvalidEmail, email_key, email_skeleton

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Intake:
    """What a request says, as it came in: the type, how to reach the subject, who they are,
    and the type's details (rectification {"corrections": [...]}, objection {"processing",
    "direct_marketing", "grounds"}, erasure {"scope"}). Only `request_type` and one contact
    channel (an e-mail or a postal address) are required; `case_create` checks the rest."""

    request_type: str
    email: str = ""
    postal_address: str = ""
    name: str = ""
    phone: str = ""
    customer_number: str = ""
    company: str = ""
    language: str = Language.EN
    regime: str | None = None  # None: settings.DSAR_DEFAULT_REGIME
    channel: str = Channel.WEB
    received_at: dt.datetime | None = None  # None: now
    details: dict[str, Any] = field(default_factory=dict)
    restriction_ground: str = ""
    has_representative: bool = False
    representative_name: str = ""
    representative_relationship: str = ""
    mailbox_lost: bool = False  # the subject can no longer open the mailbox of `email`


def _next_reference(year: int) -> str:
    ReferenceCounter.objects.get_or_create(year=year)
    # The UPDATE takes a row lock until commit, so two intakes never draw the same number.
    ReferenceCounter.objects.filter(year=year).update(last=F("last") + 1)
    number = ReferenceCounter.objects.get(year=year).last
    return f"DSAR-{year}-{number:06d}"


def _holidays() -> list[dt.date]:
    return list(PublicHoliday.objects.values_list("date", flat=True))


def _validate_intake(
    *,
    request_type: str,
    email: str,
    postal_address: str,
    language: str,
    regime: str,
    channel: str,
    restriction_ground: str,
    details: dict[str, Any],
) -> None:
    errors: dict[str, list[str]] = {}
    if request_type not in RequestType.values:
        errors["request_type"] = [
            _("Unknown request type “%(value)s”. Choose one of: %(choices)s.")
            % {"value": request_type, "choices": ", ".join(RequestType.values)}
        ]
    if not email and not postal_address:
        errors["email"] = [
            _("Give at least one way to reach the subject: an e-mail or a postal address.")
        ]
    if email:
        try:
            validate_email(email)
            email_key(email)
        except (ValidationError, InvalidEmail):
            errors["email"] = [_("“%(value)s” is not a valid e-mail address.") % {"value": email}]
    if language not in Language.values:
        errors["language"] = [
            _("Language must be one of: %(c)s.") % {"c": ", ".join(Language.values)}
        ]
    if regime not in deadlines.REGIMES:
        errors["regime"] = [
            _("Unknown regime “%(value)s”. Choose one of: %(c)s.")
            % {"value": regime, "c": ", ".join(deadlines.REGIMES)}
        ]
    if channel not in Channel.values:
        errors["channel"] = [_("Unknown channel “%(value)s”.") % {"value": channel}]
    if restriction_ground and restriction_ground not in RestrictionGround.values:
        errors["restriction_ground"] = [_("Unknown restriction ground.")]
    if request_type == RequestType.RECTIFICATION:
        corrections = details.get("corrections")
        if corrections is not None and not isinstance(corrections, list):
            errors["details"] = [_("Corrections must be a list.")]
    if errors:
        raise ValidationError(errors)


def case_create(
    *,
    intake: Intake,
    actor: Actor,
    verified_by=None,
    verification_note: str = "",
    intake_details: dict[str, Any] | None = None,
) -> Case:
    """Open a case from any channel (web form, letter, phone, API, command line).

    With `verified_by` (a staff member who checked identity through a channel already on
    record, with a note saying how) the case is verified at once, in the same transaction.
    `intake_details` are added to the audit event of the case's creation (no personal data).
    """
    email = (intake.email or "").strip()
    postal_address = (intake.postal_address or "").strip()
    regime = intake.regime or settings.DSAR_DEFAULT_REGIME
    details = dict(intake.details or {})
    _validate_intake(
        request_type=intake.request_type,
        email=email,
        postal_address=postal_address,
        language=intake.language,
        regime=regime,
        channel=intake.channel,
        restriction_ground=intake.restriction_ground,
        details=details,
    )
    if verified_by is not None:
        verification_note = _require_text(verification_note, "verification_note")
    skeleton = ""
    if email:
        email = email_key(email)  # the one form addresses are compared in (dsar.identifiers)
        skeleton = email_skeleton(email)

    received_at = intake.received_at or timezone.now()
    received_on = deadlines.local_date(received_at)
    rules = deadlines.get_regime(regime)
    holidays = _holidays()
    confirm_by = deadlines.receipt_confirmation_due(rules, received_on, holidays)
    if intake.request_type == RequestType.OBJECTION and stops_disclosure(details):
        # An opt-out of disclosure ("sale") is due within 15 business days, whatever the regime.
        due_on = deadlines.opt_out_due_date(rules, received_on, holidays)
    else:
        due_on = deadlines.due_date(rules, received_on)

    with transaction.atomic():
        case = Case(
            reference=_next_reference(received_on.year),
            request_type=intake.request_type,
            channel=intake.channel,
            email=email,
            postal_address=postal_address,
            name=intake.name.strip(),
            phone=intake.phone.strip(),
            customer_number=intake.customer_number.strip(),
            company=intake.company.strip(),
            language=intake.language,
            regime=regime,
            received_at=received_at,
            due_at=deadlines.end_of_day(due_on),
            receipt_confirmation_due_at=deadlines.end_of_day(confirm_by) if confirm_by else None,
            details=details,
            restriction_ground=intake.restriction_ground,
            has_representative=intake.has_representative,
            representative_name=intake.representative_name.strip(),
            representative_relationship=intake.representative_relationship.strip(),
            mailbox_lost=intake.mailbox_lost,
            entered_by=actor.user if actor.kind == Actor.STAFF else None,
            email_skeleton=skeleton,
        )
        # Accepted as any request (the requester sees nothing different), but held from
        # release until staff clear it: see casework.selectors.identity.
        lookalike = looks_like_held_address(email, skeleton)
        if lookalike:
            case.lookalike_flagged_at = timezone.now()
        case.save()
        record_event(
            case,
            "case.created",
            actor=actor,
            to_state=case.state,
            details={
                "request_type": intake.request_type,
                "channel": intake.channel,
                "regime": regime,
                "language": intake.language,
                "representative": intake.has_representative,
                **(intake_details or {}),
            },
        )
        if lookalike:
            record_event(case, "identity.lookalike_flagged", actor=Actor.system(), details={})
        if verified_by is not None:
            case = case_verify(
                case=case,
                actor=Actor.staff(verified_by),
                method=VerificationMethod.STAFF_CHECK,
                note=verification_note,
            )
        queue.enqueue_on_commit("find_possible_duplicates", case.pk)
    logger.info("case %s created via %s", case.reference, intake.channel)
    return case


# --- the public form --------------------------------------------------------------------------------


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
    """Open the case of a request from the public form, through case_create (channel
    web, the page's language, the regime of the country), with the representative's authority
    (a file already stored, `authority_name`); the confirmation e-mail is sent by a task after
    commit. Called by `open_submission`, inside its transaction.

    A subject who lost access to the mailbox gets no e-mail there: the case waits for staff to
    verify through a channel on record, and results go only through that channel.
    """
    details = dict(details or {})
    details["country"] = country
    if california_resident:
        details["california_resident"] = True
    regime = selectors.regime_for(country, california_resident)
    with transaction.atomic():
        case = case_create(
            intake=Intake(
                request_type=request_type,
                email=email,
                language=language,
                regime=regime,
                channel=Channel.WEB,
                received_at=received_at,
                details=details,
                mailbox_lost=mailbox_lost,
                **fields,
            ),
            actor=Actor.subject(),
            intake_details={"portal": True, "mailbox_lost": mailbox_lost},
        )
        if authority_name:
            _attach_authority(case, authority_name)
        if not mailbox_lost:
            queue.enqueue_on_commit("send_verification_link", case.pk)
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
