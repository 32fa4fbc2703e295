"""Opening cases from any channel: validation, references, deadlines, duplicates, the command."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from casework import services
from casework.actors import Actor
from casework.models import AuditEvent, Case, CaseNote, PublicHoliday, State

pytestmark = pytest.mark.django_db
UTC = dt.UTC


def test_references_are_readable_and_count_up_per_year(make_case):
    first = make_case(received_at=dt.datetime(2026, 3, 1, 10, tzinfo=UTC))
    second = make_case(received_at=dt.datetime(2026, 3, 2, 10, tzinfo=UTC))
    next_year = make_case(received_at=dt.datetime(2027, 1, 5, 10, tzinfo=UTC))
    assert first.reference == "DSAR-2026-000001"
    assert second.reference == "DSAR-2026-000002"
    assert next_year.reference == "DSAR-2027-000001"


def test_a_request_late_on_31_january_utc_is_received_on_1_february_in_tirana(make_case):
    case = make_case(received_at=dt.datetime(2027, 1, 31, 23, 30, tzinfo=UTC), regime="gdpr")
    due_local = case.due_at.astimezone(ZoneInfo("Europe/Tirane"))
    assert due_local.date() == dt.date(2027, 3, 1)
    assert (due_local.hour, due_local.minute) == (23, 59)


def test_gdpr_deadline_clamps_to_the_end_of_a_short_month(make_case):
    case = make_case(received_at=dt.datetime(2027, 1, 31, 9, tzinfo=UTC), regime="gdpr")
    assert case.due_at.astimezone(ZoneInfo("Europe/Tirane")).date() == dt.date(2027, 2, 28)


def test_ccpa_gets_45_days_and_a_receipt_confirmation_date_in_business_days(make_case):
    PublicHoliday.objects.create(date=dt.date(2026, 12, 25), name="Christmas")
    received = dt.datetime(2026, 12, 18, 9, tzinfo=UTC)  # a Friday
    case = make_case(received_at=received, regime="ccpa")
    tz = ZoneInfo("Europe/Tirane")
    assert case.due_at.astimezone(tz).date() == dt.date(2027, 2, 1)
    # 10 business days from Fri 18 Dec, skipping weekends and 25 Dec: Mon 4 Jan.
    assert case.receipt_confirmation_due_at.astimezone(tz).date() == dt.date(2027, 1, 4)


def test_gdpr_has_no_receipt_confirmation_date(make_case):
    assert make_case(regime="gdpr").receipt_confirmation_due_at is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"request_type": "complaint"}, "request_type"),
        ({"email": "", "postal_address": ""}, "email"),
        ({"email": "not-an-address"}, "email"),
        ({"language": "de"}, "language"),
        ({"regime": "lgpd"}, "regime"),
        ({"channel": "pigeon"}, "channel"),
    ],
)
def test_bad_intake_is_refused_with_a_clear_message_and_nothing_written(kwargs, field):
    intake = services.Intake(**{"request_type": "access", "email": "arta@demo.example", **kwargs})
    events = AuditEvent.objects.count()  # the register's set-up is on the trail already
    with pytest.raises(ValidationError) as exc:
        services.case_create(intake=intake, actor=Actor.subject())
    assert field in exc.value.message_dict
    assert exc.value.message_dict[field][0]
    assert Case.objects.count() == 0
    assert AuditEvent.objects.count() == events


def test_a_letter_with_only_a_postal_address_is_accepted(alice):
    case = services.case_create(
        intake=services.Intake(
            request_type="erasure",
            postal_address="Rruga e Durrësit 12, Tiranë",
            channel="letter",
        ),
        actor=Actor.staff(alice),
    )
    assert case.email == ""
    assert case.entered_by == alice
    event = AuditEvent.objects.get(case=case, action="case.created")
    assert event.details["channel"] == "letter"
    assert "Durrës" not in str(event.details)


def test_email_is_normalised(make_case):
    assert make_case(email="  Arta.Krasniqi@Demo.Example ").email == "arta.krasniqi@demo.example"


def test_staff_who_checked_identity_verify_at_intake_with_a_note(alice):
    case = services.case_create(
        intake=services.Intake(
            request_type="access", email="arta.krasniqi@demo.example", channel="phone"
        ),
        actor=Actor.staff(alice),
        verified_by=alice,
        verification_note="Called back the number in the CRM",
    )
    assert case.state == State.VERIFIED
    assert (
        CaseNote.objects.get(case=case, kind="verification").text
        == "Called back the number in the CRM"
    )
    actions = list(AuditEvent.objects.filter(case=case).values_list("action", flat=True))
    assert actions == ["case.created", "case.verified"]


def test_verifying_at_intake_without_a_note_writes_nothing(alice):
    with pytest.raises(ValidationError):
        services.case_create(
            intake=services.Intake(request_type="access", email="a@demo.example"),
            actor=Actor.staff(alice),
            verified_by=alice,
        )
    assert Case.objects.count() == 0


def test_a_second_open_request_of_the_same_type_is_flagged_as_possible_duplicate(
    make_case, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = make_case()
    with django_capture_on_commit_callbacks(execute=True):
        second = make_case(email="ARTA.KRASNIQI@demo.example")
    with django_capture_on_commit_callbacks(execute=True):
        other_type = make_case(request_type="erasure")
    second.refresh_from_db()
    other_type.refresh_from_db()
    first.refresh_from_db()
    assert second.possible_duplicate_of == first
    assert first.possible_duplicate_of is None
    assert other_type.possible_duplicate_of is None
    assert AuditEvent.objects.filter(
        case=second, action="case.duplicate_flagged", actor_kind="system"
    ).exists()


def test_the_duplicate_lookup_happens_after_commit_not_in_the_request(
    make_case, django_capture_on_commit_callbacks
):
    make_case()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        second = make_case()
    second.refresh_from_db()
    assert second.possible_duplicate_of is None
    assert len(callbacks) == 1


def test_create_case_command_prints_the_reference_and_audits_who_entered_it(alice):
    out = StringIO()
    call_command(
        "create_case",
        "--type",
        "access",
        "--postal-address",
        "Rruga Myslym Shyri 5, Tiranë",
        "--name",
        "Arta Krasniqi",
        "--language",
        "sq",
        "--verified-by",
        "alice",
        "--verification-note",
        "Signed letter matches the customer record",
        stdout=out,
    )
    reference = out.getvalue().strip()
    case = Case.objects.get(reference=reference)
    assert case.state == State.VERIFIED
    assert case.language == "sq"
    assert case.entered_by == alice
    created = AuditEvent.objects.get(case=case, action="case.created")
    assert created.details["entered_via"] == "command_line"


def test_create_case_command_refuses_a_request_with_no_contact_channel(db):
    with pytest.raises(CommandError, match="e-mail or a postal address"):
        call_command("create_case", "--type", "access", "--name", "Nobody")


def test_create_case_command_refuses_an_unknown_verifier(db):
    with pytest.raises(CommandError, match="No active staff member"):
        call_command(
            "create_case",
            "--type",
            "access",
            "--email",
            "a@demo.example",
            "--verified-by",
            "mallory",
            "--verification-note",
            "x",
        )


def test_create_case_command_without_staff_is_audited_as_the_system(db):
    out = StringIO()
    call_command("create_case", "--type", "objection", "--email", "a@demo.example", stdout=out)
    case = Case.objects.get(reference=out.getvalue().strip())
    assert AuditEvent.objects.get(case=case).actor_kind == "system"
