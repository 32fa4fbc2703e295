"""One error format for everything under /api/: `{"code", "message", "fields"}`.

DRF's exceptions, Django's (Http404, PermissionDenied, ValidationError) and the state
machine's refusals (TransitionNotAllowed, ConcurrentTransition: 409) all answer in it. Anything
else is a bug: logged by its type and place (never its message, which may quote personal
data) and answered 500 in the same format, without a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django_fsm import ConcurrentTransition, TransitionNotAllowed
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "This is not possible in the case's state."


def _messages(detail: Any) -> list[str]:
    if isinstance(detail, dict):
        return [m for value in detail.values() for m in _messages(value)]
    if isinstance(detail, list | tuple):
        return [m for value in detail for m in _messages(value)]
    return [str(detail)]


def _code(exc: exceptions.APIException) -> str:
    codes = exc.get_codes()
    if isinstance(codes, str):
        return codes
    found = set(_messages(codes))
    if len(found) == 1:
        return found.pop()
    return "invalid" if isinstance(exc, exceptions.ValidationError) else exc.default_code


def body(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "fields": fields or {}}


def _translate(exc: Exception) -> Exception:
    """Django's and the state machine's exceptions as DRF's."""
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(str(exc) or None)
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            return exceptions.ValidationError(
                {
                    name: [str(m) for e in errors for m in e.messages]
                    for name, errors in exc.error_dict.items()
                }
            )
        return exceptions.ValidationError({"non_field_errors": exc.messages})
    if isinstance(exc, ConcurrentTransition):
        return Conflict(_("The case was changed meanwhile; look at it again."), code="changed")
    if isinstance(exc, TransitionNotAllowed):
        return Conflict(str(exc) or None, code="not_allowed_in_state")
    return exc


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    exc = _translate(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        view = context.get("view")
        logger.error("API error %s in %s", type(exc).__name__, type(view).__name__ if view else "-")
        return Response(
            body("server_error", _("Something went wrong on our side; nothing was shown.")),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    assert isinstance(exc, exceptions.APIException)
    fields: dict[str, list[str]] = {}
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        if isinstance(detail, dict):
            for name, value in detail.items():
                key = "non_field_errors" if name == "__all__" else str(name)
                fields[key] = _messages(value)
            general = fields.pop("non_field_errors", [])
            message = " ".join(general) or _("Some values are not valid.")
            if general:
                fields["non_field_errors"] = general
        else:
            message = " ".join(_messages(detail))
    else:
        message = " ".join(_messages(exc.detail))
    response.data = body(_code(exc), message, fields)
    return response


@csrf_exempt
def not_found(request, *args, **kwargs) -> JsonResponse:
    """An unknown URL under /api/, in the one error format."""
    return JsonResponse(body("not_found", _("There is nothing at this address.")), status=404)
