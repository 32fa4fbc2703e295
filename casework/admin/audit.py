"""The audit trail in the admin: read only, for everyone."""

from __future__ import annotations

from django.contrib import admin

from casework.models import (
    AuditEvent,
)

# --- what staff can do to a case -----------------------------------------------------------------


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "chain",
        "seq",
        "case",
        "action",
        "actor_label",
        "from_state",
        "to_state",
    )
    list_filter = ("actor_kind", "action")
    search_fields = ("action", "case__reference")
    list_select_related = ("chain", "case")
    ordering = ("-created_at", "-pk")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
