"""Authorised agents (DRP): the administrator keeps them (their keys, addresses and trust
policy); their requests and callbacks are shown read-only."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db import models

from casework.models import DrpAgent, DrpCallback, DrpRequest
from casework.selectors.access import of_visible_cases


@admin.register(DrpAgent)
class DrpAgentAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "enabled", "paired_at", "web_url")
    list_filter = ("enabled",)
    search_fields = ("id", "name")
    fields = (
        "id",
        "name",
        "verify_key",
        "web_url",
        "identity_assurance_url",
        "contacts",
        "enabled",
        "trust_policy",
        "paired_at",
    )
    readonly_fields = ("paired_at",)
    # An agent's address typed without a scheme is https (Django 6's default, chosen now).
    formfield_overrides = {
        models.URLField: {"form_class": forms.URLField, "assume_scheme": "https"},
    }

    def get_readonly_fields(self, request, obj=None):
        return ("id", "paired_at") if obj else ("paired_at",)

    def has_delete_permission(self, request, obj=None):
        return False  # disabled, kept: its requests refer to it


@admin.register(DrpRequest)
class DrpRequestAdmin(admin.ModelAdmin):
    list_display = ("request_id", "agent", "exercise", "case", "last_status", "created_at")
    list_filter = ("agent", "exercise", "last_status")
    list_select_related = ("agent", "case")
    fields = (
        "request_id",
        "agent",
        "case",
        "exercise",
        "agent_request_id",
        "regime",
        "last_status",
        "last_reason",
        "created_at",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return of_visible_cases(request.user, super().get_queryset(request))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(DrpCallback)
class DrpCallbackAdmin(admin.ModelAdmin):
    list_display = ("pk", "request", "state", "attempts", "response_status", "created_at")
    list_filter = ("state",)
    fields = ("request", "state", "attempts", "response_status", "error", "last_error_class")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
