"""Revoking a release approved by mistake (issue 12, point 5): only the DPO does it; downloads
stop at once (a code already sent, a download page already open, a code asked for); the case
records a possible breach with what was released and when, for the DPO's assessment."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from casework import operations, services
from casework.actors import Actor
from casework.models import AuditEvent, BreachRecord, Bundle, Case, State
from casework.portal import services as portal_services
from tests.casework.helpers import bring_to
from tests.portal.conftest import code_of, ready_bundle

pytestmark = pytest.mark.django_db

REASON = "The bundle holds the orders of another Arta Krasniqi"


@pytest.fixture
def case(make_case, alice, bob):
    """Arta's access request, approved by Alice and being fulfilled."""
    return bring_to(State.FULFILLING, make_case(name="Arta Krasniqi"), alice, approver=bob)


@pytest.fixture
def bundle(case):
    bundle = ready_bundle(case)
    Bundle.objects.filter(pk=bundle.pk).update(
        records=3,
        manifest={
            "files": ["report.pdf", "data/online_account.json", "data/events.json"],
            "counts": {"online_account": 1, "events": 2},
        },
    )
    bundle.refresh_from_db()
    return bundle


@pytest.fixture
def status(case):
    return f"/en/status/{portal_services.issue_token(case=case, purpose='status')}/"


def revoke(case: Case, by) -> BreachRecord:
    return services.release_revoke(case=case, actor=Actor.staff(by), reason=REASON)


def ask_code(post, status, mailoutbox) -> str:
    response = post(status + "download/", {"action": "send"})
    assert response.status_code == 200
    return code_of(mailoutbox[-1])


def download_token(response) -> str:
    return re.search(r'name="token" value="([^"]+)"', response.content.decode()).group(1)


# --- downloads stop at once ------------------------------------------------------------------------


def test_a_code_already_sent_does_not_open_the_download_after_revocation(
    post, status, bundle, case, dora, mailoutbox
):
    code = ask_code(post, status, mailoutbox)
    revoke(case, dora)
    response = post(status + "download/", {"action": "check", "code": code})
    assert response.status_code == 410
    html = response.content.decode()
    assert "We withdrew this download" in html and 'name="token"' not in html


def test_a_download_page_already_open_stops_working(
    client, post, status, bundle, case, dora, mailoutbox
):
    code = ask_code(post, status, mailoutbox)
    token = download_token(post(status + "download/", {"action": "check", "code": code}))
    revoke(case, dora)
    response = client.post("/en/download/", {"token": token})
    assert response.status_code == 410
    assert "We withdrew this download" in response.content.decode()
    assert not AuditEvent.objects.filter(case=case, action="bundle.downloaded").exists()


def test_a_code_request_after_revocation_is_refused_and_nothing_is_sent(
    post, status, bundle, case, dora, mailoutbox
):
    revoke(case, dora)
    response = post(status + "download/", {"action": "send"})
    assert response.status_code == 410
    assert mailoutbox == []


