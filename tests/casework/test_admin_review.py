"""Review and redaction in the case admin: the review page with the identifier that found each
record and the register's flags, leaving out and redacting through the review service, the
complete and reopen actions, paging, and the Bundle section of the change page."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from casework import selectors, services
from casework.actors import Actor
from casework.models import AuditEvent, Bundle, Case, ConnectorRun, RecordDecision, State
from tests.casework.sources import csv_system, write_csv

pytestmark = pytest.mark.django_db

ARTA = "arta.krasniqi@demo.example"
EMERGENCY = "Besnik Krasniqi +355 69 000 1111"


@pytest.fixture(autouse=True)
def register(db):
    # The register's categories carry the flags the review page shows.
    call_command("load_data_map", verbosity=0)


def gather(case: Case, capture) -> Case:
    """Verify by the subject's e-mail link and run gathering to its end, tasks eager."""
    with capture(execute=True):
        services.case_verify(case=case, actor=Actor.subject())
    case = Case.objects.get(pk=case.pk)
    assert case.state == State.IN_REVIEW
    return case


@pytest.fixture
def gathered(tmp_path, make_case, django_capture_on_commit_callbacks):
    """Arta at two events (one with an emergency contact, another person's data) and on a
    purchased prospect list. The emergency contact's phone is on the release check: approvals
    here acknowledge it (tests/casework/test_release_check.py tests the check itself)."""
    write_csv(
        tmp_path / "events" / "tirana.csv",
        [
            {
                "Name": "Arta Krasniqi",
                "Email": ARTA,
                "Dietary needs": "halal",
                "Emergency contact": EMERGENCY,
            },
            {
                "Name": "Arta Krasniqi",
                "Email": ARTA,
                "Dietary needs": "none",
                "Emergency contact": "",
            },
        ],
    )
    write_csv(
        tmp_path / "prospects" / "fair.csv",
        [{"Email": ARTA, "Source": "Chamber of commerce list <script>alert(1)</script>"}],
    )
    csv_system("events", tmp_path / "events", {"email": "Email"}, category="events")
    csv_system("prospects", tmp_path / "prospects", {"email": "Email"}, category="prospects")
    case = make_case(email=ARTA, name="Arta Krasniqi")
    return gather(case, django_capture_on_commit_callbacks)


def review_url(case: Case, **query) -> str:
    url = reverse("admin:casework_case_review", args=[case.pk])
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return url


def decide_url(case: Case, decision: str) -> str:
    return reverse("admin:casework_case_review_decide", args=[case.pk, decision])


def operation_url(case: Case, name: str) -> str:
    return reverse("admin:casework_case_operation", args=[case.pk, name])


def change_url(case: Case) -> str:
    return reverse("admin:casework_case_change", args=[case.pk])


def record(case: Case, dietary: str) -> dict:
    return next(
        r
        for r in selectors.review_rows(case, category="events")
        if r["data"].get("Dietary needs") == dietary
    )


def post_fields(case: Case, row: dict, **extra) -> dict:
    return {
        "run": row["run"].pk,
        "category": row["category"],
        "record_key": row["key"],
        "page": 1,
        **extra,
    }


def row_html(page: str, value: str) -> str:
    """The <tr> of the review table that shows `value`."""
    at = page.index(f">{value}</span>")
    return page[page.rindex("<tr", 0, at) : page.index("</tr>", at)]


# --- looking -----------------------------------------------------------------------------------


def test_the_review_page_lists_categories_and_records_with_the_identifier_that_found_them(
    client, alice, gathered
):
    client.force_login(alice)
    response = client.get(review_url(gathered))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-category="events"' in page and 'data-category="prospects"' in page
    assert "Events, webinars and seminars: 2" in page
    assert "3 records found" in page
    # The events category comes first in the register's order, and is shown.
    assert "halal" in page and "Tirana.csv".lower() in page.lower()
    found_by = row_html(page, "halal")
    assert "<strong>email</strong>: " + ARTA in found_by
    assert "Events" in found_by  # the source system


