"""Roles cannot be raised from inside: superuser status and direct permissions are not editable
in the admin, no one edits their own groups, a role that works cases needs a second person,
and every change of a staff member's rights is on the global chain and told to the DPO."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from casework import roles
from casework.models import AuditEvent, RoleGrant
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db


def user_url(user) -> str:
    return reverse("admin:auth_user_change", args=[user.pk])


def post_user(client, user, **changes):
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on" if user.is_active else "",
        "is_staff": "on" if user.is_staff else "",
        "groups": [str(g.pk) for g in user.groups.all()],
        **changes,
    }
    return client.post(user_url(user), {k: v for k, v in data.items() if v != ""})


def group(name: str) -> Group:
    return Group.objects.get(name=name)


def test_superuser_status_is_not_editable(client, adam, bob):
    client.force_login(adam)
    assert 'name="is_superuser"' not in client.get(user_url(bob)).content.decode()
    post_user(client, bob, is_superuser="on")
    assert not User.objects.get(pk=bob.pk).is_superuser


def test_no_one_edits_their_own_groups_or_flags(client, adam):
    client.force_login(adam)
    page = client.get(user_url(adam)).content.decode()
    assert 'name="groups"' not in page and 'name="is_active"' not in page
    post_user(client, adam, groups=[str(group(roles.DPO).pk)])
    assert not adam.groups.filter(name=roles.DPO).exists()


def test_a_role_that_works_cases_waits_for_a_second_person(
    client, adam, bob, dora, django_capture_on_commit_callbacks, mailoutbox
):
    newcomer = make_staff("nina")
    client.force_login(adam)
    post_user(client, newcomer, groups=[str(group(roles.PRIVACY_TEAM).pk)])
    assert not newcomer.groups.exists()  # asked for, not given
    grant = RoleGrant.objects.get(user=newcomer, role=roles.PRIVACY_TEAM)
    changelist = reverse("admin:casework_rolegrant_changelist")
    # The one who asked cannot confirm it himself.
    client.post(changelist, {"action": "confirm", "_selected_action": [grant.pk]})
    assert not newcomer.groups.exists()
    # A second person (here the DPO) confirms: the role is given, audited, the DPO told.
    client.force_login(dora)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(changelist, {"action": "confirm", "_selected_action": [grant.pk]})
    assert newcomer.groups.filter(name=roles.PRIVACY_TEAM).exists()
    grant.refresh_from_db()
    assert (grant.state, grant.confirmed_by) == (RoleGrant.State.CONFIRMED, dora)
    changed = AuditEvent.objects.filter(action="staff.groups_changed").latest("seq")
    assert changed.details == {"user": newcomer.pk, "added": [roles.PRIVACY_TEAM]}
    assert changed.actor == dora
    assert AuditEvent.objects.filter(action="staff.role_requested", actor=adam).exists()
    assert any(dora.email in m.to and "nina" in m.subject for m in mailoutbox)


def test_roles_that_work_no_cases_are_given_at_once_and_audited(client, adam):
    newcomer = make_staff("nina")
    client.force_login(adam)
    post_user(client, newcomer, groups=[str(group(roles.AUDITOR).pk)])
    assert newcomer.groups.filter(name=roles.AUDITOR).exists()
    event = AuditEvent.objects.filter(action="staff.groups_changed").latest("seq")
    assert (event.actor, event.details["added"]) == (adam, [roles.AUDITOR])


def test_deactivating_a_staff_member_is_audited(client, adam, bob):
    client.force_login(adam)
    post_user(client, bob, is_active="")
    assert not User.objects.get(pk=bob.pk).is_active
    event = AuditEvent.objects.filter(action="staff.deactivated").latest("seq")
    assert (event.actor, event.details) == (adam, {"user": bob.pk})


def test_the_administrator_still_sees_no_case_data(client, adam):
    client.force_login(adam)
    assert client.get(reverse("admin:casework_case_changelist")).status_code == 403
