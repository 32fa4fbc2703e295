"""The staff API fuzzed against its own OpenAPI schema (schemathesis), signed in as each role:
no server error, and every answer as the schema says (status, content type, body). A bounded
number of examples per endpoint here; `python -m benchmarks api_fuzz` runs more."""

from __future__ import annotations

import os
from contextlib import contextmanager

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from config.wsgi import application
from dsar.models import SourceSystem
from tests.casework.api_support import client_for, own_rate_counters  # noqa: F401

pytestmark = pytest.mark.django_db
EXAMPLES = int(os.environ.get("DSAR_API_FUZZ_EXAMPLES", "10"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Revoking the key the run signs in with would leave the rest of the run unauthenticated.
SKIPPED = {("DELETE", "/api/v1/auth/token/")}


@contextmanager
def same_connection():
    """Requests served in the test's own transaction: the WSGI handler would close the
    database connection at each request's end (Django's test client does the same)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def fuzz(user, *, reference: str, examples: int = EXAMPLES) -> dict[str, int]:
    """Every operation of the schema with `examples` generated requests (schema-valid and
    invalid ones), path parameters often those of a real case; returns the calls made."""
    key = client_for(user)._credentials["HTTP_AUTHORIZATION"]
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
    calls: dict[str, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue
        strategies = [
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        ]
        names = {p.name for p in operation.path_parameters}
        if "reference" in names:
            strategies.append(
                operation.as_strategy(
                    GenerationMode.POSITIVE, path_parameters={"reference": reference}
                )
            )
        if "slug" in names:
            strategies.append(
                operation.as_strategy(GenerationMode.POSITIVE, path_parameters={"slug": "crm"})
            )
        label = f"{operation.method.upper()} {operation.path}"
        calls[label] = 0

        run_examples(st.one_of(*strategies), key, label, calls, examples)
    return calls


def run_examples(strategy, key: str, label: str, calls: dict[str, int], examples: int) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case):
        response = case.call(headers={"Authorization": key})
        case.validate_response(response, checks=CHECKS)
        calls[label] += 1

    run()


@pytest.fixture
def a_case(make_case):
    SourceSystem.objects.get_or_create(
        slug="crm", defaults={"name": "CRM", "connector": "manual", "config": {}}
    )
    return make_case()


@pytest.fixture(autouse=True)
def _no_throttling(settings):
    rates = {"anon": "100000/minute", "user": "100000/minute", "api_token": "100000/minute"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    from rest_framework.throttling import SimpleRateThrottle

    original = SimpleRateThrottle.THROTTLE_RATES
    SimpleRateThrottle.THROTTLE_RATES = rates
    yield
    SimpleRateThrottle.THROTTLE_RATES = original


@pytest.mark.parametrize("role", ["alice", "dora", "audrey", "adam", "ingrid"])
def test_the_api_answers_every_generated_request_as_its_schema_says(role, request, a_case):
    user = request.getfixturevalue(role)
    with same_connection():
        calls = fuzz(user, reference=a_case.reference)
    assert calls and all(n > 0 for n in calls.values()), calls
