"""Who sees which case (casework.selectors.access): confidential cases, intake clients."""

import pytest

from casework import roles
from casework.actors import Actor
from casework.models import AuditEvent
from casework.selectors.access import may_see_case, of_visible_cases, visible_cases
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def cases(make_case, alice):
    plain = make_case(email="plain@demo.example")
    secret = make_case(email="secret@demo.example")
    secret.confidential = True
    secret.save(update_fields=["confidential"])
    return plain, secret


def test_staff_who_read_cases_see_every_case_that_is_not_confidential(cases, alice, audrey):
    plain, secret = cases
    for user in (alice, audrey):
        assert list(visible_cases(user)) == [plain]
        assert may_see_case(user, plain)
        assert not may_see_case(user, secret)


def test_the_dpo_sees_confidential_cases(cases, dora):
    plain, secret = cases
    assert set(visible_cases(dora)) == {plain, secret}


def test_named_staff_and_the_assignee_see_a_confidential_case(cases, alice, bob):
    _plain, secret = cases
    secret.confidential_staff.add(alice)
    assert may_see_case(alice, secret)
    assert not may_see_case(bob, secret)
    secret.assignee = bob
    secret.save(update_fields=["assignee"])
    assert may_see_case(bob, secret)


def test_an_administrator_sees_no_case(cases, adam):
    assert not visible_cases(adam).exists()


def test_an_intake_client_sees_only_the_cases_it_filed(make_case, ingrid):
    mine = make_case(email="mine@demo.example", actor=Actor.staff(ingrid))
    make_case(email="theirs@demo.example")
    assert list(visible_cases(ingrid)) == [mine]


def test_an_inactive_user_sees_nothing(cases):
    gone = make_staff("gone", roles.DPO, is_active=False)
    assert not visible_cases(gone).exists()


def test_rows_of_a_confidential_case_are_hidden_with_it(cases, alice, dora):
    plain, secret = cases
    events = AuditEvent.objects.filter(case__in=[plain, secret])
    assert {e.case_id for e in of_visible_cases(alice, events)} == {plain.pk}
    assert {e.case_id for e in of_visible_cases(dora, events)} == {plain.pk, secret.pk}


# --- the DPO's operations ------------------------------------------------------------------------


def run(name: str, case, user, **values):
    from casework import operations

    op = operations.get(name)
    return op.run(case=case, actor=Actor.staff(user), values=values)


def test_only_the_dpo_makes_a_case_confidential_and_names_who_sees_it(make_case, alice, bob, dora):
    from django.core.exceptions import PermissionDenied

    case = make_case()
    with pytest.raises(PermissionDenied):
        run("make_confidential", case, alice, reason="About a colleague")
    run("make_confidential", case, dora, reason="A complaint about a member of staff")
    assert not may_see_case(alice, case)
    run("name_confidential_staff", case, dora, staff=alice)
    assert may_see_case(alice, case) and not may_see_case(bob, case)
    run("remove_confidential_staff", case, dora, staff=alice)
    assert not may_see_case(alice, case)
    run("end_confidential", case, dora, reason="The complaint is closed")
    assert may_see_case(alice, case) and may_see_case(bob, case)
    actions = list(
        AuditEvent.objects.filter(case=case, action__startswith="case.confidential").values_list(
            "action", flat=True
        )
    ) + list(
        AuditEvent.objects.filter(case=case, action="case.made_confidential").values_list(
            "action", flat=True
        )
    )
    assert sorted(actions) == [
        "case.confidential_ended",
        "case.confidential_staff_named",
        "case.confidential_staff_removed",
        "case.made_confidential",
    ]


def test_staff_cannot_run_an_operation_on_a_case_they_may_not_see(cases, alice):
    from django.core.exceptions import PermissionDenied

    _plain, secret = cases
    with pytest.raises(PermissionDenied):
        run("add_note", secret, alice, note="Looking around")


def test_the_admin_hides_a_confidential_case_from_staff_not_named(client, cases, alice, dora):
    from django.urls import reverse

    plain, secret = cases
    client.force_login(alice)
    listing = client.get(reverse("admin:casework_case_changelist")).content.decode()
    assert plain.reference in listing and secret.reference not in listing
    found = client.get(reverse("admin:casework_case_changelist"), {"q": secret.reference})
    assert found.context["cl"].result_count == 0
    page = client.get(reverse("admin:casework_case_change", args=[secret.pk]))
    assert page.status_code == 302  # the admin's "does not exist" redirect
    review = client.get(reverse("admin:casework_case_review", args=[secret.pk]))
    assert review.status_code == 404
    events = client.get(reverse("admin:casework_auditevent_changelist")).content.decode()
    assert secret.reference not in events and plain.reference in events
    client.force_login(dora)
    assert client.get(reverse("admin:casework_case_change", args=[secret.pk])).status_code == 200


def test_the_case_command_does_not_reveal_a_confidential_case(cases, alice, dora):
    from django.core.management import CommandError, call_command

    _plain, secret = cases
    with pytest.raises(CommandError, match="No case has the reference"):
        call_command("case", secret.reference, "--staff", "alice")
    call_command("case", secret.reference, "--staff", "dora")
