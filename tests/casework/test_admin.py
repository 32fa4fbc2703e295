"""The case admin: the list, the change page with its buttons, confirmation pages, intake."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from casework import deadlines, services
from casework.actors import Actor
from casework.admin.case import AuditEventInline, CaseAdmin, CaseNoteInline
from casework.audit import record_event
from casework.models import AuditEvent, Case, CaseNote, State
from tests.casework.helpers import plan_submitted, reviewed

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:casework_case_changelist")
ADD = reverse("admin:casework_case_add")


def change_url(case: Case) -> str:
    return reverse("admin:casework_case_change", args=[case.pk])


def operation_url(case: Case, name: str) -> str:
    return reverse("admin:casework_case_operation", args=[case.pk, name])


def in_review(case: Case, by) -> Case:
    case = services.case_verify(case=case, actor=Actor.staff(by), note="Call-back on record")
    case = services.case_start_gathering(case=case, actor=Actor.system())
    return services.case_mark_gathered(case=case, actor=Actor.system())


def set_due(case: Case, due_at: dt.datetime) -> Case:
    Case.objects.filter(pk=case.pk).update(due_at=due_at)
    case.refresh_from_db()
    return case


def due_in(days: int) -> dt.datetime:
    today = deadlines.local_date(timezone.now())
    return deadlines.end_of_day(today + dt.timedelta(days=days))


def inline_management(case: Case) -> dict[str, str]:
    # The read-only inlines still post their management forms.
    data = {}
    for prefix in ("notes", "audit_events"):
        data[f"{prefix}-TOTAL_FORMS"] = "0"
        data[f"{prefix}-INITIAL_FORMS"] = "0"
    return data


# --- the list ----------------------------------------------------------------------------------


def test_changelist_shows_the_reference(client, alice, make_case):
    case = make_case()
    client.force_login(alice)
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    assert case.reference in response.content.decode()


def test_changelist_shows_the_subject_by_name_else_email(client, alice, make_case):
    named = make_case(email="arta@demo.example", name="Arta Krasniqi")
    unnamed = make_case(email="besa@demo.example")
    letter = make_case(email="", channel="letter", postal_address="Rruga e Kavajës 12, Tiranë")
    client.force_login(alice)
    page = client.get(CHANGELIST).content.decode()
    subjects = dict(
        re.findall(r'>(DSAR-\d{4}-\d{6})</a></th><td class="field-subject">(.*?)</td>', page)
    )
    assert subjects == {
        named.reference: "Arta Krasniqi",
        unnamed.reference: "besa@demo.example",
        letter.reference: "—",
    }


def test_changelist_shows_the_regime_with_the_request_type_and_the_day_received(
    client, alice, make_case
):
    make_case(regime="ccpa", received_at=dt.datetime(2026, 12, 4, 23, 30, tzinfo=dt.UTC))
    client.force_login(alice)
    page = client.get(CHANGELIST).content.decode()
    assert '<div class="case-regime">CCPA/CPRA</div>' in page
    assert '<td class="field-received_on">5 Dec 2026</td>' in page  # 00:30 in Tirana
    assert "column-regime" not in page


def test_overdue_filter_lists_only_overdue_cases(client, alice, make_case):
    overdue = set_due(make_case(email="a@demo.example"), timezone.now() - dt.timedelta(days=2))
    later = make_case(email="b@demo.example")
    client.force_login(alice)
    page = client.get(CHANGELIST, {"overdue": "yes"}).content.decode()
    assert overdue.reference in page
    assert later.reference not in page


def test_due_soon_filter_lists_cases_due_within_the_window(client, alice, make_case, settings):
    settings.DSAR_DUE_SOON_DAYS = 7
    soon = set_due(make_case(email="a@demo.example"), due_in(3))
    later = set_due(make_case(email="b@demo.example"), due_in(20))
    overdue = set_due(make_case(email="c@demo.example"), timezone.now() - dt.timedelta(days=2))
    client.force_login(alice)
    page = client.get(CHANGELIST, {"due_soon": "yes"}).content.decode()
    assert soon.reference in page
    assert later.reference not in page
    assert overdue.reference not in page


def test_state_filter_narrows_the_list(client, alice, make_case):
    received = make_case(email="a@demo.example")
    verified = services.case_verify(
        case=make_case(email="b@demo.example"), actor=Actor.staff(alice), note="Call-back"
    )
    client.force_login(alice)
    page = client.get(CHANGELIST, {"state__exact": State.VERIFIED}).content.decode()
    assert verified.reference in page
    assert received.reference not in page


def test_search_by_reference(client, alice, make_case):
    wanted = make_case(email="a@demo.example")
    other = make_case(email="b@demo.example")
    client.force_login(alice)
    page = client.get(CHANGELIST, {"q": wanted.reference}).content.decode()
    assert wanted.reference in page
    assert other.reference not in page


def test_search_by_exact_email_ignores_case(client, alice, make_case):
    wanted = make_case(email="arta.krasniqi@demo.example")
    other = make_case(email="besa@demo.example")
    client.force_login(alice)
    page = client.get(CHANGELIST, {"q": "Arta.Krasniqi@Demo.example"}).content.decode()
    assert wanted.reference in page
    assert other.reference not in page


def test_a_partial_email_finds_nothing(client, alice, make_case):
    case = make_case(email="arta.krasniqi@demo.example")
    client.force_login(alice)
    for term in ("arta.krasniqi@demo", "krasniqi@demo.example", "krasniqi"):
        page = client.get(CHANGELIST, {"q": term}).content.decode()
        assert case.reference not in page, term


def test_days_left_is_colour_coded(make_case, dora, settings):
    settings.DSAR_DUE_SOON_DAYS = 7
    model_admin = CaseAdmin(Case, admin.site)
    overdue = set_due(make_case(email="a@demo.example"), timezone.now() - dt.timedelta(days=2))
    soon = set_due(make_case(email="b@demo.example"), due_in(7))
    later = set_due(make_case(email="c@demo.example"), due_in(8))
    closed = services.case_reject(
        case=make_case(email="d@demo.example"), actor=Actor.staff(dora), reason="Unfounded"
    )
    assert "days-overdue" in model_admin.days_left_badge(overdue)
    assert "2 days overdue" in model_admin.days_left_badge(overdue)
    assert "days-soon" in model_admin.days_left_badge(soon)
    assert "days-ok" in model_admin.days_left_badge(later)
    assert model_admin.days_left_badge(closed) == "—"


def test_changelist_shows_days_left_colours(client, alice, make_case):
    set_due(make_case(email="a@demo.example"), timezone.now() - dt.timedelta(days=2))
    make_case(email="b@demo.example")
    client.force_login(alice)
    page = client.get(CHANGELIST).content.decode()
    assert "days-overdue" in page
    assert "days-ok" in page
    assert "case-state-received" in page


# --- the change page and its buttons --------------------------------------------------------------


def buttons(page: str, case: Case) -> set[str]:
    """The operations linked from a change page, by name."""
    prefix = re.escape(change_url(case).removesuffix("change/"))
    return set(re.findall(prefix + r"operation/(\w+)/", page))


def test_privacy_team_sees_exactly_its_buttons_without_reject(client, alice, make_case):
    case = make_case()
    client.force_login(alice)
    page = client.get(change_url(case)).content.decode()
    assert buttons(page, case) == {
        "verify",
        "ask_subject",
        "withdraw",
        "merge",
        "add_note",
    }


def test_dpo_sees_reject_and_extend_too(client, dora, make_case):
    case = make_case()
    client.force_login(dora)
    page = client.get(change_url(case)).content.decode()
    assert buttons(page, case) == {
        "verify",
        "ask_subject",
        "reject",
        "withdraw",
        "merge",
        "add_note",
        "extend",
        "make_confidential",
        "set_legal_hold",
    }


def test_auditor_can_view_but_gets_no_buttons(client, audrey, make_case):
    case = make_case()
    client.force_login(audrey)
    response = client.get(change_url(case))
    assert response.status_code == 200
    page = response.content.decode()
    assert case.reference in page
    assert buttons(page, case) == set()
    assert 'name="assignee"' not in page


def test_everything_but_the_assignee_is_read_only(client, alice, make_case):
    case = make_case()
    client.force_login(alice)
    form = client.get(change_url(case)).context["adminform"].form
    assert list(form.fields) == ["assignee"]


def test_changing_the_assignee_goes_through_the_service(client, alice, bob, make_case):
    case = make_case()
    client.force_login(alice)
    response = client.post(
        change_url(case), {"assignee": bob.pk, "_save": "Save", **inline_management(case)}
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.assignee == bob
    event = AuditEvent.objects.get(case=case, action="case.assigned")
    assert event.actor == alice


def test_assignee_must_be_on_the_privacy_team_or_the_dpo(client, alice, audrey, make_case):
    case = make_case()
    client.force_login(alice)
    response = client.post(
        change_url(case), {"assignee": audrey.pk, "_save": "Save", **inline_management(case)}
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["assignee"]
    case.refresh_from_db()
    assert case.assignee is None
    assert not AuditEvent.objects.filter(case=case, action="case.assigned").exists()


# --- confirmation pages ------------------------------------------------------------------------------


def test_confirmation_page_asks_how_identity_was_checked(client, alice, make_case):
    case = make_case()
    client.force_login(alice)
    response = client.get(operation_url(case, "verify"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "How identity was checked" in page
    assert 'name="note"' in page
    assert "to “Verified”" in page  # what will happen


def test_verify_with_a_note_verifies_and_audits(client, alice, make_case):
    case = make_case()
    client.force_login(alice)
    response = client.post(operation_url(case, "verify"), {"note": "Called back the CRM number"})
    assert response.status_code == 302
    assert response["Location"] == change_url(case)
    case.refresh_from_db()
    assert case.state == State.VERIFIED
    assert case.verified_by == alice
    assert AuditEvent.objects.filter(case=case, action="case.verified", actor=alice).exists()


def test_verify_without_a_note_is_a_form_error(client, alice, make_case):
    case = make_case()
    client.force_login(alice)
    response = client.post(operation_url(case, "verify"), {"note": "  "})
    assert response.status_code == 200
    assert response.context["form"].errors["note"]
    case.refresh_from_db()
    assert case.state == State.RECEIVED


def test_reject_without_a_reason_is_a_form_error(client, dora, make_case):
    case = make_case()
    client.force_login(dora)
    response = client.post(operation_url(case, "reject"), {"reason": ""})
    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    case.refresh_from_db()
    assert case.state == State.RECEIVED


def test_dpo_rejects_with_a_reason(client, dora, make_case):
    case = make_case()
    client.force_login(dora)
    response = client.post(
        operation_url(case, "reject"),
        {"reason": "Repeated request", "unfounded": "on"},
        follow=True,
    )
    assert "Reject: done" in response.content.decode()
    case.refresh_from_db()
    assert case.state == State.REJECTED
    assert case.rejected_as_unfounded


def test_forged_reject_by_the_privacy_team_is_refused(client, alice, make_case):
    case = make_case()
    client.force_login(alice)
    response = client.post(operation_url(case, "reject"), {"reason": "I think so"}, follow=True)
    page = response.content.decode()
    assert "was refused, nothing changed" in page
    assert "You are not allowed to do this" in page
    case.refresh_from_db()
    assert case.state == State.RECEIVED
    assert not AuditEvent.objects.filter(case=case, action="case.rejected").exists()


def test_forged_post_by_the_auditor_is_refused(client, audrey, make_case):
    case = make_case()
    client.force_login(audrey)
    response = client.post(operation_url(case, "verify"), {"note": "Trust me"})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.state == State.RECEIVED


def test_confirmation_page_of_a_refused_transition_sends_back(client, alice, make_case):
    case = make_case()
    client.force_login(alice)
    response = client.get(operation_url(case, "reject"), follow=True)
    assert response.redirect_chain[-1][0] == change_url(case)
    assert "was refused" in response.content.decode()


def test_unknown_transition_is_404(client, alice, make_case):
    case = make_case()
    client.force_login(alice)
    assert client.get(operation_url(case, "teleport")).status_code == 404
    assert client.post(operation_url(case, "teleport")).status_code == 404
    # System transitions have no page in the admin.
    assert client.get(operation_url(case, "start_gathering")).status_code == 404
    assert client.get(operation_url(case, "delete")).status_code == 404


def test_staff_without_case_rights_cannot_open_confirmation_pages(client, adam, make_case):
    case = make_case()
    client.force_login(adam)
    assert client.get(operation_url(case, "verify")).status_code == 403
    assert client.post(operation_url(case, "verify"), {"note": "x"}).status_code == 403


def test_ask_subject_offers_purposes_and_needs_a_message(client, alice, make_case):
    case = make_case()
    client.force_login(alice)
    page = client.get(operation_url(case, "ask_subject")).content.decode()
    assert 'value="identity"' in page
    response = client.post(operation_url(case, "ask_subject"), {"purpose": "identity"})
    assert response.context["form"].errors["note"]
    response = client.post(
        operation_url(case, "ask_subject"),
        {"purpose": "clarification", "note": "Which account do you mean?"},
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.state == State.AWAITING_SUBJECT
    assert case.awaiting_purpose == "clarification"


def test_approve_by_whoever_prepared_the_plan_is_refused(client, alice, bob, make_case):
    case = reviewed(in_review(make_case(request_type="erasure"), alice), alice)
    plan_submitted(case, alice)
    client.force_login(alice)
    assert operation_url(case, "approve") not in client.get(change_url(case)).content.decode()
    response = client.post(operation_url(case, "approve"), {}, follow=True)
    assert "who submitted the plan cannot approve it" in response.content.decode()
    case.refresh_from_db()
    assert case.state == State.IN_REVIEW

    client.force_login(bob)
    assert operation_url(case, "approve") in client.get(change_url(case)).content.decode()
    response = client.post(operation_url(case, "approve"), {"note": "Plan checked"})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.state == State.FULFILLING
    assert case.approved_by == bob


def test_draft_and_submit_a_plan_through_the_admin(
    client, alice, make_case, django_capture_on_commit_callbacks
):
    case = reviewed(in_review(make_case(request_type="erasure"), alice), alice)
    client.force_login(alice)
    assert operation_url(case, "draft_plan") in client.get(change_url(case)).content.decode()
    assert operation_url(case, "submit_plan") not in client.get(change_url(case)).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(operation_url(case, "draft_plan"), {})
    assert response.status_code == 302
    assert case.plans.get().state == "draft"  # the worker drafted it (in-process here)
    assert operation_url(case, "submit_plan") in client.get(change_url(case)).content.decode()
    response = client.post(operation_url(case, "submit_plan"), {})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.plan_prepared_by == alice
    assert case.plans.get().state == "submitted"
    assert case.state == State.IN_REVIEW


def test_merge_into_another_case_by_reference(client, alice, make_case):
    target = make_case()
    duplicate = make_case()
    client.force_login(alice)
    response = client.post(operation_url(duplicate, "merge"), {"into": "nope"})
    assert response.context["form"].errors["into"]
    response = client.post(operation_url(duplicate, "merge"), {"into": duplicate.reference})
    assert "cannot be merged into itself" in str(response.context["form"].errors["into"])
    response = client.post(operation_url(duplicate, "merge"), {"into": target.reference.lower()})
    assert response.status_code == 302
    duplicate.refresh_from_db()
    assert duplicate.state == State.MERGED
    assert duplicate.merged_into == target


def test_extend_beyond_the_regime_limit_shows_the_error(client, dora, make_case):
    case = make_case()
    received = deadlines.local_date(case.received_at)
    client.force_login(dora)
    response = client.post(
        operation_url(case, "extend"),
        {"date": (received + dt.timedelta(days=130)).isoformat(), "reason": "Many systems"},
    )
    assert response.status_code == 200
    assert "allows extending to" in str(response.context["form"].errors["date"])
    due_before = case.due_at
    case.refresh_from_db()
    assert case.due_at == due_before
    assert case.original_due_at is None


def test_extend_within_the_limit(client, dora, make_case):
    case = make_case()
    new_due = deadlines.local_date(case.due_at) + dt.timedelta(days=30)
    client.force_login(dora)
    response = client.post(
        operation_url(case, "extend"), {"date": new_due.isoformat(), "reason": "Many systems"}
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert deadlines.local_date(case.due_at) == new_due
    assert AuditEvent.objects.filter(case=case, action="case.deadline_extended").exists()


def test_extend_is_refused_to_the_privacy_team(client, alice, make_case):
    case = make_case()
    new_due = deadlines.local_date(case.due_at) + dt.timedelta(days=30)
    client.force_login(alice)
    assert client.get(operation_url(case, "extend")).status_code == 302
    client.post(operation_url(case, "extend"), {"date": new_due.isoformat(), "reason": "More time"})
    due_before = case.due_at
    case.refresh_from_db()
    assert case.due_at == due_before


def test_record_response_and_internal_note(client, alice, make_case):
    case = make_case()
    client.force_login(alice)
    client.post(operation_url(case, "record_response"), {"note": "Too early"})
    case.refresh_from_db()
    assert case.response_sent_at is None  # refused before review
    case = in_review(case, alice)
    client.force_login(alice)
    assert (
        client.post(operation_url(case, "record_response"), {"note": "By post"}).status_code == 302
    )
    assert client.post(operation_url(case, "add_note"), {"note": "Called twice"}).status_code == 302
    case.refresh_from_db()
    assert case.response_sent_at is not None
    assert CaseNote.objects.filter(case=case, text="Called twice", author=alice).exists()
    assert AuditEvent.objects.filter(case=case, action="case.note_added").exists()


# --- intake by staff --------------------------------------------------------------------------------

LETTER = {
    "request_type": "access",
    "channel": "letter",
    "email": "",
    "postal_address": "Rruga e Kavajës 10, Tiranë",
    "name": "Arta Krasniqi",
    "phone": "",
    "customer_number": "",
    "company": "",
    "language": "sq",
    "regime": "gdpr",
    "restriction_ground": "",
    "verification_note": "",
    "_save": "Save",
}


def test_add_page_shows_the_intake_form(client, alice):
    client.force_login(alice)
    response = client.get(ADD)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="identity_verified"' in page
    assert 'name="postal_address"' in page


def test_add_a_letter_with_a_postal_address_only(client, alice):
    client.force_login(alice)
    response = client.post(ADD, LETTER)
    assert response.status_code == 302
    case = Case.objects.get()
    assert case.channel == "letter"
    assert case.postal_address == "Rruga e Kavajës 10, Tiranë"
    assert case.state == State.RECEIVED
    assert case.entered_by == alice
    assert AuditEvent.objects.filter(case=case, action="case.created", actor=alice).exists()


def test_add_with_identity_verified_by_staff(client, alice):
    client.force_login(alice)
    data = {**LETTER, "identity_verified": "on", "verification_note": "Called the CRM number"}
    assert client.post(ADD, data).status_code == 302
    case = Case.objects.get()
    assert case.state == State.VERIFIED
    assert case.verified_by == alice


def test_add_ticked_without_a_note_creates_nothing(client, alice):
    client.force_login(alice)
    response = client.post(ADD, {**LETTER, "identity_verified": "on"})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["verification_note"]
    assert not Case.objects.exists()
    assert not AuditEvent.objects.filter(action="case.created").exists()


def test_add_without_email_or_postal_address_creates_nothing(client, alice):
    client.force_login(alice)
    response = client.post(ADD, {**LETTER, "postal_address": ""})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "e-mail or a postal address" in str(errors["email"])
    assert not Case.objects.exists()
    assert not AuditEvent.objects.filter(action="case.created").exists()


def test_auditor_cannot_add_cases(client, audrey):
    client.force_login(audrey)
    assert client.get(ADD).status_code == 403
    assert client.post(ADD, LETTER).status_code == 403
    assert not Case.objects.exists()


# --- times -------------------------------------------------------------------------------------


def readonly_value(page: str, field: str) -> str:
    found = re.search(rf'field-{field}\b.*?<div class="readonly">(.*?)</div>', page, re.S)
    assert found, field
    return found.group(1).strip()


def test_the_due_date_reads_in_the_controllers_time_zone(client, alice, make_case):
    # Due at the end of 4 January 2027 in Tirana, which is 22:59:59 UTC.
    case = make_case(received_at=dt.datetime(2026, 12, 4, 9, tzinfo=dt.UTC), regime="gdpr")
    assert case.due_at.astimezone(dt.UTC).hour == 22
    client.force_login(alice)
    page = client.get(change_url(case)).content.decode()
    assert readonly_value(page, "due_at") == "Jan. 4, 2027, 11:59 p.m."


# --- details as fields --------------------------------------------------------------------------


def field_html(page: str, field: str) -> str:
    start = page.index(f"field-{field}")
    return page[start : page.index('<div class="form-row', start)]


def test_the_details_of_a_rectification_read_as_fields_and_are_escaped(client, alice, make_case):
    case = make_case(
        request_type="rectification",
        details={
            "corrections": [
                {"field": "Address", "current": "Rruga 1", "correct": "<b>Rruga 2</b>"},
                {"field": "Phone", "current": "", "correct": "+355 69 000 0000"},
            ],
            "country": "AL",
        },
    )
    client.force_login(alice)
    details = field_html(client.get(change_url(case)).content.decode(), "details_list")
    assert '<dl class="details">' in details and '<ul class="details">' in details
    assert "<dt>Corrections</dt>" in details and "<dt>Country</dt><dd>AL</dd>" in details
    assert "<dt>Field</dt><dd>Address</dd>" in details
    assert "<dt>Should read</dt><dd>&lt;b&gt;Rruga 2&lt;/b&gt;</dd>" in details
    assert "<dt>Now reads</dt><dd>—</dd>" in details  # an empty value
    assert "<b>Rruga 2</b>" not in details
    assert "{" not in details and "&quot;" not in details  # no JSON left


def test_the_details_of_an_objection_and_an_erasure_read_as_fields(client, alice, make_case):
    objection = make_case(
        request_type="objection",
        details={
            "processing": "Newsletters",
            "direct_marketing": True,
            "grounds": "",
            "country": "US",
            "california_resident": True,
        },
    )
    erasure = make_case(request_type="erasure", details={"scope": "My CRM account"})
    client.force_login(alice)
    details = field_html(client.get(change_url(objection)).content.decode(), "details_list")
    assert "<dt>Processing objected to</dt><dd>Newsletters</dd>" in details
    assert "<dt>Direct marketing</dt><dd>yes</dd>" in details
    assert "<dt>California resident</dt><dd>yes</dd>" in details
    details = field_html(client.get(change_url(erasure)).content.decode(), "details_list")
    assert "<dt>What to erase</dt><dd>My CRM account</dd>" in details


def test_the_audit_trail_on_the_case_shows_actor_and_details_as_fields(client, alice, make_case):
    case = services.case_verify(case=make_case(), actor=Actor.staff(alice), note="Call-back")
    record_event(case, "case.verify", actor=Actor.staff(alice))  # an event of the old name
    client.force_login(alice)
    page = client.get(change_url(case)).content.decode()
    trail = page[page.index('id="audit_events-group"') :]
    assert "<dt>Request type</dt><dd>access</dd>" in trail
    assert "<dt>Method</dt>" in trail
    actors = re.findall(r'field-actor_column">\s*<p>(.*?)</p>', trail)
    assert actors == ["data subject", "alice", "alice"]
    actions = re.findall(r'field-action_name">\s*<p>(.*?)</p>', trail)
    assert actions == ["case.created", "case.verified", "case.verified"]
    details = re.findall(r'field-details_list">\s*<p>(.*?)</p>\s*</td>', trail, re.S)
    assert len(details) == 3 and not any("{" in d or "&quot;" in d for d in details)


def test_the_audit_event_list_shows_the_current_action_the_actor_and_readable_details(
    client, audrey, alice, make_case
):
    case = make_case()
    record_event(case, "case.verify", actor=Actor.staff(alice), details={"method": "call_back"})
    client.force_login(audrey)
    page = client.get(reverse("admin:casework_auditevent_changelist")).content.decode()
    rows = page[page.index('id="result_list"') :]
    actions = re.findall(r'<td class="field-action_name">(.*?)</td>', rows)
    assert actions.count("case.verified") == 1 and "case.verify" not in actions
    assert "case.verify<" not in page  # nor in the filter, which finds both names
    verified = client.get(
        reverse("admin:casework_auditevent_changelist"), {"action": "case.verified"}
    ).content.decode()
    assert re.findall(r'<td class="field-action_name">(.*?)</td>', verified) == ["case.verified"]
    assert '<td class="field-actor_column">alice</td>' in rows
    assert '<td class="field-actor_column">data subject</td>' in rows
    assert "<dt>Method</dt><dd>call_back</dd>" in rows
    details = re.findall(r'<td class="field-details_list">(.*?)</td>', rows, re.S)
    assert details and not any("{" in d or "&quot;" in d for d in details)
    event = AuditEvent.objects.get(case=case, action="case.created")
    detail = client.get(reverse("admin:casework_auditevent_change", args=[event.pk]))
    assert "<dt>Came in by</dt><dd>web</dd>" in detail.content.decode()


# --- history and deletion ---------------------------------------------------------------------------


def test_audit_inline_is_read_only_for_everyone(client, alice, make_case):
    case = make_case()
    superuser = User.objects.create_superuser("root", "root@staff.demo.example", "x" * 16)
    request = RequestFactory().get("/")
    request.user = superuser
    for inline_class in (AuditEventInline, CaseNoteInline):
        inline = inline_class(Case, admin.site)
        assert not inline.has_add_permission(request, case)
        assert not inline.has_change_permission(request, case)
        assert not inline.has_delete_permission(request, case)

    client.force_login(alice)
    response = client.get(change_url(case))
    page = response.content.decode()
    assert "case.created" in page
    assert 'name="audit_events-0-action"' not in page
    assert 'name="audit_events-0-DELETE"' not in page


def test_audit_events_have_a_read_only_admin(client, audrey, make_case):
    case = make_case()
    event = AuditEvent.objects.get(case=case, action="case.created")
    client.force_login(audrey)
    assert client.get(reverse("admin:casework_auditevent_changelist")).status_code == 200
    assert (
        client.get(reverse("admin:casework_auditevent_change", args=[event.pk])).status_code == 200
    )
    assert (
        client.get(reverse("admin:casework_auditevent_delete", args=[event.pk])).status_code == 403
    )
    assert client.get(reverse("admin:casework_auditevent_add")).status_code == 403


def test_cases_cannot_be_deleted(client, alice, make_case):
    case = make_case()
    delete_url = reverse("admin:casework_case_delete", args=[case.pk])
    client.force_login(alice)
    assert client.get(delete_url).status_code == 403
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    superuser = User.objects.create_superuser("root", "root@staff.demo.example", "x" * 16)
    client.force_login(superuser)
    assert client.get(delete_url).status_code == 403
    response = client.get(CHANGELIST)
    assert "delete_selected" not in response.content.decode()
    assert Case.objects.filter(pk=case.pk).exists()


def test_the_case_lists_queries_do_not_grow_with_the_cases_or_their_sources(
    client, alice, make_case
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from casework.models import ConnectorRun
    from dsar.models import SourceSystem

    systems = [
        SourceSystem.objects.create(name=f"S{n}", slug=f"s{n}", connector="manual", config={})
        for n in range(3)
    ]

    def add_cases(n: int, start: int) -> None:
        for i in range(start, start + n):
            case = make_case(email=f"person{i}@demo.example")
            ConnectorRun.objects.bulk_create(
                [ConnectorRun(case=case, system=s, state="succeeded") for s in systems]
            )

    client.force_login(alice)
    url = reverse("admin:casework_case_changelist")
    add_cases(1, 0)
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url, {"request_type__exact": "access"}).status_code == 200
    add_cases(25, 1)
    with CaptureQueriesContext(connection) as many:
        page = client.get(url, {"request_type__exact": "access"})
    assert page.context["cl"].result_count == 26
    assert len(many) == len(few)
    assert "3/3" in page.content.decode()  # each case's sources, counted for the page
