"""Shared fixtures: staff personas (healthchecks style), service detection, Celery mode.

A test that needs PostgreSQL, Redis or a worker asks for it through `require_postgres`,
`require_redis` or the `celery_worker_process` fixture: without the service it skips locally,
and fails when DSAR_REQUIRE_SERVICES=1 (CI). No other skips.
"""

from __future__ import annotations

import os
import socket

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


@pytest.fixture(autouse=True)
def _forget_the_controller():
    # The portal keeps the controller's name per process; each test's database has its own.
    from casework.portal.selectors import forget_controller_identity

    forget_controller_identity()


@pytest.fixture(autouse=True)
def _english_to_start_with():
    """Each test starts in the default language: a request in Albanian leaves Albanian active
    in the thread (LocaleMiddleware activates and never deactivates), and a later test in the
    same process would read its messages in Albanian."""
    from django.conf import settings as django_settings
    from django.utils import translation

    translation.activate(django_settings.LANGUAGE_CODE)
    yield
    translation.activate(django_settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Staff personas are made in most tests; a slow hasher would dominate the suite.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True, scope="session")
def _media_of_its_own(tmp_path_factory):
    """The suite's files (uploads, records, bundles) go to a folder of the run, not to the
    checkout's var/media: a test that lists a case's folder sees only what this run wrote."""
    from django.test import override_settings

    media = tmp_path_factory.mktemp("media")
    os.environ["DSAR_MEDIA_ROOT"] = str(media)  # for the worker processes the tests start
    with override_settings(MEDIA_ROOT=str(media)):
        yield media


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
        **{"is_staff": True, **extra},
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
def ingrid(db):
    """An intake client: another company system that files requests through the API."""
    return make_staff("ingrid", roles.INTAKE, is_staff=False)


@pytest.fixture
def system(db):
    return Actor.system()


@pytest.fixture
def make_case(db):
    from casework import services

    def _make(*, actor=None, verified_by=None, verification_note="", **intake):
        """A case from an intake's fields (`services.Intake`), by default Arta's access request
        from the web form."""
        intake.setdefault("request_type", "access")
        intake.setdefault("email", "arta.krasniqi@demo.example")
        return services.case_create(
            intake=services.Intake(**intake),
            actor=actor or Actor.subject(),
            verified_by=verified_by,
            verification_note=verification_note,
        )

    return _make


# --- a real Celery worker, as a separate process ------------------------------------------------


def _database_url(settings_dict: dict) -> str:
    from urllib.parse import quote

    user = quote(settings_dict.get("USER") or "")
    password = settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{quote(password)}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"


# Lowered so that the kill, flush and failing-service tests take seconds; the test process uses
# the same values (the `real_worker` fixture), because the sweeper runs there.
WORKER_TIMINGS = {
    "DSAR_TASK_SOFT_TIME_LIMIT": 4,
    "DSAR_TASK_TIME_LIMIT": 5,
    "DSAR_MAX_COUNTDOWN": 10,
    "DSAR_RETRY_BACKOFF_BASE": 0.2,
    "DSAR_RETRY_BACKOFF_CAP": 1,
    "DSAR_RETRY_AFTER_MAX": 2,
    "DSAR_GATHER_MAX_ATTEMPTS": 3,
    "DSAR_SWEEP_GRACE_SECONDS": 1,
    "DSAR_WORK_LEASE_SECONDS": 2,
}
SUPPORTDESK_TOKEN = "test-desk-token-0123456789abcdef"


