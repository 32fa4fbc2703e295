"""The DRP 1.0 endpoints (DRF views, for the OpenAPI schema), the information page and the
page where a person verifies a request an agent filed.

Every refusal answers `{"code", "message", "fatal"}` (`code`: the HTTP status as a string)
and is logged by its kind and the agent's id, never by what the message said. A body over
DRP_MAX_BODY_BYTES is refused before it is read.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from django_fsm import ConcurrentTransition, TransitionNotAllowed
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from casework import queue
from casework.drp import schema
from casework.drp.claims import parse_filing
from casework.drp.signing import DrpError, validate, validate_partial
from casework.models import DrpAgent, DrpRequest, Language, State
from casework.portal import ratelimit
from casework.portal.selectors import controller_identity
from casework.selectors.drp import status_object
from casework.services import drp as drp_services
from casework.tokens import hash_token

logger = logging.getLogger(__name__)


class PlainTextParser(BaseParser):
    """Signed bodies are base64 text; the views read them themselves, bounded."""

    media_type = "text/plain"

    def parse(self, stream, media_type=None, parser_context=None):
        return None


def _refused(exc: DrpError, agent_id: str = "-") -> Response:
    logger.warning("DRP refused (%s, %s): agent %s", exc.status, exc.reason, agent_id)
    return Response(
        {"code": str(exc.status), "message": exc.message, "fatal": exc.fatal}, status=exc.status
    )


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """Every error of a DRP view in the DRP format; never a stack trace."""
    view = context.get("view")
    agent = getattr(view, "agent_id", "-")
    if isinstance(exc, DrpError):
        return _refused(exc, agent)
    if isinstance(exc, Http404):
        return _refused(DrpError(404, "No such request.", reason="not_found"), agent)
    if isinstance(exc, exceptions.APIException):
        code = exc.status_code
        return _refused(DrpError(code, str(exc.detail), reason=type(exc).__name__), agent)
    logger.error("DRP error %s in %s", type(exc).__name__, type(view).__name__ if view else "-")
    response = _refused(
        DrpError(503, "We could not handle this now; try again later.", reason="error"), agent
    )
    response["Retry-After"] = "60"
    return response


class DrpView(APIView):
    """Authentication, size limits and errors of the protocol, not the staff API's."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []
    parser_classes = [PlainTextParser]
    renderer_classes = [JSONRenderer]
    schema_errors = schema.DEFAULT_ERRORS  # before `schema` names the view's inspector
    schema = schema.DrpAutoSchema()
    agent_id = "-"

    def get_exception_handler(self):
        return exception_handler

    def read_body(self, request: Request) -> bytes:
        """The body, at most DRP_MAX_BODY_BYTES: a longer declared length is refused before
        anything is read, and a body without one is read no further than the limit."""
        limit = settings.DRP_MAX_BODY_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise DrpError(400, "Bad Content-Length.", reason="content_length") from None
        if declared > limit:
            raise DrpError(413, f"The body is over {limit} bytes.", reason="too_large")
        body = request._request.read(limit + 1)
        if len(body) > limit:
            raise DrpError(413, f"The body is over {limit} bytes.", reason="too_large")
        return body

    def bearer_agent(self, request: Request) -> DrpAgent:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _sep, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise DrpError(401, "A bearer token from pairing is required.", reason="no_token")
        agent = (
            DrpAgent.objects.filter(enabled=True, token_hash=hash_token(token))
            .exclude(token_hash="")
            .first()
            if len(token) <= 200
            else None
        )
        if agent is None:
            raise DrpError(403, "The bearer token is not valid.", reason="bad_token")
        self.agent_id = agent.pk
        if not ratelimit.allow_count("drp-agent", agent.pk, settings.DRP_RATE_PER_AGENT):
            raise DrpError(429, "Over this agent's rate limit; try again later.", reason="rate")
        return agent

    def own_request(self, agent: DrpAgent, request_id: str) -> DrpRequest:
        try:
            wanted = uuid.UUID(request_id)
        except ValueError:
            raise DrpError(404, "No such request.", reason="not_found") from None
        found = (
            DrpRequest.objects.select_related("case", "agent", "case__merged_into")
            .filter(request_id=wanted)
            .first()
        )
        if found is None:
            raise DrpError(404, "No such request.", reason="not_found")
        if found.agent_id != agent.pk:
            raise DrpError(403, "This request is another agent's.", reason="other_agent")
        return found


