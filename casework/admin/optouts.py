"""Our record of opt-outs, read-only: which case recorded an opt-out of which kind, under
which kind of identifier (the identifier itself only as its keyed hash), and when it was
lifted and by which case. Rows are written and lifted by the cases, never here."""

from __future__ import annotations

from django.contrib import admin

from casework.models import OptOut
from casework.selectors.access import of_visible_cases


@admin.register(OptOut)
class OptOutAdmin(admin.ModelAdmin):
    list_display = ["created_at", "case", "kind", "identifier_kind", "lifted_at", "lifted_by_case"]
    list_filter = ["kind", "identifier_kind", ("lifted_at", admin.EmptyFieldListFilter)]
    list_select_related = ["case", "lifted_by_case"]
    search_fields = ["case__reference", "lifted_by_case__reference"]
    fields = [
        "case",
        "kind",
        "identifier_kind",
        "identifier_hash",
        "created_at",
        "lifted_at",
        "lifted_by_case",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return of_visible_cases(request.user, super().get_queryset(request))

    def has_add_permission(self, request) -> bool:
        return False  # recorded when an objection's case completes

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # lifted by an opt-in case (lift_objection), never edited

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # kept, so that when an opt-out applied stays provable