class WorkerProcess:
    """A `celery worker` process against the test database and Redis; it can be killed."""

    def __init__(self, env: dict, log_path):
        self.env = env
        self.log_path = log_path
        self.proc = None
        self.nodename = f"test-{os.getpid()}@{socket.gethostname()}"

    def start(self, timeout: float = 60) -> None:
        import subprocess
        import sys
        import time

        from casework.models import WorkerHeartbeat

        WorkerHeartbeat.objects.all().delete()
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-l",
                "info",
                "--concurrency",
                "1",
                "--pool",
                "prefork",
                "-n",
                self.nodename,
                "--without-gossip",
                "--without-mingle",
            ],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=settings.BASE_DIR,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the worker exited at start; see {self.log_path}")
            if WorkerHeartbeat.objects.exists():
                return
            time.sleep(0.2)
        raise RuntimeError(f"the worker did not start within {timeout}s; see {self.log_path}")

    def children(self) -> list[int]:
        import subprocess

        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True)
        return [int(pid) for pid in out.stdout.split()]

    def settle(self, timeout: float = 30) -> None:
        """Wait until the worker runs no task, and revoke what it holds for later (retries with
        a countdown, prefetched messages), so that the test database is flushed after the test
        without a task's transaction in its way: TRUNCATE and a task that writes several tables
        can deadlock, and the flush is the one PostgreSQL stops. A worker that does not settle
        is stopped (the next test starts it again)."""
        if not self._wait_until_quiet(timeout, drop_the_rest=True):
            self.stop()

    def finish_queued_work(self, timeout: float = 30) -> None:
        """Wait until the worker has run every task queued so far (and those they queued), so
        that a test that then stops it or holds a row knows which task comes next."""
        assert self._wait_until_quiet(timeout, drop_the_rest=False), "the worker did not finish"

    def _wait_until_quiet(self, timeout: float, *, drop_the_rest: bool) -> bool:
        import time

        from config.celery import app

        if not self.proc or self.proc.poll() is not None:
            return True
        deadline = time.monotonic() + timeout
        quiet = 0
        while time.monotonic() < deadline:
            if drop_the_rest:
                _purge_queues()  # what a finishing task queued has no test to serve
            inspect = app.control.inspect(destination=[self.nodename], timeout=1)
            active = _task_ids(inspect.active())
            held = _task_ids(inspect.reserved()) | {
                entry["request"]["id"] for entry in _entries(inspect.scheduled())
            }
            if drop_the_rest and held:
                app.control.revoke(sorted(held))
            quiet = quiet + 1 if not (active or held or _queued_messages()) else 0
            if quiet == 2:  # twice in a row: a task that just finished may have queued one
                return True
            time.sleep(0.1)
        return False

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes: no chance to ack or clean up."""
        import signal

        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        import signal
        import subprocess

        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        if getattr(self, "log", None):
            self.log.close()


@pytest.fixture(scope="session")
def worker_env(django_db_setup, django_db_blocker):
    """The environment a worker process needs to share the test database and Redis."""
    from django.db import connection

    if not settings.DATABASE_IS_POSTGRES:
        service_missing("PostgreSQL for the worker tests (set DATABASE_URL)")
    if not settings.REDIS_URL:
        service_missing("Redis for the worker tests (set REDIS_URL)")
    env = os.environ.copy()
    env["DATABASE_URL"] = _database_url(connection.settings_dict)
    env["DSAR_WORKER_HEARTBEAT_SECONDS"] = "1"
    env["DB_CONN_MAX_AGE"] = "0"
    env.update({k: str(v) for k, v in WORKER_TIMINGS.items()})
    env["SUPPORTDESK_TOKEN"] = SUPPORTDESK_TOKEN
    # DRP status callbacks go to a receiver on this machine in the tests (never in production).
    env["DRP_CALLBACK_ALLOW_PRIVATE"] = "1"
    return env


def _entries(replies: dict | None) -> list[dict]:
    return [entry for entries in (replies or {}).values() for entry in entries]


def _task_ids(replies: dict | None) -> set[str]:
    return {entry["id"] for entry in _entries(replies)}


def _queued_messages() -> int:
    from config.celery import app

    with app.connection_for_write() as conn:
        return conn.default_channel.client.llen(app.conf.task_default_queue)


def _purge_queues() -> None:
    from config.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(app.conf.task_default_queue)


@pytest.fixture(scope="session")
def celery_worker_process(worker_env, django_db_blocker, tmp_path_factory):
    """One real worker for the session; stopped and its queue purged before the test
    database is dropped (a connected worker would stop the drop)."""
    from config.celery import app

    log_dir = os.environ.get("DSAR_TEST_ARTIFACTS") or tmp_path_factory.mktemp("worker")
    worker = WorkerProcess(worker_env, os.path.join(log_dir, "celery-worker.log"))
    with django_db_blocker.unblock():
        _purge_queues()
        worker.start()
    try:
        yield worker
    finally:
        worker.stop()
        with django_db_blocker.unblock():
            _purge_queues()
        app.conf.task_always_eager = True


@pytest.fixture
def real_worker(celery_worker_process, settings):
    """Send tasks through Redis to the real worker for this test (tests are transactional)."""
    from config.celery import app

    settings.DSAR_WORKER_HEARTBEAT_SECONDS = 1
    for name, value in WORKER_TIMINGS.items():
        setattr(settings, name, value)
    if celery_worker_process.proc.poll() is not None:
        celery_worker_process.start()
    app.conf.task_always_eager = False
    yield celery_worker_process
    celery_worker_process.settle()
    app.conf.task_always_eager = True


def wait_for(predicate, timeout: float = 30, interval: float = 0.1):
    """Poll until predicate() is truthy; return its value or fail with a clear message."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout}s: {getattr(predicate, '__name__', predicate)}")
