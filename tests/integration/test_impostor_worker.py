"""Impostors against a real Celery worker, PostgreSQL and Redis, with real SQL and HTTP systems:
typed identifiers (her customer number, her phone) find her records, which are held; staff
leave them out, the worker builds his bundle, and nothing of hers is in it. Arta herself, by
her verified address, gets hers from all three systems."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.core.management import call_command

from casework import selectors, services
from casework.actors import Actor
from casework.models import Bundle, Case, State
from tests.conftest import wait_for
from tests.integration.test_gathering_worker import ARTA, crm_and_repairs, desk  # noqa: F401

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.services,
    pytest.mark.usefixtures("crm_and_repairs", "desk"),
]
# Values only her records hold.
HERS = ("Arta Krasniqi", "Paper jam", "Toner", "Printer offline", "+355692004242", "C-100042")


@pytest.fixture(autouse=True)
def register(transactional_db):
    call_command("load_data_map", verbosity=0)


def gathered(make_case, **intake) -> Case:
    case = make_case(**intake)
    services.case_verify(case=case, actor=Actor.subject())
    return wait_for(lambda: Case.objects.filter(pk=case.pk, state=State.IN_REVIEW).first(), 60)


def bundle_text(case: Case) -> str:
    bundle = wait_for(
        lambda: Bundle.objects.filter(case=case, state=Bundle.State.READY).first(), 60
    )
    with selectors.open_bundle(bundle) as plain:
        archive = zipfile.ZipFile(io.BytesIO(plain.read()))
    text = []
    for name in archive.namelist():
        content = archive.read(name)
        if name.endswith(".pdf"):
            from pypdf import PdfReader

            content = "\n".join(
                p.extract_text() for p in PdfReader(io.BytesIO(content)).pages
            ).encode()
        text.append(content.decode("utf-8", "replace"))
    return "\n".join(text)


@pytest.mark.parametrize(
    "claim", [{"customer_number": "C-100042"}, {"phone": "069 200 4242"}], ids=["number", "phone"]
)
def test_an_impostor_typing_her_identifiers_gets_nothing_of_hers(
    real_worker, make_case, alice, claim
):
    case = gathered(make_case, email="attacker@evil.example", name="A. K.", **claim)
    held = selectors.held_links(case)
    assert {link.system_name for link in held} == {"CRM", "Repairs", "Support desk"}
    assert list(selectors.reviewed_records(case)) == []
    team = Actor.staff(alice)
    for link in held:
        services.decide_record_link(
            case=case,
            actor=team,
            system_id=link.system_id,
            subject_key=link.subject_key,
            decision="left_out",
            note="Not shown to be the requester's",
        )
    case = services.complete_review(case=case, actor=team)
    services.case_approve(case=case, actor=team)
    text = bundle_text(case)
    assert case.reference in text
    for value in (*HERS, ARTA):
        assert value not in text, value


def test_her_verified_address_releases_her_records_from_every_system(real_worker, make_case, alice):
    case = gathered(make_case, email=ARTA)
    assert selectors.held_links(case) == []
    team = Actor.staff(alice)
    case = services.complete_review(case=case, actor=team)
    # Her phone and customer number are in the bundle: the approver acknowledges them.
    assert selectors.release_check(case)
    services.case_approve(case=case, actor=team, acknowledged=True)
    text = bundle_text(case)
    # Her account (CRM, by her address) and her tickets (the desk, by the CRM's phone); the
    # repairs' category is not in the register.
    for value in ("Arta Krasniqi", "C-100042", "Ticket 0", "Printer offline"):
        assert value in text, value
