"""Failed staff sign-ins are counted (per account name and per address) and, past their limit,
sign-in is refused for the rest of the window, before any password is checked: guessing a
password takes a window per few tries. Each failure is on the global audit chain too."""

from __future__ import annotations

import hashlib
import hmac
import time

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from casework.portal.ratelimit import client_ip


def _keys(username: str, request) -> list[tuple[str, int]]:
    window = int(time.time() // settings.DSAR_SIGNIN_WINDOW_SECONDS)
    secret = settings.SECRET_KEY.encode()

    def digest(value: str) -> str:  # the account name may be someone's e-mail: never stored
        return hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()[:32]

    name = digest((username or "").strip().lower())
    keys = [(f"signin-fail:user:{name}:{window}", settings.DSAR_SIGNIN_MAX_FAILURES)]
    if request is not None:
        address = digest(client_ip(request))
        keys.append(
            (f"signin-fail:ip:{address}:{window}", settings.DSAR_SIGNIN_MAX_FAILURES_PER_IP)
        )
    return keys


def signin_allowed(username: str, request) -> bool:
    """False once the account name, or the address, used up its failures in this window."""
    return all((cache.get(key) or 0) < limit for key, limit in _keys(username, request))


def count_failure(username: str, request) -> None:
    for key, _limit in _keys(username, request):
        cache.add(key, 0, timeout=settings.DSAR_SIGNIN_WINDOW_SECONDS)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=settings.DSAR_SIGNIN_WINDOW_SECONDS)


TOO_MANY_FAILURES = _(
    "Too many failed sign-ins for this account or from this address. Try again later, or "
    "ask an administrator."
)


class LimitedSignIn:
    """A sign-in form's mixin: refuses, before any password is checked, an account name or an
    address that used up its failed sign-ins in the window."""

    def clean(self):
        if not signin_allowed(self.data.get("username", ""), self.request):
            raise ValidationError(TOO_MANY_FAILURES, code="too_many_failures")
        return super().clean()
