"""Staff sessions: the database holds only a hash of each session key, so a copy of it opens
no session; a staff member whose groups or second factor change is signed out."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.urls import reverse

from casework import roles
from casework.sessions import stored_key

pytestmark = pytest.mark.django_db
CASES = reverse("admin:casework_case_changelist")


def signed_in(client, user):
    client.force_login(user)
    assert client.get(CASES).status_code == 200
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def test_the_database_holds_no_session_key(client, alice):
    key = signed_in(client, alice)
    assert not Session.objects.filter(session_key=key).exists()
    assert Session.objects.filter(session_key=stored_key(key)).exists()


def test_a_key_read_from_a_copy_of_the_database_opens_nothing(client, alice):
    signed_in(client, alice)
    (copied,) = Session.objects.values_list("session_key", flat=True)
    client.cookies[settings.SESSION_COOKIE_NAME] = copied
    response = client.get(CASES)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_signing_out_deletes_the_session(client, alice):
    signed_in(client, alice)
    client.post(reverse("admin:logout"))
    assert not Session.objects.exists()


def test_a_change_of_groups_signs_the_staff_member_out(client, alice):
    signed_in(client, alice)
    alice.groups.add(Group.objects.get(name=roles.DPO))
    response = client.get(CASES)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_a_change_made_from_the_group_signs_its_members_out(client, alice, bob):
    signed_in(client, alice)
    Group.objects.get(name=roles.DPO).user_set.add(alice)
    assert client.get(CASES).status_code == 302


def test_a_new_second_factor_signs_the_staff_member_out(client, alice, bob):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    signed_in(client, alice)
    other = type(client)()
    signed_in(other, bob)
    TOTPDevice.objects.create(user=alice, name="phone")
    assert client.get(CASES).status_code == 302
    assert other.get(CASES).status_code == 200  # Bob stays signed in
