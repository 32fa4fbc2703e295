from django.contrib import admin
from django.urls import path

from casework.views import healthz

admin.site.site_header = "DSAR casework"
admin.site.site_title = "DSAR casework"
admin.site.index_title = "Cases and the data map"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
