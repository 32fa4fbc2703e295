"""Signing in to the staff API in tests, and reading its one error format."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from casework.actors import Actor
from casework.services.api_tokens import api_token_issue

PASSWORD = "correct horse battery staple"


def client_for(user) -> APIClient:
    """A client presenting a fresh bearer key of `user`'s."""
    issued = api_token_issue(user=user, actor=Actor.system(), name="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.key}")
    return client


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message", "fields"}
    assert body["message"]
    if code is not None:
        assert body["code"] == code, body
    return body


@pytest.fixture(autouse=True)
def own_rate_counters(settings):
    """Rate counters (throttles, failed sign-ins) live in the cache: each test counts under a
    key prefix of its own, so that Redis (CI), which does not roll back, starts at zero."""
    default = dict(settings.CACHES["default"])
    default["KEY_PREFIX"] = f"test-{uuid.uuid4().hex}"
    settings.CACHES = {**settings.CACHES, "default": default}
