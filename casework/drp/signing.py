"""Signed messages of DRP 1.0: `base64(Ed25519 signature (64 bytes) + JSON)`, libsodium's
combined form, sent as text/plain.

Checked in the protocol's order, refusing at the first failure: the base64 decodes; the
signature verifies with the agent's key; `agent-id` is that agent; `business-id` is ours;
now >= `issued-at`; now < `expires-at`; the window is no longer than DRP_MAX_WINDOW_MINUTES.
The last check, that the message was never accepted before, is the service's: it remembers
the message in the same transaction as what the message does (casework.services.drp).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import timezone
from nacl.exceptions import BadSignatureError, CryptoError
from nacl.signing import VerifyKey


class DrpError(Exception):
    """A refusal: answered `{"code", "message", "fatal"}` with `status`. `reason` is a short
    word for the log (never anything the message said)."""

    def __init__(self, status: int, message: str, *, reason: str, fatal: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason
        self.fatal = fatal


@dataclass(frozen=True)
class SignedMessage:
    claims: dict[str, Any]
    digest: str  # SHA-256 of the signed message (signature and JSON), for the replay check
    expires_at: dt.datetime | None


def decode_key(value: str) -> VerifyKey:
    """An agent's verify key from its base64 form (standard or URL-safe alphabet)."""
    raw = _b64decode(value)
    if raw is None or len(raw) != 32:
        raise ValueError("an Ed25519 verify key is 32 bytes, base64")
    return VerifyKey(raw)


def _b64decode(text: str | bytes) -> bytes | None:
    if isinstance(text, str):
        text = text.encode("ascii", "replace")
    text = b"".join(text.split())
    if not text:
        return None
    alt = b"-_" if (b"-" in text or b"_" in text) else None
    padded = text + b"=" * (-len(text) % 4)
    try:
        return base64.b64decode(padded, altchars=alt, validate=True)
    except (binascii.Error, ValueError):
        return None


def _time(claims: dict[str, Any], name: str) -> dt.datetime:
    value = claims.get(name)
    when = None
    if isinstance(value, str):
        try:
            when = dt.datetime.fromisoformat(value)
        except ValueError:
            when = None
    if when is None or when.tzinfo is None:
        raise DrpError(
            400,
            f"'{name}' must be an ISO 8601 time with its offset.",
            reason=f"bad_{name}",
        )
    return when


def open_signed(body: bytes, verify_key: str) -> tuple[dict[str, Any], str]:
    """The claims of a signed body and the SHA-256 of the signed message, after the first two
    checks (base64, signature). Raises DrpError."""
    signed = _b64decode(body)
    if signed is None:
        raise DrpError(400, "The body is not base64.", reason="bad_base64", fatal=True)
    try:
        message = decode_key(verify_key).verify(signed)
    except (BadSignatureError, CryptoError, ValueError):
        raise DrpError(
            403, "The signature does not verify with the agent's key.", reason="bad_signature"
        ) from None
    try:
        claims = json.loads(message)
    except (UnicodeDecodeError, ValueError):
        claims = None
    if not isinstance(claims, dict):
        raise DrpError(400, "The signed message is not a JSON object.", reason="bad_json")
    return claims, hashlib.sha256(signed).hexdigest()


def check_envelope(
    claims: dict[str, Any], *, agent_id: str, now: dt.datetime | None = None
) -> dt.datetime:
    """The envelope's checks, in the protocol's order (after the signature's); returns
    `expires-at`. Raises DrpError."""
    now = now or timezone.now()
    if claims.get("agent-id") != agent_id:
        raise DrpError(403, "The message was signed for another agent.", reason="agent_id")
    if claims.get("business-id") != settings.DRP_BUSINESS_ID:
        raise DrpError(
            403, "The message was signed for another business.", reason="business_id", fatal=True
        )
    issued_at = _time(claims, "issued-at")
    expires_at = _time(claims, "expires-at")
    if now < issued_at:
        raise DrpError(403, "The message is issued in the future.", reason="future")
    if now >= expires_at:
        raise DrpError(403, "The message has expired.", reason="expired")
    if expires_at - issued_at > dt.timedelta(minutes=settings.DRP_MAX_WINDOW_MINUTES):
        raise DrpError(
            403,
            f"The message's window is longer than {settings.DRP_MAX_WINDOW_MINUTES} minutes.",
            reason="window",
        )
    return expires_at


def validate(body: bytes, *, verify_key: str, agent_id: str) -> SignedMessage:
    """A signed message whose envelope must be complete (pairing, filing)."""
    claims, digest = open_signed(body, verify_key)
    expires_at = check_envelope(claims, agent_id=agent_id)
    return SignedMessage(claims, digest, expires_at)


ENVELOPE = ("agent-id", "business-id", "issued-at", "expires-at")


def validate_partial(body: bytes, *, verify_key: str, agent_id: str) -> SignedMessage:
    """A signed message whose envelope is optional (a revocation's `reason`): the claims it
    carries are checked as in `validate`; one without an expiry is remembered for the default
    window."""
    claims, digest = open_signed(body, verify_key)
    if any(name in claims for name in ENVELOPE):
        expires_at = check_envelope(claims, agent_id=agent_id)
    else:
        expires_at = None
    return SignedMessage(claims, digest, expires_at)
