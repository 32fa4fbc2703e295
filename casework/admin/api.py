"""Keys of the staff API: listed (never their hash), revoked. Keys are issued by
`manage.py issue_api_token` (intake clients) or by staff through the API itself."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from casework.actors import Actor
from casework.models import ApiToken
from casework.services.api_tokens import api_token_revoke


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "user", "name", "created_at", "expires_at", "last_used_at", "status")
    list_filter = ("revoked_at",)
    list_select_related = ("user",)
    search_fields = ("user__username", "name", "prefix")
    fields = ("user", "name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    actions = ["revoke"]

    @admin.display(description=_("status"))
    def status(self, token: ApiToken) -> str:
        if token.revoked_at is not None:
            return str(_("revoked"))
        if token.expires_at <= timezone.now():
            return str(_("expired"))
        return str(_("valid"))

    def has_add_permission(self, request):
        return False  # the key is shown once: `manage.py issue_api_token`

    def has_delete_permission(self, request, obj=None):
        return False  # revoked, kept: the audit trail refers to it

    @admin.action(description=_("Revoke the selected keys"), permissions=["change"])
    def revoke(self, request, queryset):
        actor = Actor.staff(request.user)
        count = 0
        for token in queryset.filter(revoked_at__isnull=True):
            api_token_revoke(token=token, actor=actor)
            count += 1
        self.message_user(
            request,
            ngettext("%(n)d key revoked.", "%(n)d keys revoked.", count) % {"n": count},
            messages.SUCCESS,
        )
