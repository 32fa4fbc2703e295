"""The audit trail in the admin: read only, for everyone."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from casework.admin.details import details_html
from casework.audit import action_names, current_action
from casework.models import (
    AuditEvent,
)
from casework.selectors.access import of_visible_cases

# Columns the trail shows here and in the case page's inline alike.


@admin.display(description=_("action"), ordering="action")
def action_name(model_admin, event: AuditEvent) -> str:
    # Stored events keep the name they were written under (they are hashed); show today's.
    return current_action(event.action)


@admin.display(description=_("actor"), ordering="actor_label")
def actor_column(model_admin, event: AuditEvent) -> str:
    return event.actor_label


@admin.display(description=_("details"))
def details_list(model_admin, event: AuditEvent) -> str:
    return details_html(event.details)


class ActionFilter(admin.SimpleListFilter):
    """Actions by their current name; choosing one finds the events stored under older names
    of it too."""

    title = _("action")
    parameter_name = "action"

    def lookups(self, request, model_admin):
        stored = AuditEvent.objects.order_by().values_list("action", flat=True).distinct()
        return [(name, name) for name in sorted({current_action(a) for a in stored})]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(action__in=action_names(self.value()))
        return queryset


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "chain",
        "seq",
        "case",
        "action_name",
        "actor_column",
        "from_state",
        "to_state",
        "details_list",
    )
    list_filter = ("actor_kind", ActionFilter)
    search_fields = ("action", "case__reference")
    list_select_related = ("chain", "case")
    ordering = ("-created_at", "-pk")
    fields = (
        "created_at",
        "chain",
        "seq",
        "case",
        "action_name",
        "actor_kind",
        "actor",
        "actor_column",
        "from_state",
        "to_state",
        "details_list",
        "prev_hash",
        "hash",
    )
    readonly_fields = fields

    action_name = action_name
    actor_column = actor_column
    details_list = details_list

    class Media:
        css = {"all": ["casework/admin.css"]}

    def get_queryset(self, request):
        return of_visible_cases(request.user, super().get_queryset(request))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
