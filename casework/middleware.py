"""Remembers the signed-in staff member for the duration of a request, so that audit events
raised from model signals (register changes) name who made the change."""

from __future__ import annotations

from contextvars import ContextVar

current_user: ContextVar = ContextVar("current_user", default=None)


class CurrentUserMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        token = current_user.set(user if user is not None and user.is_authenticated else None)
        try:
            return self.get_response(request)
        finally:
            current_user.reset(token)
