"""Abuse resistance: rate limits per e-mail and per address (a 429 page in the page's
language), CSRF, and the regime table's one place."""

from __future__ import annotations

import pytest
from django.test import Client

from casework.models import Case
from casework.portal.selectors import regime_for
from tests.portal.conftest import form_data

pytestmark = pytest.mark.django_db


def test_it_limits_requests_per_email(submit, settings, mailoutbox):
    settings.DSAR_RATE_PER_EMAIL = 3
    for number in range(3):
        assert submit(client=Client(REMOTE_ADDR=f"10.0.0.{number}")).status_code == 200
    response = submit(client=Client(REMOTE_ADDR="10.0.0.9"))
    assert response.status_code == 429
    assert "Too many requests" in response.content.decode()
    assert response["Retry-After"] == str(settings.DSAR_RATE_WINDOW_SECONDS)
    assert Case.objects.count() == 3
    assert len(mailoutbox) == 3
    # Another address is not held back by the first one's limit.
    assert submit(email="other@demo.example").status_code == 200


def test_it_limits_requests_per_address(submit, settings):
    settings.DSAR_RATE_PER_IP = 4
    client = Client(REMOTE_ADDR="192.0.2.7")
    for number in range(4):
        assert submit(client=client, email=f"p{number}@demo.example").status_code == 200
    assert submit(client=client, email="p9@demo.example").status_code == 429
    assert Case.objects.count() == 4
    assert (
        submit(client=Client(REMOTE_ADDR="192.0.2.8"), email="p9@demo.example").status_code == 200
    )


def test_invalid_posts_count_against_the_address(client, settings):
    settings.DSAR_RATE_PER_IP = 2
    for _ in range(2):
        assert client.post("/en/request/", {}).status_code == 200
    assert client.post("/en/request/", {}).status_code == 429


def test_the_429_page_is_in_the_subjects_language(submit, settings):
    settings.DSAR_RATE_PER_IP = 1
    submit("sq")
    response = submit("sq")
    assert response.status_code == 429
    assert '<html lang="sq">' in response.content.decode()
    assert "Shumë kërkesa" in response.content.decode()


def test_the_default_limits_are_five_per_email_and_twenty_per_address(settings):
    assert settings.DSAR_RATE_PER_EMAIL == 5
    assert settings.DSAR_RATE_PER_IP == 20


def test_resend_and_status_links_are_limited_each_on_its_own(client, settings):
    settings.DSAR_RATE_RESEND_PER_EMAIL = 1
    settings.DSAR_RATE_STATUS_LINK_PER_EMAIL = 1
    data = {"email": "arta@demo.example", "reference": "DSAR-2026-000001"}
    assert client.post("/en/request/resend/", data).status_code == 200
    assert client.post("/en/request/resend/", data).status_code == 429
    # Asking again for the confirmation link uses up nothing of the status link's.
    status = {"email": "arta@demo.example"}
    assert client.post("/en/status/", status).status_code == 200
    assert client.post("/en/status/", status).status_code == 429


def test_asking_for_links_leaves_the_requests_a_person_may_file(submit, client, settings):
    settings.DSAR_RATE_RESEND_PER_EMAIL = 1
    data = {"email": "arta.krasniqi@demo.example", "reference": "DSAR-2026-000001"}
    for _ in range(3):
        client.post("/en/request/resend/", data)
    assert submit(email="arta.krasniqi@demo.example").status_code == 200


def test_a_refused_form_keeps_what_the_person_typed(submit, client, settings):
    settings.DSAR_RATE_PER_EMAIL = 1
    submit(email="arta.krasniqi@demo.example")
    response = client.post("/en/request/", form_data(email="arta.krasniqi@demo.example"))
    page = response.content.decode()
    assert response.status_code == 429
    assert response["Retry-After"] == str(settings.DSAR_RATE_WINDOW_SECONDS)
    assert "Too many requests" in page and "what you typed is kept" in page
    assert 'value="arta.krasniqi@demo.example"' in page
    assert 'value="Arta Krasniqi"' in page


def test_the_limit_trusts_forwarded_addresses_only_behind_a_proxy(submit, settings):
    settings.DSAR_RATE_PER_IP = 1
    client = Client(REMOTE_ADDR="10.1.1.1")
    first = client.post(
        "/en/request/", form_data(email="a@demo.example"), HTTP_X_FORWARDED_FOR="203.0.113.1"
    )
    assert first.status_code == 303
    # Without DSAR_TRUSTED_PROXIES a forged header changes nothing: same REMOTE_ADDR.
    forged = client.post(
        "/en/request/", form_data(email="b@demo.example"), HTTP_X_FORWARDED_FOR="203.0.113.2"
    )
    assert forged.status_code == 429
    # Behind one trusted proxy, the address that proxy saw counts.
    settings.DSAR_TRUSTED_PROXIES = 1
    proxied = client.post(
        "/en/request/", form_data(email="c@demo.example"), HTTP_X_FORWARDED_FOR="203.0.113.3"
    )
    assert proxied.status_code == 303


def test_the_form_needs_a_csrf_token():
    client = Client(enforce_csrf_checks=True)
    response = client.post("/en/request/", form_data())
    assert response.status_code == 403
    assert Case.objects.count() == 0


def test_regime_for_reads_one_table(django_assert_num_queries):
    with django_assert_num_queries(1):
        assert regime_for("us", california_resident=True) == "ccpa"
    assert regime_for("US") == "voluntary"
    assert regime_for("GB") == "uk_gdpr"
    assert regime_for("FR") == "gdpr"
    assert regime_for("") == "gdpr"


def test_the_regime_table_is_in_the_admin(admin_client):
    response = admin_client.get("/admin/casework/countryregime/")
    assert response.status_code == 200
    assert "US-CA" in response.content.decode()


def test_a_worker_loads_the_tasks_the_portal_queues(settings):
    from config.celery import app

    assert "casework.tasks" in settings.CELERY_IMPORTS
    app.loader.import_default_modules()
    assert "casework.tasks.send_verification_link" in app.tasks
