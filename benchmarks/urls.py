"""The project's URLs and, for the portal benchmark only, /bench/insert/: the bare view."""

from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from benchmarks.bare_insert import insert_view
from config.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    path("bench/insert/", csrf_exempt(insert_view)),
    *project_urlpatterns,
]
