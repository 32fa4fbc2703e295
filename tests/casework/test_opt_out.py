"""A "sale:opt-out": an objection to direct marketing and to the disclosure of the subject's
data to third parties. Carried out by one person; completed, it is recorded in our own record
of opt-outs (a keyed hash per identifier, never the address), which the register's recipients
are checked against; due within 15 business days of receipt; the subject is told that
marketing and disclosure stopped."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse

from casework import operations, selectors, services
from casework.actors import Actor
from casework.engine import fulfilment
from casework.models import AuditEvent, Case, Notice, OptOut, PublicHoliday, State
from casework.notifications import notify_subject
from casework.selectors.recipients import recipients_blocked_for
from dsar.models import Recipient, SourceSystem
from tests.casework.helpers import carried_out, plan_submitted
from tests.casework.sources import csv_system, write_csv

pytestmark = pytest.mark.django_db
ARTA = "arta.krasniqi@demo.example"
BESA = "besa.hoxha@demo.example"
OPT_OUT = {"direct_marketing": True, "disclosure": True, "channel_note": "drp"}
TIRANA = dt.timezone(dt.timedelta(hours=1))  # March in Tirana: CET


@pytest.fixture(autouse=True)
def register(db):
    call_command("load_data_map", verbosity=0)


@pytest.fixture
def events(tmp_path) -> SourceSystem:
    """Her attendance, in a list that is shared with marketing and survey providers."""
    write_csv(
        tmp_path / "events" / "tirana.csv",
        [
            {"Name": "Arta Krasniqi", "Company": "Drini", "Email": ARTA, "Dietary needs": "halal"},
            {"Name": "Besa Hoxha", "Company": "Drini", "Email": BESA, "Dietary needs": "none"},
        ],
    )
    system = csv_system("events", tmp_path / "events", {"email": "Email"}, category="events")
    system.disclosed_to.add(Recipient.objects.get(code="marketing_lead_survey_providers"))
    return system


def gathered(make_case, capture, **intake) -> Case:
    """Her request, confirmed by her e-mail link, gathered (in-process)."""
    intake.setdefault("email", ARTA)
    intake.setdefault("name", "Arta Krasniqi")
    case = make_case(**intake)
    with capture(execute=True):
        services.case_verify(case=case, actor=Actor.subject())
    return Case.objects.get(pk=case.pk)


def opted_out(case: Case, by, capture) -> Case:
    """The objection reviewed, planned, approved and completed by one person."""
    case = services.complete_review(case=case, actor=Actor.staff(by))
    plan_submitted(case, by)
    case = services.case_approve(case=Case.objects.get(pk=case.pk), actor=Actor.staff(by))
    case = carried_out(case)
    plan = case.plans.get(state="approved")
    for action in plan.actions.filter(state="waiting"):
        services.action_confirm(action=action, actor=Actor.staff(by), note="Marked no-contact")
    if plan.actions.exists():
        fulfilment.execute(plan.pk)
        fulfilment.verify(plan.pk)
    case = services.case_record_response(case=Case.objects.get(pk=case.pk), actor=Actor.staff(by))
    with capture(execute=False):  # the completion notice is sent by the tests that read it
        return services.case_fulfil(case=case, actor=Actor.staff(by))


def test_an_opt_out_is_carried_out_by_one_person_and_recorded_on_completion(
    events, make_case, alice, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    case = gathered(
        make_case, capture, request_type="objection", details=OPT_OUT, customer_number="C-1042"
    )
    assert case.state == State.IN_REVIEW
    assert not OptOut.objects.exists()  # nothing is recorded before it is carried out
    case = opted_out(case, alice, capture)
    assert case.state == State.COMPLETED
    plan = case.plans.get()
    assert plan.intent == "stop_marketing"
    assert plan.submitted_by == plan.approved_by == case.approved_by == alice

    rows = OptOut.objects.filter(case=case)
    assert sorted(rows.values_list("kind", "identifier_kind")) == [
        ("disclosure", "customer_number"),
        ("disclosure", "email"),
        ("marketing", "customer_number"),
        ("marketing", "email"),
    ]
    assert all(row.in_force and row.created_at for row in rows)
    stored = str(list(rows.values_list()))
    assert ARTA not in stored and "arta" not in stored and "C-1042" not in stored
    event = AuditEvent.objects.get(case=case, action="optout.recorded")
    assert event.details == {
        "kinds": ["marketing", "disclosure"],
        "identifier_kinds": ["customer_number", "email"],
        "rows": 4,
    }
    assert ARTA not in str(event.details)


def test_disclosure_is_stopped_for_her_identifiers_and_no_one_else(
    events, make_case, alice, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    assert not selectors.disclosure_stopped(email=ARTA)
    opted_out(
        gathered(
            make_case, capture, request_type="objection", details=OPT_OUT, customer_number="c 1042"
        ),
        alice,
        capture,
    )
    # Compared in the one form addresses are compared in: ASCII case and the domain's case.
    assert selectors.disclosure_stopped(email="Arta.Krasniqi@DEMO.example")
    assert selectors.disclosure_stopped(customer_number="C1042")
    assert selectors.marketing_stopped(email=ARTA)
    assert not selectors.disclosure_stopped(email=BESA)
    assert not selectors.disclosure_stopped(email="arta.krasniqi@demo.example.org")
    assert not selectors.disclosure_stopped()


def test_her_recipients_show_that_disclosure_to_them_is_stopped(
    events, make_case, alice, client, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    besa = gathered(make_case, capture, email=BESA, name="Besa Hoxha")
    besa_erasure = gathered(
        make_case, capture, request_type="erasure", email=BESA, name="Besa Hoxha"
    )
    before = gathered(make_case, capture)  # her access request, before she opts out
    assert list(recipients_blocked_for(before)) == []
    objection = opted_out(
        gathered(make_case, capture, request_type="objection", details=OPT_OUT), alice, capture
    )
    providers = Recipient.objects.get(code="marketing_lead_survey_providers")
    assert list(recipients_blocked_for(before)) == [providers]
    assert list(recipients_blocked_for(objection)) == [providers]
    assert list(recipients_blocked_for(besa)) == []  # another person's disclosure goes on

    facts = selectors.bundle_facts(before, "access")
    assert facts.disclosed_to == [
        "Marketing, lead generation and survey providers (disclosure stopped at your request)"
    ]
    assert selectors.bundle_facts(besa, "access").disclosed_to == [
        "Marketing, lead generation and survey providers"
    ]

    # The case page lists the recipients of a change's subject (Art. 19).
    client.force_login(alice)
    page = client.get(reverse("admin:casework_case_change", args=[objection.pk])).content.decode()
    assert "marketing_lead_survey_providers" in page
    assert "disclosure stopped for this subject (opt-out in force)" in page
    url = reverse("admin:casework_case_change", args=[besa_erasure.pk])
    page = client.get(url).content.decode()
    assert "marketing_lead_survey_providers" in page
    assert "disclosure stopped for this subject" not in page


def test_an_opt_out_never_claims_to_stop_what_the_law_or_a_processor_receives(
    events, make_case, alice, client, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    police = Recipient.objects.get(code="police_regulators")
    vendors = Recipient.objects.get(code="vendors_subcontractors")
    assert (police.kind, vendors.kind) == ("authority", "processor")  # as the register says
    events.disclosed_to.add(police, vendors)
    before = gathered(make_case, capture)
    objection = opted_out(
        gathered(make_case, capture, request_type="objection", details=OPT_OUT), alice, capture
    )
    providers = Recipient.objects.get(code="marketing_lead_survey_providers")
    assert list(recipients_blocked_for(before)) == [providers]
    told = selectors.bundle_facts(before, "access").disclosed_to
    assert (
        "Marketing, lead generation and survey providers (disclosure stopped at your request)"
        in (told)
    )
    for recipient in (police, vendors):
        [line] = [t for t in told if t.startswith(recipient.name_en)]
        assert "disclosure stopped" not in line
    client.force_login(alice)
    page = client.get(reverse("admin:casework_case_change", args=[objection.pk])).content.decode()
    assert page.count("disclosure stopped for this subject (opt-out in force)") == 1


def test_a_sale_opt_out_is_due_within_15_business_days_whatever_the_regime(make_case):
    # Received on Monday 2 March 2026 in Tirana; a public holiday on Monday 16 March.
    received = dt.datetime(2026, 3, 2, 10, 0, tzinfo=TIRANA)
    PublicHoliday.objects.create(date=dt.date(2026, 3, 16), name="Test holiday")
    for regime in ("gdpr", "ccpa", "uk_gdpr"):
        case = make_case(
            request_type="objection", details=OPT_OUT, regime=regime, received_at=received
        )
        # 15 business days: 3 March to 24 March, the weekends and the holiday skipped.
        assert selectors.expected_by(case) == dt.date(2026, 3, 24), regime
    # A marketing objection alone (the web form's) keeps the regime's deadline.
    marketing = make_case(
        request_type="objection",
        details={"direct_marketing": True},
        regime="gdpr",
        received_at=received,
    )
    assert selectors.expected_by(marketing) == dt.date(2026, 4, 2)


def test_a_ccpa_opt_out_cannot_be_extended(make_case, dora):
    case = make_case(request_type="objection", details=OPT_OUT, regime="ccpa")
    extend = operations.get("extend")
    assert "no extension of an opt-out" in extend.refusal(case, Actor.staff(dora))
    with pytest.raises(ValidationError, match="no extension"):
        services.case_extend(
            case=case,
            actor=Actor.staff(dora),
            new_due=selectors.expected_by(case) + dt.timedelta(days=5),
            reason="Busy",
        )
    gdpr = make_case(request_type="objection", details=OPT_OUT, regime="gdpr")
    assert extend.offered(gdpr, Actor.staff(dora))


def _pdf_text(content: bytes) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(content))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


@pytest.mark.parametrize(
    ("language", "marketing", "disclosure"),
    [
        (
            "en",
            "We have stopped using your personal data for direct marketing",
            "We have stopped disclosing your personal data to third parties",
        ),
        (
            "sq",
            "Kemi ndaluar përdorimin e të dhënave tuaja personale për marketing të drejtpërdrejtë",
            "Kemi ndaluar dhënien e të dhënave tuaja personale palëve të treta",
        ),
    ],
)
def test_the_completion_email_and_letter_say_marketing_and_disclosure_stopped(
    events,
    make_case,
    alice,
    mailoutbox,
    django_capture_on_commit_callbacks,
    language,
    marketing,
    disclosure,
):
    capture = django_capture_on_commit_callbacks
    case = opted_out(
        gathered(make_case, capture, request_type="objection", details=OPT_OUT, language=language),
        alice,
        capture,
    )
    assert notify_subject(case, Notice.COMPLETED) == "email"
    (message,) = [m for m in mailoutbox if m.to == [ARTA]][-1:]
    for text in (message.body, message.alternatives[0][0]):
        assert marketing in text and disclosure in text
    (_name, content, _type) = message.attachments[0]
    letter = _pdf_text(content)
    assert marketing in letter and disclosure in letter


def test_an_objection_to_marketing_alone_records_marketing_only(
    events, make_case, alice, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    case = opted_out(
        gathered(make_case, capture, request_type="objection", details={"direct_marketing": True}),
        alice,
        capture,
    )
    assert set(OptOut.objects.filter(case=case).values_list("kind", flat=True)) == {"marketing"}
    assert selectors.marketing_stopped(email=ARTA)
    assert not selectors.disclosure_stopped(email=ARTA)


def test_an_agents_attested_address_is_suppressed_for_an_opt_out_and_trusted_for_nothing_else(
    make_case, django_capture_on_commit_callbacks
):
    """The DRP trust policy: an opt-out on an authorised agent's verified e-mail claim
    suppresses the claimed address (it releases nothing); an opt-in or any other request
    attested the same way trusts the address for nothing."""
    from casework.models import VerificationMethod
    from dsar.identifiers import Identifier

    def attested(**intake) -> Case:
        case = make_case(email=ARTA, **intake)
        with django_capture_on_commit_callbacks(execute=False):
            services.case_verify(
                case=case, actor=Actor.subject(), method=VerificationMethod.AGENT_ATTESTATION
            )
        return Case.objects.get(pk=case.pk)

    opt_out = attested(request_type="objection", details=OPT_OUT)
    assert Identifier("email", ARTA) in selectors.verified_channel(opt_out)
    opt_in = attested(request_type="objection", details={**OPT_OUT, "lifting": True})
    assert selectors.verified_channel(opt_in) == set()
    access = attested(request_type="access")
    assert selectors.verified_channel(access) == set()