class Agent(DrpView):
    """Pairing (POST) and checking a token (GET)."""

    @extend_schema(
        operation_id="drp_agent_pair",
        summary="Pair: a fresh bearer token for the agent",
        description=(
            "Signed body `{agent-id, business-id, issued-at, expires-at, drp.version}`. "
            "Pairing again replaces the token. Any refusal but an oversized body is 403 "
            "with no body."
        ),
        request=schema.SIGNED_BODY,
        responses={200: schema.PairingSerializer, 403: None, 413: schema.ERROR},
        tags=["drp"],
        auth=[],
    )
    def post(self, request: Request, agent_id: str) -> Response:
        self.agent_id = agent_id if len(agent_id) <= 100 else "-"
        body = self.read_body(request)  # 413 as JSON; every other refusal is a bare 403
        agent = DrpAgent.objects.filter(pk=agent_id, enabled=True).first()
        try:
            if agent is None:
                raise DrpError(403, "Unknown agent.", reason="unknown_agent")
            message = validate(body, verify_key=agent.verify_key, agent_id=agent.pk)
            if message.claims.get("drp.version", "1.0") != "1.0":
                raise DrpError(403, "Unsupported version.", reason="version")
            token = drp_services.agent_pair(
                agent=agent, digest=message.digest, expires_at=message.expires_at
            )
        except drp_services.Replayed:
            logger.warning("DRP refused (403, replayed): pairing of %s", self.agent_id)
            return Response(status=status.HTTP_403_FORBIDDEN)
        except DrpError as exc:
            logger.warning("DRP refused (403, %s): pairing of %s", exc.reason, self.agent_id)
            return Response(status=status.HTTP_403_FORBIDDEN)
        return Response({"agent-id": agent.pk, "token": token})

    @extend_schema(
        operation_id="drp_agent_check",
        summary="Check the bearer token: {} when it is this agent's",
        responses={200: schema.EmptySerializer, 403: None},
        tags=["drp"],
    )
    def get(self, request: Request, agent_id: str) -> Response:
        try:
            agent = self.bearer_agent(request)
        except DrpError as exc:
            if exc.status == 429:
                raise
            return Response(status=status.HTTP_403_FORBIDDEN)
        if agent.pk != agent_id:
            return Response(status=status.HTTP_403_FORBIDDEN)
        return Response({})


class DataRightsRequests(DrpView):
    @extend_schema(
        operation_id="drp_request_create",
        summary="File a data rights request",
        description=(
            'Bearer token and a signed body: the envelope, `drp.version` "1.0", `exercise`, '
            'optional `regime` ("ccpa"), `agent-request-id`, `relationships`, '
            "`status_callback`, and the identity claims (`email` required)."
        ),
        request=schema.SIGNED_BODY,
        responses=schema.responses(200, 400, 401, 403, 413, 429),
        tags=["drp"],
    )
    def post(self, request: Request) -> Response:
        agent = self.bearer_agent(request)
        body = self.read_body(request)
        message = validate(body, verify_key=agent.verify_key, agent_id=agent.pk)
        filing = parse_filing(message.claims)
        try:
            drp_request = drp_services.drp_file(
                agent=agent, filing=filing, digest=message.digest, expires_at=message.expires_at
            )
        except drp_services.Replayed:
            raise DrpError(403, "This message was accepted before.", reason="replayed") from None
        return Response(status_object(drp_request))


class DataRightsRequestDetail(DrpView):
    @extend_schema(
        operation_id="drp_request_status",
        summary="The status of a request",
        responses=schema.responses(200, 401, 403, 404, 429),
        tags=["drp"],
    )
    def get(self, request: Request, request_id) -> Response:
        agent = self.bearer_agent(request)
        return Response(status_object(self.own_request(agent, request_id)))

    @extend_schema(
        operation_id="drp_request_revoke",
        summary="Revoke a request",
        description=(
            "A signed body holding `reason` (and, optionally, the envelope claims, then "
            "checked). Withdraws the case where its state allows."
        ),
        request=schema.SIGNED_BODY,
        responses=schema.responses(200, 400, 401, 403, 404, 409, 413, 429),
        tags=["drp"],
    )
    def delete(self, request: Request, request_id) -> Response:
        agent = self.bearer_agent(request)
        body = self.read_body(request)
        message = validate_partial(body, verify_key=agent.verify_key, agent_id=agent.pk)
        reason = message.claims.get("reason", "")
        if not isinstance(reason, str) or len(reason) > 2000:
            raise DrpError(400, "'reason' must be a string.", reason="bad_reason")
        drp_request = self.own_request(agent, request_id)
        if drp_request.case.state == State.WITHDRAWN:
            raise DrpError(409, "The request is revoked already.", reason="revoked_already")
        try:
            drp_request = drp_services.drp_revoke(
                drp_request=drp_request,
                digest=message.digest,
                expires_at=message.expires_at,
                reason=reason,
            )
        except drp_services.Replayed:
            raise DrpError(403, "This message was accepted before.", reason="replayed") from None
        except (TransitionNotAllowed, ConcurrentTransition, PermissionDenied):
            raise DrpError(
                409, "The request can no longer be revoked.", reason="not_revocable"
            ) from None
        return Response(status_object(drp_request))