def test_values_are_escaped(client, alice, gathered):
    client.force_login(alice)
    page = client.get(review_url(gathered, category="prospects")).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_long_values_are_cut_short_with_the_whole_in_a_tooltip(
    client, alice, tmp_path, make_case, django_capture_on_commit_callbacks
):
    long_text = "Notes " + "x" * 400 + " END"
    write_csv(tmp_path / "events" / "a.csv", [{"Email": ARTA, "Notes": long_text}])
    csv_system("events", tmp_path / "events", {"email": "Email"}, category="events")
    case = gather(make_case(email=ARTA), django_capture_on_commit_callbacks)
    client.force_login(alice)
    page = client.get(review_url(case)).content.decode()
    assert f'title="{long_text}"' in page
    assert page.count(long_text) == 1  # only in the tooltip


def test_the_flags_box_shows_the_registers_notes_for_events(client, alice, gathered):
    client.force_login(alice)
    page = client.get(review_url(gathered, category="events")).content.decode()
    assert 'class="review-flags"' in page
    assert "Emergency contact details are another person&#x27;s data." in page
    assert "Dietary requirements can reveal religious beliefs or health (GDPR Art. 9)." in page
    # The column the register flags as other people's data is marked in the table.
    assert re.search(r"<dt>Emergency contact <span class=\"field-flag\">other people", page)


def test_the_flags_come_in_the_cases_language(
    client, alice, tmp_path, make_case, django_capture_on_commit_callbacks
):
    write_csv(tmp_path / "events" / "a.csv", [{"Email": ARTA, "Dietary needs": "halal"}])
    csv_system("events", tmp_path / "events", {"email": "Email"}, category="events")
    case = gather(make_case(email=ARTA, language="sq"), django_capture_on_commit_callbacks)
    client.force_login(alice)
    page = client.get(review_url(case)).content.decode()
    assert "Detajet e kontaktit të emergjencës janë të dhëna të një personi tjetër." in page


def test_no_flags_box_for_an_unflagged_category(client, alice, gathered):
    client.force_login(alice)
    page = client.get(review_url(gathered, category="prospects")).content.decode()
    assert 'class="review-flags"' not in page


def test_an_unknown_category_is_404(client, alice, gathered):
    client.force_login(alice)
    assert client.get(review_url(gathered, category="nothing_here")).status_code == 404


def test_the_review_page_of_a_missing_case_is_404(client, alice):
    client.force_login(alice)
    assert client.get(reverse("admin:casework_case_review", args=[999999])).status_code == 404


def test_staff_without_case_rights_cannot_open_the_review_page(client, adam, gathered):
    client.force_login(adam)
    assert client.get(review_url(gathered)).status_code == 403


def test_the_change_page_links_the_review_while_in_review(client, alice, gathered, make_case):
    client.force_login(alice)
    page = client.get(change_url(gathered)).content.decode()
    assert review_url(gathered) in page
    received = make_case(email="someone@demo.example")
    assert review_url(received) not in client.get(change_url(received)).content.decode()


def test_paging_shows_fifty_records_and_a_second_page(
    client, alice, tmp_path, make_case, django_capture_on_commit_callbacks
):
    write_csv(
        tmp_path / "events" / "big.csv",
        [{"Email": ARTA, "Row": f"row-{n:03d}"} for n in range(60)],
    )
    csv_system("events", tmp_path / "events", {"email": "Email"}, category="events")
    case = gather(make_case(email=ARTA), django_capture_on_commit_callbacks)
    client.force_login(alice)
    first = client.get(review_url(case, category="events")).content.decode()
    assert "Page 1 of 2" in first
    assert "row-000" in first and "row-049" in first and "row-050" not in first
    assert (
        'href="' + review_url(case, category="events", page=2).replace("&", "&amp;") + '"' in first
    )
    second = client.get(review_url(case, category="events", page=2)).content.decode()
    assert "Page 2 of 2" in second
    assert "row-050" in second and "row-059" in second and "row-049" not in second
    assert 'id="record-51"' in second


# --- deciding ----------------------------------------------------------------------------------


def test_leaving_out_a_record_is_recorded_audited_and_shown(client, alice, gathered):
    other = record(gathered, "none")
    client.force_login(alice)
    response = client.post(
        decide_url(gathered, "exclude"), post_fields(gathered, other, reason="not_subject")
    )
    assert response.status_code == 302
    assert response["Location"] == review_url(gathered, category="events")
    decision = RecordDecision.objects.get(case=gathered)
    assert (decision.action, decision.run_id, decision.record_key, decision.decided_by) == (
        "exclude",
        other["run"].pk,
        other["key"],
        alice,
    )
    assert AuditEvent.objects.filter(case=gathered, action="review.record_excluded").count() == 1
    page = client.get(response["Location"]).content.decode()
    excluded_row = row_html(page, "none")
    assert "record-excluded" in excluded_row
    assert "Left out: not the subject's" in excluded_row
    assert "review-exclude" not in excluded_row  # no second exclusion offered
    assert "review-exclude" in row_html(page, "halal")


