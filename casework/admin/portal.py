"""The public portal's tables in the admin: the regimes by country, editable by staff, and the
form submissions a worker could not open."""

from django.conf import settings
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from casework import services
from casework.actors import Actor
from casework.models import CountryRegime, PortalSubmission


@admin.register(CountryRegime)
class CountryRegimeAdmin(admin.ModelAdmin):
    list_display = ["country", "regime_shown", "note"]
    list_filter = ["regime"]
    search_fields = ["country", "note"]
    ordering = ["country"]

    @admin.display(description=_("regime"), ordering="regime")
    def regime_shown(self, obj: CountryRegime) -> str:
        if obj.regime:
            return obj.get_regime_display()
        return _("default (%(regime)s)") % {"regime": settings.DSAR_DEFAULT_REGIME}


@admin.register(PortalSubmission)
class PortalSubmissionAdmin(admin.ModelAdmin):
    """Form requests not yet opened as cases. Normally empty: a worker opens each within
    seconds. What stays here failed (see `error`); staff can queue it again once what made it
    fail is fixed, or delete it (spam)."""

    list_display = ["received_at", "state", "request_type", "language", "attempts", "error"]
    list_filter = ["state", "language"]
    ordering = ["-received_at"]
    fields = [
        "received_at",
        "state",
        "language",
        "attempts",
        "last_error_class",
        "error",
        "payload",
        "authority",
    ]
    readonly_fields = fields
    actions = ["queue_again"]

    def has_add_permission(self, request) -> bool:
        return False  # submissions come from the form only

    # Deleting (spam) goes through the service, so that the upload goes with the row.
    def delete_model(self, request, obj: PortalSubmission) -> None:
        services.delete_submissions([obj])

    def delete_queryset(self, request, queryset) -> None:
        services.delete_submissions(queryset)

    @admin.display(description=_("request type"))
    def request_type(self, obj: PortalSubmission) -> str:
        return str(obj.payload.get("request_type", ""))

    @admin.action(
        description=_("Queue the selected failed submissions again"), permissions=["change"]
    )
    def queue_again(self, request, queryset) -> None:
        actor = Actor.staff(request.user)
        failed = queryset.filter(state=PortalSubmission.State.FAILED)
        for submission in failed:
            services.retry_submission(submission=submission, actor=actor)
        self.message_user(
            request,
            ngettext(
                "%(count)d submission queued again.",
                "%(count)d submissions queued again.",
                len(failed),
            )
            % {"count": len(failed)},
            messages.SUCCESS,
        )
