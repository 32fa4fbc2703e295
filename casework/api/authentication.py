"""Who is calling: a bearer key (`Authorization: Bearer <key>`), or the admin's session (with
its CSRF check, and its second factor where staff must pass one)."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from casework.services.api_tokens import api_token_authenticate


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Give one key after “Bearer”."))
        try:
            key = header[1].decode("ascii")
        except UnicodeError:
            raise exceptions.AuthenticationFailed(_("This key is not valid.")) from None
        token = api_token_authenticate(key)
        if token is None:
            raise exceptions.AuthenticationFailed(_("This key is not valid, expired or revoked."))
        return token.user, token

    def authenticate_header(self, request) -> str:
        return self.keyword


class StaffSessionAuthentication(authentication.SessionAuthentication):
    """The admin's session, for the browser (the docs page), with DRF's CSRF check. Where staff
    must pass a second factor, a session that has not passed it does not count."""

    def authenticate(self, request):
        found = super().authenticate(request)
        if found is None:
            return None
        user = found[0]
        if settings.DSAR_STAFF_OTP_REQUIRED and not getattr(user, "is_verified", lambda: False)():
            return None
        return found