def test_redacting_a_value_is_recorded_audited_and_shown(client, alice, gathered):
    halal = record(gathered, "halal")
    client.force_login(alice)
    response = client.post(
        decide_url(gathered, "redact"),
        post_fields(gathered, halal, field="Emergency contact", reason="other_person"),
    )
    assert response.status_code == 302
    decision = RecordDecision.objects.get(case=gathered)
    assert (decision.action, decision.field, decision.reason) == (
        "redact",
        "Emergency contact",
        "other_person",
    )
    event = AuditEvent.objects.get(case=gathered, action="review.value_redacted")
    assert EMERGENCY not in str(event.details)
    page = client.get(response["Location"]).content.decode()
    row = row_html(page, EMERGENCY)
    assert "value-redacted" in row and "About another person" in row
    assert 'value="Emergency contact"' not in row  # its Redact button is gone
    assert 'value="Dietary needs"' in row  # the other values can still be redacted
    # The reviewed view the bundle is built from has it replaced.
    events = [r for c, r in selectors.reviewed_records(gathered) if c == "events"]
    assert "[redacted]" in [r["data"]["Emergency contact"] for r in events]


def test_another_exemption_without_a_note_is_shown_and_nothing_recorded(client, alice, gathered):
    halal = record(gathered, "halal")
    client.force_login(alice)
    response = client.post(
        decide_url(gathered, "redact"),
        post_fields(gathered, halal, field="Dietary needs", reason="other_exemption"),
        follow=True,
    )
    assert "Say which exemption applies." in response.content.decode()
    assert not RecordDecision.objects.exists()


def test_a_redaction_with_a_note_for_another_exemption(client, alice, gathered):
    halal = record(gathered, "halal")
    client.force_login(alice)
    client.post(
        decide_url(gathered, "redact"),
        post_fields(
            gathered, halal, field="Dietary needs", reason="other_exemption", note="Health data"
        ),
    )
    assert RecordDecision.objects.get(case=gathered).note == "Health data"


def test_a_run_of_another_case_is_404_and_nothing_recorded(client, alice, gathered, make_case):
    other = make_case(email="other@demo.example")
    halal = record(gathered, "halal")
    client.force_login(alice)
    response = client.post(
        decide_url(other, "exclude"), post_fields(other, halal, reason="not_subject")
    )
    assert response.status_code == 404
    assert not RecordDecision.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="review.").exists()


def test_the_auditor_sees_counts_of_the_review_no_values_no_forms_and_a_forged_post_is_refused(
    client, audrey, gathered
):
    client.force_login(audrey)
    response = client.get(review_url(gathered))
    assert response.status_code == 200
    page = response.content.decode()
    # Counts of the gathered records, never their values (nor the identifiers that found them).
    assert "review-counts-only" in page
    assert "review-category" in page
    assert "halal" not in page and ARTA not in page.split('id="content-main"')[1]
    assert "<form" not in page.split('id="content-main"')[1]
    assert "review-redact" not in page
    halal = record(gathered, "halal")
    response = client.post(
        decide_url(gathered, "exclude"),
        post_fields(gathered, halal, reason="not_subject"),
        follow=True,
    )
    assert "was refused" in response.content.decode()
    assert not RecordDecision.objects.exists()


def test_get_of_the_decision_urls_changes_nothing(client, alice, gathered):
    halal = record(gathered, "halal")
    client.force_login(alice)
    query = post_fields(gathered, halal, reason="not_subject", field="Dietary needs")
    for decision in ("exclude", "redact"):
        assert client.get(decide_url(gathered, decision), query).status_code == 405
    assert (
        client.get(operation_url(gathered, "complete_review")).status_code == 200
    )  # a confirmation page
    assert not RecordDecision.objects.exists()
    assert Case.objects.get(pk=gathered.pk).review_completed_at is None


