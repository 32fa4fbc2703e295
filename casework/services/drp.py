"""Writes of the Data Rights Protocol (casework/drp/ is its door): pairing, filing through the
intake service, revoking through the case's withdrawal, remembering signed messages so that
none is accepted twice, and the status callbacks' rows (delivered by casework.engine.drp).

The agent acts for the subject: its actions are the subject's in the audit trail, each event
saying which agent (`drp_agent`), never what the person claimed.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from casework import queue
from casework.actors import Actor
from casework.audit import origin, record_event, record_global_event, take_case
from casework.models import (
    Case,
    Channel,
    DrpAgent,
    DrpCallback,
    DrpRequest,
    DrpSeenMessage,
    VerificationMethod,
)
from casework.permissions import check_drp_denial_reason
from casework.portal.selectors import regime_for
from casework.selectors.drp import DENIAL_REASONS, status_key, status_object
from casework.services.case import case_verify, case_withdraw
from casework.services.intake import Intake, case_create
from casework.tokens import hash_token, new_token

logger = logging.getLogger(__name__)


class Replayed(Exception):
    """The signed message was accepted before."""


# What each exercise becomes: the request type and its details (the interfaces of the
# fulfilment side: an objection to direct marketing and to disclosure, a lifting of it, an
# access case limited to the register's part).
EXERCISE_INTAKE: dict[str, tuple[str, dict[str, Any]]] = {
    "sale:opt-out": ("objection", {"direct_marketing": True, "disclosure": True}),
    "sale:opt-in": ("objection", {"direct_marketing": True, "disclosure": True, "lifting": True}),
    "access": ("access", {}),
    "access:specific": ("access", {}),
    "access:categories": ("access", {"scope": "categories"}),
    "deletion": ("erasure", {}),
}


@dataclass(frozen=True)
class Filing:
    """What an agent's request says, parsed and checked by the door."""

    exercise: str
    email: str
    email_verified: bool = False
    name: str = ""
    phone: str = ""
    postal_address: str = ""
    country: str = ""
    california: bool = False
    regime: str = ""  # "ccpa", or "" for the web form's choice
    agent_request_id: str = ""
    status_callback: str = ""
    claims_verified: dict[str, bool] = field(default_factory=dict)


def remember_message(digest: str, expires_at: dt.datetime | None) -> None:
    """Remember a signed message until it expires (the default window when it says no expiry);
    raises Replayed when it was accepted before. Call it inside the transaction of what the
    message does: refused, nothing of it stays."""
    until = expires_at or timezone.now() + dt.timedelta(minutes=settings.DRP_MAX_WINDOW_MINUTES)
    try:
        with transaction.atomic():
            DrpSeenMessage.objects.create(digest=digest, expires_at=until)
    except IntegrityError:
        raise Replayed from None


def purge_seen_messages(now: dt.datetime | None = None) -> int:
    """Forget signed messages past their expiry (they would be refused as expired anyway)."""
    deleted, _ = DrpSeenMessage.objects.filter(expires_at__lt=now or timezone.now()).delete()
    return deleted


def agent_pair(*, agent: DrpAgent, digest: str, expires_at: dt.datetime) -> str:
    """A fresh bearer token for `agent` (256 bits; only its hash is kept): pairing again
    replaces the one before. Returns the token."""
    raw = new_token()
    with transaction.atomic():
        remember_message(digest, expires_at)
        DrpAgent.objects.filter(pk=agent.pk).update(
            token_hash=hash_token(raw), paired_at=timezone.now()
        )
        record_global_event("drp.agent_paired", actor=Actor.system(), details={"agent": agent.pk})
    logger.info("DRP agent %s paired", agent.pk)
    return raw


def _regime(filing: Filing) -> str:
    if filing.regime == "ccpa":
        return "ccpa"
    return regime_for(filing.country, filing.california)


