"""Letters to post: the notices for subjects who may not be e-mailed. Staff open each letter's
PDF, print and post it, and mark it posted (`casework.services.notices.letter_mark_posted`)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from casework import letters
from casework.actors import Actor
from casework.models import PostalLetter
from casework.selectors.access import of_visible_cases
from casework.services import notices


@admin.register(PostalLetter)
class PostalLetterAdmin(admin.ModelAdmin):
    list_display = ["created_at", "case", "notice", "state", "posted_at", "posted_by", "pdf_link"]
    list_filter = ["state", "notice"]
    list_select_related = ["case", "posted_by"]
    search_fields = ["case__reference"]
    fields = ["case", "notice", "state", "created_at", "posted_at", "posted_by", "pdf_link"]
    readonly_fields = fields
    actions = ["mark_posted"]

    def get_queryset(self, request):
        return of_visible_cases(request.user, super().get_queryset(request))

    def has_add_permission(self, request) -> bool:
        return False  # letters come from notices only

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # they are the record of what the subject was told

    def get_urls(self):
        view = self.admin_site.admin_view(self.pdf_view)
        return [
            path("<int:letter_id>/pdf/", view, name="casework_postalletter_pdf"),
            *super().get_urls(),
        ]

    @admin.display(description=_("letter"))
    def pdf_link(self, letter: PostalLetter) -> str:
        url = reverse(f"{self.admin_site.name}:casework_postalletter_pdf", args=[letter.pk])
        return format_html('<a href="{}" class="letter-pdf">{}</a>', url, _("PDF"))

    def pdf_view(self, request: HttpRequest, letter_id: int) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        letter = get_object_or_404(self.get_queryset(request).select_related("case"), pk=letter_id)
        pdf = letters.letter_pdf(letter.case, letter.notice)
        if pdf is None:
            raise Http404("This notice has no letter.")
        name, content = pdf
        response = HttpResponse(content, content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{name}"'
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description=_("Mark the selected letters as posted"), permissions=["change"])
    def mark_posted(self, request, queryset) -> None:
        actor = Actor.staff(request.user)
        posted = 0
        for letter in queryset.filter(state=PostalLetter.State.TO_POST):
            try:
                notices.letter_mark_posted(letter=letter, actor=actor)
            except ValidationError:
                continue  # posted meanwhile
            posted += 1
        self.message_user(
            request,
            ngettext(
                "%(count)d letter marked as posted.", "%(count)d letters marked as posted.", posted
            )
            % {"count": posted},
            messages.SUCCESS,
        )
