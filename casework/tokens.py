"""Link tokens, one rule for every link that opens a page without sign-in (the subject's
portal links, a processor's instruction): 256 bits from `secrets`, stored only as their
SHA-256, and the errors of a link that opens nothing."""

from __future__ import annotations

import hashlib
import secrets


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


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()
