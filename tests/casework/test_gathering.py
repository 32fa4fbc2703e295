"""Gathering across systems: runs, claims, retries, the identity graph, the sweeper."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from casework import results, services, work
from casework.actors import Actor
from casework.engine import gathering as gathering_engine
from casework.models import AuditEvent, Case, CaseIdentifier, ConnectorRun, State
from tests.casework.sources import csv_system, flaky_system, write_csv

pytestmark = pytest.mark.django_db
ARTA = "arta.krasniqi@demo.example"


@pytest.fixture(autouse=True)
def _flaky_registered(settings):
    settings.DSAR_CONNECTORS = {
        **settings.DSAR_CONNECTORS,
        "flaky": "tests.casework.sources.FlakyConnector",
    }
    settings.DSAR_RETRY_BACKOFF_BASE = 0.01
    settings.DSAR_RETRY_BACKOFF_CAP = 0.02


@pytest.fixture
def graph(tmp_path):
    """Attendees know Arta by e-mail (and list her phone); the call log knows only the phone."""
    write_csv(
        tmp_path / "events" / "tirana-2026.csv",
        [
            {
                "Name": "Arta Krasniqi",
                "Company": "Drini Sh.p.k.",
                "Email": ARTA,
                "Phone": "+355 69 123 4567",
                "Dietary needs": "vegetarian",
            },
            {
                "Name": "Besnik Hoxha",
                "Company": "Vlora Tech",
                "Email": "besnik@vlora.example",
                "Phone": "+355 68 000 0001",
                "Dietary needs": "",
            },
        ],
    )
    write_csv(
        tmp_path / "calls" / "log.csv",
        [
            {"Phone": "+355691234567", "Topic": "Printer jam", "Agent": "Elira"},
            {"Phone": "+355691234567", "Topic": "Toner order", "Agent": "Elira"},
            {"Phone": "+355680000001", "Topic": "Other person", "Agent": "Dritan"},
        ],
    )
    events = csv_system(
        "events",
        tmp_path / "events",
        {"email": "Email", "phone": "Phone", "name_company": ["Name", "Company"]},
    )
    calls = csv_system(
        "calls", tmp_path / "calls", {"phone": "Phone"}, category="customer_enquiries"
    )
    return events, calls


def verify_and_gather(case, capture):
    with capture(execute=True):
        services.case_verify(case=case, actor=Actor.subject())
    return Case.objects.get(pk=case.pk)


def test_a_subject_known_by_email_in_one_system_and_only_by_phone_in_another_is_found_in_both(
    graph, make_case, django_capture_on_commit_callbacks
):
    case = verify_and_gather(make_case(email=ARTA), django_capture_on_commit_callbacks)
    assert case.state == State.IN_REVIEW
    runs = {(r.system.slug, r.round): r for r in ConnectorRun.objects.filter(case=case)}
    assert runs[("events", 1)].records_count == 1
    assert ("calls", 1) not in runs  # it cannot be searched by e-mail: not asked in round 1
    assert runs[("calls", 2)].records_count == 2
    learnt = CaseIdentifier.objects.get(case=case, kind="phone")
    assert (learnt.source, learnt.round, learnt.value) == ("events", 2, "+355691234567")
    records = list(results.read_records(runs[("calls", 2)].pk, runs[("calls", 2)].result_file))
    assert {r["data"]["Topic"] for r in records} == {"Printer jam", "Toner order"}
    assert all(r["found_by"] == {"kind": "phone", "value": "+355691234567"} for r in records)


def test_each_system_exports_a_subject_once_across_rounds(
    graph, make_case, django_capture_on_commit_callbacks
):
    case = verify_and_gather(make_case(email=ARTA), django_capture_on_commit_callbacks)
    events_rounds = ConnectorRun.objects.filter(case=case, system__slug="events").order_by("round")
    assert [r.records_count for r in events_rounds] == [
        1,
        0,
    ]  # round 2 finds her by phone again: skipped
    assert events_rounds[1].result_file == ""  # nothing to store, no file


def test_records_are_encrypted_at_rest(graph, make_case, django_capture_on_commit_callbacks):
    from django.core.files.storage import default_storage

    case = verify_and_gather(make_case(email=ARTA), django_capture_on_commit_callbacks)
    run = ConnectorRun.objects.get(case=case, system__slug="events", round=1)
    with default_storage.open(run.result_file, "rb") as fh:
        raw = fh.read()
    assert ARTA.encode() not in raw and b"vegetarian" not in raw


def test_an_identifier_shared_by_several_subjects_is_shown_not_followed(
    tmp_path, make_case, django_capture_on_commit_callbacks
):
    write_csv(
        tmp_path / "fair" / "list.csv",
        [
            {
                "Name": "Arta Krasniqi",
                "Company": "Drini",
                "Email": ARTA,
                "Phone": "+355 4 222 0000",
            },
            {
                "Name": "Genti Berisha",
                "Company": "Drini",
                "Email": "genti@drini.example",
                "Phone": "+355 4 222 0000",
            },
        ],
    )
    csv_system("fair", tmp_path / "fair", {"email": "Email", "phone": "Phone"})
    case = verify_and_gather(
        make_case(email=ARTA, phone="+355 4 222 0000"), django_capture_on_commit_callbacks
    )
    switchboard = CaseIdentifier.objects.get(case=case, kind="phone")
    assert switchboard.status == CaseIdentifier.Status.FOLLOWED  # given by the subject
    run = ConnectorRun.objects.get(case=case, round=1)
    assert run.ambiguous == [{"kind": "phone", "value": "+35542220000", "matches": 2}]
    assert not CaseIdentifier.objects.filter(case=case, value="genti@drini.example").exists()
    assert case.state == State.IN_REVIEW


def test_a_learnt_identifier_that_is_ambiguous_is_recorded_for_staff(
    tmp_path, make_case, django_capture_on_commit_callbacks
):
    write_csv(tmp_path / "a" / "a.csv", [{"Email": ARTA, "Phone": "+355 4 222 0000"}])
    write_csv(
        tmp_path / "b" / "b.csv",
        [
            {"Email": "x@drini.example", "Phone": "+355 4 222 0000"},
            {"Email": "y@drini.example", "Phone": "+355 4 222 0000"},
        ],
    )
    csv_system("a", tmp_path / "a", {"email": "Email", "phone": "Phone"})
    csv_system("b", tmp_path / "b", {"email": "Email", "phone": "Phone"})
    case = verify_and_gather(make_case(email=ARTA), django_capture_on_commit_callbacks)
    phone = CaseIdentifier.objects.get(case=case, kind="phone")
    # Round 2 searches b by the phone, which matches two people there.
    assert case.state == State.IN_REVIEW
    b2 = ConnectorRun.objects.get(case=case, system__slug="b", round=2)
    assert b2.ambiguous and b2.records_count == 0
    assert phone.source == "a"


def test_nothing_searchable_waits_for_an_identifier_never_in_review(
    make_case, django_capture_on_commit_callbacks
):
    case = verify_and_gather(make_case(), django_capture_on_commit_callbacks)
    assert case.state == State.NEEDS_IDENTIFIER
    assert AuditEvent.objects.filter(case=case, action="gathering.nothing_to_search").exists()
    assert not AuditEvent.objects.filter(case=case, action="case.gathered").exists()


def test_a_failing_system_leaves_the_case_needing_attention_and_keeps_the_rest(
    graph, tmp_path, make_case, django_capture_on_commit_callbacks
):
    from dsar.models import SourceSystem

    SourceSystem.objects.create(
        name="Archive",
        slug="archive",
        connector="files",
        config={
            "folder": str(tmp_path / "missing"),
            "category": "events",
            "identifiers": {"email": "Email"},
        },
    )
    case = verify_and_gather(make_case(email=ARTA), django_capture_on_commit_callbacks)
    assert case.state == State.GATHERING
    assert case.gathering_blocked_at is not None
    failed = ConnectorRun.objects.filter(case=case, state="failed")
    assert {r.system.slug for r in failed} == {"archive"}
    assert "does not exist" in failed[0].error
    assert ConnectorRun.objects.filter(case=case, state="succeeded").count() >= 2
    assert AuditEvent.objects.filter(case=case, action="gathering.needs_attention").count() == 1


def test_staff_retry_a_failed_source_and_the_case_moves_on(
    graph, tmp_path, make_case, alice, django_capture_on_commit_callbacks
):
    from dsar.models import SourceSystem

    SourceSystem.objects.create(
        name="Archive",
        slug="archive",
        connector="files",
        config={
            "folder": str(tmp_path / "archive"),
            "category": "events",
            "identifiers": {"email": "Email"},
        },
    )
    case = verify_and_gather(make_case(email=ARTA), django_capture_on_commit_callbacks)
    assert case.state == State.GATHERING
    write_csv(tmp_path / "archive" / "old.csv", [{"Email": ARTA, "Note": "2019 fair"}])
    with django_capture_on_commit_callbacks(execute=True):
        assert services.retry_failed(case=case, actor=Actor.staff(alice)) == 1
    case.refresh_from_db()
    assert case.state == State.IN_REVIEW
    assert case.gathering_blocked_at is None


def test_staff_may_go_on_without_a_failed_source_with_a_reason(
    tmp_path, make_case, alice, django_capture_on_commit_callbacks
):
    from dsar.models import SourceSystem

    SourceSystem.objects.create(
        name="Archive",
        slug="archive",
        connector="files",
        config={
            "folder": str(tmp_path / "nope"),
            "category": "events",
            "identifiers": {"email": "Email"},
        },
    )
    case = verify_and_gather(make_case(email=ARTA), django_capture_on_commit_callbacks)
    case = services.case_proceed_without_source(
        case=case, actor=Actor.staff(alice), reason="Archive retired in 2024"
    )
    assert case.state == State.IN_REVIEW


def test_a_transient_fault_is_retried_then_succeeds(
    tmp_path, make_case, django_capture_on_commit_callbacks
):
    flaky_system(tmp_path, fail_times=2)
    case = verify_and_gather(make_case(email=ARTA), django_capture_on_commit_callbacks)
    run = ConnectorRun.objects.get(case=case)
    assert (run.state, run.attempts, run.records_count) == ("succeeded", 3, 1)
    assert case.state == State.IN_REVIEW


def test_a_transient_fault_that_persists_is_flagged_after_the_attempts(
    tmp_path, make_case, settings, django_capture_on_commit_callbacks
):
    settings.DSAR_GATHER_MAX_ATTEMPTS = 3
    flaky_system(tmp_path, fail_times=99)
    case = verify_and_gather(make_case(email=ARTA), django_capture_on_commit_callbacks)
    run = ConnectorRun.objects.get(case=case)
    assert (run.state, run.attempts, run.error_kind) == ("failed", 3, "transient")
    assert "gave up after 3 attempts" in run.error
    assert case.gathering_blocked_at is not None


def test_a_duplicated_message_is_harmless(tmp_path, make_case, django_capture_on_commit_callbacks):
    flaky_system(tmp_path, fail_times=0)
    case = verify_and_gather(make_case(email=ARTA), django_capture_on_commit_callbacks)
    run = ConnectorRun.objects.get(case=case)
    assert gathering_engine.execute(run.pk) == "skipped"
    assert ConnectorRun.objects.get(pk=run.pk).attempts == 1


def round_one_planned(tmp_path, make_case):
    """A verified case whose first round is planned, its messages never sent (no commit): the
    case, its first run and the rest of the round."""
    flaky_system(tmp_path, fail_times=0)
    case = make_case(email=ARTA)
    services.case_verify(case=case, actor=Actor.subject())
    services.start_gathering(case.pk)
    first, *rest_of_round = ConnectorRun.objects.filter(case=case).order_by("pk")
    assert rest_of_round
    return case, first, rest_of_round


def test_a_runs_message_also_works_on_the_case_runs_that_no_worker_has_taken(
    graph, tmp_path, make_case
):
    case, first, _rest = round_one_planned(tmp_path, make_case)
    assert gathering_engine.execute(first.pk) == "succeeded"
    case.refresh_from_db()
    assert case.state == State.IN_REVIEW
    runs = list(ConnectorRun.objects.filter(case=case))
    assert {r.round for r in runs} == {1, 2}  # the round its last run planned, too
    assert all((r.state, r.attempts) == ("succeeded", 1) for r in runs)
    # Their own messages come later and find them done.
    assert [gathering_engine.execute(r.pk) for r in runs] == ["skipped"] * len(runs)


def test_a_message_whose_run_another_worker_took_helps_with_the_cases_other_runs(
    graph, tmp_path, make_case
):
    case, first, rest_of_round = round_one_planned(tmp_path, make_case)
    taken = work.claim(ConnectorRun, first.pk)  # another worker is searching it

    assert gathering_engine.execute(first.pk) == "skipped"

    assert {r.state for r in ConnectorRun.objects.filter(pk__in=[r.pk for r in rest_of_round])} == {
        "succeeded"
    }
    first.refresh_from_db()
    assert (first.state, first.attempts, first.lease_token) == ("running", 1, taken.lease_token)
    case.refresh_from_db()
    assert case.state == State.GATHERING  # the round waits for the other worker's run


def test_a_run_waiting_for_its_next_attempt_is_left_to_its_own_message(graph, tmp_path, make_case):
    flaky = flaky_system(tmp_path, fail_times=0)
    fairs = csv_system("fairs", tmp_path / "events", {"email": "Email"})  # planned after it
    case = make_case(email=ARTA)
    services.case_verify(case=case, actor=Actor.subject())
    services.start_gathering(case.pk)
    later = timezone.now() + dt.timedelta(hours=1)
    ConnectorRun.objects.filter(case=case, system=flaky).update(next_attempt_at=later)
    assert gathering_engine.execute(ConnectorRun.objects.get(case=case, system=graph[0]).pk) == (
        "succeeded"
    )
    waiting = ConnectorRun.objects.get(case=case, system=flaky)
    assert (waiting.state, waiting.attempts) == ("pending", 0)
    assert ConnectorRun.objects.get(case=case, system=fairs).state == "succeeded"  # not blocked
    case.refresh_from_db()
    assert case.state == State.GATHERING  # the round waits for it


def test_a_run_that_keeps_killing_its_worker_is_failed_after_the_delivery_bound(
    tmp_path, make_case, settings, system
):
    settings.DSAR_GATHER_MAX_DELIVERIES = 3
    flaky_system(tmp_path, fail_times=0)
    case = make_case(email=ARTA)
    services.case_verify(case=case, actor=Actor.subject())
    services.start_gathering(case.pk)
    run = ConnectorRun.objects.get(case=case)
    ConnectorRun.objects.filter(pk=run.pk).update(attempts=3)  # three deliveries died mid-run
    assert gathering_engine.execute(run.pk) == "failed"
    run.refresh_from_db()
    assert "gave up after 3 deliveries" in run.error


def test_the_sweeper_requeues_a_run_whose_worker_died(
    tmp_path, make_case, settings, django_capture_on_commit_callbacks
):
    flaky_system(tmp_path, fail_times=0)
    case = make_case(email=ARTA)
    services.case_verify(case=case, actor=Actor.subject())
    services.start_gathering(case.pk)  # runs planned; their messages never sent (no commit here)
    run = ConnectorRun.objects.get(case=case)
    long_ago = timezone.now() - dt.timedelta(hours=2)
    ConnectorRun.objects.filter(pk=run.pk).update(state="running", claimed_at=long_ago, attempts=1)
    ConnectorRun.objects.filter(pk=run.pk).update(updated_at=long_ago)
    swept = gathering_engine.sweep()
    assert swept["runs"] == 1
    run.refresh_from_db()
    assert run.state == "succeeded"  # eager: re-queued and run at once
    case.refresh_from_db()
    assert case.state == State.IN_REVIEW


def test_the_sweeper_starts_an_unstarted_case_and_its_task_works_on_the_runs(tmp_path, make_case):
    flaky_system(tmp_path, fail_times=0)
    case = make_case(email=ARTA)
    services.case_verify(case=case, actor=Actor.subject())  # start_gathering message "lost"
    Case.objects.filter(pk=case.pk).update(updated_at=timezone.now() - dt.timedelta(hours=1))
    assert gathering_engine.sweep()["started"] == 1
    # The runs' messages wait for a commit the test never makes: the task that planned them
    # took them on itself.
    case.refresh_from_db()
    assert case.state == State.IN_REVIEW
    assert ConnectorRun.objects.get(case=case).attempts == 1


def test_the_sweeper_requeues_lost_pending_runs(tmp_path, make_case):
    flaky_system(tmp_path, fail_times=0)
    case = make_case(email=ARTA)
    services.case_verify(case=case, actor=Actor.subject())
    services.start_gathering(case.pk)  # planned; the runs' messages never sent (no commit)
    assert gathering_engine.sweep()["runs"] == 0  # not yet past the grace period
    ConnectorRun.objects.filter(case=case).update(updated_at=timezone.now() - dt.timedelta(hours=1))
    assert gathering_engine.sweep()["runs"] == 1
    case.refresh_from_db()
    assert case.state == State.IN_REVIEW


def test_the_sweeper_moves_on_a_case_whose_last_run_stored_its_outcome_but_never_advanced(
    graph, tmp_path, make_case
):
    case, first, rest_of_round = round_one_planned(tmp_path, make_case)
    for run in [first, *rest_of_round]:  # each worker died right after storing its outcome
        taken = work.claim(ConnectorRun, run.pk)
        assert work.complete(taken, state=ConnectorRun.State.SUCCEEDED)
    Case.objects.filter(pk=case.pk).update(updated_at=timezone.now() - dt.timedelta(hours=1))
    case.refresh_from_db()
    assert case.state == State.GATHERING

    assert gathering_engine.sweep()["advanced"] == 1

    case.refresh_from_db()
    assert case.state == State.IN_REVIEW


def test_the_sweeper_leaves_fresh_work_alone(tmp_path, make_case):
    flaky_system(tmp_path, fail_times=0)
    case = make_case(email=ARTA)
    services.case_verify(case=case, actor=Actor.subject())
    services.start_gathering(case.pk)
    assert gathering_engine.sweep() == {"runs": 0, "started": 0, "advanced": 0}


def test_a_manual_system_waits_for_its_owner_then_takes_the_attached_export(
    make_case, alice, mailoutbox, django_capture_on_commit_callbacks
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from dsar.models import SourceSystem

    SourceSystem.objects.create(
        name="Paper archive",
        slug="paper",
        connector="manual",
        owner_email="archivist@staff.demo.example",
        config={"category": "legal_regulatory"},
    )
    case = verify_and_gather(make_case(email=ARTA), django_capture_on_commit_callbacks)
    run = ConnectorRun.objects.get(case=case)
    assert (case.state, run.state) == (State.GATHERING, "waiting")
    assert mailoutbox[-1].to == ["archivist@staff.demo.example"]
    assert case.reference in mailoutbox[-1].subject
    assert ARTA not in mailoutbox[-1].body  # the identifiers are in the admin, not in the mail

    upload = SimpleUploadedFile(
        "export.csv", "Date,Document\n2021-03-01,Contract ë\n2022-05-09,Letter\n".encode()
    )
    with django_capture_on_commit_callbacks(execute=True):
        run = services.complete_manual_run(run=run, actor=Actor.staff(alice), upload=upload)
    assert (run.state, run.records_count) == ("succeeded", 2)
    rows = list(results.read_records(run.pk, run.result_file))
    assert rows[0]["data"] == {"Date": "2021-03-01", "Document": "Contract ë"}
    assert Case.objects.get(pk=case.pk).state == State.IN_REVIEW


def test_a_manual_search_that_found_nothing_is_confirmed_without_a_file(
    make_case, alice, django_capture_on_commit_callbacks
):
    from dsar.models import SourceSystem

    SourceSystem.objects.create(name="Paper archive", slug="paper", connector="manual", config={})
    case = verify_and_gather(make_case(email=ARTA), django_capture_on_commit_callbacks)
    run = ConnectorRun.objects.get(case=case)
    with django_capture_on_commit_callbacks(execute=True):
        services.complete_manual_run(run=run, actor=Actor.staff(alice))
    assert Case.objects.get(pk=case.pk).state == State.IN_REVIEW


def test_staff_confirm_a_learnt_identifier_and_it_is_audited(
    graph, make_case, alice, django_capture_on_commit_callbacks
):
    case = verify_and_gather(make_case(email=ARTA), django_capture_on_commit_callbacks)
    phone = CaseIdentifier.objects.get(case=case, kind="phone")
    phone = services.confirm_identifier(identifier=phone, actor=Actor.staff(alice))
    assert phone.confirmed_by == alice
    assert AuditEvent.objects.filter(case=case, action="gathering.identifier_confirmed").exists()


def test_gathered_records_are_deleted_when_the_case_retention_ends(
    graph, make_case, dora, settings, django_capture_on_commit_callbacks
):
    from django.core.files.storage import default_storage

    settings.DSAR_GATHERED_RETENTION_DAYS = 30
    case = verify_and_gather(make_case(email=ARTA), django_capture_on_commit_callbacks)
    files = [r.result_file for r in ConnectorRun.objects.filter(case=case) if r.result_file]
    assert files
    assert all(default_storage.exists(f) for f in files)
    services.case_reject(case=case, actor=Actor.staff(dora), reason="Duplicate")
    assert gathering_engine.purge_results() == 0  # just closed: kept
    Case.objects.filter(pk=case.pk).update(closed_at=timezone.now() - dt.timedelta(days=31))
    assert gathering_engine.purge_results() == len(files)
    assert not any(default_storage.exists(f) for f in files)
    assert not ConnectorRun.objects.filter(case=case).exclude(result_file="").exists()
    assert ConnectorRun.objects.filter(case=case, records_count__gt=0).exists()  # counts stay
    assert AuditEvent.objects.filter(case=case, action="gathering.records_purged").exists()


def test_an_identifier_is_confirmed_once_and_only_if_learnt(
    graph, make_case, alice, bob, django_capture_on_commit_callbacks
):
    from django.core.exceptions import ValidationError

    case = verify_and_gather(make_case(email=ARTA), django_capture_on_commit_callbacks)
    given = CaseIdentifier.objects.get(case=case, kind="email")
    with pytest.raises(ValidationError):
        services.confirm_identifier(identifier=given, actor=Actor.staff(alice))
    phone = CaseIdentifier.objects.get(case=case, kind="phone")
    services.confirm_identifier(identifier=phone, actor=Actor.staff(alice))
    with pytest.raises(ValidationError, match="already confirmed"):
        services.confirm_identifier(identifier=phone, actor=Actor.staff(bob))


def test_a_manual_export_of_another_kind_of_file_is_refused(
    make_case, alice, django_capture_on_commit_callbacks
):
    from django.core.exceptions import ValidationError
    from django.core.files.uploadedfile import SimpleUploadedFile

    from dsar.models import SourceSystem

    SourceSystem.objects.create(
        name="Paper", slug="paper", connector="manual", config={"category": "legal_regulatory"}
    )
    case = verify_and_gather(make_case(email=ARTA), django_capture_on_commit_callbacks)
    run = ConnectorRun.objects.get(case=case)
    with pytest.raises(ValidationError, match="CSV or JSON Lines"):
        services.complete_manual_run(
            run=run, actor=Actor.staff(alice), upload=SimpleUploadedFile("scan.pdf", b"%PDF-1.4")
        )
    assert ConnectorRun.objects.get(pk=run.pk).state == "waiting"
