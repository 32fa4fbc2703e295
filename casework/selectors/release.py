"""The release check: before an access or portability case is approved, the contact details and
identifiers the bundle will carry that are not the channel the subject proved control of.

An e-mail address of a colleague in an event record, a second phone in the CRM, a customer
number of another account: each would go to whoever holds the verified channel. The approver
sees them listed and confirms they are the subject's (`casework.services.case_approve`).
Values are personal data: they are shown on the staff approval page only, never logged, and the
audit trail keeps their number, not them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from django.conf import settings
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from casework.audit import action_names
from casework.models import AuditEvent, Bundle, Case
from casework.portal.selectors import DOWNLOADED
from casework.selectors.identity import verified_channel
from casework.selectors.review import REDACTED, reviewed_records
from dsar.identifiers import IDENTIFIER_KINDS, Identifier, same_email

EMAIL = "email"
PHONE = "phone"
CUSTOMER_NUMBER = "customer_number"
POSTAL_ADDRESS = "postal_address"

KIND_LABELS = {
    EMAIL: _("E-mail"),
    PHONE: _("Phone"),
    CUSTOMER_NUMBER: _("Customer number"),
    POSTAL_ADDRESS: _("Postal address"),
}

# An address inside free text ("write to ana@example.com, or call"): no spaces, an @, a dot in
# the domain. Loose on purpose: a false hit costs a glance, a miss a disclosure.
_EMAIL_IN_TEXT = re.compile(r"[^\s@<>\"'(),;:\[\]]+@[^\s@<>\"'(),;:\[\]]+\.[^\s@<>\"'(),;:\[\]]+")
# Fewer digits than this cannot be a phone number: the matcher is not run on such text.
_PHONE_MIN_DIGITS = 7
# Field names that say what their value is, in English and Albanian.
_PHONE_FIELD = re.compile(r"phone|mobile|\btel\b|telefon|celular", re.I)
_CUSTOMER_FIELD = re.compile(r"customer.?(no|nr|number|id|num)|client.?(no|nr|number|id)", re.I)
_ADDRESS_FIELD = re.compile(r"address|adres", re.I)
_NOT_POSTAL = re.compile(r"e-?mail|\bip\b|mac|web|url", re.I)


@dataclass
class ReleaseItem:
    """One identifier or contact detail the bundle carries: as first found, where, how often."""

    kind: str
    value: str
    # "System: source · category", in the order first found.
    places: list[str] = field(default_factory=list)
    count: int = 0
    # Given by the requester on the request itself (still not the verified channel).
    on_request: bool = False

    @property
    def kind_label(self) -> str:
        return str(KIND_LABELS.get(self.kind, self.kind))


def verified_email(case: Case) -> str:
    """The case's e-mail when it is part of the verified channel (`selectors.identity`: the
    subject confirmed its link, or staff checked it), else ""."""
    if case.email and Identifier("email", case.email) in verified_channel(case):
        return case.email
    return ""


def _strings(value: Any) -> Iterator[str]:
    """The text in a record's value, nested lists and objects included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield str(value)


def _phones(text: str) -> Iterator[str]:
    if sum(ch.isdigit() for ch in text) < _PHONE_MIN_DIGITS:
        return
    region = getattr(settings, "DSAR_PHONE_REGION", None) or None
    for match in phonenumbers.PhoneNumberMatcher(text, region):
        yield match.raw_string


def _found_in(name: str, text: str) -> Iterator[tuple[str, str]]:
    """(kind, raw value) of every identifier or contact detail in one field's text."""
    for address in _EMAIL_IN_TEXT.findall(text):
        yield EMAIL, address.rstrip(".")
    phones = list(_phones(text))
    for number in phones:
        yield PHONE, number
    if not phones and _PHONE_FIELD.search(name) and any(ch.isdigit() for ch in text):
        yield PHONE, text.strip()
    if _CUSTOMER_FIELD.search(name) and any(ch.isalnum() for ch in text):
        yield CUSTOMER_NUMBER, text.strip()
    postal = _ADDRESS_FIELD.search(name) and not _NOT_POSTAL.search(name)
    if postal and "@" not in text and any(ch.isalpha() for ch in text):
        yield POSTAL_ADDRESS, " ".join(text.split())


