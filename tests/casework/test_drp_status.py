"""The DRP status of every case state, the callbacks agents receive when it changes, and the
page where a person verifies an agent's request."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.utils import timezone

from casework import services
from casework.actors import Actor
from casework.engine import drp as engine
from casework.models import AskPurpose, Case, DrpCallback, DrpRequest, DrpSeenMessage, State
from casework.selectors.drp import STATE_STATUS, drp_status, status_object
from casework.services.drp import purge_seen_messages
from tests.casework.drp_support import AgentClient

pytestmark = pytest.mark.django_db


def _case_in(make_case, state: str, **fields) -> Case:
    case = make_case()
    Case.objects.filter(pk=case.pk).update(state=state, **fields)
    return Case.objects.get(pk=case.pk)


# --- the mapping, total -------------------------------------------------------------------------


def test_every_case_state_has_a_drp_status():
    assert set(STATE_STATUS) == set(State.values)


@pytest.mark.parametrize(
    ("state", "status", "reason"),
    [
        (State.RECEIVED, "in_progress", "need_user_verification"),
        (State.VERIFIED, "in_progress", ""),
        (State.AWAITING_SUBJECT, "in_progress", ""),
        (State.GATHERING, "in_progress", ""),
        (State.NEEDS_IDENTIFIER, "in_progress", ""),
        (State.IN_REVIEW, "in_progress", ""),
        (State.FULFILLING, "in_progress", ""),
        (State.COMPLETED, "fulfilled", ""),
        (State.REJECTED, "denied", "other"),
        (State.WITHDRAWN, "revoked", ""),
        (State.MERGED, "in_progress", ""),
        (State.EXPIRED, "expired", ""),
    ],
)
def test_each_state_maps_to_its_drp_status(make_case, state, status, reason):
    case = _case_in(make_case, state)
    assert drp_status(case).status == status
    assert drp_status(case).reason == reason


@pytest.mark.parametrize("state", State.values)
def test_the_status_endpoint_answers_in_every_state(client, state):
    agent = AgentClient(client)
    agent.pair()
    request_id = agent.exercise("access").json()["request_id"]
    case = DrpRequest.objects.get().case
    Case.objects.filter(pk=case.pk).update(state=state)
    response = agent.status(request_id)
    assert response.status_code == 200
    assert response.json()["status"] in STATE_STATUS.values()


def test_a_question_of_identity_asks_for_user_verification(make_case):
    case = _case_in(
        make_case,
        State.AWAITING_SUBJECT,
        awaiting_from=State.VERIFIED,
        awaiting_purpose=AskPurpose.IDENTITY,
    )
    assert drp_status(case).reason == "need_user_verification"


def test_a_merged_case_shows_the_status_of_the_case_it_went_into(make_case):
    into = _case_in(make_case, State.COMPLETED)
    merged = _case_in(make_case, State.MERGED, merged_into=into)
    assert drp_status(merged).status == "fulfilled"


def test_no_match_is_never_told_before_the_person_verified(make_case):
    case = _case_in(make_case, State.REJECTED)
    assert drp_status(case, denial_reason="no_match").reason == "insuf_verification"
    verified = _case_in(make_case, State.REJECTED, verified_at=timezone.now())
    assert drp_status(verified, denial_reason="no_match").reason == "no_match"


def test_an_excessive_request_refused_by_the_dpo_is_too_many_requests(make_case):
    case = _case_in(make_case, State.REJECTED, rejected_as_unfounded=True)
    assert drp_status(case).reason == "too_many_requests"


def test_an_extension_moves_expected_by_and_says_why(client, dora):
    agent = AgentClient(client)
    agent.pair()
    agent.exercise("access")
    drp_request = DrpRequest.objects.get()
    Case.objects.filter(pk=drp_request.case.pk).update(
        original_due_at=drp_request.case.due_at,
        due_at=drp_request.case.due_at + timezone.timedelta(days=60),
        extension_reason="Many systems to search",
    )
    drp_request.refresh_from_db()
    body = status_object(DrpRequest.objects.get())
    assert body["expected_by"] == Case.objects.get().due_at.isoformat()
    assert "Many systems to search" in body["processing_details"]


# --- callbacks -----------------------------------------------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    received: list = []
    answer = 200

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        type(self).received.append(
            (self.path, self.headers.get("Host"), json.loads(self.rfile.read(length)))
        )
        self.send_response(type(self).answer)
        if type(self).answer in (301, 302):
            self.send_header("Location", "http://127.0.0.1:9/elsewhere")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver(settings):
    settings.DRP_CALLBACK_ALLOW_PRIVATE = True
    _Receiver.received = []
    _Receiver.answer = 200
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_port}/drp/callback?x=1", _Receiver
    server.shutdown()


def _filed_with_callback(client, url, exercise="deletion"):
    agent = AgentClient(client)
    agent.pair()
    response = agent.exercise(exercise, status_callback=url)
    assert response.status_code == 200, response.content
    return agent, response.json()["request_id"]


def test_the_agent_is_called_back_when_the_status_changes(
    client, receiver, django_capture_on_commit_callbacks
):
    url, handler = receiver
    agent, request_id = _filed_with_callback(client, url)
    with django_capture_on_commit_callbacks(execute=True):
        agent.revoke(request_id)
    callback = DrpCallback.objects.get()
    assert callback.state == DrpCallback.State.DELIVERED
    assert callback.response_status == 200
    [(path, host, payload)] = handler.received
    assert path == "/drp/callback?x=1"
    assert host.startswith("localhost:")
    assert payload["request_id"] == request_id
    assert payload["status"] == "revoked"


def test_verification_by_the_person_is_called_back(
    client, receiver, django_capture_on_commit_callbacks
):
    url, handler = receiver
    _filed_with_callback(client, url, exercise="access")
    case = DrpRequest.objects.get().case
    with django_capture_on_commit_callbacks(execute=True):
        services.case_verify(case=case, actor=Actor.subject())
    assert [p["status"] for _path, _host, p in handler.received][:1] == ["in_progress"]
    assert handler.received[0][2]["reason"] is None


def test_no_callback_when_nothing_the_agent_sees_changed(
    client, receiver, django_capture_on_commit_callbacks, alice
):
    url, _handler = receiver
    _filed_with_callback(client, url, exercise="access")
    case = DrpRequest.objects.get().case
    with django_capture_on_commit_callbacks(execute=True):
        services.case_add_note(case=case, actor=Actor.staff(alice), text="internal")
    assert DrpCallback.objects.count() == 0


def test_a_failing_receiver_is_retried_with_backoff(client, receiver, settings):
    url, handler = receiver
    handler.answer = 503
    _agent, _request_id = _filed_with_callback(client, url)
    drp_request = DrpRequest.objects.get()
    callback = DrpCallback.objects.create(request=drp_request, payload={"status": "revoked"})
    assert engine.deliver(callback.pk) == "retry"
    callback.refresh_from_db()
    assert callback.state == DrpCallback.State.PENDING
    assert callback.next_attempt_at is not None
    assert callback.last_error_class == "Transient"


def test_a_redirect_is_not_followed(client, receiver):
    url, handler = receiver
    handler.answer = 302
    _filed_with_callback(client, url)
    callback = DrpCallback.objects.create(
        request=DrpRequest.objects.get(), payload={"status": "revoked"}
    )
    assert engine.deliver(callback.pk) == "failed"
    assert len(handler.received) == 1  # the redirect's target was never asked


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/cb",
        "https://10.1.2.3/cb",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/cb",
        "https://[::ffff:192.168.0.1]/cb",
        "https://localhost/cb",
        "http://93.184.216.34/cb",
        "https://user:pw@93.184.216.34/cb",
    ],
)
def test_callbacks_to_private_addresses_or_plain_http_are_refused(url):
    with pytest.raises(engine.AddressRefused):
        engine.resolve(url, allow_private=False)


def test_a_public_address_is_connected_to_as_checked():
    target = engine.resolve("https://93.184.216.34:8443/cb?a=1", allow_private=False)
    assert target.address == "93.184.216.34"
    assert (target.host, target.port, target.path) == ("93.184.216.34", 8443, "/cb?a=1")


def test_a_refused_address_fails_the_delivery(client, settings):
    settings.DRP_CALLBACK_ALLOW_PRIVATE = False
    _agent, _ = _filed_with_callback(client, "https://127.0.0.1/cb")
    callback = DrpCallback.objects.create(
        request=DrpRequest.objects.get(), payload={"status": "revoked"}
    )
    assert engine.deliver(callback.pk) == "failed"
    callback.refresh_from_db()
    assert callback.error.startswith("refused")


def test_a_plain_http_callback_is_refused_at_filing(client, settings):
    settings.DRP_CALLBACK_ALLOW_PRIVATE = False
    agent = AgentClient(client)
    agent.pair()
    response = agent.exercise("access", status_callback="http://agent.example/cb")
    assert response.status_code == 400
    assert DrpRequest.objects.count() == 0


def test_seen_messages_are_purged_after_their_expiry():
    now = timezone.now()
    DrpSeenMessage.objects.create(digest="a" * 64, expires_at=now - timezone.timedelta(minutes=1))
    DrpSeenMessage.objects.create(digest="b" * 64, expires_at=now + timezone.timedelta(minutes=1))
    assert purge_seen_messages() == 1
    assert list(DrpSeenMessage.objects.values_list("digest", flat=True)) == ["b" * 64]


def test_the_drp_schedules_are_installed():
    from django_celery_beat.models import PeriodicTask

    names = set(PeriodicTask.objects.values_list("name", flat=True))
    assert {"sweep-drp-callbacks", "purge-drp-seen-messages"} <= names


# --- the person's verification page -------------------------------------------------------------


def _verify_url(request_id, **query):
    from urllib.parse import urlencode

    return f"/drp/verify/{request_id}/?" + urlencode({"request_id": request_id, **query})


def test_the_page_redirects_to_the_agent_only_after_verification(client):
    agent = AgentClient(client)
    agent.pair()
    request_id = agent.exercise("access").json()["request_id"]
    back = "https://app.agent.example/done?r=1"
    before = client.get(_verify_url(request_id, redirect_to=back))
    assert before.status_code == 200
    case = DrpRequest.objects.get().case
    services.case_verify(case=case, actor=Actor.subject())
    after = client.get(_verify_url(request_id, redirect_to=back))
    assert after.status_code == 302
    assert after["Location"] == back


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "https://agent.example.evil.example/",
        "//evil.example/",
        "javascript:alert(1)",
        "https://agent.example@evil.example/",
        "http://agent.example/",
    ],
)
def test_the_page_never_redirects_outside_the_agents_domain(client, target):
    agent = AgentClient(client)
    agent.pair()
    request_id = agent.exercise("access").json()["request_id"]
    services.case_verify(case=DrpRequest.objects.get().case, actor=Actor.subject())
    response = client.get(_verify_url(request_id, redirect_to=target))
    assert response.status_code == 200


def test_the_page_checks_the_request_id_is_the_same_request(client):
    agent = AgentClient(client)
    agent.pair()
    request_id = agent.exercise("access").json()["request_id"]
    other = "00000000-0000-0000-0000-000000000000"
    response = client.get(f"/drp/verify/{request_id}/?request_id={other}")
    assert response.status_code == 404


def test_the_page_sends_the_confirmation_link_again(
    client, mailoutbox, django_capture_on_commit_callbacks
):
    agent = AgentClient(client)
    agent.pair()
    request_id = agent.exercise("access").json()["request_id"]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_verify_url(request_id))
    assert response.status_code == 200
    assert len(mailoutbox) == 1


def test_results_expire_with_the_download_window_and_only_when_given(client, settings):
    """`expires_at` says until when `results_url` leads to the results: the newest bundle's
    download window; null where no results are given."""
    from casework.models import Bundle, DrpAgent

    agent = AgentClient(client)
    agent.pair()
    agent.exercise("access")
    drp_request = DrpRequest.objects.get()
    case = drp_request.case
    finished = timezone.now()
    Bundle.objects.create(case=case, state=Bundle.State.READY, finished_at=finished)
    Case.objects.filter(pk=case.pk).update(state=State.COMPLETED, closed_at=finished)
    assert status_object(DrpRequest.objects.get())["expires_at"] is None  # no results given
    DrpAgent.objects.filter(pk=drp_request.agent_id).update(
        trust_policy={"email_claim_suffices_for": ["sale:opt-out"], "results_for": ["access"]}
    )
    body = status_object(DrpRequest.objects.get())
    window = finished + timezone.timedelta(days=settings.DSAR_DOWNLOAD_WINDOW_DAYS)
    assert body["results_url"] and body["expires_at"] == window.isoformat()


def test_the_dpo_chooses_the_reason_an_agent_is_told_for_a_refusal(client, dora, alice):
    from django.core.exceptions import PermissionDenied

    from casework import operations
    from casework.models import AuditEvent

    agent = AgentClient(client)
    agent.pair()
    agent.exercise("access")
    drp_request = DrpRequest.objects.get()
    op = operations.get("drp_denial_reason")
    assert not op.offered(drp_request.case, Actor.staff(dora))  # nothing refused yet
    case = services.case_reject(
        case=drp_request.case, actor=Actor.staff(dora), reason="We are not the controller"
    )
    assert status_object(DrpRequest.objects.get())["reason"] == "other"
    with pytest.raises(PermissionDenied):
        op.run(case=case, actor=Actor.staff(alice), values={"reason": "claim_not_covered"})
    op.run(case=case, actor=Actor.staff(dora), values={"reason": "claim_not_covered"})
    body = status_object(DrpRequest.objects.get())
    assert (body["status"], body["reason"]) == ("denied", "claim_not_covered")
    event = AuditEvent.objects.filter(case=case, action="drp.denial_reason_set").get()
    assert event.details == {"from": "", "to": "claim_not_covered"}
