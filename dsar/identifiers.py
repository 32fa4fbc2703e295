"""Identifiers of a data subject, normalised so that systems can be matched on them.

Kinds are data: adding one is one entry in IDENTIFIER_KINDS. A value is always compared in its
normalised form; the raw form is never logged.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import idna
import phonenumbers
from django.conf import settings
from django.utils.translation import gettext_lazy as _


class InvalidEmail(ValueError):
    """Not an e-mail address the rule can compare: no local part or domain, or a domain that
    is not a valid internationalised domain name."""


def _ascii_lower(text: str) -> str:
    # Only A-Z: Unicode case mapping would turn look-alikes (dotless ı, long ſ, the Kelvin
    # sign) into the ASCII letters of someone else's address.
    return "".join(chr(ord(ch) + 32) if "A" <= ch <= "Z" else ch for ch in text)


def email_key(value: str) -> str:
    """The one form e-mail addresses are compared in, everywhere (the form, the connectors, the
    lost-link form, the review): surrounding spaces dropped; the domain converted by IDNA to
    its ASCII form, lower case; the local part kept exactly, code point for code point, except
    that ASCII letters compare case-insensitively. Never Unicode case mapping or folding, in
    Python or in SQL. Plus-tags are kept. Raises InvalidEmail for what is no address."""
    text = value.strip()
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain or any(ch.isspace() for ch in text):
        raise InvalidEmail("not an e-mail address")
    try:
        domain = idna.encode(domain.rstrip("."), uts46=True).decode("ascii")
    except idna.IDNAError:
        raise InvalidEmail("the domain is not a valid domain name") from None
    # No Unicode normalisation either: NFC turns the Kelvin sign into K.
    return f"{_ascii_lower(local)}@{domain.lower()}"


def same_email(a: str, b: str) -> bool:
    """Whether two addresses are the same address under `email_key`'s rule."""
    try:
        return email_key(a) == email_key(b)
    except InvalidEmail:
        return False


@functools.cache
def _confusables() -> dict[str, str]:
    """Unicode's confusables (UTS #39): each character to the prototype it looks like."""
    mapping: dict[str, str] = {}
    path = Path(__file__).parent / "data" / "confusables.txt"
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        source, target, _type = line.split(";")
        mapping[chr(int(source, 16))] = "".join(chr(int(c, 16)) for c in target.split())
    return mapping


def skeleton(text: str) -> str:
    """What `text` looks like: UTS #39's skeleton (NFD, each character to its prototype, NFD
    again) of its NFKC case fold, so that compatibility forms and case (the long ſ, the
    Kelvin sign, fullwidth letters) look alike too. Two strings with one skeleton can be
    mistaken for each other; it is never used to match, only to warn."""
    mapping = _confusables()
    folded = unicodedata.normalize("NFD", unicodedata.normalize("NFKC", text).casefold())
    mapped = "".join(mapping.get(ch, ch) for ch in folded)
    # Marks that change nothing visible (zero-width, joiners) vanish from what one sees.
    visible = "".join(ch for ch in mapped if unicodedata.category(ch) != "Cf")
    return unicodedata.normalize("NFD", visible)


def email_skeleton(value: str) -> str:
    """The skeleton of an address (see `skeleton`), "" for what is no address."""
    try:
        local, _, domain = email_key(value).rpartition("@")
    except InvalidEmail:
        return ""
    # The domain's Unicode form is what a reader sees (xn-- labels decoded).
    try:
        shown = idna.decode(domain)
    except idna.IDNAError:
        shown = domain
    return f"{skeleton(local)}@{skeleton(shown)}"


def _email(value: str) -> str:
    try:
        return email_key(value)
    except InvalidEmail:
        # Something in an e-mail column that is no address: kept, so that it matches only
        # itself, never a real address.
        return _ascii_lower(value.strip())


def _phone(value: str) -> str:
    """E.164 (+355692004242) where the number parses, national numbers in the default region
    (settings.DSAR_PHONE_REGION); else its digits, with + for an international prefix."""
    raw = value.strip()
    try:
        number = phonenumbers.parse(raw, getattr(settings, "DSAR_PHONE_REGION", None) or None)
    except phonenumbers.NumberParseException:
        number = None
    if number is not None and phonenumbers.is_possible_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    digits = re.sub(r"\D", "", raw)
    if raw.startswith("+"):
        return "+" + digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    return digits


def _code(value: str) -> str:
    return re.sub(r"\s+", "", value).upper()


def _words(value: str) -> str:
    text = unicodedata.normalize("NFC", value).casefold()
    return " ".join(text.split())


def _name_company(value: str) -> str:
    # "name|company": a pair is specific enough to follow; a name alone is not.
    name, _, company = value.partition("|")
    return f"{_words(name)}|{_words(company)}"


IDENTIFIER_KINDS: dict[str, Callable[[str], str]] = {
    "email": _email,
    "phone": _phone,
    "customer_number": _code,
    "account_id": _code,
    "serial_number": _code,
    "name_company": _name_company,
}


# How people read each kind (the admin's Identifiers section).
IDENTIFIER_LABELS = {
    "email": _("E-mail"),
    "phone": _("Phone"),
    "customer_number": _("Customer number"),
    "account_id": _("Account ID"),
    "serial_number": _("Serial number"),
    "name_company": _("Name and company"),
}


@dataclass(frozen=True, order=True)
class Identifier:
    kind: str
    value: str

    def __post_init__(self) -> None:
        if self.kind not in IDENTIFIER_KINDS:
            raise ValueError(f"unknown identifier kind {self.kind!r}")
        object.__setattr__(self, "value", IDENTIFIER_KINDS[self.kind](self.value))

    @property
    def usable(self) -> bool:
        """False for a value with nothing left to match on once normalised ("n/a" in a phone
        field, a blank name and company): such a value is neither learnt nor followed."""
        return any(ch.isalnum() for ch in self.value)

    def __str__(self) -> str:  # safe for logs: the kind only
        return f"<{self.kind}>"

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "value": self.value}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Identifier:
        return cls(data["kind"], data["value"])
