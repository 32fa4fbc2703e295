"""The DRP's URLs, mounted at settings.DRP_BASE_PATH (default /drp) by config/urls.py. The
protocol's paths have no trailing slash."""

from django.urls import path, re_path

from casework.drp import views

app_name = "drp"

urlpatterns = [
    path("", views.information, name="information"),
    re_path(r"^v1/agent/(?P<agent_id>[A-Za-z0-9_]{1,100})$", views.Agent.as_view(), name="agent"),
    re_path(r"^v1/data-rights-request$", views.DataRightsRequests.as_view(), name="requests"),
    re_path(
        r"^v1/data-rights-request/(?P<request_id>[0-9a-fA-F-]{36})$",
        views.DataRightsRequestDetail.as_view(),
        name="request",
    ),
    path("verify/<uuid:request_id>/", views.verify, name="verify"),
    # [\s\S], not ".": a newline in the path (%0A) is matched too (see casework.api.urls).
    re_path(r"^[\s\S]*$", views.not_found),
]