@csrf_exempt
def not_found(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    """Anything else under the DRP's base path: 404 in the protocol's format."""
    return JsonResponse(
        {"code": "404", "message": "There is nothing here.", "fatal": True}, status=404
    )


# --- pages for people ---------------------------------------------------------------------------


def _language() -> str:
    language = translation.get_language() or settings.LANGUAGE_CODE
    return language if language in Language.values else settings.LANGUAGE_CODE


def _page(request, template: str, context: dict | None = None, status: int = 200):
    base = {**controller_identity(_language()), "language_links": []}
    response = render(request, template, {**base, **(context or {})}, status=status)
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "no-store"
    return response


def information(request: HttpRequest) -> HttpResponse:
    """Who we are in the protocol, what we support, and how an agent pairs with us."""
    return _page(
        request,
        "drp/information.html",
        {
            "business_id": settings.DRP_BUSINESS_ID,
            "actions": settings.DRP_SUPPORTED_ACTIONS,
            "verifications": settings.DRP_SUPPORTED_VERIFICATIONS,
            "base": settings.SITE_URL.rstrip("/") + settings.DRP_BASE_PATH,
            "max_window": settings.DRP_MAX_WINDOW_MINUTES,
        },
    )


def safe_redirect(drp_request: DrpRequest, target: str) -> str | None:
    """`target` when it is an https (or, for a local agent, http) address within the agent's
    registered web domain (the domain or a subdomain of it); else None: never an open
    redirect."""
    agent_host = (urlsplit(drp_request.agent.web_url or "").hostname or "").lower().rstrip(".")
    if not target or not agent_host or len(target) > 2000:
        return None
    try:
        parts = urlsplit(target)
        host = (parts.hostname or "").lower().rstrip(".")
    except ValueError:
        return None
    schemes = ("https", "http") if settings.DRP_CALLBACK_ALLOW_PRIVATE else ("https",)
    if parts.scheme not in schemes or parts.username or parts.password or "\\" in target:
        return None
    if host == agent_host or host.endswith("." + agent_host):
        return target
    return None


@csrf_exempt  # the page's POST only asks for another e-mail to the address on the request
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest, request_id) -> HttpResponse:
    """The person confirms an agent's request with us: the confirmation e-mail of the portal
    (sent when the request came in; again on asking). Once confirmed, the page sends them back
    to the agent's `redirect_to`, only within the agent's registered web domain."""
    drp_request = (
        DrpRequest.objects.select_related("case", "agent").filter(request_id=request_id).first()
    )
    asked = request.GET.get("request_id") or request.POST.get("request_id")
    if drp_request is None or (asked is not None and asked != str(request_id)):
        return _page(request, "drp/verify.html", {"state": "unknown"}, status=404)
    case = drp_request.case
    redirect_to = request.GET.get("redirect_to") or request.POST.get("redirect_to") or ""
    back = safe_redirect(drp_request, redirect_to)
    if case.verified_at is not None:
        if back:
            return HttpResponseRedirect(back)
        return _page(request, "drp/verify.html", {"state": "verified"})
    if not case.is_open:
        return _page(request, "drp/verify.html", {"state": "closed"}, status=410)
    context = {
        "state": "waiting",
        "request_id": str(request_id),
        "redirect_to": back or "",
        "agent": drp_request.agent.name,
    }
    if request.method == "POST":
        if not ratelimit.allow(request, case.email, purpose=ratelimit.RESEND):
            return _page(request, "drp/verify.html", {**context, "state": "too_many"}, 429)
        if case.state == State.RECEIVED:
            queue.enqueue_on_commit("send_verification_link", case.pk)
        context["sent"] = True
    return _page(request, "drp/verify.html", context)
