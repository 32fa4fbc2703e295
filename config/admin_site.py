"""The admin site: with DSAR_STAFF_OTP_REQUIRED (on with DSAR_SECURE=1) staff must pass a
second factor (a TOTP device from django-otp) before any admin page opens."""

from django.conf import settings
from django.contrib import admin


class DsarAdminSite(admin.AdminSite):
    site_header = "DSAR casework"
    site_title = "DSAR casework"
    index_title = "Cases and the data map"

    def has_permission(self, request):
        allowed = super().has_permission(request)
        if allowed and settings.DSAR_STAFF_OTP_REQUIRED:
            return request.user.is_verified()
        return allowed

    @property
    def login_form(self):
        if not settings.DSAR_STAFF_OTP_REQUIRED:
            return None
        from django_otp.admin import OTPAdminAuthenticationForm

        return OTPAdminAuthenticationForm

    @property
    def login_template(self):
        return "otp/admin111/login.html" if settings.DSAR_STAFF_OTP_REQUIRED else None
