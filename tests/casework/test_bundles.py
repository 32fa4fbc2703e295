"""Review, redaction and the bundle built from the reviewed view."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from casework import selectors, services
from casework.actors import Actor
from casework.engine import bundles as bundles_engine
from casework.models import AuditEvent, Bundle, Case, ConnectorRun, State
from casework.services.notices import record_notice
from tests.casework.sources import csv_system, write_csv

pytestmark = pytest.mark.django_db
ARTA = "arta.krasniqi@demo.example"


@pytest.fixture(autouse=True)
def register(db):
    call_command("load_data_map", verbosity=0)


@pytest.fixture
def gathered(tmp_path, make_case, django_capture_on_commit_callbacks):
    write_csv(
        tmp_path / "events" / "tirana.csv",
        [
            {
                "Name": "Arta Krasniqi",
                "Company": "Drini",
                "Email": ARTA,
                "Dietary needs": "halal",
                "Emergency contact": "Besnik Krasniqi +355 69 000 1111",
            },
            {
                "Name": "Arta Krasniqi",
                "Company": "Drini",
                "Email": ARTA,
                "Dietary needs": "none",
                "Emergency contact": "",
            },
        ],
    )
    write_csv(
        tmp_path / "prospects" / "fair.csv",
        [
            {"Email": ARTA, "Source": "Chamber of commerce list <script>alert(1)</script>"},
        ],
    )
    csv_system("events", tmp_path / "events", {"email": "Email"}, category="events")
    csv_system("prospects", tmp_path / "prospects", {"email": "Email"}, category="prospects")
    case = make_case(email=ARTA, name="Arta Krasniqi", language="sq")
    with django_capture_on_commit_callbacks(execute=True):
        services.case_verify(case=case, actor=Actor.subject())
    case = Case.objects.get(pk=case.pk)
    assert case.state == State.IN_REVIEW
    return case


def rows(case):
    return {
        (r["category"], r["data"].get("Dietary needs") or r["data"].get("Source")): r
        for r in selectors.review_rows(case)
    }


def unzip(bundle: Bundle) -> zipfile.ZipFile:
    with selectors.open_bundle(bundle) as plain:
        return zipfile.ZipFile(io.BytesIO(plain.read()))


def build_for(case, by, capture) -> Bundle:
    # The emergency contact's phone is on the release check: the approver acknowledges it.
    with capture(execute=True):
        services.case_approve(case=case, actor=Actor.staff(by), acknowledged=True)
    return Bundle.objects.get(case=case)


def test_the_bundle_holds_the_reviewed_view_only(
    gathered, alice, django_capture_on_commit_callbacks
):
    case = gathered
    found = rows(case)
    halal = found[("events", "halal")]
    other = found[("events", "none")]
    services.redact_value(
        case=case,
        actor=Actor.staff(alice),
        run=halal["run"],
        category="events",
        record_key=halal["key"],
        field="Emergency contact",
        reason="other_person",
    )
    services.exclude_record(
        case=case,
        actor=Actor.staff(alice),
        run=other["run"],
        category="events",
        record_key=other["key"],
        reason="not_subject",
    )
    case = services.complete_review(case=case, actor=Actor.staff(alice))
    bundle = build_for(case, alice, django_capture_on_commit_callbacks)
    assert bundle.state == Bundle.State.READY
    assert Case.objects.get(pk=case.pk).bundle_ready_at is not None

    zf = unzip(bundle)
    names = set(zf.namelist())
    assert {
        "report.pdf",
        "manifest.json",
        # one file per source table: a folder without listed columns, one per file
        "data/events/events-tirana-csv.json",
        "data/events/events-tirana-csv.csv",
        "data/prospects/prospects-fair-csv.json",
    } <= names
    everything = b"".join(zf.read(n) for n in names)
    assert b"Besnik" not in everything  # redacted in every file
    events = json.loads(zf.read("data/events/events-tirana-csv.json"))
    assert len(events) == 1  # the excluded record is gone
    assert events[0]["data"]["Emergency contact"] == "[redacted]"
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["reference"] == case.reference
    import hashlib

    for entry in manifest["files"]:
        content = zf.read(entry["name"])
        assert hashlib.sha256(content).hexdigest() == entry["sha256"]
        assert len(content) == entry["size"]


def test_the_bundle_at_rest_is_encrypted(gathered, alice, django_capture_on_commit_callbacks):
    case = services.complete_review(case=gathered, actor=Actor.staff(alice))
    bundle = build_for(case, alice, django_capture_on_commit_callbacks)
    with default_storage.open(bundle.file, "rb") as fh:
        raw = fh.read()
    assert ARTA.encode() not in raw and b"halal" not in raw
    assert raw[:8] == b"DSARENC1"


def test_every_redaction_and_exclusion_is_audited_without_values(gathered, alice):
    case = gathered
    halal = rows(case)[("events", "halal")]
    services.redact_value(
        case=case,
        actor=Actor.staff(alice),
        run=halal["run"],
        category="events",
        record_key=halal["key"],
        field="Dietary needs",
        reason="other_exemption",
        note="Health data of a third party",
    )
    event = AuditEvent.objects.get(case=case, action="review.value_redacted")
    assert event.details["field"] == "Dietary needs"
    assert "halal" not in json.dumps(event.details)
    assert halal["key"] not in json.dumps(event.details)


def test_another_exemption_needs_a_note(gathered, alice):
    halal = rows(gathered)[("events", "halal")]
    with pytest.raises(ValidationError):
        services.redact_value(
            case=gathered,
            actor=Actor.staff(alice),
            run=halal["run"],
            category="events",
            record_key=halal["key"],
            field="Dietary needs",
            reason="other_exemption",
        )


def test_the_auditor_cannot_review(gathered, audrey):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.complete_review(case=gathered, actor=Actor.staff(audrey))


def test_decisions_are_refused_once_the_review_is_complete(gathered, alice):
    case = services.complete_review(case=gathered, actor=Actor.staff(alice))
    halal = rows(case)[("events", "halal")]
    with pytest.raises(ValidationError, match="complete"):
        services.exclude_record(
            case=case,
            actor=Actor.staff(alice),
            run=halal["run"],
            category="events",
            record_key=halal["key"],
        )
    case = services.reopen_review(case=case, actor=Actor.staff(alice))
    services.exclude_record(
        case=case,
        actor=Actor.staff(alice),
        run=halal["run"],
        category="events",
        record_key=halal["key"],
    )


def test_a_record_of_another_case_cannot_be_decided(gathered, alice, make_case):
    other = make_case(email="other@demo.example")
    run = ConnectorRun.objects.filter(case=gathered).first()
    with pytest.raises(ValidationError):
        services.exclude_record(
            case=other, actor=Actor.staff(alice), run=run, category="events", record_key="x"
        )


def test_a_failed_source_is_named_and_the_answer_marked_incomplete(gathered, alice, dora):
    facts = selectors.bundle_facts(gathered, "access")
    assert facts.failed_sources == []
    ConnectorRun.objects.filter(case=gathered, system__slug="prospects").update(state="failed")
    facts = selectors.bundle_facts(gathered, "access")
    assert facts.failed_sources == ["Prospects"]
    assert not facts.complete


def test_a_killed_build_is_taken_back_by_the_sweeper_and_finishes(gathered, alice, settings):
    case = services.complete_review(case=gathered, actor=Actor.staff(alice))
    case = services.case_approve(
        case=case, actor=Actor.staff(alice), acknowledged=True
    )  # build queued, not run
    bundle = Bundle.objects.get(case=case)
    Bundle.objects.filter(pk=bundle.pk).update(
        state="building", attempts=1, claimed_at=timezone.now() - dt.timedelta(hours=1)
    )
    assert bundles_engine.sweep() == 1  # eager: rebuilt at once
    bundle.refresh_from_db()
    assert (bundle.state, bundle.attempts) == ("ready", 2)


def test_expired_bundles_are_deleted_with_their_key(
    gathered, alice, django_capture_on_commit_callbacks
):
    case = services.complete_review(case=gathered, actor=Actor.staff(alice))
    bundle = build_for(case, alice, django_capture_on_commit_callbacks)
    Bundle.objects.filter(pk=bundle.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    assert bundles_engine.purge_expired() == 1
    assert not default_storage.exists(bundle.file)
    assert Bundle.objects.get(pk=bundle.pk).state == "deleted"


def test_export_to_a_medium_is_an_aes_zip_with_a_one_time_passphrase(gathered, alice, tmp_path):
    import pyzipper

    case = services.complete_review(case=gathered, actor=Actor.staff(alice))
    path = tmp_path / "bundle.zip"
    passphrase = services.export_to_medium(case=case, actor=Actor.staff(alice), path=path)
    with pyzipper.AESZipFile(path) as zf:
        with pytest.raises(RuntimeError):
            zf.read("manifest.json")
        zf.setpassword(passphrase.encode())
        assert json.loads(zf.read("manifest.json"))["reference"] == case.reference
    event = AuditEvent.objects.get(case=case, action="bundle.exported_to_medium")
    assert event.details["encrypted"] is True


def test_the_build_bundle_command_prints_the_passphrase_once_and_plain_is_audited(
    gathered, alice, tmp_path
):
    case = services.complete_review(case=gathered, actor=Actor.staff(alice))
    out = io.StringIO()
    call_command(
        "build_bundle",
        case.reference,
        "--out",
        str(tmp_path / "a.zip"),
        "--staff",
        "alice",
        stdout=out,
    )
    assert "passphrase" in out.getvalue().lower()
    call_command(
        "build_bundle",
        case.reference,
        "--out",
        str(tmp_path / "b.zip"),
        "--staff",
        "alice",
        "--plain",
        stdout=io.StringIO(),
    )
    assert zipfile.ZipFile(tmp_path / "b.zip").namelist()
    details = [
        e.details["encrypted"]
        for e in AuditEvent.objects.filter(case=case, action="bundle.exported_to_medium")
    ]
    assert details == [True, False]


def test_the_build_bundle_command_refuses_an_unreviewed_case(gathered, alice, tmp_path):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="review"):
        call_command(
            "build_bundle", gathered.reference, "--out", str(tmp_path / "a.zip"), "--staff", "alice"
        )


def test_a_case_that_is_not_in_review_cannot_be_reviewed(make_case, alice):
    with pytest.raises(TransitionNotAllowed):
        services.complete_review(case=make_case(), actor=Actor.staff(alice))


def test_the_build_bundle_command_without_staff_records_the_operating_system_user(
    gathered, alice, tmp_path
):
    case = services.complete_review(case=gathered, actor=Actor.staff(alice))
    call_command(
        "build_bundle", case.reference, "--out", str(tmp_path / "c.zip"), stdout=io.StringIO()
    )
    event = AuditEvent.objects.get(case=case, action="bundle.exported_to_medium")
    assert event.actor_kind == "system"
    assert event.details["via"] == "command_line" and event.details["os_user"]


def test_records_of_a_category_the_register_lacks_still_reach_the_bundle(
    tmp_path, make_case, alice, django_capture_on_commit_callbacks
):
    write_csv(tmp_path / "loyalty" / "cards.csv", [{"Email": ARTA, "Points": "4200"}])
    csv_system("loyalty", tmp_path / "loyalty", {"email": "Email"}, category="loyalty_points")
    case = make_case(email=ARTA, name="Arta Krasniqi")
    with django_capture_on_commit_callbacks(execute=True):
        services.case_verify(case=case, actor=Actor.subject())
    case = services.complete_review(case=Case.objects.get(pk=case.pk), actor=Actor.staff(alice))
    bundle = build_for(case, alice, django_capture_on_commit_callbacks)
    archive = unzip(bundle)
    manifest = json.loads(archive.read("manifest.json"))
    (entry,) = [c for c in manifest["categories"] if c["slug"] == "loyalty_points"]
    assert (entry["included"], entry["records"]) == (True, 1)
    data = [n for n in archive.namelist() if "loyalty" in n and n.endswith(".json")]
    assert data and "4200" in archive.read(data[0]).decode()


def test_bundle_facts_name_the_authority_and_laws_from_settings(make_case):
    facts = selectors.bundle_facts(make_case(email=ARTA, language="sq"), "access")
    assert facts.authority.name.startswith("Komisioneri për të Drejtën e Informimit")
    assert "Abdi Toptani" in facts.authority.address and "Tiranë" in facts.authority.address
    assert facts.authority.website == "https://www.idp.al"
    assert any("2016/679" in law for law in facts.laws)
    assert any("124/2024" in law for law in facts.laws)


def test_a_configured_authority_replaces_the_default(make_case, settings):
    settings.DSAR_SUPERVISORY_AUTHORITY = {
        "name": {"sq": "Autoriteti X", "en": "Authority X"},
        "address": {"sq": "Rruga 1", "en": "Street 1"},
        "website": "https://x.example",
    }
    facts = selectors.bundle_facts(make_case(email=ARTA, language="en"), "access")
    assert (facts.authority.name, facts.authority.address) == ("Authority X", "Street 1")


def test_bundle_facts_carry_the_registers_conditions_and_the_controllers_address(make_case):
    facts = selectors.bundle_facts(make_case(email=ARTA, language="sq"), "access")
    assert facts.controller_entity == "Canon Europa N.V."
    assert "Amstelveen" in facts.controller_address
    events = facts.category("events")
    assert events.special_category_conditions == [
        "Kërkesat dietike: Pëlqimi juaj i shprehur (neni 9(2)(a) i GDPR-së), që e jepni kur na "
        "tregoni kërkesat tuaja dietike; mund ta tërhiqni në çdo kohë."
    ]
    assert facts.category("online_account").special_category_conditions == []
    assert (
        "Blerësi potencial i aseteve të biznesit: Vetëm nëse shesim ndonjë aset biznesi."
        in events.recipients
    )
    assert "Kompanitë e grupit Canon" in events.recipients  # no condition, no colon
    assert any(t.startswith("Shtetet anëtare të Bashkimit Evropian") for t in events.transfers)


# --- the request as a category of its own ---------------------------------------------------------


def _pdf_text(archive: zipfile.ZipFile) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(archive.read("report.pdf")))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


def test_the_request_and_what_we_sent_are_a_category_of_the_bundle(
    gathered, alice, django_capture_on_commit_callbacks
):
    case = gathered
    record_notice(case=case, notice="acknowledged", channel="email")
    case = services.complete_review(case=case, actor=Actor.staff(alice))
    archive = unzip(build_for(case, alice, django_capture_on_commit_callbacks))

    manifest = json.loads(archive.read("manifest.json"))
    (entry,) = [c for c in manifest["categories"] if c["slug"] == "your_request"]
    assert entry["included"] and entry["name"] == "Kërkesa juaj"
    request_file = "data/your_request/requests-request.json"
    assert request_file in entry["files"]
    (request,) = json.loads(archive.read(request_file))
    assert request["data"]["reference"] == case.reference
    assert request["data"]["request_type"] == "Aksesi (neni 15)"
    sent = json.loads(archive.read("data/your_request/requests-correspondence.json"))
    assert {"notice": "Konfirmimi i marrjes së kërkesës suaj", "sent_by": "E-mail"}.items() <= (
        sent[-1]["data"].items()
    )

    text = _pdf_text(archive)
    assert "Kërkesa juaj" in text
    assert "Pajtueshmëria me ligjin (Art. 6(1)(c))" in text
    assert case.reference in text


def test_what_was_asked_is_part_of_the_request_but_internal_notes_are_not(make_case):
    from casework.models import CaseNote

    case = make_case(
        request_type="rectification",
        language="en",
        details={
            "corrections": [{"field": "Phone", "current": "+355 69 1", "correct": "+355 69 2"}]
        },
    )
    CaseNote.objects.create(case=case, kind="internal", text="Staff only", visible_to_subject=False)
    CaseNote.objects.create(
        case=case, kind="question", text="Which account?", visible_to_subject=True
    )
    records = [record for _category, record in selectors.request_records(case)]
    assert records[0]["data"]["corrections"] == "Phone: +355 69 1 → +355 69 2"
    assert records[0]["data"]["request_type"] == "Rectification (Art. 16)"
    texts = [r["data"].get("text") for r in records]
    assert "Which account?" in texts and "Staff only" not in texts


def test_the_request_category_is_not_in_a_portability_bundle(make_case):
    facts = selectors.bundle_facts(make_case(language="en"), "portability")
    assert not facts.category("your_request").portable


def test_bundle_facts_name_a_systems_tables_by_their_label_in_the_subjects_language(
    tmp_path, make_case
):
    system = csv_system("events", tmp_path / "events", {"email": "Email"}, category="events")
    system.config = {**system.config, "label": {"sq": "Listat e pjesëmarrësve", "en": "Lists"}}
    system.save()
    facts = selectors.bundle_facts(make_case(email=ARTA, language="sq"), "access")
    (info,) = [s for s in facts.systems if s.name == system.name]
    assert info.place_label("tirana.csv") == "Listat e pjesëmarrësve: tirana.csv"


def test_a_gathered_demo_case_holds_the_support_desks_customer_record(
    settings, tmp_path, make_case, monkeypatch, django_capture_on_commit_callbacks
):
    """Arta asks by e-mail; the CRM teaches her phone, which finds her at the support desk:
    its customer record (issue 13, point 3) is among her gathered records."""
    from io import StringIO

    from dsar.demo.loader import ARTA as PERSONA
    from dsar.demo.supportdesk import serve
    from dsar.models import SourceSystem

    settings.VAR_DIR = tmp_path
    call_command("load_demo", "--subjects", "5", "--backend", "sqlite", stdout=StringIO())
    token = "demo-desk-token-for-tests-0123456789"
    monkeypatch.setenv("SUPPORTDESK_TOKEN", token)
    server, thread = serve("127.0.0.1", 0, tmp_path / "demo" / "supportdesk.sqlite3", token)
    try:
        desk = SourceSystem.objects.get(slug="supportdesk")
        desk.config["base_url"] = server.url
        desk.save()
        case = make_case(email=PERSONA.email, name=PERSONA.full_name)
        with django_capture_on_commit_callbacks(execute=True):
            services.case_verify(case=case, actor=Actor.subject())
    finally:
        server.stop()
        thread.join(timeout=5)
    profiles = [
        row
        for row in selectors.review_rows(Case.objects.get(pk=case.pk), limit=1000)
        if row["run"].system.slug == "supportdesk" and row["source"].endswith("{subject_key}")
    ]
    assert [(r["category"], r["data"]["name"], r["held"]) for r in profiles] == [
        ("customer_enquiries", PERSONA.full_name, False)
    ]
