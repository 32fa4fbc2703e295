"""The OpenAPI description (drf-spectacular): the error format on every operation, and the two
ways to sign in (a bearer key; the admin's session cookie)."""

from __future__ import annotations

from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="A stable code: not_found, invalid, throttled, ...")
    message = serializers.CharField(help_text="What went wrong, for a person")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Per input field (or parameter), its errors",
    )


def error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


ERRORS = {
    "400": error("Bad input: unknown or invalid parameters or fields"),
    "401": error("No valid key or session"),
    "403": error("The role may not do this"),
    "404": error("No such object, or one the caller may not see"),
    "405": error("Method not allowed"),
    "429": error("Too many requests: try again later"),
}
CONFLICT = error("Not possible in the case's state, or the case changed meanwhile")


class AutoSchema(openapi.AutoSchema):
    """Every operation documents the error answers; a view with `may_conflict` also 409; a view
    with `schema_errors` documents those instead (a protocol with its own error format)."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        # A door with an error format of its own (the DRP's) names its errors itself.
        errors = dict(getattr(self.view, "schema_errors", ERRORS))
        if getattr(self.view, "may_conflict", False):
            errors["409"] = CONFLICT
        for code, response in errors.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(response, code, direction=direction)
        return responses


class BearerScheme(OpenApiAuthenticationExtension):
    target_class = "casework.api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A key from POST /api/v1/auth/token/ or `manage.py issue_api_token`",
        }


class StaffSessionScheme(OpenApiAuthenticationExtension):
    target_class = "casework.api.authentication.StaffSessionAuthentication"
    name = "cookieAuth"
    priority = 1

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}
