"""The DRP endpoints in the OpenAPI description: signed text bodies, the status object, and
the protocol's own error format `{code, message, fatal}`."""

from __future__ import annotations

from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

# A signed message: base64 of the Ed25519 signature (64 bytes) followed by the JSON claims.
SIGNED_BODY = {"text/plain": {"type": "string", "format": "byte"}}


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="The HTTP status, as a string")
    message = serializers.CharField()
    fatal = serializers.BooleanField(help_text="True where the request will be denied")

    class Meta:
        ref_name = "DrpError"


class PairingSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="The bearer token (256 bits); shown once")

    def get_fields(self):
        fields = super().get_fields()
        fields["agent-id"] = serializers.CharField()
        return fields

    class Meta:
        ref_name = "DrpPairing"


class EmptySerializer(serializers.Serializer):
    class Meta:
        ref_name = "DrpEmpty"


class StatusSerializer(serializers.Serializer):
    request_id = serializers.UUIDField()
    received_at = serializers.DateTimeField()
    expected_by = serializers.DateTimeField(allow_null=True)
    agent_request_id = serializers.CharField(allow_null=True)
    processing_details = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(
        ["open", "in_progress", "fulfilled", "revoked", "expired", "denied"]
    )
    reason = serializers.ChoiceField(
        [
            "need_user_verification",
            "suspected_fraud",
            "insuf_verification",
            "no_match",
            "claim_not_covered",
            "outside_jurisdiction",
            "too_many_requests",
            "other",
        ],
        allow_null=True,
    )
    user_verification_url = serializers.URLField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    results_url = serializers.URLField(allow_null=True)

    class Meta:
        ref_name = "DrpStatus"


ERROR = OpenApiResponse(ErrorSerializer)
DESCRIPTIONS = {
    400: "A bad body: not base64, not JSON, an unknown exercise, a missing claim",
    401: "No bearer token",
    403: "A token, signature or envelope that does not hold; a replayed message",
    404: "No such request",
    409: "Not possible in the request's state",
    413: "The body is too large",
    429: "Over the agent's rate limit",
}


# What any DRP operation may answer besides what it declares (an unknown path under it is a
# 404, a wrong method a 405), in the protocol's error format.
DEFAULT_ERRORS = {
    str(code): OpenApiResponse(ErrorSerializer, description=DESCRIPTIONS[code])
    for code in (400, 401, 404, 413, 429)
}
DEFAULT_ERRORS["405"] = OpenApiResponse(ErrorSerializer, description="Method not allowed")


def responses(*codes: int) -> dict:
    out: dict = {}
    for code in codes:
        if code == 200:
            out[200] = StatusSerializer
        else:
            out[code] = OpenApiResponse(ErrorSerializer, description=DESCRIPTIONS[code])
    return out


class DrpAutoSchema(openapi.AutoSchema):
    """The protocol's operations, without the staff API's error answers."""

    def get_tags(self):
        return ["drp"]
