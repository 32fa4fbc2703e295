"""Rate limits for the portal, counted in the cache (the database cache without Redis).

Fixed windows: the window's number is part of the key, so a counter never outlives its
window however the backend treats timeouts. Keys hold a keyed hash of the e-mail or address,
never the value itself (the database cache is a table like any other).

On Redis the count is an atomic INCR. Elsewhere (the database cache) it is a read and a
write: two requests racing may both pass at the edge of the limit, which is acceptable for
abuse resistance, and the queries are the same whoever the e-mail belongs to.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from django.conf import settings
from django.core.cache import cache


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


def _hit(kind: str, value: str, limit: int) -> bool:
    """Count one request against (kind, value); True while within `limit` per window."""
    window = settings.DSAR_RATE_WINDOW_SECONDS
    key = f"portal-rate:{kind}:{_digest(kind, value)}:{int(time.time() // window)}"
    if "redis" in type(cache).__module__:
        cache.add(key, 0, timeout=window)
        count = cache.incr(key)
    else:
        count = (cache.get(key) or 0) + 1
        cache.set(key, count, timeout=window)
    return count <= limit


def allow_ip(request) -> bool:
    return _hit("ip", client_ip(request), settings.DSAR_RATE_PER_IP)


def allow_email(email: str) -> bool:
    return _hit("email", (email or "").strip().lower(), settings.DSAR_RATE_PER_EMAIL)
