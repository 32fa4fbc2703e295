"""Views of the public portal: parse input, call a service or selector, render a page in the
language of the URL. Every POST that could make us send an e-mail, or guess a secret, is rate
limited per address (and per e-mail where there is one)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, translate_url
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST
from django_fsm import TransitionNotAllowed

from casework import deadlines, letters, queue
from casework import selectors as case_selectors
from casework import services as case_services
from casework.actors import Actor
from casework.models import (
    BUNDLE_TYPES,
    CHANGING_TYPES,
    Case,
    Language,
    PortalToken,
    RequestType,
    RestrictionGround,
    State,
)
from casework.portal import ratelimit, selectors, services
from casework.portal.forms import AnswerForm, CodeForm, RequestForm, ResendForm, StatusLinkForm
from casework.selectors import may_email
from casework.selectors.processors import backups_told, processors_told
from casework.selectors.recipients import recipients_told
from casework.services import submissions

STREAM_CHUNK = 64 * 1024
LANGUAGE_NAMES = [("sq", "Shqip"), ("en", "English")]


def _language() -> str:
    language = translation.get_language() or settings.LANGUAGE_CODE
    return language if language in Language.values else settings.LANGUAGE_CODE


def _in_language(path: str, current: str, code: str) -> str:
    """The same page in language `code`: the portal's paths differ only in their prefix."""
    prefix = f"/{current}/"
    return (
        f"/{code}/{path[len(prefix) :]}" if path.startswith(prefix) else translate_url(path, code)
    )


def _page(request, template: str, context: dict | None = None, status: int = 200):
    language = _language()
    base = {
        **selectors.controller_identity(language),
        # Each language named in itself; the same page (query included) in the other language.
        "language_links": [
            (code, name, _in_language(request.get_full_path(), language, code))
            for code, name in LANGUAGE_NAMES
        ],
    }
    return render(request, template, {**base, **(context or {})}, status=status)


def _message(request, title: str, paragraphs: list[str], status: int = 200, **extra):
    return _page(
        request, "portal/message.html", {"title": title, "paragraphs": paragraphs, **extra}, status
    )


def _too_many(request) -> HttpResponse:
    response = _message(
        request,
        _("Too many requests"),
        [
            _(
                "We have received too many requests from you in a short time. Please wait an "
                "hour and try again."
            ),
            _("If your matter is urgent, write to our data protection officer."),
        ],
        status=429,
    )
    response["Retry-After"] = str(settings.DSAR_RATE_WINDOW_SECONDS)
    return response


def _refused_form(request, template: str, form) -> HttpResponse:
    """Over the limit with a form in hand: the same page again, with what the person typed
    (a file must be attached again: browsers never send one back), and why it was refused."""
    form.add_error(
        None,
        _(
            "Too many requests: we have received too many requests from you in a short time. "
            "Please wait an hour and send this again; what you typed is kept below."
        ),
    )
    response = _page(request, template, {"form": form}, status=429)
    response["Retry-After"] = str(settings.DSAR_RATE_WINDOW_SECONDS)
    return response


def _check_inbox(request, what_we_did: str) -> HttpResponse:
    """The answer to a request for a link: the same whether or not anything was sent."""
    return _message(
        request,
        _("Check your inbox"),
        [
            what_we_did,
            _(
                "Nothing arrived? Look in your spam folder, or write to our data protection officer."
            ),
        ],
    )


def _too_large(request) -> HttpResponse:
    return _message(
        request,
        _("The upload is too large"),
        [_("Go back and choose a smaller file (PDF, JPEG or PNG).")],
        status=413,
    )


def _link_error(request, error: services.TokenError, purpose: str) -> HttpResponse:
    """A clear page for a link that opens nothing: unknown (404), expired, used or its request
    closed (410)."""
    return _page(
        request,
        "portal/link_error.html",
        {"reason": error.reason, "purpose": purpose},
        status=error.status,
    )


def _body_too_large(request) -> bool:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return True
    return length > settings.DSAR_AUTHORITY_MAX_BYTES + settings.DSAR_FORM_MAX_BYTES


# --- the request form ------------------------------------------------------------------------------


def home(request: HttpRequest) -> HttpResponse:
    return redirect("portal:request")


