"""What the reminder job sent (casework.services.reminders): each reminder, escalation and
receipt confirmation, and each day's digest of unassigned cases. Read only: the rows are the
record that staff and subjects were told, and what keeps them from being told twice."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from casework import deadlines
from casework.models import DigestSent, Reminder
from casework.selectors.access import of_visible_cases


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Reminder)
class ReminderAdmin(_ReadOnly):
    list_display = ["sent_at", "case", "kind", "due_on", "sent_to"]
    list_filter = ["kind"]
    list_select_related = ["case", "recipient"]
    search_fields = ["case__reference"]
    date_hierarchy = "sent_at"

    def get_queryset(self, request):
        return of_visible_cases(request.user, super().get_queryset(request))

    @admin.display(description=_("for the due date"), ordering="for_due_at")
    def due_on(self, reminder: Reminder):
        return deadlines.local_date(reminder.for_due_at)

    @admin.display(description=_("sent to"))
    def sent_to(self, reminder: Reminder) -> str:
        if reminder.recipient_id:
            return reminder.recipient.get_username()
        return reminder.get_recipient_role_display()


@admin.register(DigestSent)
class DigestSentAdmin(_ReadOnly):
    list_display = ["for_date", "recipient", "cases", "sent_at"]
    list_select_related = ["recipient"]
    date_hierarchy = "for_date"
