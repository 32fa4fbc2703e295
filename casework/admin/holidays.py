"""Public holidays (CCPA receipt confirmation counts business days)."""

from __future__ import annotations

from django.contrib import admin

from casework.models import (
    PublicHoliday,
)

# --- what staff can do to a case -----------------------------------------------------------------


@admin.register(PublicHoliday)
class PublicHolidayAdmin(admin.ModelAdmin):
    list_display = ("date", "name")
    ordering = ("date",)
    date_hierarchy = "date"