@require_http_methods(["GET", "POST"])
def request_form(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _page(
            request, "portal/request_form.html", {"form": RequestForm(initial=_asked(request))}
        )
    if _body_too_large(request):
        if not ratelimit.allow_ip(request):
            return _too_many(request)
        return _too_large(request)
    form = RequestForm(request.POST, request.FILES)
    valid = form.is_valid()
    submission = form.submission() if valid and not form.is_bot else None
    # Every post counts against the client's address; a valid one against its e-mail too.
    if not ratelimit.allow(request, submission["email"] if submission else None):
        return _refused_form(request, "portal/request_form.html", form)
    if form.is_bot:
        # Answered like a success, and nothing is stored or sent.
        return _to_sent_page(mailbox_lost=False)
    if not valid:
        return _page(request, "portal/request_form.html", {"form": form})
    submissions.receive_submission(language=_language(), **submission)
    # The same answer whoever the e-mail belongs to: one row stored and the opener woken; the
    # case is opened, and the e-mail sent, by the worker.
    return _to_sent_page(mailbox_lost=submission["mailbox_lost"])


def _asked(request: HttpRequest) -> dict[str, str]:
    """The kind of request (and a restriction's ground) a link may choose for the subject, as
    the status page's offer of a restriction while an objection is decided does; anything
    else in the address is ignored."""
    initial = {}
    if request.GET.get("type") in RequestType.values:
        initial["request_type"] = request.GET["type"]
    if request.GET.get("ground") in RestrictionGround.values:
        initial["restriction_ground"] = request.GET["ground"]
    return initial


def _to_sent_page(*, mailbox_lost: bool) -> HttpResponse:
    """303 See Other to the thank-you page (post/redirect/get): reloading that page, or
    going back to it, sends nothing again."""
    response = HttpResponseRedirect(
        reverse("portal:request_sent") + ("?mailbox=lost" if mailbox_lost else "")
    )
    response.status_code = 303
    return response


@require_http_methods(["GET"])
def request_sent(request: HttpRequest) -> HttpResponse:
    # Says only what the address bar says: nothing about any request is looked up.
    lost = request.GET.get("mailbox") == "lost"
    return _page(request, "portal/sent.html", {"mailbox_lost": lost})


@require_http_methods(["GET", "POST"])
def resend(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _page(request, "portal/resend.html", {"form": ResendForm()})
    form = ResendForm(request.POST)
    valid = form.is_valid()
    email = form.cleaned_data["email"] if valid else None
    if not ratelimit.allow(request, email, purpose=ratelimit.RESEND):
        return _refused_form(request, "portal/resend.html", form)
    if not valid:
        return _page(request, "portal/resend.html", {"form": form})
    email = form.cleaned_data["email"]
    queue.enqueue_on_commit("resend_verification_link", email, form.cleaned_data["reference"])
    return _check_inbox(
        request,
        ngettext(
            "If a request with this reference is waiting for confirmation from this "
            "address, we have sent a new link to it. The link is valid for %(count)d hour.",
            "If a request with this reference is waiting for confirmation from this "
            "address, we have sent a new link to it. The link is valid for %(count)d hours.",
            settings.DSAR_VERIFY_TOKEN_HOURS,
        )
        % {"count": settings.DSAR_VERIFY_TOKEN_HOURS},
    )


# --- e-mail confirmation ---------------------------------------------------------------------------


@csrf_exempt  # the secret token authenticates the post (see portal/middleware.py)
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button (a mail scanner fetching the link consumes nothing); POST confirms."""
    if request.method == "GET":
        try:
            found = services.check_token(token, PortalToken.Purpose.VERIFY)
        except services.TokenError as exc:
            return _link_error(request, exc, PortalToken.Purpose.VERIFY)
        return _page(request, "portal/verify.html", {"case": found.case, "token": token})
    if not ratelimit.allow_ip(request, purpose=ratelimit.CONFIRM):
        return _too_many(request)
    try:
        case = services.confirm_email(raw_token=token)
    except services.TokenError as exc:
        return _link_error(request, exc, PortalToken.Purpose.VERIFY)
    return _page(
        request,
        "portal/verified.html",
        {
            "case": case,
            "due_on": selectors.due_on(case),
            "waits_for_staff": selectors.waits_for_staff(case),
            "restriction_offered": case_selectors.restriction_offered(case),
            "restriction_ground": RestrictionGround.OBJECTION_PENDING,
        },
    )


# --- the status page -------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def status_request(request: HttpRequest) -> HttpResponse:
    """Ask for a fresh status link; answered alike whether or not a request exists."""
    if request.method == "GET":
        return _page(request, "portal/status_request.html", {"form": StatusLinkForm()})
    form = StatusLinkForm(request.POST)
    valid = form.is_valid()
    email = form.cleaned_data["email"] if valid else None
    if not ratelimit.allow(request, email, purpose=ratelimit.STATUS_LINK):
        return _refused_form(request, "portal/status_request.html", form)
    if not valid:
        return _page(request, "portal/status_request.html", {"form": form})
    queue.enqueue_on_commit("send_status_links", form.cleaned_data["email"], _language())
    return _check_inbox(
        request,
        ngettext(
            "If we have a request from this address, we have sent a link to its status "
            "page. The link is valid for %(count)d hour.",
            "If we have a request from this address, we have sent a link to its status "
            "page. The link is valid for %(count)d hours.",
            settings.DSAR_STATUS_TOKEN_HOURS,
        )
        % {"count": settings.DSAR_STATUS_TOKEN_HOURS},
    )


def _changes_told(case: Case) -> bool:
    """A completed rectification, erasure, restriction or objection: what was done is told."""
    return case.state == State.COMPLETED and case.request_type in CHANGING_TYPES


def _outcome(case: Case) -> dict | None:
    """What was done and kept, in the page's language, for a completed change."""
    if not _changes_told(case):
        return None
    done, kept = case_selectors.plan_outcome(case)
    return {
        "done": done,
        "kept": kept,
        "refused": case_selectors.corrections_refused(case),
        "processors": processors_told(case),
        "backups": backups_told(case),
        "recipients": recipients_told(case),
    }


def _status_case(token: str) -> Case:
    return services.check_token(token, PortalToken.Purpose.STATUS).case


def _answered_by_bundle(case: Case) -> bool:
    """A completed access or portability request: answered by the data ready to download."""
    return case.state == State.COMPLETED and case.request_type in BUNDLE_TYPES


def _status_page(request, token: str, case: Case, *, answer_form=None, status=200, **extra):
    download = selectors.download_state(case) if case.verified_at else None
    answered = _answered_by_bundle(case) and download != "revoked"
    return _page(
        request,
        "portal/status.html",
        {
            "case": case,
            "token": token,
            "due_on": selectors.due_on(case),
            "original_due_on": deadlines.local_date(case.original_due_at)
            if case.original_due_at
            else None,
            "received_on": deadlines.local_date(case.received_at),
            "subject_messages": list(selectors.subject_messages(case)),
            "letters": list(selectors.letters_to_subject(case)),
            "outcome": _outcome(case),
            "download": download if isinstance(download, selectors.Download) else None,
            # Revoked by the DPO: said plainly, never "your data is ready".
            "download_withdrawn": download == "revoked",
            # A completed access request past its window (or its retention): said, not hidden.
            "download_ended": selectors.download_ended_on(case)
            if answered and download in ("window", "unavailable")
            else None,
            "downloads_used": answered and download == "limit",
            "waits_for_staff": selectors.waits_for_staff(case),
            "restriction_offered": case_selectors.restriction_offered(case),
            "restriction_ground": RestrictionGround.OBJECTION_PENDING,
            "answer_form": answer_form
            if answer_form is not None
            else (AnswerForm() if case.state == State.AWAITING_SUBJECT else None),
            "State": State,
            **extra,
        },
        status=status,
    )


@require_http_methods(["GET"])
def status(request: HttpRequest, token: str) -> HttpResponse:
    try:
        case = _status_case(token)
    except services.TokenError as exc:
        return _link_error(request, exc, PortalToken.Purpose.STATUS)
    return _status_page(request, token, case)


def status_letter(request: HttpRequest, token: str) -> HttpResponse:
    """The letter of what was done (PDF, in the subject's language) for a completed change."""
    try:
        case = _status_case(token)
    except services.TokenError as exc:
        return _link_error(request, exc, PortalToken.Purpose.STATUS)
    if not _changes_told(case):
        return redirect("portal:status", token=token)
    name, pdf = letters.letter_pdf(case, "completed")
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt  # the secret token authenticates the post (see portal/middleware.py)
@require_POST
def answer(request: HttpRequest, token: str) -> HttpResponse:
    try:
        case = _status_case(token)
    except services.TokenError as exc:
        return _link_error(request, exc, PortalToken.Purpose.STATUS)
    form = AnswerForm(request.POST)
    if not form.is_valid():
        return _status_page(request, token, case, answer_form=form)
    try:
        case_services.case_answered(
            case=case, actor=Actor.subject(), note=form.cleaned_data["text"]
        )
    except (TransitionNotAllowed, PermissionDenied):
        return _status_page(request, token, case, status=409, notice="answer_not_possible")
    return redirect(reverse("portal:status", kwargs={"token": token}) + "?done=answered")


@csrf_exempt  # the secret token authenticates the post (see portal/middleware.py)
@require_http_methods(["GET", "POST"])
def withdraw(request: HttpRequest, token: str) -> HttpResponse:
    """A confirmation step first (GET), then the withdrawal (POST)."""
    try:
        case = _status_case(token)
    except services.TokenError as exc:
        return _link_error(request, exc, PortalToken.Purpose.STATUS)
    if not case.is_open:
        return redirect("portal:status", token=token)
    if request.method == "GET":
        return _page(request, "portal/withdraw.html", {"case": case, "token": token})
    try:
        case_services.case_withdraw(case=case, actor=Actor.subject())
    except (TransitionNotAllowed, PermissionDenied):
        return _status_page(request, token, case, status=409, notice="withdraw_not_possible")
    return redirect(reverse("portal:status", kwargs={"token": token}) + "?done=withdrawn")


# --- the secure download ---------------------------------------------------------------------------


def _gone(request, reason: str) -> HttpResponse:
    return _page(request, "portal/download_gone.html", {"reason": reason}, status=410)


@csrf_exempt  # the secret token authenticates the post (see portal/middleware.py)
@require_http_methods(["GET", "POST"])
def download_code(request: HttpRequest, token: str) -> HttpResponse:
    """Ask for a one-time code (action=send), then enter it (action=check): a right code
    gives a page with a single-use download button."""
    try:
        case = _status_case(token)
    except services.TokenError as exc:
        return _link_error(request, exc, PortalToken.Purpose.STATUS)
    if not case.verified_at or not may_email(case):
        return _gone(request, "unavailable")
    current = selectors.download_state(case)
    if isinstance(current, str):
        return _gone(request, current)
    context = {"case": case, "token": token, "download": current}
    if request.method == "GET":
        return _page(request, "portal/download_code.html", {**context, "form": CodeForm()})
    if not ratelimit.allow_ip(request, purpose=ratelimit.DOWNLOAD_CODE):
        return _too_many(request)
    if request.POST.get("action") == "send":
        if not ratelimit.allow_email(case.email, purpose=ratelimit.DOWNLOAD_CODE):
            return _too_many(request)
        queue.enqueue_on_commit("send_download_code", current.bundle.pk)
        return _page(
            request, "portal/download_code.html", {**context, "form": CodeForm(), "sent": True}
        )
    form = CodeForm(request.POST)
    if not form.is_valid():
        return _page(request, "portal/download_code.html", {**context, "form": form})
    try:
        download_token = services.check_download_code(
            bundle=current.bundle, code=form.cleaned_data["code"]
        )
    except services.CodeWrong as exc:
        if exc.remaining > 0:
            message = _("That code is not right. Tries left: %(n)d.") % {"n": exc.remaining}
        else:
            message = _("That code is not right, and there are no tries left. Ask for a new code.")
        form.add_error("code", message)
        return _page(request, "portal/download_code.html", {**context, "form": form})
    except services.CodeRevoked:
        return _gone(request, "revoked")
    except services.CodeError as exc:
        form.add_error("code", str(exc.message))
        return _page(request, "portal/download_code.html", {**context, "form": form})
    return _page(
        request,
        "portal/download_ready.html",
        {**context, "download_token": download_token},
    )


def _chunks(stream):
    try:
        while chunk := stream.read(STREAM_CHUNK):
            yield chunk
    finally:
        stream.close()


@csrf_exempt  # the secret token authenticates the post (see portal/middleware.py)
@require_POST
def download(request: HttpRequest) -> HttpResponse:
    """Stream the decrypted bundle (never read whole), once per download token."""
    token = request.POST.get("token", "")
    try:
        bundle, stream = services.start_download(raw_token=token)
    except services.TokenError as exc:
        if exc.status == 404:
            return _link_error(request, exc, PortalToken.Purpose.DOWNLOAD)
        return _gone(request, exc.reason)
    except services.DownloadGone as exc:
        return _gone(request, exc.reason)
    response = StreamingHttpResponse(_chunks(stream), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{bundle.case.reference}.zip"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
