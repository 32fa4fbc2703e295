"""The portal's URLs, mounted under a language prefix (/en/, /sq/) by config/urls.py.
Tokens travel in the path (masked in logs by config/logmask.py), and every page that carries
one is sent with Referrer-Policy: no-referrer and Cache-Control: no-store
(casework.portal.middleware)."""

from django.urls import path

from casework.portal import processors, views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("request/", views.request_form, name="request"),
    path("request/sent/", views.request_sent, name="request_sent"),
    path("request/resend/", views.resend, name="resend"),
    path("verify/<str:token>/", views.verify, name="verify"),
    path("status/", views.status_request, name="status_request"),
    path("status/<str:token>/", views.status, name="status"),
    path("status/<str:token>/answer/", views.answer, name="answer"),
    path("status/<str:token>/letter/", views.status_letter, name="status_letter"),
    path("status/<str:token>/withdraw/", views.withdraw, name="withdraw"),
    path("status/<str:token>/download/", views.download_code, name="download_code"),
    path("download/", views.download, name="download"),
    path("processor/<str:token>/", processors.processor, name="processor"),
]
