"""Reads of our own record of opt-outs (`casework.models.OptOut`): whether marketing to, or
disclosure of the data of, whoever holds an identifier is stopped; which of a subject's
recipients may no longer receive their data; and what the subject is told of it.

Identifiers are compared by a keyed hash of their normalised form (`identifier_digest`), so
the record never holds an e-mail address, and an address typed in another case (upper-case
letters, an IDNA domain) finds the same rows.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from django.conf import settings
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from casework.deadlines import local_date
from casework.models import (
    Case,
    OptOut,
    is_marketing_objection,
    is_objection_lifting,
    is_opt_out,
)
from casework.selectors.identity import verified_channel
from dsar.identifiers import Identifier

# The kinds of identifier an opt-out is recorded under (what a suppression list matches on).
OPT_OUT_KINDS = ("email", "customer_number", "phone")
_DIGEST_CONTEXT = b"casework.optout.identifier.v1"


def _digest_key() -> bytes:
    # Derived from the audit key, which is kept as long as the trail it protects: an opt-out
    # must still be found years on (SECRET_KEY may rotate). Separated by its own context.
    return hmac.new(settings.DSAR_AUDIT_KEY, _DIGEST_CONTEXT, hashlib.sha256).digest()


def identifier_digest(identifier: Identifier) -> str:
    """The keyed hash (HMAC-SHA256, hex) an opt-out stores for an identifier, of its kind and
    normalised value."""
    message = f"{identifier.kind}\x00{identifier.value}".encode()
    return hmac.new(_digest_key(), message, hashlib.sha256).hexdigest()


def _identifiers(*, email: str = "", customer_number: str = "", phone: str = "") -> set[Identifier]:
    found = set()
    for kind, value in (("email", email), ("customer_number", customer_number), ("phone", phone)):
        if value and value.strip():
            identifier = Identifier(kind, value)
            if identifier.usable:
                found.add(identifier)
    return found


def subject_identifiers(case: Case) -> set[Identifier]:
    """The identifiers a case names its subject by, for the opt-out record and its checks:
    the request's e-mail, customer number and phone (an opt-out releases nothing, so what the
    requester claims is enough to stop marketing and disclosure to it), and the case's
    verified channel."""
    found = _identifiers(email=case.email, customer_number=case.customer_number, phone=case.phone)
    found |= {i for i in verified_channel(case) if i.kind in OPT_OUT_KINDS and i.usable}
    return found


def opt_outs_in_force(identifiers: Iterable[Identifier], kind: str | None = None):
    """The opt-outs not lifted recorded under any of these identifiers (of `kind`, if given)."""
    digests = {identifier_digest(i) for i in identifiers}
    if not digests:
        return OptOut.objects.none()
    rows = OptOut.objects.filter(identifier_hash__in=digests, lifted_at__isnull=True)
    return rows.filter(kind=kind) if kind else rows


def disclosure_stopped(*, email: str = "", customer_number: str = "", phone: str = "") -> bool:
    """Whether the disclosure of the data of whoever holds one of these identifiers to third
    parties is stopped (an opt-out of "sale" in force)."""
    identifiers = _identifiers(email=email, customer_number=customer_number, phone=phone)
    return opt_outs_in_force(identifiers, OptOut.Kind.DISCLOSURE).exists()


def marketing_stopped(*, email: str = "", customer_number: str = "", phone: str = "") -> bool:
    """Whether direct marketing to whoever holds one of these identifiers is stopped."""
    identifiers = _identifiers(email=email, customer_number=customer_number, phone=phone)
    return opt_outs_in_force(identifiers, OptOut.Kind.MARKETING).exists()


def case_disclosure_stopped(case: Case) -> bool:
    """Whether disclosure of the data of the case's subject is stopped (by any of the
    identifiers the case names them by)."""
    return opt_outs_in_force(subject_identifiers(case), OptOut.Kind.DISCLOSURE).exists()


def opt_out_recorded(case: Case) -> list[OptOut]:
    """The opt-outs the case itself recorded."""
    return list(case.opt_outs.order_by("kind", "identifier_kind"))


def opt_outs_lifted_by(case: Case) -> list[OptOut]:
    """The opt-outs a lifting case lifted."""
    return list(case.lifted_opt_outs.order_by("kind", "identifier_kind"))


def opt_out_told(case: Case) -> list[str]:
    """What the completion e-mail and letter tell the subject of their opt-out, in the active
    language: that marketing and disclosure stopped (an opt-out), or that the opt-out is
    lifted and what that does not change (a lifting). Empty for any other case."""
    if is_objection_lifting(case):
        lifted = opt_outs_lifted_by(case)
        when = date_format(local_date(case.closed_at), "j F Y") if case.closed_at else ""
        lines = []
        if lifted:
            lines.append(
                _(
                    "Your objection to direct marketing and to the disclosure of your data to "
                    "third parties is lifted as of %(date)s. Our record of your earlier opt-out is "
                    "kept, marked as lifted on that date, so that we can show when it applied."
                )
                % {"date": when}
            )
        else:
            lines.append(
                _(
                    "We hold no opt-out in force under the contact details you confirmed to us, "
                    "so there was nothing to lift."
                )
            )
        lines.append(
            _(
                "Lifting the objection does not by itself change the suppression lists of our "
                "marketing systems: they keep you off their mailings until you give your consent "
                "in them (for example by subscribing to a newsletter again)."
            )
        )
        return lines
    if not is_opt_out(case):
        return []
    lines = []
    kinds = {row.kind for row in opt_out_recorded(case)}
    if is_marketing_objection(case):
        lines.append(
            _(
                "We have stopped using your personal data for direct marketing, and we keep a "
                "record of your objection so that no more marketing is sent to you."
            )
        )
    if OptOut.Kind.DISCLOSURE in kinds:
        lines.append(
            _(
                "We have stopped disclosing your personal data to third parties (selling or "
                "sharing it): our records now show that your data may not be disclosed to them."
            )
        )
    return lines
