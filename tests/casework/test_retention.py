"""Retention of our own data: closed cases kept for the register's accountability period, then
reduced to an anonymous statistics row in place; legal holds that stop every purge."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.utils import timezone

from casework import operations, roles, services, tasks
from casework.actors import Actor
from casework.audit import verify_trail
from casework.engine import bundles as bundles_engine
from casework.engine import gathering as gathering_engine
from casework.models import (
    AuditEvent,
    Bundle,
    Case,
    CaseIdentifier,
    CaseNote,
    ConnectorRun,
    PortalToken,
    PostalLetter,
    State,
)
from casework.selectors.retention import cases_due_for_purge, purge_cutoff
from dsar.models import CASE_FILES_RULE, RetentionRule
from tests.casework.sources import csv_system, write_csv

ARTA = "arta.krasniqi@demo.example"
MONTH = dt.timedelta(days=31)


@pytest.fixture(autouse=True)
def register(db):
    call_command("load_data_map", verbosity=0)
    # The rule comes with a migration; a test database flushed by another test lacks it.
    RetentionRule.objects.update_or_create(
        code=CASE_FILES_RULE,
        defaults={"name_en": "Our own case files", "name_sq": "Dosjet", "period_months": 36},
    )


@pytest.fixture
def gathered(tmp_path, make_case, django_capture_on_commit_callbacks):
    """Arta's access request, verified, her records gathered from a CSV system."""
    write_csv(
        tmp_path / "events" / "tirana.csv",
        [{"Name": "Arta Krasniqi", "Email": ARTA, "Dietary needs": "halal"}],
    )
    csv_system("events", tmp_path / "events", {"email": "Email"}, category="events")
    case = make_case(
        email=ARTA,
        name="Arta Krasniqi",
        phone="+355 69 123 4567",
        customer_number="C-4711",
        company="Drini",
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.case_verify(case=case, actor=Actor.subject())
    case = Case.objects.get(pk=case.pk)
    assert case.state == State.IN_REVIEW
    return case


def rejected(case: Case, dora, capture) -> Case:
    with capture(execute=True):
        return services.case_reject(
            case=case,
            actor=Actor.staff(dora),
            reason="Arta Krasniqi sent the same request five times this week",
            unfounded=True,
        )


def closed_ago(case: Case, delta: dt.timedelta) -> Case:
    Case.objects.filter(pk=case.pk).update(closed_at=timezone.now() - delta)
    return Case.objects.get(pk=case.pk)


def test_a_purged_case_is_marked_in_the_case_list_behind_the_figures(
    gathered, dora, client, django_capture_on_commit_callbacks
):
    case = rejected(gathered, dora, django_capture_on_commit_callbacks)
    closed_ago(case, 37 * MONTH)
    services.purge_expired_cases()
    client.force_login(dora)
    page = client.get("/admin/casework/case/?state=rejected").content.decode()
    assert case.reference in page
    assert "Personal data deleted on" in page and "(retention)" in page


def test_a_closed_case_is_kept_for_the_period_and_not_purged_before(
    gathered, dora, django_capture_on_commit_callbacks
):
    case = rejected(gathered, dora, django_capture_on_commit_callbacks)
    closed_ago(case, 35 * MONTH)
    assert services.purge_expired_cases() == 0
    assert Case.objects.get(pk=case.pk).email == ARTA
    closed_ago(case, 37 * MONTH)
    assert list(cases_due_for_purge()) == [case]
    assert services.purge_expired_cases() == 1
    assert Case.objects.get(pk=case.pk).purged_at is not None
    assert services.purge_expired_cases() == 0  # once


def test_the_period_is_the_registers_rule_the_dpo_edits(
    gathered, dora, django_capture_on_commit_callbacks
):
    case = closed_ago(rejected(gathered, dora, django_capture_on_commit_callbacks), 13 * MONTH)
    assert services.purge_expired_cases() == 0
    RetentionRule.objects.filter(code=CASE_FILES_RULE).update(period_months=12)
    assert purge_cutoff() > case.closed_at
    assert services.purge_expired_cases() == 1


def test_without_the_rule_the_period_is_three_years(
    gathered, dora, django_capture_on_commit_callbacks
):
    RetentionRule.objects.filter(code=CASE_FILES_RULE).delete()
    case = closed_ago(rejected(gathered, dora, django_capture_on_commit_callbacks), 35 * MONTH)
    assert not cases_due_for_purge().filter(pk=case.pk).exists()
    closed_ago(case, 37 * MONTH)
    assert cases_due_for_purge().filter(pk=case.pk).exists()


def test_retention_rules_are_the_dpos_alone(dora, adam, alice):
    assert dora.has_perm("dsar.change_retentionrule")
    assert not adam.has_perm("dsar.change_retentionrule")
    assert adam.has_perm("dsar.view_retentionrule")
    assert adam.has_perm("dsar.change_datacategory")  # the rest of the register stays his
    assert not alice.has_perm("dsar.change_retentionrule")


def test_the_purge_blanks_the_subject_and_keeps_what_the_dashboard_counts(
    gathered, dora, alice, django_capture_on_commit_callbacks
):
    services.case_assign(case=gathered, actor=Actor.staff(dora), assignee=alice)
    case = rejected(gathered, dora, django_capture_on_commit_callbacks)
    Case.objects.filter(pk=case.pk).update(
        has_representative=True,
        representative_name="Besnik Krasniqi",
        representative_relationship="brother",
        details={"scope": "everything about Arta"},
    )
    kept_before = Case.objects.filter(pk=case.pk).values(*KEPT).get()
    closed_ago(case, 40 * MONTH)
    kept_before["closed_at"] = Case.objects.get(pk=case.pk).closed_at

    assert services.purge_closed_case(case) is not None
    purged = Case.objects.get(pk=case.pk)
    assert Case.objects.filter(pk=case.pk).values(*KEPT).get() == kept_before
    for field in (
        "email",
        "postal_address",
        "name",
        "phone",
        "customer_number",
        "company",
        "representative_name",
        "representative_relationship",
        "email_skeleton",
        "rejection_reason",
        "extension_reason",
    ):
        assert getattr(purged, field) == "", field
    assert purged.details == {}
    assert not purged.representative_authority
    assert (purged.rejected_as_unfounded, purged.assignee, purged.state) == (
        True,
        alice,
        State.REJECTED,
    )


KEPT = (
    "reference",
    "request_type",
    "regime",
    "channel",
    "received_at",
    "due_at",
    "original_due_at",
    "closed_at",
    "state",
    "assignee",
    "rejected_as_unfounded",
    "extension_announced_at",
    "language",
)


def test_the_purge_deletes_notes_letters_files_identifiers_and_records(
    gathered, dora, alice, django_capture_on_commit_callbacks
):
    case = gathered
    authority = default_storage.save("authority/2026/mandate.pdf", ContentFile(b"%PDF mandate"))
    Case.objects.filter(pk=case.pk).update(representative_authority=authority)
    services.case_add_note(case=case, actor=Actor.staff(alice), text="Arta called about it")
    PostalLetter.objects.create(case=case, notice="acknowledged")
    files = list(
        ConnectorRun.objects.filter(case=case)
        .exclude(result_file="")
        .values_list("result_file", flat=True)
    )
    assert files and CaseIdentifier.objects.filter(case=case).exists()
    PortalToken.objects.create(
        case=case, purpose="status", token_hash="0" * 64, expires_at=timezone.now()
    )
    case = closed_ago(rejected(case, dora, django_capture_on_commit_callbacks), 37 * MONTH)

    counts = services.purge_closed_case(case)

    assert counts["notes"] >= 2 and counts["letters"] == 1 and counts["files"] == 2
    assert not CaseNote.objects.filter(case=case).exists()
    assert not PostalLetter.objects.filter(case=case).exists()
    assert not CaseIdentifier.objects.filter(case=case).exists()
    assert not PortalToken.objects.filter(case=case).exists()
    assert not default_storage.exists(authority)
    assert not any(default_storage.exists(name) for name in files)
    runs = ConnectorRun.objects.filter(case=case)
    assert runs.exists()  # the searches stay, for the connectors' figures
    for run in runs:
        assert (run.result_file, run.identifiers, run.matches, run.subject_keys) == ("", [], [], [])
        assert run.records_count == 1


def test_a_purged_case_may_have_no_contact_and_no_other_case_may(make_case):
    case = make_case()
    with pytest.raises(IntegrityError), transaction.atomic():
        Case.objects.filter(pk=case.pk).update(email="")
    Case.objects.filter(pk=case.pk).update(email="", purged_at=timezone.now())


def test_audit_events_stay_untouched_and_the_trail_verifies(
    gathered, dora, django_capture_on_commit_callbacks
):
    case = closed_ago(rejected(gathered, dora, django_capture_on_commit_callbacks), 37 * MONTH)
    before = list(AuditEvent.objects.filter(case=case).values_list("pk", "hash", "details"))

    services.purge_closed_case(case)

    after = list(AuditEvent.objects.filter(case=case).values_list("pk", "hash", "details"))
    assert after[: len(before)] == before
    [purge] = AuditEvent.objects.filter(case=case, action="case.purged")
    assert after[-1][0] == purge.pk
    assert purge.actor_kind == Actor.SYSTEM
    assert purge.details["kept_months"] == 36 and purge.details["notes"] >= 1
    stored = json.dumps(purge.details)
    for personal in (ARTA, "Arta", "Krasniqi", "C-4711", "halal", "five times"):
        assert personal not in stored
    assert verify_trail() == []
    out = io.StringIO()
    call_command("verify_audit_trail", stdout=out)
    assert out.getvalue().startswith("OK:")


def test_open_cases_are_never_purged(gathered):
    Case.objects.filter(pk=gathered.pk).update(closed_at=timezone.now() - 40 * MONTH)
    assert services.purge_closed_case(gathered) is None
    assert services.purge_expired_cases() == 0
    assert Case.objects.get(pk=gathered.pk).email == ARTA


def test_a_case_on_legal_hold_is_not_purged_until_the_hold_is_lifted(
    gathered, dora, django_capture_on_commit_callbacks
):
    case = rejected(gathered, dora, django_capture_on_commit_callbacks)
    services.case_set_legal_hold(
        case=case, actor=Actor.staff(dora), reason="Inquiry of the authority, ref. IDP-2029-17"
    )
    closed_ago(case, 40 * MONTH)
    files = ConnectorRun.objects.filter(case=case).exclude(result_file="").count()

    assert services.purge_expired_cases() == 0
    assert gathering_engine.purge_results() == 0
    assert services.purge_closed_case(case) is None
    held = Case.objects.get(pk=case.pk)
    assert (held.email, held.purged_at) == (ARTA, None)
    assert ConnectorRun.objects.filter(case=case).exclude(result_file="").count() == files

    services.case_lift_legal_hold(case=case, actor=Actor.staff(dora), note="Inquiry closed")
    assert gathering_engine.purge_results() == files
    assert services.purge_expired_cases() == 1
    actions = list(AuditEvent.objects.filter(case=case).values_list("action", flat=True))
    assert actions.index("case.legal_hold_set") < actions.index("case.legal_hold_lifted")
    assert actions[-1] == "case.purged"


def test_our_copies_after_an_erasure_spare_a_held_case(gathered, dora):
    """purge_after_erasure deletes the records of the subject's earlier cases through the same
    function as the daily purge: a held case keeps them."""
    services.case_set_legal_hold(case=gathered, actor=Actor.staff(dora), reason="Litigation")
    runs = ConnectorRun.objects.filter(case=gathered)
    assert gathering_engine.delete_gathered_records(runs, after_erasure="DSAR-X") == 0
    assert runs.exclude(result_file="").exists()


def test_a_bundle_of_a_held_case_outlives_its_expiry(
    gathered, dora, alice, bob, django_capture_on_commit_callbacks
):
    case = services.complete_review(case=gathered, actor=Actor.staff(alice))
    with django_capture_on_commit_callbacks(execute=True):
        services.case_approve(case=case, actor=Actor.staff(bob), acknowledged=True)
    bundle = Bundle.objects.get(case=case)
    assert bundle.state == Bundle.State.READY
    Bundle.objects.filter(pk=bundle.pk).update(expires_at=timezone.now() - dt.timedelta(days=1))
    services.case_set_legal_hold(case=case, actor=Actor.staff(dora), reason="Litigation")

    assert bundles_engine.purge_expired() == 0
    assert default_storage.exists(bundle.file)
    services.case_lift_legal_hold(case=case, actor=Actor.staff(dora))
    assert bundles_engine.purge_expired() == 1
    assert not default_storage.exists(bundle.file)


def test_the_daily_task_purges_what_is_due(gathered, dora, django_capture_on_commit_callbacks):
    closed_ago(rejected(gathered, dora, django_capture_on_commit_callbacks), 37 * MONTH)
    assert tasks.purge_closed_cases() == 1
    assert tasks.purge_closed_cases() == 0


def test_only_the_dpo_sets_and_lifts_a_legal_hold(make_case, alice, audrey, adam, dora):
    case = make_case()
    for user in (alice, audrey, adam):
        with pytest.raises(PermissionDenied):
            services.case_set_legal_hold(case=case, actor=Actor.staff(user), reason="Claim")
        assert not operations.get("set_legal_hold").offered(case, Actor.staff(user))
    assert operations.get("set_legal_hold").offered(case, Actor.staff(dora))
    held = services.case_set_legal_hold(case=case, actor=Actor.staff(dora), reason="Claim")
    assert (held.legal_hold_by, held.legal_hold_reason) == (dora, "Claim")
    with pytest.raises(ValidationError):
        services.case_set_legal_hold(case=case, actor=Actor.staff(dora), reason="Again")
    for user in (alice, audrey, adam):
        with pytest.raises(PermissionDenied):
            services.case_lift_legal_hold(case=case, actor=Actor.staff(user))
    assert operations.get("lift_legal_hold").offered(held, Actor.staff(dora))
    lifted = services.case_lift_legal_hold(case=case, actor=Actor.staff(dora))
    assert lifted.legal_hold_at is None
    assert "casework.hold_case" in [f"casework.{c}" for c in roles.DPO_ONLY]


def test_the_hold_reason_is_a_note_the_trail_references_by_hash(make_case, dora):
    case = make_case()
    services.case_set_legal_hold(case=case, actor=Actor.staff(dora), reason="Claim by Arta")
    event = AuditEvent.objects.get(case=case, action="case.legal_hold_set")
    assert "Arta" not in json.dumps(event.details)
    assert CaseNote.objects.get(pk=event.details["note"]).text == "Claim by Arta"


def test_the_command_line_sets_a_legal_hold_as_the_dpo(make_case, dora, alice):
    case = make_case()
    with pytest.raises(Exception, match="not allowed"):
        call_command("case", case.reference, "set_legal_hold", "--staff", "alice", "--reason", "x")
    call_command(
        "case",
        case.reference,
        "set_legal_hold",
        "--staff",
        "dora",
        "--reason",
        "Inquiry",
        stdout=io.StringIO(),
    )
    assert Case.objects.get(pk=case.pk).legal_hold_at is not None


def test_the_admin_page_shows_the_legal_hold(client, make_case, dora):
    case = make_case()
    services.case_set_legal_hold(case=case, actor=Actor.staff(dora), reason="Inquiry IDP-17")
    client.force_login(dora)
    page = client.get(f"/admin/casework/case/{case.pk}/change/").content.decode()
    assert "Inquiry IDP-17" in page
    assert "legal hold" in page.lower()


def test_a_selector_lists_the_cases_due_for_purge_oldest_first(
    make_case, dora, django_capture_on_commit_callbacks
):
    older = closed_ago(rejected(make_case(), dora, django_capture_on_commit_callbacks), 50 * MONTH)
    newer = closed_ago(
        rejected(make_case(email="other@demo.example"), dora, django_capture_on_commit_callbacks),
        40 * MONTH,
    )
    recent = rejected(
        make_case(email="third@demo.example"), dora, django_capture_on_commit_callbacks
    )
    assert list(cases_due_for_purge()) == [older, newer]
    assert recent not in cases_due_for_purge()
