"""Staff in the admin: no one raises their own rights. Superuser status and direct permissions
are not editable here (roles are groups); no one edits their own groups or flags; a role that
works cases (the privacy team, the DPO) is asked for here and given once a second person
confirms it under "Roles to confirm"."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from casework.actors import Actor
from casework.models import RoleGrant
from casework.services import staff

User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class StaffUserAdmin(UserAdmin):
    # Roles are groups; a permission given to one person bypasses them.
    ALWAYS_READ_ONLY = ("is_superuser", "user_permissions", "last_login", "date_joined")
    OWN_READ_ONLY = ("groups", "is_staff", "is_active")

    def get_readonly_fields(self, request, obj=None):
        fields = [*super().get_readonly_fields(request, obj), *self.ALWAYS_READ_ONLY]
        if obj is not None and obj.pk == request.user.pk:
            fields += self.OWN_READ_ONLY
        return fields

    def save_related(self, request, form, formsets, change):
        """A role that works cases, newly ticked, is asked for instead of given."""
        user = form.instance
        asked: list[str] = []
        if "groups" in form.cleaned_data:
            before = set(user.groups.values_list("name", flat=True)) if change else set()
            chosen = form.cleaned_data["groups"]
            for group in chosen:
                if group.name in staff.CASE_ROLES and group.name not in before:
                    asked.append(group.name)
            form.cleaned_data["groups"] = chosen.exclude(name__in=asked)
        super().save_related(request, form, formsets, change)
        for role in asked:
            try:
                staff.request_role(user=user, role=role, actor=Actor.staff(request.user))
            except (PermissionDenied, ValidationError) as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            self.message_user(
                request,
                _(
                    "The role “%(role)s” for %(user)s waits for a second person (an "
                    "administrator or a DPO) to confirm it under “Roles to confirm”."
                )
                % {"role": role, "user": user.get_username()},
                messages.WARNING,
            )


@admin.register(RoleGrant)
class RoleGrantAdmin(admin.ModelAdmin):
    list_display = ["requested_at", "user", "role", "requested_by", "state", "confirmed_by"]
    list_filter = ["state", "role"]
    fields = [*list_display, "confirmed_at"]
    readonly_fields = fields
    actions = ["confirm"]

    def has_add_permission(self, request) -> bool:
        return False  # asked for from the staff member's page

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description=_("Confirm the selected roles"), permissions=["change"])
    def confirm(self, request, queryset) -> None:
        confirmed = 0
        for grant in queryset.filter(state=RoleGrant.State.PENDING):
            try:
                staff.confirm_role(grant=grant, actor=Actor.staff(request.user))
            except (PermissionDenied, ValidationError) as exc:
                self.message_user(
                    request, " ".join(getattr(exc, "messages", [str(exc)])), messages.ERROR
                )
                continue
            confirmed += 1
        if confirmed:
            self.message_user(
                request,
                ngettext("%(n)d role confirmed.", "%(n)d roles confirmed.", confirmed)
                % {"n": confirmed},
                messages.SUCCESS,
            )


# Groups are the roles migrations make: nobody edits them in the admin.
admin.site.unregister(Group)