def _key(kind: str, value: str) -> str:
    normalise = IDENTIFIER_KINDS.get(kind)
    if normalise is not None:
        return normalise(value)
    return " ".join(value.casefold().split())


def _on_request(case: Case) -> set[tuple[str, str]]:
    given = [
        (EMAIL, case.email),
        (PHONE, case.phone),
        (CUSTOMER_NUMBER, case.customer_number),
        (POSTAL_ADDRESS, case.postal_address),
    ]
    return {(kind, _key(kind, value)) for kind, value in given if value.strip()}


def release_check(case: Case) -> list[ReleaseItem]:
    """Every e-mail address, phone number, customer number and postal address in the records
    the bundle is built from (`reviewed_records`: excluded records out, redacted values gone)
    that is not the verified channel, once each (compared in normalised form), with where it
    was found and in how many records. Empty for a case that releases no bundle's data."""
    verified = verified_email(case)
    channel = {(i.kind, i.value) for i in verified_channel(case)}
    given = _on_request(case)
    found: dict[tuple[str, str], ReleaseItem] = {}
    for category, record in reviewed_records(case):
        place = f"{record['source'] or '—'} · {category}"
        in_this_record: set[tuple[str, str]] = set()
        for name, value in (record.get("data") or {}).items():
            for text in _strings(value):
                if text == REDACTED:
                    continue
                for kind, raw in _found_in(str(name), text):
                    if kind == EMAIL and verified and same_email(raw, verified):
                        continue  # the verified channel itself
                    key = (kind, _key(kind, raw))
                    if not key[1] or key in channel:
                        continue
                    item = found.get(key)
                    if item is None:
                        item = found[key] = ReleaseItem(kind, raw, on_request=key in given)
                    if place not in item.places:
                        item.places.append(place)
                    if key not in in_this_record:
                        in_this_record.add(key)
                        item.count += 1
    order = list(KIND_LABELS)
    return sorted(found.values(), key=lambda item: order.index(item.kind))


def release_check_for_page(case: Case) -> list[ReleaseItem]:
    """`release_check` read once per case instance: the approval page asks it for whether to
    show the checkbox, the digest and the list, each a read of every record otherwise. The
    service that approves reads it anew, on the locked case."""
    items = getattr(case, "_release_items", None)
    if items is None:
        items = case._release_items = release_check(case)
    return items


def release_fingerprint(items: list[ReleaseItem]) -> str:
    """A digest of a release check's list (kinds and normalised values), so that an
    acknowledgement can say which list it covered without carrying the values."""
    keys = sorted({(item.kind, _key(item.kind, item.value)) for item in items})
    return hashlib.sha256(repr(keys).encode()).hexdigest()[:32]


# --- after release --------------------------------------------------------------------------------


def released_bundles(case: Case) -> QuerySet[Bundle]:
    """The case's bundles the subject can be given: built, stored, not revoked."""
    return (
        Bundle.objects.filter(case=case, state=Bundle.State.READY, revoked_at__isnull=True)
        .exclude(file="")
        .order_by("-finished_at", "-pk")
    )


def bundle_downloads(bundle_ids: list[int], case: Case) -> list[dict[str, Any]]:
    """The subject's downloads of these bundles, oldest first, from the audit trail (every
    download is an event): [{"bundle": id, "at": ISO time}]."""
    events = (
        AuditEvent.objects.filter(case=case, action=DOWNLOADED)
        .order_by("created_at", "pk")
        .values_list("details", "created_at")
    )
    return [
        {"bundle": details.get("bundle"), "at": at.isoformat()}
        for details, at in events
        if details.get("bundle") in bundle_ids
    ]


def approval_release_check(case: Case) -> dict[str, Any]:
    """What the approver acknowledged (`release_check` of the latest approval event), or {}."""
    details = (
        AuditEvent.objects.filter(case=case, action__in=action_names("case.approved"))
        .order_by("-chain_id", "-seq")
        .values_list("details", flat=True)
        .first()
    )
    return (details or {}).get("release_check", {})
