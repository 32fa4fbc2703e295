"""An "access:categories": an access case answered with the register's part of the report
(categories, purposes, legal bases, recipients, retention, sources; Art. 15(1)(a)-(h)) and
no copy of the data: no system is searched, the bundle holds no data file and no data page,
and nothing it says claims that we found nothing."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.core.management import call_command

from casework import selectors, services
from casework.actors import Actor
from casework.models import AuditEvent, Bundle, Case, ConnectorRun, Notice, State
from casework.notifications import notify_subject
from tests.casework.test_opt_out import ARTA, _pdf_text, events  # noqa: F401

pytestmark = pytest.mark.django_db
CATEGORIES = {"scope": "categories"}


@pytest.fixture(autouse=True)
def register(db):
    call_command("load_data_map", verbosity=0)


def verified(make_case, capture, **intake) -> Case:
    case = make_case(email=ARTA, name="Arta Krasniqi", details=CATEGORIES, **intake)
    with capture(execute=True):
        services.case_verify(case=case, actor=Actor.subject())
    return Case.objects.get(pk=case.pk)


def released(case: Case, by, capture) -> Bundle:
    case = services.complete_review(case=case, actor=Actor.staff(by))
    with capture(execute=True):  # the build, and the notice that it is ready
        services.case_approve(case=case, actor=Actor.staff(by))
    return Bundle.objects.get(case=case)


def unzip(bundle: Bundle) -> zipfile.ZipFile:
    with selectors.open_bundle(bundle) as plain:
        return zipfile.ZipFile(io.BytesIO(plain.read()))


def test_no_system_is_searched_and_the_case_says_why(
    events,  # noqa: F811
    make_case,
    django_capture_on_commit_callbacks,
):
    case = verified(make_case, django_capture_on_commit_callbacks)
    assert case.state == State.IN_REVIEW
    assert not ConnectorRun.objects.filter(case=case).exists()
    event = AuditEvent.objects.get(case=case, action="gathering.not_needed")
    assert event.details == {"why": "categories_only"}
    assert not AuditEvent.objects.filter(case=case, action="gathering.round_started").exists()


def test_the_bundle_holds_the_register_and_no_data(
    events,  # noqa: F811
    make_case,
    alice,
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    capture = django_capture_on_commit_callbacks
    case = verified(make_case, capture)
    bundle = released(case, alice, capture)
    assert bundle.state == Bundle.State.READY and bundle.records == 0

    archive = unzip(bundle)
    assert sorted(archive.namelist()) == ["manifest.json", "report.pdf"]  # no data files
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["register_only"] is True
    assert manifest["failed_sources"] == [] and manifest["complete"] is True
    assert manifest["total_records"] == 0
    assert all(not c["included"] and not c["files"] for c in manifest["categories"])

    text = _pdf_text(archive.read("report.pdf"))
    # The register's part: categories, purposes, recipients, retention, sources.
    for said in (
        "Events, webinars and seminars",
        "Running events",
        "Marketing communications",
        "Marketing, lead generation and survey providers",
        "Retention period",
        "Source",
        "which categories of personal data we process about you",
        "It holds no copy of the data itself",
    ):
        assert said in text, said
    # No data pages, no record values, and no claim about what was (not) found.
    for unsaid in (
        "halal",
        ARTA,
        "Your data The tables below",
        "We found no personal data about you",
        "We found no data about you in this category",
        "This answer is not complete",
        "Records found",
    ):
        assert unsaid not in text, unsaid

    # The subject is told the answer is ready (not "a copy of your data"), and it completes.
    (message,) = [m for m in mailoutbox if m.to == [ARTA]][-1:]
    assert "the categories of personal data we process" in message.body
    assert "a copy of your data is ready" not in message.body
    case = Case.objects.get(pk=case.pk)
    assert case.state == State.COMPLETED and case.response_sent_at is not None


def test_an_ordinary_access_still_searches_and_holds_the_data(
    events,  # noqa: F811
    make_case,
    alice,
    django_capture_on_commit_callbacks,
):
    capture = django_capture_on_commit_callbacks
    case = make_case(email=ARTA, name="Arta Krasniqi")
    with capture(execute=True):
        services.case_verify(case=case, actor=Actor.subject())
    archive = unzip(released(Case.objects.get(pk=case.pk), alice, capture))
    assert any(name.startswith("data/events/") for name in archive.namelist())
    assert "register_only" not in json.loads(archive.read("manifest.json"))
    assert "halal" in _pdf_text(archive.read("report.pdf"))


def test_the_ready_notice_of_a_categories_answer_is_in_albanian_too(
    events,  # noqa: F811
    make_case,
    alice,
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    capture = django_capture_on_commit_callbacks
    case = verified(make_case, capture, language="sq")
    archive = unzip(released(case, alice, capture))
    text = _pdf_text(archive.read("report.pdf"))
    assert "cilat kategori të të dhënave personale" in text
    mailoutbox.clear()
    assert notify_subject(Case.objects.get(pk=case.pk), Notice.READY) == "email"
    (message,) = mailoutbox
    assert "kategorive të të dhënave personale" in message.body
