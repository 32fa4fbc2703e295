from django.conf import settings
from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import include, path

# Imported before admin.site.urls is read: it registers the portal's admin (CountryRegime).
from casework.portal import urls as portal_urls
from casework.views import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    # The DPO's dashboard: inside the admin site (its sign-in and second factor).
    path("dashboard/", include("casework.dashboard.urls")),
    # The staff REST API (/api/v1/), its OpenAPI schema and docs page.
    path("api/", include("casework.api.urls")),
    # The Data Rights Protocol 1.0 (authorised agents), at DRP_BASE_PATH (default /drp).
    path(settings.DRP_BASE_PATH.strip("/") + "/", include("casework.drp.urls")),
]
# The public portal: /en/request/, /sq/request/; /request/ redirects by Accept-Language.
urlpatterns += i18n_patterns(path("", include(portal_urls)))
