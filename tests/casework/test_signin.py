"""Failed staff sign-ins are limited per account name and per address, and audited."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from casework.models import AuditEvent

pytestmark = pytest.mark.django_db
LOGIN = reverse("admin:login")
RIGHT = "correct horse battery staple"


def sign_in(client, username: str, password: str):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"})


def test_an_account_that_used_up_its_failures_is_refused_even_with_the_right_password(
    alice, bob, settings
):
    settings.DSAR_SIGNIN_MAX_FAILURES = 3
    guesser = Client(REMOTE_ADDR="198.51.100.7")
    for guess in ("a", "b", "c"):
        assert sign_in(guesser, "alice", guess).status_code == 200
    refused = sign_in(guesser, "alice", RIGHT)
    assert refused.status_code == 200 and "Too many failed sign-ins" in refused.content.decode()
    assert "_auth_user_id" not in guesser.session
    # Bob, from his own address, signs in as usual.
    assert sign_in(Client(REMOTE_ADDR="198.51.100.8"), "bob", RIGHT).status_code == 302
    assert AuditEvent.objects.filter(action="auth.sign_in_failed").count() == 3


def test_an_address_that_used_up_its_failures_is_refused(alice, settings):
    settings.DSAR_SIGNIN_MAX_FAILURES_PER_IP = 2
    sprayer = Client(REMOTE_ADDR="203.0.113.9")
    for name in ("carol", "dave"):
        sign_in(sprayer, name, "guess")
    assert "Too many failed sign-ins" in sign_in(sprayer, "alice", RIGHT).content.decode()
    assert sign_in(Client(REMOTE_ADDR="203.0.113.10"), "alice", RIGHT).status_code == 302
