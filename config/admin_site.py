"""The admin site: with DSAR_STAFF_OTP_REQUIRED (on with DSAR_SECURE=1) staff must pass a
second factor (a TOTP device from django-otp) before any admin page opens."""

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm

from casework import outbox
from casework.signin import LimitedSignIn


class LimitedAdminSignInForm(LimitedSignIn, AdminAuthenticationForm):
    pass


class DsarAdminSite(admin.AdminSite):
    site_header = "DSAR casework"
    site_title = "DSAR casework"
    index_title = "Cases and the data map"
    # The admin's index, with a link to the Outbox when e-mail goes there (development).
    index_template = "admin/dsar_index.html"

    def get_urls(self):
        # Imported here: casework.admin registers models on this site as it is imported.
        from casework.admin.outbox import outbox_urls

        return outbox_urls(self) + super().get_urls()

    def each_context(self, request):
        context = super().each_context(request)
        context["outbox_enabled"] = outbox.outbox_enabled()
        context["dashboard_allowed"] = request.user.has_perm("casework.view_dashboard")
        return context

    def has_permission(self, request):
        allowed = super().has_permission(request)
        if allowed and settings.DSAR_STAFF_OTP_REQUIRED:
            return request.user.is_verified()
        return allowed

    @property
    def login_form(self):
        if not settings.DSAR_STAFF_OTP_REQUIRED:
            return LimitedAdminSignInForm
        from django_otp.admin import OTPAdminAuthenticationForm

        return type("LimitedOTPSignInForm", (LimitedSignIn, OTPAdminAuthenticationForm), {})

    @property
    def login_template(self):
        return "otp/admin111/login.html" if settings.DSAR_STAFF_OTP_REQUIRED else None
