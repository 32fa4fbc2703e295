"""The reminder job (casework.services.reminders): each reminder once per due date, re-armed
by a new deadline; days are local days in Tirana; staff e-mails carry no personal data."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError
from django.utils import timezone

from casework import deadlines, services
from casework.actors import Actor
from casework.models import AuditEvent, Case, Notice, PostalLetter, Reminder

pytestmark = pytest.mark.django_db

TIRANA = ZoneInfo("Europe/Tirane")
ARTA = "arta.krasniqi@demo.example"
NAME = "Arta Krasniqi"
DUE = dt.date(2027, 3, 10)  # a Wednesday, in winter time (UTC+1)


def at(day: dt.date, hour: int = 12, minute: int = 0) -> dt.datetime:
    """A local time in Tirana, as an aware datetime."""
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=TIRANA)


def days_before(days: int, hour: int = 12) -> dt.datetime:
    return at(DUE - dt.timedelta(days=days), hour)


@pytest.fixture
def case_due(make_case, alice):
    """A verified case assigned to alice, due at the end of DUE (local)."""

    def _make(due: dt.date = DUE, assignee=alice, **intake) -> Case:
        intake.setdefault("email", ARTA)
        intake.setdefault("name", NAME)
        case = make_case(
            actor=Actor.staff(alice), verified_by=alice, verification_note="Call-back", **intake
        )
        Case.objects.filter(pk=case.pk).update(
            due_at=deadlines.end_of_day(due),
            received_at=at(due - dt.timedelta(days=30)),
            assignee=assignee,
        )
        return Case.objects.get(pk=case.pk)

    return _make


def run(now: dt.datetime, capture=None) -> dict:
    if capture is None:
        return services.send_reminders(now=now)
    with capture(execute=True):
        return services.send_reminders(now=now)


def reminders_to(mailoutbox, user) -> list:
    return [m for m in mailoutbox if m.to == [user.email] and "reminders" in m.subject]


def digests_to(mailoutbox, user) -> list:
    return [m for m in mailoutbox if m.to == [user.email] and "not assigned" in m.subject]


# --- before the deadline --------------------------------------------------------------------------


def test_the_assignee_is_reminded_7_3_and_1_days_before_once_each(case_due, alice, mailoutbox):
    case = case_due()
    sent = []
    for days in (8, 7, 7, 6, 5, 4, 3, 2, 1, 0):
        mailoutbox.clear()
        run(days_before(days))
        run(days_before(days, hour=18))  # the job runs every 6 hours
        sent.append(len(reminders_to(mailoutbox, alice)))
    assert sent == [0, 1, 0, 0, 0, 0, 1, 0, 1, 0]
    kinds = set(Reminder.objects.filter(case=case).values_list("kind", flat=True))
    assert kinds == {"due_7", "due_3", "due_1"}


def test_the_reminder_names_the_case_and_the_days_left(case_due, alice, mailoutbox):
    case = case_due()
    run(days_before(3))
    [message] = reminders_to(mailoutbox, alice)
    assert case.reference in message.body
    assert "due 2027-03-10, in 3 days" in message.body
    assert f"/admin/casework/case/{case.pk}/change/" in message.body


def test_local_days_decide_not_utc_days(case_due, alice, mailoutbox):
    case_due()
    # 23:30 UTC on 2 March is 00:30 on 3 March in Tirana: 7 local days before the 10th.
    late_evening = dt.datetime(2027, 3, 2, 22, 30, tzinfo=dt.UTC)  # 23:30 on the 2nd, local
    run(late_evening)
    assert reminders_to(mailoutbox, alice) == []
    just_after_midnight = dt.datetime(2027, 3, 2, 23, 30, tzinfo=dt.UTC)
    run(just_after_midnight)
    assert len(reminders_to(mailoutbox, alice)) == 1


def test_a_run_that_missed_a_day_catches_up_with_one_reminder(case_due, alice, mailoutbox):
    case = case_due()
    run(days_before(5))  # no run 7 or 6 days before (beat was down)
    run(days_before(4))
    assert len(reminders_to(mailoutbox, alice)) == 1
    assert "in 5 days" in reminders_to(mailoutbox, alice)[0].body
    assert list(Reminder.objects.filter(case=case).values_list("kind", flat=True)) == ["due_7"]


def test_a_new_deadline_arms_the_reminders_again(
    case_due, alice, dora, mailoutbox, django_capture_on_commit_callbacks
):
    case = case_due(due=timezone.localdate() + dt.timedelta(days=3))
    run(timezone.now())
    assert len(reminders_to(mailoutbox, alice)) == 1
    run(timezone.now())
    assert len(reminders_to(mailoutbox, alice)) == 1  # once per due date
    new_due = timezone.localdate() + dt.timedelta(days=5)
    with django_capture_on_commit_callbacks(execute=True):
        services.case_extend(case=case, actor=Actor.staff(dora), new_due=new_due, reason="Busy")
    mailoutbox.clear()
    run(timezone.now())
    assert len(reminders_to(mailoutbox, alice)) == 1  # the 7-day reminder of the new date
    assert Reminder.objects.filter(case=case, kind="due_7").count() == 1


def test_a_new_assignee_gets_their_own_reminder(case_due, alice, bob, mailoutbox):
    case = case_due()
    run(days_before(3))
    Case.objects.filter(pk=case.pk).update(assignee=bob)
    run(days_before(3, hour=18))
    assert len(reminders_to(mailoutbox, alice)) == 1 and len(reminders_to(mailoutbox, bob)) == 1


def test_a_paused_clock_sends_no_reminder(case_due, alice, mailoutbox):
    case = case_due()
    Case.objects.filter(pk=case.pk).update(paused_at=days_before(10))
    run(days_before(3))
    run(at(DUE + dt.timedelta(days=2)))
    assert mailoutbox == []


def test_a_reminder_is_one_row_per_case_kind_due_date_and_recipient(case_due, alice):
    case = case_due()
    Reminder.objects.create(case=case, kind="due_7", for_due_at=case.due_at, recipient=alice)
    with pytest.raises(IntegrityError):
        Reminder.objects.create(case=case, kind="due_7", for_due_at=case.due_at, recipient=alice)


def test_a_subjects_reminder_row_is_unique_too(case_due):
    case = case_due()
    Reminder.objects.create(
        case=case, kind="receipt", for_due_at=case.due_at, recipient_role="subject"
    )
    with pytest.raises(IntegrityError):
        Reminder.objects.create(
            case=case, kind="receipt", for_due_at=case.due_at, recipient_role="subject"
        )


# --- past the deadline: escalation ----------------------------------------------------------------


def test_an_overdue_case_is_escalated_to_the_dpo_once_per_due_date(
    case_due, alice, dora, mailoutbox
):
    case = case_due()
    run(at(DUE + dt.timedelta(days=1)))
    run(at(DUE + dt.timedelta(days=2)))
    [escalation] = reminders_to(mailoutbox, dora)
    assert case.reference in escalation.body and "escalated to the DPO" in escalation.body
    assert "1 day late" in escalation.body and "assigned to alice" in escalation.body
    assert reminders_to(mailoutbox, alice) == []  # the assignee's reminders ended on the day
    assert Reminder.objects.get(case=case, kind="overdue").recipient == dora


def test_an_extended_overdue_case_escalates_again_when_its_new_deadline_passes(
    case_due, dora, mailoutbox
):
    case = case_due()
    run(at(DUE + dt.timedelta(days=1)))
    Case.objects.filter(pk=case.pk).update(
        original_due_at=case.due_at, due_at=deadlines.end_of_day(DUE + dt.timedelta(days=20))
    )
    run(at(DUE + dt.timedelta(days=2)))
    assert len(reminders_to(mailoutbox, dora)) == 1
    run(at(DUE + dt.timedelta(days=21)))
    assert len(reminders_to(mailoutbox, dora)) == 2


def test_a_closed_case_is_not_escalated(
    case_due, dora, mailoutbox, django_capture_on_commit_callbacks
):
    case = case_due()
    with django_capture_on_commit_callbacks(execute=True):
        services.case_withdraw(case=case, actor=Actor.staff(dora), note="asked by phone")
    mailoutbox.clear()
    run(at(DUE + dt.timedelta(days=1)))
    assert reminders_to(mailoutbox, dora) == []


# --- extensions to announce -----------------------------------------------------------------------


def test_an_extension_whose_letter_is_not_posted_reminds_to_announce_it(
    case_due, alice, dora, mailoutbox, django_capture_on_commit_callbacks
):
    due = timezone.localdate() + dt.timedelta(days=20)
    case = case_due(due=due, mailbox_lost=True)
    with django_capture_on_commit_callbacks(execute=True):
        case = services.case_extend(
            case=case, actor=Actor.staff(dora), new_due=due + dt.timedelta(days=20), reason="Busy"
        )
    letter = PostalLetter.objects.get(case=case, notice=Notice.EXTENDED)
    soon = timezone.now() + dt.timedelta(minutes=10)
    run(soon)
    assert reminders_to(mailoutbox, alice) == []  # the letter was queued minutes ago
    later = timezone.now() + dt.timedelta(hours=2)
    run(later)
    run(later + dt.timedelta(hours=6))
    [message] = reminders_to(mailoutbox, alice)
    assert "not yet announced" in message.body and case.reference in message.body
    assert f"original deadline {due:%Y-%m-%d}" in message.body

    # Posted: announced. Even with no record of the reminder, none is due any more.
    services.letter_mark_posted(letter=letter, actor=Actor.staff(alice))
    Reminder.objects.filter(case=case).delete()
    mailoutbox.clear()
    run(later + dt.timedelta(hours=12))
    assert reminders_to(mailoutbox, alice) == []


def test_an_extension_told_by_e_mail_needs_no_reminder(
    case_due, alice, dora, mailoutbox, django_capture_on_commit_callbacks
):
    due = timezone.localdate() + dt.timedelta(days=20)
    case = case_due(due=due)
    with django_capture_on_commit_callbacks(execute=True):
        services.case_extend(
            case=case, actor=Actor.staff(dora), new_due=due + dt.timedelta(days=20), reason="Busy"
        )
    run(timezone.now() + dt.timedelta(hours=2))
    assert reminders_to(mailoutbox, alice) == []


def test_an_unannounced_extension_of_an_unassigned_case_goes_to_the_dpo(case_due, dora, mailoutbox):
    case = case_due(due=timezone.localdate() + dt.timedelta(days=40), assignee=None)
    Case.objects.filter(pk=case.pk).update(
        original_due_at=deadlines.end_of_day(timezone.localdate() + dt.timedelta(days=20)),
        extension_announced_at=None,
    )
    run(timezone.now())
    [message] = reminders_to(mailoutbox, dora)
    assert "not yet announced" in message.body


# --- CCPA/CPRA: receipt confirmed within 10 business days ----------------------------------------


@pytest.fixture
def ccpa_case(make_case, alice):
    def _make(**intake) -> Case:
        intake.setdefault("email", ARTA)
        intake.setdefault("name", NAME)
        case = make_case(actor=Actor.staff(alice), channel="email", regime="ccpa", **intake)
        assert case.receipt_confirmation_due_at is not None and case.receipt_confirmed_at is None
        return case

    return _make


def test_a_ccpa_subject_not_yet_told_gets_the_receipt_confirmation_once(
    ccpa_case, mailoutbox, django_capture_on_commit_callbacks
):
    case = ccpa_case()
    later = case.received_at + dt.timedelta(hours=2)
    run(later, django_capture_on_commit_callbacks)
    run(later + dt.timedelta(hours=6), django_capture_on_commit_callbacks)
    [message] = [m for m in mailoutbox if m.to == [ARTA]]
    assert "we have received it" in message.subject and case.reference in message.body
    assert f"{deadlines.local_date(case.due_at):%-d %B %Y}" in message.body
    case.refresh_from_db()
    assert case.receipt_confirmed_at is not None
    assert case.receipt_confirmed_at <= case.receipt_confirmation_due_at
    events = AuditEvent.objects.filter(case=case)
    assert events.filter(action="case.notice_sent", details__notice="received").count() == 1
    assert events.filter(action="case.receipt_confirmed").count() == 1


def test_the_receipt_confirmation_is_in_the_subjects_language(
    ccpa_case, mailoutbox, django_capture_on_commit_callbacks
):
    case = ccpa_case(language="sq")
    run(case.received_at + dt.timedelta(hours=2), django_capture_on_commit_callbacks)
    [message] = [m for m in mailoutbox if m.to == [ARTA]]
    assert "e kemi marrë" in message.subject


def test_a_subject_told_by_the_confirmation_link_is_not_told_again(
    ccpa_case, mailoutbox, django_capture_on_commit_callbacks
):
    from casework.portal import emails

    case = ccpa_case()
    assert emails.send_verification_link(case)
    mailoutbox.clear()
    run(case.received_at + dt.timedelta(hours=2), django_capture_on_commit_callbacks)
    assert [m for m in mailoutbox if m.to == [ARTA]] == []


def test_the_acknowledgement_of_a_case_verified_by_staff_confirms_receipt(
    ccpa_case, alice, mailoutbox, django_capture_on_commit_callbacks
):
    case = ccpa_case()
    with django_capture_on_commit_callbacks(execute=True):
        services.case_verify(case=case, actor=Actor.staff(alice), note="Call-back on record")
    case.refresh_from_db()
    assert case.receipt_confirmed_at is not None
    mailoutbox.clear()
    run(case.received_at + dt.timedelta(hours=2), django_capture_on_commit_callbacks)
    assert [m for m in mailoutbox if m.to == [ARTA]] == []


def test_a_gdpr_case_gets_no_receipt_confirmation(
    make_case, mailoutbox, django_capture_on_commit_callbacks
):
    case = make_case(email=ARTA, regime="gdpr")
    run(case.received_at + dt.timedelta(hours=2), django_capture_on_commit_callbacks)
    assert [m for m in mailoutbox if m.to == [ARTA]] == []


def test_a_ccpa_subject_by_post_gets_a_letter_and_staff_are_reminded_before_it_is_due(
    ccpa_case, alice, dora, mailoutbox, django_capture_on_commit_callbacks
):
    case = ccpa_case(email="", postal_address="Rruga e Durrësit 12, Tiranë")
    run(case.received_at + dt.timedelta(hours=2), django_capture_on_commit_callbacks)
    letter = PostalLetter.objects.get(case=case, notice=Notice.RECEIVED)
    case.refresh_from_db()
    assert case.receipt_confirmed_at is None  # queued is not told
    assert reminders_to(mailoutbox, dora) == []

    day_before = at(deadlines.local_date(case.receipt_confirmation_due_at) - dt.timedelta(days=1))
    run(day_before, django_capture_on_commit_callbacks)
    run(day_before + dt.timedelta(hours=6), django_capture_on_commit_callbacks)
    [message] = reminders_to(mailoutbox, dora)  # unassigned: the DPO
    assert "Receipt confirmations due by tomorrow" in message.body
    assert case.reference in message.body

    services.letter_mark_posted(letter=letter, actor=Actor.staff(alice))
    case.refresh_from_db()
    assert case.receipt_confirmed_at is not None
    assert PostalLetter.objects.filter(case=case).count() == 1


# --- the digest of unassigned cases ---------------------------------------------------------------


def test_the_digest_lists_unassigned_cases_to_the_privacy_team_and_the_dpo(
    case_due, make_case, alice, bob, dora, audrey, mailoutbox
):
    unassigned = case_due(assignee=None)
    assigned = case_due()
    unconfirmed = make_case(email="besa@demo.example")  # from the form, not yet confirmed
    run(days_before(20))
    for user in (alice, bob, dora):
        [digest] = digests_to(mailoutbox, user)
        assert unassigned.reference in digest.body and "2027-03-10" in digest.body
        assert unassigned.get_request_type_display() in digest.body
        assert assigned.reference not in digest.body
        assert unconfirmed.reference not in digest.body
    assert digests_to(mailoutbox, audrey) == []


def test_the_digest_goes_once_a_day_however_often_the_job_runs(case_due, alice, mailoutbox):
    case_due(assignee=None)
    run(days_before(20, hour=0))
    run(days_before(20))
    run(days_before(20, hour=23))  # 22:00 UTC: still that day in Tirana
    assert len(digests_to(mailoutbox, alice)) == 1
    run(days_before(19, hour=6))
    assert len(digests_to(mailoutbox, alice)) == 2


def test_a_digest_that_failed_to_go_is_sent_by_the_next_run_and_only_once(
    case_due, alice, bob, mailoutbox, monkeypatch
):
    from casework.services import reminders as reminders_service

    case_due(assignee=None)
    real_send = reminders_service.send_email
    calls = []

    def failing_for_bob(**kwargs):
        calls.append(kwargs["to"])
        if kwargs["to"] == [bob.email] and len([c for c in calls if c == [bob.email]]) == 1:
            raise OSError("mail server away")
        return real_send(**kwargs)

    monkeypatch.setattr(reminders_service, "send_email", failing_for_bob)
    with pytest.raises(OSError):
        run(days_before(20))  # the task is retried on OSError
    run(days_before(20))  # the retry
    assert len(digests_to(mailoutbox, bob)) == 1
    assert len(digests_to(mailoutbox, alice)) == 1  # not sent again by the retry


def test_nothing_unassigned_sends_no_digest(case_due, alice, mailoutbox):
    case_due()
    run(days_before(20))
    assert digests_to(mailoutbox, alice) == []


def test_a_confidential_case_is_in_the_digest_only_of_those_who_see_it(
    case_due, alice, bob, dora, mailoutbox
):
    secret = case_due(assignee=None)
    Case.objects.filter(pk=secret.pk).update(confidential=True)
    secret.confidential_staff.add(bob)
    run(days_before(20))
    assert digests_to(mailoutbox, alice) == []
    assert secret.reference in digests_to(mailoutbox, bob)[0].body
    assert secret.reference in digests_to(mailoutbox, dora)[0].body


def test_staff_e_mails_carry_no_personal_data(
    case_due, ccpa_case, alice, dora, mailoutbox, django_capture_on_commit_callbacks
):
    case_due(assignee=None, phone="+355 69 123 4567", company="Demo Sh.p.k.")
    case_due()
    Case.objects.update(customer_number="C-99881")
    run(days_before(3))
    run(at(DUE + dt.timedelta(days=1)))
    staff = [m for m in mailoutbox if m.to != [ARTA]]
    assert digests_to(mailoutbox, alice) and reminders_to(mailoutbox, alice)
    assert reminders_to(mailoutbox, dora)
    for message in staff:
        text = message.subject + message.body + message.alternatives[0][0]
        for personal in (ARTA, NAME, "Arta", "123 4567", "Demo Sh.p.k.", "C-99881"):
            assert personal not in text


def test_the_beat_task_runs_the_job(case_due, alice, mailoutbox):
    from casework import tasks

    case_due(due=timezone.localdate() + dt.timedelta(days=1))
    result = tasks.send_reminders.delay().get()
    assert result["staff"] == 1 and len(reminders_to(mailoutbox, alice)) == 1
    assert tasks.send_deadline_reminders.delay().get()["staff"] == 0  # its former name


# --- what was sent, in the admin --------------------------------------------------------------------


def test_the_dpo_and_the_auditor_read_what_was_sent_and_the_privacy_team_does_not(
    case_due, alice, dora, audrey, client
):
    kept_secret = case_due()
    unassigned = case_due(assignee=None)
    run(days_before(7))  # to alice, of her case; the digest to all three
    run(days_before(-1))  # overdue: escalated to the DPO
    Case.objects.filter(pk=kept_secret.pk).update(confidential=True)
    client.force_login(dora)
    page = client.get("/admin/casework/reminder/").content.decode()
    assert kept_secret.reference in page and unassigned.reference in page
    assert "alice" in page and "dora" in page  # whom each went to
    assert "Due within 7 days" in page and "Overdue: escalated to the DPO" in page
    digests = client.get("/admin/casework/digestsent/").content.decode()
    assert "alice" in digests and "dora" in digests
    client.force_login(audrey)
    page = client.get("/admin/casework/reminder/").content.decode()
    assert unassigned.reference in page
    assert kept_secret.reference not in page  # a confidential case's reminders stay hidden
    assert client.get("/admin/casework/digestsent/").status_code == 200
    client.force_login(alice)
    assert client.get("/admin/casework/reminder/").status_code == 403
    assert client.get("/admin/casework/digestsent/").status_code == 403
