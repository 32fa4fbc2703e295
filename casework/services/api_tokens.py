"""API tokens: issued (the key returned once, its SHA-256 kept), checked on each request in
constant time, and revoked. Issuing and revoking are events of the global audit chain; the
key itself is never logged nor recorded."""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from casework.actors import Actor
from casework.audit import record_global_event
from casework.models import ApiToken
from casework.tokens import hash_token, new_token

# last_used_at is written at most this often per token: not a write on every request.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    key: str  # shown once to whoever asked for it; nowhere else


def api_token_issue(*, user, actor: Actor, name: str = "", days: int | None = None) -> IssuedToken:
    """A new key for `user`, valid `days` (DSAR_API_TOKEN_DAYS by default)."""
    days = settings.DSAR_API_TOKEN_DAYS if days is None else days
    if days < 1:
        raise ValueError("a token lives at least one day")
    key = new_token()  # 256 bits from `secrets`
    now = timezone.now()
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name.strip()[:100],
            prefix=key[: ApiToken.PREFIX_LENGTH],
            key_hash=hash_token(key),
            created_at=now,
            expires_at=now + dt.timedelta(days=days),
        )
        record_global_event(
            "api.token_issued",
            actor=actor,
            details={"token": token.pk, "user": user.pk, "prefix": token.prefix, "days": days},
        )
    return IssuedToken(token=token, key=key)


def api_token_revoke(*, token: ApiToken, actor: Actor) -> ApiToken:
    """Revoke `token` (again: nothing changes)."""
    with transaction.atomic():
        locked = ApiToken.objects.select_for_update().get(pk=token.pk)
        if locked.revoked_at is None:
            locked.revoked_at = timezone.now()
            locked.save(update_fields=["revoked_at"])
            record_global_event(
                "api.token_revoked",
                actor=actor,
                details={"token": locked.pk, "user": locked.user_id, "prefix": locked.prefix},
            )
    return locked


def api_token_authenticate(key: str) -> ApiToken | None:
    """The valid token whose key is `key` (its user selected), or None. The hash is compared
    in constant time; the row is found by the key's public prefix."""
    if not key or len(key) > 100:
        return None
    digest = hash_token(key)
    now = timezone.now()
    found = None
    candidates = ApiToken.objects.select_related("user").filter(
        prefix=key[: ApiToken.PREFIX_LENGTH]
    )
    for candidate in candidates:
        if hmac.compare_digest(candidate.key_hash, digest):
            found = candidate
    if found is None or not found.is_valid(now) or not found.user.is_active:
        return None
    if found.last_used_at is None or now - found.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=found.pk).update(last_used_at=now)
        found.last_used_at = now
    return found
