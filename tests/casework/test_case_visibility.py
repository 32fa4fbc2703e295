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
