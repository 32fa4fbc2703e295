from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from casework.api import views
from casework.api.errors import not_found

app_name = "api"

urlpatterns = [
    path("v1/auth/token/", views.Token.as_view(), name="token"),
    path("v1/cases/", views.CaseList.as_view(), name="cases"),
    path("v1/cases/<str:reference>/", views.CaseDetail.as_view(), name="case"),
    path(
        "v1/cases/<str:reference>/operations/",
        views.CaseOperations.as_view(),
        name="case-operations",
    ),
    path(
        "v1/cases/<str:reference>/operations/<str:name>/",
        views.CaseOperationRun.as_view(),
        name="case-operation",
    ),
    path(
        "v1/cases/<str:reference>/decisions/", views.CaseDecisions.as_view(), name="case-decisions"
    ),
    path("v1/cases/<str:reference>/dossier/", views.CaseDossier.as_view(), name="case-dossier"),
    path("v1/cases/<str:reference>/plans/", views.CasePlans.as_view(), name="case-plans"),
    path("v1/cases/<str:reference>/events/", views.CaseEvents.as_view(), name="case-events"),
    path("v1/audit-events/", views.AuditEvents.as_view(), name="audit-events"),
    path("v1/source-systems/", views.SourceSystems.as_view(), name="source-systems"),
    path(
        "v1/source-systems/<slug:slug>/", views.SourceSystemDetail.as_view(), name="source-system"
    ),
    path("v1/dashboard/figures/", views.DashboardFigures.as_view(), name="dashboard-figures"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    # Anything else under /api/ answers 404 in the API's error format.
    # [\s\S], not ".": a newline in the path (%0A) is matched too; a (?s) flag would stop
    # Django reversing every URL of the site.
    re_path(r"^[\s\S]*$", not_found),
]
