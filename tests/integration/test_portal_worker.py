"""The public form against the real PostgreSQL, Redis and a real Celery worker: the request
stores a submission, the worker opens its case and sends the confirmation link, and a
message lost in Redis is made good by the sweeper."""

from __future__ import annotations

import time

import pytest
from django.conf import settings

from casework.engine import submissions as opener
from casework.models import (
    AuditEvent,
    Case,
    CountryRegime,
    PortalSubmission,
    PortalToken,
    State,
)
from casework.services import submissions as services
from tests.conftest import wait_for
from tests.portal.conftest import ARTA, form_data

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]


@pytest.fixture(autouse=True)
def _bell_silent():
    # A bell an earlier test left ringing (it rings for DSAR_OPENER_BELL_SECONDS) would keep
    # these posts from queueing an opener.
    from django.core.cache import cache

    cache.delete(services.OPENER_BELL)


def _opened() -> Case | None:
    """The case, once the worker is done with it: the link is sent by a second task, after
    the case is committed, and that task's last write records the receipt confirmation (a
    test that ended earlier would empty the tables under the worker's feet)."""
    case = Case.objects.filter(email=ARTA, receipt_confirmed_at__isnull=False).first()
    if case and PortalToken.objects.filter(case=case, purpose="verify").exists():
        return case
    return None


def test_the_worker_opens_the_case_of_a_form_request(real_worker, client):
    # Transactional tests empty the tables between tests, the migration's regimes included.
    CountryRegime.objects.update_or_create(country="GB", defaults={"regime": "uk_gdpr"})
    response = client.post("/en/request/", form_data(country="GB"))
    assert response.status_code == 303
    case = wait_for(_opened)
    assert case.state == State.RECEIVED and case.regime == "uk_gdpr"
    assert AuditEvent.objects.filter(case=case, action="case.created").exists()
    wait_for(lambda: not PortalSubmission.objects.exists())


def test_a_burst_of_requests_is_opened_once_each_and_the_bell_falls_silent(real_worker, client):
    from django.core.cache import cache

    emails = [f"burst{number}@demo.example" for number in range(8)]
    started = time.monotonic()  # the first post rings the bell, for DSAR_OPENER_BELL_SECONDS
    for email in emails:
        assert client.post("/en/request/", form_data(email=email)).status_code == 303
    # Each case opened once, with one confirmation link (sent by a task of its own, whose
    # last write is the receipt confirmation).
    wait_for(
        lambda: (
            Case.objects.filter(email__in=emails, receipt_confirmed_at__isnull=False).count()
            == len(emails)
        )
    )
    assert PortalToken.objects.filter(case__email__in=emails, purpose="verify").count() == 8
    assert not PortalSubmission.objects.exists()
    assert sorted(Case.objects.values_list("email", flat=True)) == emails
    # The opener silenced the bell when it was done: before the bell could expire by itself.
    wait_for(lambda: cache.get(services.OPENER_BELL) is None, timeout=3)
    assert time.monotonic() - started < settings.DSAR_OPENER_BELL_SECONDS


def test_a_request_whose_message_redis_lost_is_opened_by_the_sweeper(real_worker, client):
    import redis

    real_worker.kill()  # nobody takes the message before it is lost
    response = client.post("/en/request/", form_data())
    assert response.status_code == 303
    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    real_worker.start()
    assert PortalSubmission.objects.get().state == PortalSubmission.State.PENDING

    def swept_and_opened():
        opener.sweep_submissions()  # what beat runs every DSAR_SWEEP_INTERVAL seconds
        return _opened()

    case = wait_for(swept_and_opened, interval=1.0)
    assert case.state == State.RECEIVED
    assert Case.objects.filter(email=ARTA).count() == 1
