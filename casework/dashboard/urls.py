from django.urls import path

from casework.dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("", views.index, name="index"),
    path("figures.csv", views.figures_csv, name="figures_csv"),
    path("report/<int:year>/", views.report, name="report"),
    path("report/<int:year>.csv", views.report_csv, name="report_csv"),
]