def test_a_decision_without_the_csrf_token_is_refused(alice, gathered):
    from django.test import Client

    halal = record(gathered, "halal")
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    page = client.get(review_url(gathered)).content.decode()
    assert page.count('name="csrfmiddlewaretoken"') >= 4  # every form carries it
    response = client.post(
        decide_url(gathered, "exclude"), post_fields(gathered, halal, reason="not_subject")
    )
    assert response.status_code == 403
    assert not RecordDecision.objects.exists()


def test_an_unknown_decision_is_404(client, alice, gathered):
    client.force_login(alice)
    assert client.post(decide_url(gathered, "delete"), {}).status_code == 404


# --- completing and reopening --------------------------------------------------------------------


def test_complete_review_through_the_actions_and_then_the_forms_disappear(client, alice, gathered):
    client.force_login(alice)
    change_page = client.get(change_url(gathered)).content.decode()
    assert operation_url(gathered, "complete_review") in change_page
    assert operation_url(gathered, "reopen_review") not in change_page
    confirm = client.get(operation_url(gathered, "complete_review")).content.decode()
    assert "the bundle will be built from this reviewed view after approval" in confirm
    assert "Records gathered" in confirm
    response = client.post(operation_url(gathered, "complete_review"), {"_confirm": "1"})
    assert response.status_code == 302
    case = Case.objects.get(pk=gathered.pk)
    assert case.review_completed_at is not None and case.review_completed_by == alice
    assert AuditEvent.objects.filter(case=case, action="review.completed").exists()
    page = client.get(review_url(case)).content.decode()
    assert "review-exclude" not in page and "review-redact" not in page
    assert "The review was completed on" in page
    assert operation_url(case, "reopen_review") in page
    # A decision posted all the same is refused by the service.
    halal = record(case, "halal")
    client.post(decide_url(case, "exclude"), post_fields(case, halal, reason="not_subject"))
    assert not RecordDecision.objects.exists()


def test_reopen_review_brings_the_forms_back(client, alice, gathered):
    services.complete_review(case=gathered, actor=Actor.staff(alice))
    client.force_login(alice)
    change_page = client.get(change_url(gathered)).content.decode()
    assert operation_url(gathered, "reopen_review") in change_page
    assert operation_url(gathered, "complete_review") not in change_page
    response = client.post(operation_url(gathered, "reopen_review"), {"_confirm": "1"})
    assert response.status_code == 302
    case = Case.objects.get(pk=gathered.pk)
    assert case.review_completed_at is None
    assert AuditEvent.objects.filter(case=case, action="review.reopened").exists()
    assert "review-exclude" in client.get(review_url(case)).content.decode()


def test_the_auditor_gets_no_review_actions_and_a_forged_complete_is_refused(
    client, audrey, gathered
):
    client.force_login(audrey)
    page = client.get(change_url(gathered)).content.decode()
    assert operation_url(gathered, "complete_review") not in page
    client.post(operation_url(gathered, "complete_review"), {"_confirm": "1"})
    assert Case.objects.get(pk=gathered.pk).review_completed_at is None


def test_approval_waits_for_the_review(client, alice, gathered):
    client.force_login(alice)
    transition = reverse("admin:casework_case_operation", args=[gathered.pk, "approve"])
    assert transition not in client.get(change_url(gathered)).content.decode()
    services.complete_review(case=gathered, actor=Actor.staff(alice))
    assert transition in client.get(change_url(gathered)).content.decode()


# --- what the review page says about the bundle ----------------------------------------------


def review_state(client, case: Case) -> str:
    page = client.get(review_url(case)).content.decode()
    found = re.search(r'<p class="review-state[^"]*">(.*?)</p>', page, re.S)
    assert found
    return " ".join(found.group(1).split())


@pytest.fixture
def gathered_erasure(gathered, make_case, django_capture_on_commit_callbacks):
    """Arta's erasure request, gathered from the same sources."""
    case = make_case(email=ARTA, name="Arta Krasniqi", request_type="erasure")
    return gather(case, django_capture_on_commit_callbacks)


def test_an_open_review_of_an_access_case_says_the_bundle_comes_after_approval(
    client, alice, gathered
):
    client.force_login(alice)
    text = review_state(client, gathered)
    assert "The review is open." in text
    assert "Art. 15(4)" in text
    assert "after the review is complete and the case approved" in text


