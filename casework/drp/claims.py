"""Reading an exercise's claims into a `Filing` (casework.services.drp): the protocol's fields
checked one by one, refused with a DrpError that names the field, never its value."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from casework.drp.signing import DrpError
from casework.models.drp import EXERCISES
from casework.services.drp import Filing
from dsar.identifiers import InvalidEmail, email_key

E164 = re.compile(r"^\+[1-9]\d{1,14}$")
ADDRESS_PARTS = ("street_address", "locality", "region", "postal_code", "country")


def _bad(message: str, reason: str, *, fatal: bool = True) -> DrpError:
    return DrpError(400, message, reason=reason, fatal=fatal)


def _text(claims: dict[str, Any], name: str, limit: int) -> str:
    value = claims.get(name)
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise _bad(f"'{name}' must be a string of at most {limit} characters.", f"bad_{name}")
    return value.strip()


def _address(value: Any) -> tuple[str, str, bool]:
    """(the postal address as text, its country, whether it is in California)."""
    if value is None or value == "":
        return "", "", False
    if isinstance(value, str):
        if len(value) > 1000:
            raise _bad("'address' is too long.", "bad_address")
        return value.strip(), "", False
    if not isinstance(value, dict) or not all(
        isinstance(v, str) and len(v) <= 300 for v in value.values()
    ):
        raise _bad("'address' must be a string or an object of strings.", "bad_address")
    formatted = value.get("formatted") or "\n".join(
        value[part] for part in ADDRESS_PARTS if value.get(part)
    )
    country = value.get("country", "").strip().upper()
    country = country if re.fullmatch(r"[A-Z]{2}", country) else ""
    california = country == "US" and value.get("region", "").strip().upper() in ("CA", "US-CA")
    return formatted.strip(), country, california


def _callback(value: str) -> str:
    if not value:
        return ""
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    schemes = ("https", "http") if settings.DRP_CALLBACK_ALLOW_PRIVATE else ("https",)
    if parts is None or parts.scheme not in schemes or not parts.hostname or len(value) > 500:
        raise _bad("'status_callback' must be an https URL.", "bad_status_callback")
    return value


def parse_filing(claims: dict[str, Any]) -> Filing:
    if claims.get("drp.version") != "1.0":
        raise _bad("'drp.version' must be \"1.0\".", "bad_version")
    exercise = claims.get("exercise")
    if exercise not in EXERCISES:
        raise _bad("Unknown 'exercise'.", "unknown_exercise")
    if exercise not in settings.DRP_SUPPORTED_ACTIONS:
        raise _bad("This business does not support this 'exercise'.", "unsupported_exercise")
    email = _text(claims, "email", 254)
    if not email:
        raise _bad("The 'email' claim is required: the person confirms it with us.", "no_email")
    try:
        validate_email(email)
        email = email_key(email)
    except (ValidationError, InvalidEmail):
        raise _bad("'email' is not a valid e-mail address.", "bad_email") from None
    phone = _text(claims, "phone_number", 20)
    if phone and not E164.match(phone):
        raise _bad("'phone_number' must be in E.164 form (+...).", "bad_phone_number")
    regime = claims.get("regime")
    if regime not in (None, "", "ccpa"):
        raise _bad("'regime' may only be \"ccpa\".", "bad_regime")
    postal_address, country, california = _address(claims.get("address"))
    return Filing(
        exercise=exercise,
        email=email,
        email_verified=claims.get("email_verified") is True,
        name=_text(claims, "name", 200),
        phone=phone,
        postal_address=postal_address,
        country=country,
        california=california,
        regime=regime or "",
        agent_request_id=_text(claims, "agent-request-id", 200),
        status_callback=_callback(_text(claims, "status_callback", 500)),
        claims_verified={
            "email": claims.get("email_verified") is True,
            "phone_number": claims.get("phone_number_verified") is True,
            "address": claims.get("address_verified") is True,
            "power_of_attorney": bool(claims.get("power_of_attorney")),
        },
    )