def test_a_code_asked_for_just_before_revocation_is_not_sent(
    client, status, bundle, case, dora, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as queued:
        client.post(status + "download/", {"action": "send"})
    revoke(case, dora)
    for callback in queued:
        callback()
    assert mailoutbox == []


def test_the_status_page_says_the_download_was_withdrawn(client, status, bundle, case, dora):
    assert "Your data is ready" in client.get(status).content.decode()
    revoke(case, dora)
    html = client.get(status).content.decode()
    assert "Your data is ready" not in html and "Download my data" not in html
    assert "The download of your data was withdrawn" in html
    assert "We will contact you." in html


def test_the_status_page_says_it_in_albanian_too(client, case, bundle, dora):
    revoke(case, dora)
    token = portal_services.issue_token(case=case, purpose="status")
    html = client.get(f"/sq/status/{token}/").content.decode()
    assert "The download of your data was withdrawn" not in html
    assert "Shkarkimi i të dhënave tuaja u tërhoq" in html


# --- the breach record -----------------------------------------------------------------------------


def test_the_breach_record_holds_what_was_released_when_and_the_downloads(
    client, post, status, bundle, case, alice, dora, mailoutbox
):
    token = download_token(
        post(status + "download/", {"action": "check", "code": ask_code(post, status, mailoutbox)})
    )
    assert client.post("/en/download/", {"token": token}).status_code == 200
    downloaded = AuditEvent.objects.get(case=case, action="bundle.downloaded").created_at

    breach = revoke(case, dora)

    assert breach.kind == BreachRecord.Kind.RELEASE_REVOKED
    assert breach.bundle == bundle
    (released,) = breach.released["bundles"]
    assert released["bundle"] == bundle.pk and released["size"] == bundle.size
    assert released["records"] == 3
    assert released["categories"] == {"online_account": 1, "events": 2}
    assert breach.released["release_check"] == {"listed": 0, "acknowledged": False}
    assert breach.released_at == bundle.finished_at
    assert breach.approved_by == alice and breach.approved_at == case.approved_at
    assert breach.downloads == [{"bundle": bundle.pk, "at": downloaded.isoformat()}]
    assert breach.revoked_by == dora and breach.reason == REASON
    assert breach.authority_deadline == breach.revoked_at + dt.timedelta(hours=72)
    assert breach.risk == "" and breach.assessed_at is None
    assert Bundle.objects.get(pk=bundle.pk).revoked_at == breach.revoked_at


def test_the_revocation_is_audited_without_the_reason_or_any_value(bundle, case, dora):
    breach = revoke(case, dora)
    event = AuditEvent.objects.get(case=case, action="case.release_revoked")
    assert event.actor == dora
    assert event.details["breach"] == breach.pk and event.details["bundles"] == [bundle.pk]
    assert event.details["downloads"] == 0
    assert REASON not in json.dumps(event.details)


def test_a_revoked_release_cannot_be_revoked_again(bundle, case, dora):
    revoke(case, dora)
    op = operations.get("revoke_release")
    assert "No bundle of this case is released" in op.refusal(case, Actor.staff(dora))


def test_a_reason_is_required(bundle, case, dora):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        services.release_revoke(case=case, actor=Actor.staff(dora), reason="  ")
    assert not BreachRecord.objects.exists()


# --- who may revoke --------------------------------------------------------------------------------


def operation_url(case: Case) -> str:
    return reverse("admin:casework_case_operation", args=[case.pk, "revoke_release"])


def test_the_privacy_team_may_not_revoke(client, bundle, case, alice):
    with pytest.raises(PermissionDenied):
        revoke(case, alice)
    client.force_login(alice)
    response = client.get(operation_url(case), follow=True)
    assert "Revoke release was refused" in response.content.decode()
    assert (
        operation_url(case)
        not in client.get(reverse("admin:casework_case_change", args=[case.pk])).content.decode()
    )
    assert Bundle.objects.get(pk=bundle.pk).revoked_at is None


def test_the_dpo_revokes_through_the_admin(client, bundle, case, dora):
    client.force_login(dora)
    change = client.get(reverse("admin:casework_case_change", args=[case.pk])).content.decode()
    assert operation_url(case) in change
    page = client.get(operation_url(case)).content.decode()
    assert "Art. 33" in page and 'name="reason"' in page
    response = client.post(operation_url(case), {"reason": REASON}, follow=True)
    assert "the possible breach waits for your assessment" in response.content.decode()
    assert BreachRecord.objects.get(case=case).revoked_by == dora


def test_the_dpo_revokes_from_the_command_line(bundle, case, dora):
    from django.core.management import call_command

    call_command("case", case.reference, "revoke_release", "--staff", "dora", "--reason", REASON)
    event = AuditEvent.objects.get(case=case, action="case.release_revoked")
    assert event.details["entered_via"] == "command_line"


# --- the DPO's assessment --------------------------------------------------------------------------


def breach_url(breach: BreachRecord) -> str:
    return reverse("admin:casework_breachrecord_change", args=[breach.pk])


def test_the_dpo_assesses_the_breach_in_the_admin(client, bundle, case, dora):
    breach = revoke(case, dora)
    client.force_login(dora)
    page = client.get(breach_url(breach)).content.decode()
    assert 'name="risk"' in page and f"Bundle {bundle.pk} (access): 3 records" in page
    response = client.post(
        breach_url(breach),
        {"risk": "risk", "notify_authority": "true", "assessment_note": "Names and orders"},
    )
    assert response.status_code == 302
    breach.refresh_from_db()
    assert (breach.risk, breach.notify_authority, breach.assessed_by) == ("risk", True, dora)
    event = AuditEvent.objects.get(case=case, action="breach.assessed")
    assert event.details["risk"] == "risk" and event.details["within_72_hours"] is True
    assert "Names and orders" not in json.dumps(event.details)


def test_a_risk_not_notified_to_the_authority_is_refused(client, bundle, case, dora):
    breach = revoke(case, dora)
    client.force_login(dora)
    response = client.post(
        breach_url(breach), {"risk": "high", "notify_authority": "false", "assessment_note": ""}
    )
    assert response.status_code == 200
    assert "is notified to the supervisory authority" in response.content.decode()
    assert BreachRecord.objects.get(pk=breach.pk).assessed_at is None
    assert not AuditEvent.objects.filter(action="breach.assessed").exists()


def test_an_unlikely_risk_may_go_unnotified(bundle, case, dora):
    breach = revoke(case, dora)
    services.breach_assess(
        breach=breach, actor=Actor.staff(dora), risk="unlikely", notify_authority=False
    )
    assert BreachRecord.objects.get(pk=breach.pk).notify_authority is False


def test_the_auditor_reads_the_breach_but_cannot_assess_it(client, bundle, case, dora, audrey):
    breach = revoke(case, dora)
    client.force_login(audrey)
    page = client.get(breach_url(breach))
    assert page.status_code == 200 and 'name="risk"' not in page.content.decode()
    client.post(breach_url(breach), {"risk": "unlikely", "notify_authority": "false"})
    assert BreachRecord.objects.get(pk=breach.pk).assessed_at is None
    with pytest.raises(PermissionDenied):
        services.breach_assess(
            breach=breach, actor=Actor.staff(audrey), risk="unlikely", notify_authority=False
        )


def test_the_privacy_team_cannot_assess(bundle, case, dora, alice):
    breach = revoke(case, dora)
    with pytest.raises(PermissionDenied):
        services.breach_assess(
            breach=breach, actor=Actor.staff(alice), risk="unlikely", notify_authority=False
        )


def test_a_revoked_release_sends_the_case_back_to_review_for_a_new_approval(
    bundle, case, alice, bob, dora
):
    from casework import operations
    from casework.selectors import review_is_open

    revoke(case, dora)
    case = Case.objects.get(pk=case.pk)
    assert case.state == State.IN_REVIEW and review_is_open(case)
    assert (case.approved_by, case.bundle_ready_at) == (None, None)
    assert not operations.get("fulfil").offered(case, Actor.staff(alice))
    assert AuditEvent.objects.filter(case=case, action="case.release_withdrawn").exists()
    # Corrected and approved anew (four eyes as before): a new bundle, the old stays revoked.
    case = services.complete_review(case=case, actor=Actor.staff(alice))
    services.case_approve(case=case, actor=Actor.staff(bob), acknowledged=True)
    assert Bundle.objects.filter(case=case, revoked_at=None).exclude(pk=bundle.pk).exists()
    assert Bundle.objects.get(pk=bundle.pk).revoked_at is not None
