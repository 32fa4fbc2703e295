"""Shared fixtures: staff personas (healthchecks style), service detection, Celery mode.

A test that needs PostgreSQL, Redis or a worker asks for it through `require_postgres`,
`require_redis` or the `celery_worker_process` fixture: without the service it skips locally,
and fails when DSAR_REQUIRE_SERVICES=1 (CI). No other skips.
"""

from __future__ import annotations

import os

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User

from casework import roles
from casework.actors import Actor

REQUIRE_SERVICES = os.environ.get("DSAR_REQUIRE_SERVICES") == "1"


def service_missing(what: str) -> None:
    """Skip (locally) or fail (CI) a test whose service is not available."""
    message = f"{what} is not available"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message}, and DSAR_REQUIRE_SERVICES=1 demands it")
    pytest.skip(message)


@pytest.fixture
def require_postgres():
    if not settings.DATABASE_IS_POSTGRES:
        service_missing("PostgreSQL (set DATABASE_URL)")


@pytest.fixture
def require_redis():
    if not settings.REDIS_URL:
        service_missing("Redis (set REDIS_URL)")


@pytest.fixture(autouse=True, scope="session")
def _celery_eager():
    """Unit tests run tasks in-process; integration tests switch to a real worker."""
    from config.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield


def make_staff(username: str, *groups: str, **extra) -> User:
    user = User.objects.create_user(
        username=username,
        password="correct horse battery staple",
        email=f"{username}@staff.demo.example",
        is_staff=True,
        **extra,
    )
    for name in groups:
        user.groups.add(Group.objects.get(name=name))
    return user


@pytest.fixture
def alice(db):
    """Privacy team member."""
    return make_staff("alice", roles.PRIVACY_TEAM)


@pytest.fixture
def bob(db):
    """Another privacy team member (four eyes)."""
    return make_staff("bob", roles.PRIVACY_TEAM)


@pytest.fixture
def dora(db):
    """The DPO."""
    return make_staff("dora", roles.DPO)


@pytest.fixture
def audrey(db):
    """An auditor: reads, changes nothing."""
    return make_staff("audrey", roles.AUDITOR)


@pytest.fixture
def adam(db):
    """An administrator: manages users and the register, works no cases."""
    return make_staff("adam", roles.ADMINISTRATOR)


@pytest.fixture
def system(db):
    return Actor.system()


@pytest.fixture
def make_case(db):
    from casework import services

    def _make(**kwargs):
        kwargs.setdefault("request_type", "access")
        kwargs.setdefault("email", "arta.krasniqi@demo.example")
        kwargs.setdefault("actor", Actor.subject())
        return services.case_create(**kwargs)

    return _make
