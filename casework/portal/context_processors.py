"""The portal's limits (how long links and codes last, how often and for how long a download
works), for the texts of its pages and e-mails: they say what the settings make true.

`portal_limits` is the context processor of every page (config/settings.py); e-mails are
rendered without a request, so casework.portal.emails puts `limits()` in their context."""

from __future__ import annotations

from django.conf import settings


def limits() -> dict[str, int]:
    return {
        "verify_hours": settings.DSAR_VERIFY_TOKEN_HOURS,
        "status_hours": settings.DSAR_STATUS_TOKEN_HOURS,
        "unverified_days": settings.DSAR_UNVERIFIED_EXPIRY_DAYS,
        "code_minutes": settings.DSAR_CODE_MINUTES,
        "code_tries": settings.DSAR_CODE_MAX_TRIES,
        "download_days": settings.DSAR_DOWNLOAD_WINDOW_DAYS,
        "download_max": settings.DSAR_DOWNLOAD_MAX,
        "download_button_minutes": settings.DSAR_DOWNLOAD_TOKEN_MINUTES,
    }


def portal_limits(request) -> dict[str, int]:
    return limits()