def drp_file(
    *, agent: DrpAgent, filing: Filing, digest: str, expires_at: dt.datetime
) -> DrpRequest:
    """Open the case of an agent's request through the intake service, as the web form does.

    Where the agent's trust policy says its verified e-mail claim suffices for the exercise,
    the case is verified at once by the agent's attestation; otherwise the person confirms
    their e-mail with us (the portal's confirmation e-mail; the agent is told
    need_user_verification and our page's address).
    """
    request_type, extra = EXERCISE_INTAKE[filing.exercise]
    details = {**extra}
    if filing.country:
        details["country"] = filing.country
    if filing.california:
        details["california_resident"] = True
    attested = filing.email_verified and agent.email_claim_suffices(filing.exercise)
    with transaction.atomic(), origin(drp_agent=agent.pk):
        remember_message(digest, expires_at)
        case = case_create(
            intake=Intake(
                request_type=request_type,
                email=filing.email,
                name=filing.name,
                phone=filing.phone,
                postal_address=filing.postal_address,
                regime=_regime(filing),
                channel=Channel.API,
                details=details,
            ),
            actor=Actor.subject(),
            intake_details={"drp_exercise": filing.exercise},
        )
        drp_request = DrpRequest.objects.create(
            agent=agent,
            case=case,
            exercise=filing.exercise,
            agent_request_id=filing.agent_request_id,
            status_callback=filing.status_callback,
            regime=filing.regime,
        )
        record_event(
            case,
            "drp.request_filed",
            actor=Actor.subject(),
            details={
                "request_id": str(drp_request.request_id),
                "exercise": filing.exercise,
                "claims_verified": filing.claims_verified,
                "callback": bool(filing.status_callback),
            },
        )
        if attested:
            case = case_verify(
                case=case, actor=Actor.subject(), method=VerificationMethod.AGENT_ATTESTATION
            )
        else:
            queue.enqueue_on_commit("send_verification_link", case.pk)
        key = status_key(drp_request)
        DrpRequest.objects.filter(pk=drp_request.pk).update(
            last_status=key[0], last_reason=key[1], last_expected_by=key[2]
        )
    logger.info("DRP request %s filed by %s as case %s", drp_request.pk, agent.pk, case.reference)
    return DrpRequest.objects.select_related("case", "agent").get(pk=drp_request.pk)


def drp_revoke(
    *, drp_request: DrpRequest, digest: str, expires_at: dt.datetime | None, reason: str
) -> DrpRequest:
    """The agent revokes the request: the case is withdrawn (where its state allows; else
    TransitionNotAllowed, and nothing is kept). The agent's reason is a note on the case."""
    with transaction.atomic(), origin(drp_agent=drp_request.agent_id):
        remember_message(digest, expires_at)
        withdraw_case(case=drp_request.case, reason=reason)
    return DrpRequest.objects.select_related("case", "agent").get(pk=drp_request.pk)


def withdraw_case(*, case: Case, reason: str) -> Case:
    return case_withdraw(case=case, actor=Actor.subject(), note=reason[:2000])


# --- status callbacks ---------------------------------------------------------------------------


def drp_status_changed(case_id: int) -> DrpCallback | None:
    """After a change to a DRP case: when its DRP status (status, reason, expected date)
    differs from the last one the agent was told, a callback row is written and its delivery
    queued. Idempotent: called twice for one change, it writes one row."""
    with transaction.atomic():
        drp_request = (
            DrpRequest.objects.select_for_update(of=("self",))
            .select_related("case", "agent")
            .filter(case_id=case_id)
            .first()
        )
        if drp_request is None:
            return None
        key = status_key(drp_request)
        if key == (drp_request.last_status, drp_request.last_reason, drp_request.last_expected_by):
            return None
        DrpRequest.objects.filter(pk=drp_request.pk).update(
            last_status=key[0], last_reason=key[1], last_expected_by=key[2]
        )
        if not drp_request.status_callback:
            return None
        callback = DrpCallback.objects.create(
            request=drp_request, payload=status_object(drp_request)
        )
        queue.enqueue_on_commit("deliver_drp_callback", callback.pk)
    return callback


def case_set_drp_denial_reason(*, case: Case, actor: Actor, reason: str) -> DrpRequest:
    """The reason an authorised agent is told for a refusal (DRP `denied`), chosen by the DPO
    where the case's own facts do not say it (suspected fraud, a claim not covered, outside
    our jurisdiction, ...). The agent is called back if what it sees changes."""
    check_drp_denial_reason(case, actor)
    if reason not in DENIAL_REASONS:
        raise ValidationError({"reason": _("Choose one of the protocol's reasons.")})
    with transaction.atomic():
        take_case(case.pk)
        drp_request = DrpRequest.objects.select_for_update().get(case=case)
        previous = drp_request.denial_reason
        drp_request.denial_reason = reason
        drp_request.save(update_fields=["denial_reason"])
        record_event(
            case,
            "drp.denial_reason_set",
            actor=actor,
            details={"from": previous, "to": reason},
        )
    return drp_request
