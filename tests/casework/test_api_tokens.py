"""Keys of the staff API: issued after the password (and the second factor where there is one),
stored only as a hash, expiring, revoked; intake clients get theirs from an administrator."""

from __future__ import annotations

import datetime as dt
import hashlib
import io

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from casework.models import ApiToken, AuditEvent
from tests.casework.api_support import PASSWORD, assert_error, own_rate_counters  # noqa: F401

pytestmark = pytest.mark.django_db
TOKEN = "/api/v1/auth/token/"
CASES = "/api/v1/cases/"


def ask_for_key(username: str, password: str = PASSWORD, **extra):
    return APIClient().post(
        TOKEN, {"username": username, "password": password, **extra}, format="json"
    )


def bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_staff_get_a_key_with_their_password_and_it_opens_the_api(alice):
    response = ask_for_key("alice", name="laptop")
    assert response.status_code == 201
    body = response.json()
    assert len(body["key"]) >= 43  # 32 bytes from secrets, base64url
    assert body["prefix"] == body["key"][:8]
    assert bearer(body["key"]).get(CASES).status_code == 200


def test_only_the_hash_of_a_key_is_stored(alice):
    key = ask_for_key("alice").json()["key"]
    token = ApiToken.objects.get(user=alice)
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    stored = [str(v) for v in ApiToken.objects.values_list().get()]
    assert key not in stored


def test_a_key_expires_after_the_configured_days(alice, settings):
    settings.DSAR_API_TOKEN_DAYS = 3
    key = ask_for_key("alice").json()["key"]
    token = ApiToken.objects.get(user=alice)
    assert token.expires_at - token.created_at == dt.timedelta(days=3)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert_error(bearer(key).get(CASES), 401, "authentication_failed")


def test_a_wrong_password_gets_no_key(alice):
    body = assert_error(ask_for_key("alice", password="wrong"), 401, "authentication_failed")
    assert "key" not in body
    assert not ApiToken.objects.exists()


def test_repeated_wrong_passwords_lock_the_account_name_for_the_window(alice, settings):
    settings.DSAR_SIGNIN_MAX_FAILURES = 2
    for _ in range(2):
        ask_for_key("alice", password="wrong")
    assert_error(ask_for_key("alice"), 429)


def test_an_unknown_or_garbled_key_is_refused(alice):
    assert_error(bearer("x" * 43).get(CASES), 401)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer two parts")
    assert_error(client.get(CASES), 401)


def test_no_credentials_answer_401_with_the_bearer_challenge(db):
    response = APIClient().get(CASES)
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Bearer"


def test_the_presented_key_is_revoked(alice):
    key = ask_for_key("alice").json()["key"]
    client = bearer(key)
    assert client.delete(TOKEN).status_code == 204
    assert ApiToken.objects.get(user=alice).revoked_at is not None
    assert_error(client.get(CASES), 401)


def test_issuing_and_revoking_are_audited_without_the_key(alice):
    key = ask_for_key("alice").json()["key"]
    bearer(key).delete(TOKEN)
    events = AuditEvent.objects.filter(case=None, action__startswith="api.token_")
    assert [e.action for e in events.order_by("pk")] == ["api.token_issued", "api.token_revoked"]
    for event in events:
        assert key not in str(event.details)
        assert event.actor_label == "alice"


def _device(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def _code(device: TOTPDevice) -> str:
    return str(totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)).zfill(6)


def test_staff_with_a_second_factor_must_give_its_code(alice):
    device = _device(alice)
    assert_error(ask_for_key("alice"), 400, "otp_required")
    assert ask_for_key("alice", otp_token=_code(device)).status_code == 201


def test_a_wrong_code_gets_no_key(alice):
    device = _device(alice)
    wrong = str((int(_code(device)) + 1) % 1_000_000).zfill(6)
    assert_error(ask_for_key("alice", otp_token=wrong), 401, "otp_invalid")
    assert not ApiToken.objects.exists()


def test_when_staff_must_have_a_second_factor_an_account_without_one_gets_no_key(alice, settings):
    settings.DSAR_STAFF_OTP_REQUIRED = True
    assert_error(ask_for_key("alice"), 403)
    assert not ApiToken.objects.exists()


def test_intake_clients_cannot_get_a_key_with_a_password(ingrid):
    assert_error(ask_for_key("ingrid"), 403)


def test_an_administrator_issues_an_intake_clients_key_with_the_command(ingrid):
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "issue_api_token", "ingrid", "--days", "7", "--name", "CRM", stdout=out, stderr=err
    )
    key = out.getvalue().strip()
    token = ApiToken.objects.get(user=ingrid)
    assert token.name == "CRM"
    assert token.expires_at - token.created_at == dt.timedelta(days=7)
    assert key not in err.getvalue()
    assert bearer(key).get(CASES).status_code == 200


def test_the_admin_lists_keys_without_their_hash_and_revokes_them(adam, ingrid, client):
    out = io.StringIO()
    call_command("issue_api_token", "ingrid", stdout=out, stderr=io.StringIO())
    key = out.getvalue().strip()
    token = ApiToken.objects.get(user=ingrid)
    client.force_login(adam)
    listing = client.get(reverse("admin:casework_apitoken_changelist"))
    assert listing.status_code == 200
    assert token.key_hash not in listing.content.decode()
    page = client.get(reverse("admin:casework_apitoken_change", args=[token.pk]))
    assert token.key_hash not in page.content.decode()
    client.post(
        reverse("admin:casework_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert_error(bearer(key).get(CASES), 401)


def test_the_browser_session_works_with_its_csrf_check(alice):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.get(CASES).status_code == 200
    refused = client.post(
        CASES, {"request_type": "access", "email": "a@demo.example"}, format="json"
    )
    assert_error(refused, 403)


def test_a_session_without_the_second_factor_does_not_count_where_staff_need_one(alice, settings):
    settings.DSAR_STAFF_OTP_REQUIRED = True
    client = APIClient()
    client.force_login(alice)
    assert_error(client.get(CASES), 401)