def test_an_erasure_review_says_nothing_about_a_bundle(client, alice, gathered_erasure):
    client.force_login(alice)
    text = review_state(client, gathered_erasure)
    assert "The review is open." in text
    assert "bundle" not in text.lower()
    services.complete_review(case=gathered_erasure, actor=Actor.staff(alice))
    text = review_state(client, gathered_erasure)
    assert "The review was completed on" in text
    assert "bundle" not in text.lower()


def test_a_completed_review_says_the_bundle_waits_for_approval(client, alice, gathered):
    services.complete_review(case=gathered, actor=Actor.staff(alice))
    client.force_login(alice)
    text = review_state(client, gathered)
    assert "The review was completed on" in text
    assert "will be built from this reviewed view once the case is approved" in text


def test_after_approval_the_review_says_the_bundle_is_being_built(client, alice, gathered):
    # In a plain `db` test on_commit callbacks do not run: the build stays queued.
    services.complete_review(case=gathered, actor=Actor.staff(alice))
    services.case_approve(case=gathered, actor=Actor.staff(alice), acknowledged=True)
    client.force_login(alice)
    text = review_state(client, gathered)
    assert "The bundle is being built from this reviewed view." in text
    assert "will be built" not in text


def test_once_the_bundle_is_ready_the_review_says_it_was_built(client, alice, gathered):
    services.complete_review(case=gathered, actor=Actor.staff(alice))
    services.case_approve(case=gathered, actor=Actor.staff(alice), acknowledged=True)
    Bundle.objects.filter(case=gathered).update(state=Bundle.State.READY)
    Case.objects.filter(pk=gathered.pk).update(bundle_ready_at=timezone.now())
    client.force_login(alice)
    text = review_state(client, gathered)
    assert "The bundle was built from this reviewed view on" in text
    assert "will be built" not in text and "being built" not in text


def test_a_failed_build_is_what_the_review_says(client, alice, gathered):
    services.complete_review(case=gathered, actor=Actor.staff(alice))
    services.case_approve(case=gathered, actor=Actor.staff(alice), acknowledged=True)
    Bundle.objects.filter(case=gathered).update(state=Bundle.State.FAILED)
    client.force_login(alice)
    text = review_state(client, gathered)
    assert "The build of the bundle failed" in text


# --- the review in numbers ---------------------------------------------------------------------


def decide_two(case: Case, by) -> None:
    """Leave out the record that is not Arta's; redact the other person's emergency contact."""
    actor = Actor.staff(by)
    other, halal = record(case, "none"), record(case, "halal")
    services.exclude_record(
        case=case, actor=actor, run=other["run"], category="events", record_key=other["key"]
    )
    services.redact_value(
        case=case,
        actor=actor,
        run=halal["run"],
        category="events",
        record_key=halal["key"],
        field="Emergency contact",
        reason="other_person",
    )


def test_the_review_summary_counts_records_left_out_and_redacted(alice, gathered):
    assert selectors.review_summary(gathered) == selectors.ReviewSummary(
        records=3, excluded=0, redacted=0
    )
    decide_two(gathered, alice)
    assert selectors.review_summary(gathered) == selectors.ReviewSummary(
        records=3, excluded=1, redacted=1
    )


def test_the_change_page_and_both_confirmation_pages_show_the_same_review_figures(
    client, alice, gathered
):
    decide_two(gathered, alice)
    client.force_login(alice)
    expected = [3, 1, 1]
    notice = client.get(change_url(gathered)).context["review"]
    assert [notice["records"], notice["excluded"], notice["redacted"]] == expected
    assert (
        "Records gathered: 3; left out: 1; values redacted: 1."
        in client.get(change_url(gathered)).content.decode()
    )
    complete = client.get(operation_url(gathered, "complete_review")).context["details"]
    assert [value for _label, value in complete] == expected
    services.complete_review(case=gathered, actor=Actor.staff(alice))
    reopen = client.get(operation_url(gathered, "reopen_review")).context["details"]
    assert [value for _label, value in reopen] == expected
    assert [str(label) for label, _value in reopen] == [
        "Records gathered",
        "Records left out (not the subject's)",
        "Values redacted",
    ]


def test_the_completed_review_is_audited_with_the_figures_of_the_review_summary(alice, gathered):
    decide_two(gathered, alice)
    case = services.complete_review(case=gathered, actor=Actor.staff(alice))
    event = AuditEvent.objects.get(case=case, action="review.completed")
    summary = selectors.review_summary(case)
    assert event.details == {"excluded": summary.excluded, "redacted": summary.redacted}
    assert event.details == {"excluded": 1, "redacted": 1}


