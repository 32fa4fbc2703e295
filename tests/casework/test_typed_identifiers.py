"""Typed identifiers are claims: what only they find is held from the subject until staff
confirm the link with evidence; the same for a record holding another e-mail address, and
for everything found for a request from a look-alike address (casework.selectors.identity)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from casework import operations, selectors, services
from casework.actors import Actor
from casework.models import AuditEvent, Case, RecordLink, State
from casework.selectors.identity import FOUND_BY_CLAIM, LOOKALIKE, OTHER_EMAIL
from tests.casework.sources import csv_system, write_csv

pytestmark = pytest.mark.django_db
ARTA = "arta.krasniqi@demo.example"
ATTACKER = "attacker@evil.example"
ARTA_PHONE = "+355692004242"


@pytest.fixture
def crm(tmp_path):
    write_csv(
        tmp_path / "crm" / "customers.csv",
        [
            {
                "Email": ARTA,
                "Phone": "069 200 4242",
                "Customer no": "C-100042",
                "Name": "Arta Krasniqi",
                "Company": "Demo Sh.p.k.",
                "Job": "Engineer",
            }
        ],
    )
    return csv_system(
        "crm",
        tmp_path / "crm",
        {
            "email": "Email",
            "phone": "Phone",
            "customer_number": "Customer no",
            "name_company": ["Name", "Company"],
        },
        category="contacts",
    )


@pytest.fixture
def calls(tmp_path):
    """Two more systems searched by phone: a call without an e-mail (hers, reached through
    the CRM's phone), and a shop order with another person's e-mail on the same phone."""
    write_csv(
        tmp_path / "calls" / "calls.csv",
        [{"Phone": "+355 69 200 4242", "Email": "", "Topic": "Warranty"}],
    )
    write_csv(
        tmp_path / "shop" / "orders.csv",
        [{"Phone": "+355 69 200 4242", "Email": "brother@demo.example", "Topic": "Invoice"}],
    )
    csv_system("shop", tmp_path / "shop", {"phone": "Phone", "email": "Email"}, category="events")
    return csv_system(
        "calls", tmp_path / "calls", {"phone": "Phone", "email": "Email"}, category="events"
    )


def gathered(make_case, capture, **intake) -> Case:
    """A web case, its e-mail confirmed by its link, gathered to review."""
    case = make_case(**intake)
    with capture(execute=True):
        services.case_verify(case=case, actor=Actor.subject())
    case = Case.objects.get(pk=case.pk)
    assert case.state == State.IN_REVIEW
    return case


def released(case: Case) -> list[dict]:
    return [record for _category, record in selectors.reviewed_records(case)]


@pytest.mark.parametrize(
    "claim",
    [
        {"customer_number": "C-100042"},
        {"phone": "069 200 4242"},
        {"name": "Arta Krasniqi", "company": "Demo Sh.p.k."},
    ],
    ids=["customer number", "phone", "name and company"],
)
def test_what_only_a_typed_identifier_finds_is_held_from_the_requester(
    claim, crm, make_case, alice, django_capture_on_commit_callbacks
):
    case = gathered(make_case, django_capture_on_commit_callbacks, email=ATTACKER, **claim)
    (link,) = selectors.held_links(case)
    assert (link.system_name, link.held_because, link.records) == ("Crm", FOUND_BY_CLAIM, 1)
    assert {(i.kind, i.value) for i in link.contacts} == {("email", ARTA), ("phone", ARTA_PHONE)}
    assert released(case) == []
    with pytest.raises(ValidationError, match="typed"):
        services.complete_review(case=case, actor=Actor.staff(alice))
    assert not operations.get("complete_review").offered(case, Actor.staff(alice))


def test_her_own_verified_address_finds_her_records_and_what_they_teach(
    crm, calls, make_case, django_capture_on_commit_callbacks
):
    case = gathered(
        make_case, django_capture_on_commit_callbacks, email=ARTA, customer_number="C-100042"
    )
    links = {link.system_name: link for link in selectors.subject_links(case)}
    assert links["Crm"].trusted
    records = released(case)
    assert {r["data"].get("Job") or r["data"].get("Topic") for r in records} == {
        "Engineer",
        "Warranty",
    }, "her CRM row, and the call on her phone with no other e-mail"
    (held,) = selectors.held_links(case)
    assert (held.system_name, held.held_because) == ("Shop", OTHER_EMAIL)
    assert [i.value for i in held.contacts if i.kind == "email"] == ["brother@demo.example"]


def test_staff_confirm_a_held_record_with_evidence_and_it_is_released(
    crm, make_case, alice, django_capture_on_commit_callbacks
):
    case = gathered(
        make_case, django_capture_on_commit_callbacks, email=ATTACKER, customer_number="C-100042"
    )
    (link,) = selectors.held_links(case)
    team = Actor.staff(alice)
    with pytest.raises(ValidationError, match="evidence"):
        services.decide_record_link(
            case=case,
            actor=team,
            system_id=link.system_id,
            subject_key=link.subject_key,
            decision="confirmed",
            note="Looks right",
        )
    services.decide_record_link(
        case=case,
        actor=team,
        system_id=link.system_id,
        subject_key=link.subject_key,
        decision="confirmed",
        evidence="document",
        note="Her signed contract names the customer number",
    )
    assert [r["data"]["Job"] for r in released(case)] == ["Engineer"]
    event = AuditEvent.objects.get(case=case, action="identity.record_confirmed")
    assert event.details["evidence"] == "document"
    assert ARTA not in str(event.details) and "C-100042" not in str(event.details)
    services.complete_review(case=case, actor=team)


def test_a_held_record_left_out_stays_out_and_the_review_completes(
    crm, make_case, alice, django_capture_on_commit_callbacks
):
    case = gathered(
        make_case, django_capture_on_commit_callbacks, email=ATTACKER, phone="0692004242"
    )
    (link,) = selectors.held_links(case)
    team = Actor.staff(alice)
    services.decide_record_link(
        case=case,
        actor=team,
        system_id=link.system_id,
        subject_key=link.subject_key,
        decision="left_out",
        note="The CRM's customer did not recognise the request",
    )
    with pytest.raises(ValidationError, match="decided already"):
        services.decide_record_link(
            case=case,
            actor=team,
            system_id=link.system_id,
            subject_key=link.subject_key,
            decision="confirmed",
            evidence="document",
            note="Changed my mind",
        )
    services.complete_review(case=case, actor=team)
    assert released(case) == []
    assert RecordLink.objects.get(case=case).decision == "left_out"


def test_a_trusted_record_cannot_be_decided(
    crm, make_case, alice, django_capture_on_commit_callbacks
):
    case = gathered(make_case, django_capture_on_commit_callbacks, email=ARTA)
    (link,) = selectors.subject_links(case)
    with pytest.raises(ValidationError, match="not held"):
        services.decide_record_link(
            case=case,
            actor=Actor.staff(alice),
            system_id=link.system_id,
            subject_key=link.subject_key,
            decision="left_out",
            note="x",
        )


def test_the_review_page_warns_of_a_held_record_and_takes_the_decision(
    crm, make_case, alice, client, django_capture_on_commit_callbacks
):
    case = gathered(
        make_case, django_capture_on_commit_callbacks, email=ATTACKER, customer_number="C-100042"
    )
    client.force_login(alice)
    url = reverse("admin:casework_case_review", args=[case.pk])
    page = client.get(url).content.decode()
    assert "held" in page and "typed" in page
    assert ARTA in page, "the record's own e-mail: where evidence is sought"
    (link,) = selectors.held_links(case)
    answer = client.post(
        reverse("admin:casework_case_review_decide", args=[case.pk, "link"]),
        {
            "system": link.system_id,
            "subject_key": link.subject_key,
            "decision": "confirmed",
            "evidence": "call_phone",
            "note": "Called the CRM's phone; she confirmed the request",
        },
    )
    assert answer.status_code == 302
    assert selectors.held_links(case) == []
    assert [r["data"]["Job"] for r in released(case)] == ["Engineer"]


# --- look-alike addresses ---------------------------------------------------------------------


LOOK_ALIKES = [
    "arta.krasn\u0131q\u0131@demo.example",  # dotless i
    "arta.kra\u017fniqi@demo.example",  # long s
    "arta.\u212arasniqi@demo.example",  # Kelvin sign
    "arta.krasniqi@d\u0435mo.example",  # Cyrillic е in the domain
    "arta.krasniqi@demo.exarnple",  # rn for m
]


@pytest.mark.parametrize("look_alike", LOOK_ALIKES)
def test_a_request_from_a_look_alike_of_a_held_address_is_flagged_and_held(
    look_alike, crm, make_case, alice, django_capture_on_commit_callbacks
):
    make_case(email=ARTA)
    case = gathered(
        make_case, django_capture_on_commit_callbacks, email=look_alike, customer_number="C-100042"
    )
    assert case.lookalike_held
    assert AuditEvent.objects.filter(case=case, action="identity.lookalike_flagged").exists()
    assert [link.held_because for link in selectors.held_links(case)] == [LOOKALIKE]
    assert released(case) == []
    with pytest.raises(ValidationError, match="looks like"):
        services.complete_review(case=case, actor=Actor.staff(alice))


def test_an_address_learnt_from_records_is_held_too(
    crm, make_case, django_capture_on_commit_callbacks
):
    # Arta's address is known only from a record her own case found.
    first = gathered(
        make_case,
        django_capture_on_commit_callbacks,
        email="arta@home.example",
        customer_number="C-100042",
    )
    assert first.identifiers.filter(kind="email", value=ARTA).exists()
    other = make_case(email="arta.krasn\u0131q\u0131@demo.example")
    assert other.lookalike_held


def test_her_own_address_in_another_ascii_case_is_not_a_look_alike(make_case):
    make_case(email=ARTA)
    assert not make_case(email="ARTA.Krasniqi@Demo.Example").lookalike_held
    assert not make_case(email="arta.krasniqi+dsar@demo.example").lookalike_held


def test_staff_clear_the_flag_saying_how_and_what_was_found_is_trusted(
    crm, make_case, alice, django_capture_on_commit_callbacks
):
    make_case(email="arta.krasniqi@demo.exarnple")  # someone else's, read alike
    case = gathered(make_case, django_capture_on_commit_callbacks, email=ARTA)
    assert case.lookalike_held and released(case) == []
    operation = operations.get("clear_lookalike")
    assert operation.offered(case, Actor.staff(alice))
    operation.run(case=case, actor=Actor.staff(alice), values={"note": "Called the CRM's phone"})
    case = Case.objects.get(pk=case.pk)
    assert not case.lookalike_held
    assert [r["data"]["Job"] for r in released(case)] == ["Engineer"]
    assert AuditEvent.objects.filter(case=case, action="identity.lookalike_cleared").exists()


def test_a_manual_export_made_with_a_typed_identifier_is_held(
    make_case, alice, django_capture_on_commit_callbacks
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from casework.models import ConnectorRun
    from dsar.models import SourceSystem

    SourceSystem.objects.create(
        name="Archive", slug="archive", connector="manual", config={"category": "events"}
    )
    case = make_case(email=ATTACKER, customer_number="C-100042")
    with django_capture_on_commit_callbacks(execute=True):
        services.case_verify(case=case, actor=Actor.subject())
    run = ConnectorRun.objects.get(case=case)
    upload = SimpleUploadedFile("export.csv", b"Customer,Fault\nC-100042,Paper jam\n")
    with django_capture_on_commit_callbacks(execute=True):
        services.complete_manual_run(run=run, actor=Actor.staff(alice), upload=upload)
    case = Case.objects.get(pk=case.pk)
    (link,) = selectors.held_links(case)
    assert (link.system_name, link.records, link.held_because) == ("Archive", 1, FOUND_BY_CLAIM)
    assert released(case) == []


def test_a_manual_export_made_with_the_verified_address_alone_is_released(
    make_case, alice, django_capture_on_commit_callbacks
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from casework.models import ConnectorRun
    from dsar.models import SourceSystem

    SourceSystem.objects.create(
        name="Archive", slug="archive", connector="manual", config={"category": "events"}
    )
    case = make_case(email=ARTA)
    with django_capture_on_commit_callbacks(execute=True):
        services.case_verify(case=case, actor=Actor.subject())
    run = ConnectorRun.objects.get(case=case)
    upload = SimpleUploadedFile("export.csv", b"Email,Fault\narta.krasniqi@demo.example,Jam\n")
    with django_capture_on_commit_callbacks(execute=True):
        services.complete_manual_run(run=run, actor=Actor.staff(alice), upload=upload)
    case = Case.objects.get(pk=case.pk)
    assert selectors.held_links(case) == []
    assert [r["data"]["Fault"] for r in released(case)] == ["Jam"]


# --- a code sent to the record's own e-mail --------------------------------------------------------


def the_code(mailbox) -> str:
    import re

    return re.search(r"^\s*(\d{6})\s*$", mailbox[-1].body, re.M).group(1)


def test_a_code_sent_to_the_records_own_address_and_given_back_confirms_it(
    crm, make_case, alice, mailoutbox, django_capture_on_commit_callbacks
):
    case = gathered(
        make_case, django_capture_on_commit_callbacks, email=ATTACKER, customer_number="C-100042"
    )
    (link,) = selectors.held_links(case)
    team = Actor.staff(alice)
    sent_before = len(mailoutbox)
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            services.send_link_code(
                case=case, actor=team, system_id=link.system_id, subject_key=link.subject_key
            )
            == 1
        )
    (message,) = mailoutbox[sent_before:]
    assert message.to == [ARTA], "the record's own address, never the requester's"
    assert "C-100042" not in message.body and "Engineer" not in message.body
    decide = {
        "case": case,
        "actor": team,
        "system_id": link.system_id,
        "subject_key": link.subject_key,
        "decision": "confirmed",
        "evidence": "code_email",
        "note": "She read the code back on the phone",
    }
    with pytest.raises(ValidationError, match="wrong"):
        services.decide_record_link(
            **decide, code="000000" if the_code(mailoutbox) != "000000" else "111111"
        )
    assert selectors.held_links(case)
    services.decide_record_link(**decide, code=the_code(mailoutbox))
    assert selectors.held_links(case) == []
    assert AuditEvent.objects.filter(case=case, action="identity.link_code_sent").exists()


def test_the_code_evidence_without_the_code_is_refused(
    crm, make_case, alice, mailoutbox, django_capture_on_commit_callbacks
):
    case = gathered(
        make_case, django_capture_on_commit_callbacks, email=ATTACKER, customer_number="C-100042"
    )
    (link,) = selectors.held_links(case)
    with pytest.raises(ValidationError, match="wrong, used or expired"):
        services.decide_record_link(
            case=case,
            actor=Actor.staff(alice),
            system_id=link.system_id,
            subject_key=link.subject_key,
            decision="confirmed",
            evidence="code_email",
            note="Trust me",
        )


def test_a_code_stops_working_after_its_tries(
    crm, make_case, alice, mailoutbox, settings, django_capture_on_commit_callbacks
):
    case = gathered(
        make_case, django_capture_on_commit_callbacks, email=ATTACKER, customer_number="C-100042"
    )
    (link,) = selectors.held_links(case)
    team = Actor.staff(alice)
    with django_capture_on_commit_callbacks(execute=True):
        services.send_link_code(
            case=case, actor=team, system_id=link.system_id, subject_key=link.subject_key
        )
    right = the_code(mailoutbox)
    wrong = "000000" if right != "000000" else "111111"
    decide = {
        "case": case,
        "actor": team,
        "system_id": link.system_id,
        "subject_key": link.subject_key,
        "decision": "confirmed",
        "evidence": "code_email",
        "note": "Guessing",
    }
    for _ in range(settings.DSAR_CODE_MAX_TRIES):
        with pytest.raises(ValidationError):
            services.decide_record_link(**decide, code=wrong)
    with pytest.raises(ValidationError):
        services.decide_record_link(**decide, code=right)
    assert selectors.held_links(case)


def test_the_review_page_sends_the_code_and_takes_it_back(
    crm, make_case, alice, client, mailoutbox, django_capture_on_commit_callbacks
):
    case = gathered(
        make_case, django_capture_on_commit_callbacks, email=ATTACKER, customer_number="C-100042"
    )
    (link,) = selectors.held_links(case)
    client.force_login(alice)
    page = client.get(reverse("admin:casework_case_review", args=[case.pk])).content.decode()
    assert "Send a one-time code to the record" in page
    held = {"system": link.system_id, "subject_key": link.subject_key}
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:casework_case_review_decide", args=[case.pk, "link_code"]), held)
    assert mailoutbox[-1].to == [ARTA]
    client.post(
        reverse("admin:casework_case_review_decide", args=[case.pk, "link"]),
        {
            **held,
            "decision": "confirmed",
            "evidence": "code_email",
            "code": the_code(mailoutbox),
            "note": "Read back on the phone",
        },
    )
    assert selectors.held_links(case) == []
