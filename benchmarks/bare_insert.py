"""The comparisons for the portal benchmark (benchmarks/portal.py): a bare Django view doing one
INSERT. POST inserts one row into bench_bare (created by the benchmark) and answers 204; GET
answers 200, so that the benchmark can tell the server is up.

- `insert_view` is served by the portal's own server at /bench/insert/ (benchmarks/urls.py):
  the same gunicorn, URL routing and middleware as the form. The target compares with it.
- `application` serves the same view with nothing around it (no URL routing, no middleware,
  only the request_started / request_finished signals that manage the database connection,
  CONN_MAX_AGE included), from a gunicorn of its own with the same settings
  (`gunicorn benchmarks.bare_insert:application -c config/gunicorn.conf.py`): the floor of
  what any Django request costs here, printed for reference.
"""

from __future__ import annotations

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.core import signals  # noqa: E402
from django.core.handlers.wsgi import WSGIRequest  # noqa: E402
from django.db import connection  # noqa: E402
from django.http import HttpResponse  # noqa: E402

INSERT = "INSERT INTO bench_bare (email) VALUES (%s)"


def insert_view(request) -> HttpResponse:
    if request.method == "POST":
        with connection.cursor() as cursor:
            cursor.execute(INSERT, [request.POST.get("email", "")])
        return HttpResponse(status=204)
    return HttpResponse(b"ok", content_type="text/plain")


def application(environ, start_response):
    signals.request_started.send(sender=None, environ=environ)
    try:
        response = insert_view(WSGIRequest(environ))
        headers = [*response.items()]
        status = f"{response.status_code} {response.reason_phrase}"
        start_response(status, headers)
        return [response.content]
    finally:
        # Closes the connection when CONN_MAX_AGE says so, or when it is unusable.
        signals.request_finished.send(sender=None)
