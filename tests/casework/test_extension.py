"""Deadline extensions: within the regime's limit, with a reason, before the original deadline."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from casework import services
from casework.actors import Actor
from casework.models import AuditEvent, Case

pytestmark = pytest.mark.django_db
TZ = ZoneInfo("Europe/Tirane")


@pytest.fixture
def recent_gdpr_case(make_case):
    received = timezone.now() - dt.timedelta(days=2)
    return make_case(received_at=received, regime="gdpr")


def local(d):
    return d.astimezone(TZ).date()


def test_the_dpo_extends_a_gdpr_case_up_to_three_months_from_receipt(
    recent_gdpr_case, dora, mailoutbox, django_capture_on_commit_callbacks
):
    from casework.deadlines import add_months

    received_on = local(recent_gdpr_case.received_at)
    limit = add_months(received_on, 3)
    with django_capture_on_commit_callbacks(execute=True):
        case = services.case_extend(
            case=recent_gdpr_case, actor=Actor.staff(dora), new_due=limit, reason="Many systems"
        )
    assert local(case.due_at) == limit
    assert local(case.original_due_at) == add_months(received_on, 1)
    assert case.extension_announced_at is not None
    assert AuditEvent.objects.filter(case=case, action="case.deadline_extended").exists()
    assert len(mailoutbox) == 1 and "Many systems" in mailoutbox[0].body
    name, content, _ = mailoutbox[0].attachments[0]
    assert name == f"{case.reference}-extension.pdf" and content.startswith(b"%PDF")


def test_an_extension_beyond_the_limit_is_refused(recent_gdpr_case, dora):
    from casework.deadlines import add_months

    too_far = add_months(local(recent_gdpr_case.received_at), 3) + dt.timedelta(days=1)
    with pytest.raises(ValidationError, match="at the latest"):
        services.case_extend(
            case=recent_gdpr_case, actor=Actor.staff(dora), new_due=too_far, reason="x"
        )
    recent_gdpr_case.refresh_from_db()
    assert recent_gdpr_case.original_due_at is None


def test_an_extension_after_the_deadline_is_refused(make_case, dora):
    case = make_case(received_at=timezone.now() - dt.timedelta(days=40), regime="gdpr")
    with pytest.raises(ValidationError, match="before the original deadline"):
        services.case_extend(
            case=case,
            actor=Actor.staff(dora),
            new_due=timezone.now().date() + dt.timedelta(days=10),
            reason="x",
        )


def test_an_extension_needs_a_reason(recent_gdpr_case, dora):
    new_due = local(recent_gdpr_case.due_at) + dt.timedelta(days=10)
    with pytest.raises(ValidationError, match="reason"):
        services.case_extend(
            case=recent_gdpr_case, actor=Actor.staff(dora), new_due=new_due, reason=" "
        )


def test_an_extension_must_move_the_date_later(recent_gdpr_case, dora):
    with pytest.raises(ValidationError, match="after"):
        services.case_extend(
            case=recent_gdpr_case,
            actor=Actor.staff(dora),
            new_due=local(recent_gdpr_case.due_at),
            reason="x",
        )


def test_only_the_dpo_extends(recent_gdpr_case, alice):
    new_due = local(recent_gdpr_case.due_at) + dt.timedelta(days=10)
    with pytest.raises(PermissionDenied):
        services.case_extend(
            case=recent_gdpr_case, actor=Actor.staff(alice), new_due=new_due, reason="x"
        )


def test_ccpa_extends_by_45_days_at_most(make_case, dora):
    case = make_case(received_at=timezone.now() - dt.timedelta(days=1), regime="ccpa")
    received_on = local(case.received_at)
    ok = received_on + dt.timedelta(days=90)
    services.case_extend(case=case, actor=Actor.staff(dora), new_due=ok, reason="Complex request")
    case = make_case(
        received_at=timezone.now() - dt.timedelta(days=1), regime="ccpa", email="b@demo.example"
    )
    with pytest.raises(ValidationError):
        services.case_extend(
            case=case, actor=Actor.staff(dora), new_due=ok + dt.timedelta(days=1), reason="x"
        )


def test_a_closed_case_cannot_be_extended(recent_gdpr_case, dora):
    services.case_withdraw(case=recent_gdpr_case, actor=Actor.subject())
    with pytest.raises(TransitionNotAllowed):
        services.case_extend(
            case=recent_gdpr_case,
            actor=Actor.staff(dora),
            new_due=timezone.now().date() + dt.timedelta(days=40),
            reason="x",
        )
    assert Case.objects.get(pk=recent_gdpr_case.pk).original_due_at is None
