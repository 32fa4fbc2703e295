"""Settings of the portal benchmark's server (benchmarks/portal.py): the project's own, with
one URL more (benchmarks/urls.py), so that the bare one-INSERT view the form is compared with
runs on the same server: the same gunicorn, URL routing and middleware."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.urls"
