"""The admin's Outbox: the e-mails the development backend wrote (casework.outbox), newest
first, each with its text and its links intact. Not there at all (404) with any other backend;
who sees which message is casework.outbox's rule."""

from __future__ import annotations

from django.contrib.admin import AdminSite
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils.translation import gettext_lazy as _

from casework import outbox
from casework.models import Case


def _visible(site: AdminSite, request: HttpRequest, messages) -> list[outbox.OutboxMessage]:
    case_admin = site._registry[Case]
    return outbox.visible_messages(
        messages,
        user=request.user,
        may_view_case=lambda case: case_admin.has_view_permission(request, case),
    )


def outbox_list(request: HttpRequest, *, site: AdminSite) -> HttpResponse:
    if not outbox.outbox_enabled():
        raise Http404
    context = {
        **site.each_context(request),
        "title": _("Outbox"),
        "folder": outbox.outbox_folder(),
        "messages_shown": _visible(site, request, outbox.outbox_messages()),
    }
    return render(request, "admin/outbox/list.html", context)


def outbox_detail(request: HttpRequest, message_id: str, *, site: AdminSite) -> HttpResponse:
    if not outbox.outbox_enabled():
        raise Http404
    message = outbox.outbox_message(message_id)
    # Someone else's message answers like one that does not exist.
    if message is None or not _visible(site, request, [message]):
        raise Http404
    context = {**site.each_context(request), "title": message.subject, "message": message}
    return render(request, "admin/outbox/message.html", context)


def outbox_urls(site: AdminSite) -> list:
    """The Outbox's pages on `site` (DsarAdminSite.get_urls)."""
    return [
        path(
            "outbox/",
            site.admin_view(lambda request: outbox_list(request, site=site)),
            name="outbox",
        ),
        path(
            "outbox/<str:message_id>/",
            site.admin_view(
                lambda request, message_id: outbox_detail(request, message_id, site=site)
            ),
            name="outbox_message",
        ),
    ]