# --- when decisions can be taken -----------------------------------------------------------------


def test_a_completed_review_refuses_decisions_until_it_is_reopened(alice, gathered):
    actor = Actor.staff(alice)
    other = record(gathered, "none")
    case = services.complete_review(case=gathered, actor=actor)
    assert not selectors.review_is_open(case) and selectors.review_can_reopen(case)
    with pytest.raises(ValidationError, match="reopen it"):
        services.exclude_record(
            case=case, actor=actor, run=other["run"], category="events", record_key=other["key"]
        )
    with pytest.raises(ValidationError, match="reopen it"):
        services.complete_review(case=case, actor=actor)
    case = services.reopen_review(case=case, actor=actor)
    assert selectors.review_is_open(case) and not selectors.review_can_reopen(case)
    services.exclude_record(
        case=case, actor=actor, run=other["run"], category="events", record_key=other["key"]
    )
    assert RecordDecision.objects.filter(case=case).count() == 1


def test_an_open_review_cannot_be_reopened(alice, gathered):
    with pytest.raises(TransitionNotAllowed, match="Only a completed review"):
        services.reopen_review(case=gathered, actor=Actor.staff(alice))


def test_records_of_a_case_that_left_review_cannot_be_decided(alice, gathered):
    actor = Actor.staff(alice)
    other = record(gathered, "none")
    services.complete_review(case=gathered, actor=actor)
    case = services.case_approve(case=gathered, actor=actor, acknowledged=True)
    assert not selectors.review_is_open(case) and not selectors.review_can_reopen(case)
    with pytest.raises(TransitionNotAllowed, match="while the case is in review"):
        services.exclude_record(
            case=case, actor=actor, run=other["run"], category="events", record_key=other["key"]
        )
    with pytest.raises(TransitionNotAllowed, match="Only a completed review"):
        services.reopen_review(case=case, actor=actor)


# --- the bundle section --------------------------------------------------------------------------


def test_the_bundle_section_shows_each_builds_state_without_its_file(client, alice, gathered):
    Bundle.objects.create(
        case=gathered,
        kind="access",
        state=Bundle.State.FAILED,
        attempts=2,
        error="the build failed (OSError)",
        file="bundles/secret-name.zip.enc",
    )
    client.force_login(alice)
    page = client.get(change_url(gathered)).content.decode()
    section = page[page.index('id="bundles"') :]
    section = section[: section.index("</table>")]
    assert "bundle-state-failed" in section and "Failed" in section
    assert "the build failed (OSError)" in section
    assert "secret-name" not in page


def test_the_bundle_section_says_when_nothing_was_built(client, alice, gathered):
    client.force_login(alice)
    page = client.get(change_url(gathered)).content.decode()
    assert 'id="bundles"' in page and "No bundle has been built yet" in page


def test_approving_queues_a_build_shown_as_pending(client, alice, gathered):
    # In a plain `db` test on_commit callbacks do not run: the build stays queued.
    services.complete_review(case=gathered, actor=Actor.staff(alice))
    services.case_approve(case=gathered, actor=Actor.staff(alice), acknowledged=True)
    client.force_login(alice)
    page = client.get(change_url(gathered)).content.decode()
    assert "bundle-state-pending" in page
    # The review is read-only now that the case has moved on.
    review_page = client.get(review_url(gathered)).content.decode()
    assert (
        "review-exclude" not in review_page and ConnectorRun.objects.filter(case=gathered).exists()
    )


def test_review_pages_read_alike_whichever_runs_they_skip(gathered):
    # Three records over two runs: every page is the matching slice of the whole list.
    every = [(r["run"].pk, r["key"]) for r in selectors.review_rows(gathered)]
    assert len(every) == 3
    for offset in range(4):
        page = selectors.review_rows(gathered, limit=1, offset=offset)
        assert [(r["run"].pk, r["key"]) for r in page] == every[offset : offset + 1]
    prospects = selectors.review_rows(gathered, category="prospects", offset=0)
    assert [r["category"] for r in prospects] == ["prospects"]
    assert selectors.review_rows(gathered, category="prospects", offset=1) == []
