"""The processor's page: the link of an instruction e-mail opens it, without signing in (the
token is the key: single-use, expiring). It shows what the plan changes in the processor's
system (records by their keys, never a personal value) and takes the confirmation: who, and
what was done. A GET spends nothing; the POST spends the link."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from casework import deadlines
from casework.portal import ratelimit
from casework.portal.views import _page, _too_many
from casework.selectors.processors import instructed_changes
from casework.services import processors
from casework.tokens import TokenError


def _error(request: HttpRequest, error: TokenError) -> HttpResponse:
    return _page(
        request, "portal/processor.html", {"link_error": error.reason}, status=error.status
    )


@csrf_exempt  # the secret token authenticates the post (see portal/middleware.py)
@require_http_methods(["GET", "POST"])
def processor(request: HttpRequest, token: str) -> HttpResponse:
    try:
        instruction = processors.instruction_for_link(token)
    except TokenError as exc:
        return _error(request, exc)
    context = {
        "instruction": instruction,
        "reference": instruction.case.reference,
        "due_on": deadlines.local_date(instruction.due_at),
        "changes": instructed_changes(instruction),
        "values": {"name": "", "note": ""},
    }
    if request.method == "GET":
        return _page(request, "portal/processor.html", context)
    if not ratelimit.allow_ip(request, purpose=ratelimit.CONFIRM):
        return _too_many(request)
    name, note = request.POST.get("name", ""), request.POST.get("note", "")
    try:
        processors.instruction_confirm_by_link(raw=token, name=name, note=note)
    except TokenError as exc:
        return _error(request, exc)
    except ValidationError as exc:
        context["errors"] = exc.message_dict
        context["values"] = {"name": name, "note": note}
        return _page(request, "portal/processor.html", context, status=400)
    return _page(
        request, "portal/processor.html", {"confirmed": True, "reference": context["reference"]}
    )
