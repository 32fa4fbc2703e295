"""Rate limits for the portal, counted in the cache (the database cache without Redis).

Fixed windows: the window's number is part of the key, so a counter never outlives its
window however the backend treats timeouts. Keys hold a keyed hash of the e-mail or address,
never the value itself (the database cache is a table like any other).

On Redis the counts are atomic INCRs with their EXPIRE, in one round trip (a Lua script).
Elsewhere (the database cache) each is a read and a write: two requests racing may both pass
at the edge of the limit, which is acceptable for abuse resistance, and the queries are the
same whoever the e-mail belongs to.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import time

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

from dsar.identifiers import InvalidEmail, email_key


def _digest(kind: str, value: str) -> str:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:32]


def client_ip(request) -> str:
    """The client's address: REMOTE_ADDR, or with DSAR_TRUSTED_PROXIES = n the address the
    n-th proxy from us saw (the n-th entry from the right of X-Forwarded-For)."""
    proxies = settings.DSAR_TRUSTED_PROXIES
    if proxies:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR", "")


# INCR every key, and give a new one its expiry: one round trip, atomic, for any number of keys.
_COUNT = """
local totals = {}
for i, key in ipairs(KEYS) do
  totals[i] = redis.call('INCR', key)
  if totals[i] == 1 then redis.call('EXPIRE', key, ARGV[1]) end
end
return totals
"""


@functools.cache
def _count_script(location: str):
    import redis

    return redis.Redis.from_url(location).register_script(_COUNT)


# What a count is for: each purpose has counters and limits of its own (settings).
REQUEST = "request"
RESEND = "resend"
STATUS_LINK = "status_link"
DOWNLOAD_CODE = "download_code"
CONFIRM = "confirm"
EMAIL_LIMITS = {
    REQUEST: "DSAR_RATE_PER_EMAIL",
    RESEND: "DSAR_RATE_RESEND_PER_EMAIL",
    STATUS_LINK: "DSAR_RATE_STATUS_LINK_PER_EMAIL",
    DOWNLOAD_CODE: "DSAR_RATE_CODE_PER_EMAIL",
}


def _hits(counts: list[tuple[str, str, int]]) -> bool:
    """Count one request against each (kind, value, limit); True while every count is within
    its limit for the window. Every count is taken, even when an earlier one is over."""
    window = settings.DSAR_RATE_WINDOW_SECONDS
    number = int(time.time() // window)
    keys = [f"portal-rate:{kind}:{_digest(kind, value)}:{number}" for kind, value, _ in counts]
    if isinstance(caches["default"], RedisCache):
        # On the cache's Redis, under the cache's key prefix (the cache API would take three
        # round trips a key: add, then incr's EXISTS and INCR).
        script = _count_script(settings.CACHES["default"]["LOCATION"])
        totals = script(keys=[cache.make_and_validate_key(key) for key in keys], args=[window])
    else:
        totals = []
        for key in keys:
            totals.append((cache.get(key) or 0) + 1)
            cache.set(key, totals[-1], timeout=window)
    return all(total <= limit for total, (_, _, limit) in zip(totals, counts, strict=True))


def _ip(request, purpose: str) -> tuple[str, str, int]:
    # The request form keeps the counter it always had; the others count apart.
    kind = "ip" if purpose == REQUEST else f"ip-{purpose}"
    return (kind, client_ip(request), settings.DSAR_RATE_PER_IP)


def _email(email: str, purpose: str) -> tuple[str, str, int]:
    try:
        key = email_key(email or "")
    except InvalidEmail:
        key = (email or "").strip()
    kind = "email" if purpose == REQUEST else f"email-{purpose}"
    return (kind, key, getattr(settings, EMAIL_LIMITS[purpose]))


def allow(request, email: str | None = None, *, purpose: str = REQUEST) -> bool:
    """Count a request for `purpose` from the client's address and, when given, for `email`
    (one round trip on Redis); False when either is over its limit."""
    return _hits([_ip(request, purpose)] + ([_email(email, purpose)] if email else []))


def allow_ip(request, *, purpose: str = REQUEST) -> bool:
    return _hits([_ip(request, purpose)])


def allow_email(email: str, *, purpose: str = REQUEST) -> bool:
    return _hits([_email(email, purpose)])


def allow_count(kind: str, value: str, limit: int) -> bool:
    """Count one request against (`kind`, `value`) within the window; False over `limit`
    (another door's own limit, e.g. an authorised agent's, counted the same way)."""
    return _hits([(kind, value, limit)])
