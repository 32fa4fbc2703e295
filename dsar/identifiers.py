"""Identifiers of a data subject, normalised so that systems can be matched on them.

Kinds are data: adding one is one entry in IDENTIFIER_KINDS. A value is always compared in its
normalised form; the raw form is never logged.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _


def _email(value: str) -> str:
    return value.strip().lower()


def _phone(value: str) -> str:
    raw = value.strip()
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
