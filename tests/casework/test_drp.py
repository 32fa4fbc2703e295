"""The Data Rights Protocol 1.0, driven end to end by an agent with real Ed25519 keys."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets

import pytest
from django.utils import timezone
from nacl.signing import SigningKey

from casework import services
from casework.actors import Actor
from casework.models import (
    AuditEvent,
    Case,
    DrpAgent,
    DrpRequest,
    DrpSeenMessage,
    State,
    VerificationMethod,
)
from casework.tokens import hash_token
from tests.casework.drp_support import AgentClient, iso

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(client):
    paired = AgentClient(client)
    assert paired.pair().status_code == 200
    return paired


def _nothing_created():
    return Case.objects.count() == 0 and DrpRequest.objects.count() == 0


# --- pairing ---------------------------------------------------------------------------------------


def test_it_pairs_an_agent_with_a_fresh_token_kept_only_as_a_hash(client):
    agent = AgentClient(client)
    response = agent.pair()
    assert response.status_code == 200
    body = response.json()
    assert body["agent-id"] == "TEST_AGENT"
    assert len(base64.urlsafe_b64decode(body["token"] + "==")) >= 32  # 256 bits
    stored = DrpAgent.objects.get(pk="TEST_AGENT")
    assert stored.token_hash == hash_token(body["token"])
    assert body["token"] not in stored.token_hash


def test_pairing_again_replaces_the_token(client):
    agent = AgentClient(client)
    agent.pair()
    first = agent.token
    agent.pair()
    assert agent.token != first
    assert client.get("/drp/v1/agent/TEST_AGENT", **agent.auth(first)).status_code == 403
    response = client.get("/drp/v1/agent/TEST_AGENT", **agent.auth())
    assert response.status_code == 200
    assert response.json() == {}


def test_pairing_refuses_another_key_with_a_bare_403(client):
    agent = AgentClient(client)
    body = agent.sign(agent.envelope(), key=SigningKey.generate())
    response = client.post("/drp/v1/agent/TEST_AGENT", data=body, content_type="text/plain")
    assert response.status_code == 403
    assert response.content == b""
    assert DrpAgent.objects.get().token_hash == ""


def test_pairing_refuses_an_unknown_or_disabled_agent(client):
    agent = AgentClient(client)
    DrpAgent.objects.filter(pk=agent.agent.pk).update(enabled=False)
    assert agent.pair().status_code == 403
    response = client.post(
        "/drp/v1/agent/NOBODY", data=agent.sign(agent.envelope()), content_type="text/plain"
    )
    assert response.status_code == 403


def test_pairing_refuses_a_replayed_message(client):
    agent = AgentClient(client)
    body = agent.sign(agent.envelope())
    first = client.post("/drp/v1/agent/TEST_AGENT", data=body, content_type="text/plain")
    again = client.post("/drp/v1/agent/TEST_AGENT", data=body, content_type="text/plain")
    assert first.status_code == 200
    assert again.status_code == 403


def test_a_token_for_another_agent_is_refused(client, agent):
    other = AgentClient(client, "OTHER_AGENT")
    other.pair()
    assert client.get("/drp/v1/agent/OTHER_AGENT", **agent.auth()).status_code == 403


def test_pairing_is_audited_without_personal_data(agent):
    event = AuditEvent.objects.get(action="drp.agent_paired")
    assert event.details == {"agent": "TEST_AGENT"}


# --- filing each exercise -------------------------------------------------------------------------


def test_an_opt_out_on_a_verified_email_claim_is_verified_by_the_agents_attestation(agent):
    response = agent.exercise("sale:opt-out", **{"agent-request-id": "abc-1"})
    assert response.status_code == 200, response.content
    body = response.json()
    drp_request = DrpRequest.objects.get()
    case = drp_request.case
    assert body["request_id"] == str(drp_request.request_id)
    assert body["request_id"] != case.reference
    assert body["agent_request_id"] == "abc-1"
    assert body["status"] == "in_progress"
    assert body["reason"] is None
    assert body["expected_by"] == case.due_at.isoformat()
    assert case.request_type == "objection"
    assert case.details["direct_marketing"] is True
    assert case.details["disclosure"] is True
    assert case.verification_method == VerificationMethod.AGENT_ATTESTATION
    assert case.channel == "api"


def test_an_opt_out_on_an_unverified_email_claim_waits_for_our_verification(agent):
    body = agent.exercise("sale:opt-out", email_verified=False).json()
    assert body["status"] == "in_progress"
    assert body["reason"] == "need_user_verification"
    assert DrpRequest.objects.get().case.state == State.RECEIVED


@pytest.mark.parametrize(
    ("exercise", "request_type", "details"),
    [
        ("sale:opt-in", "objection", {"lifting": True, "direct_marketing": True}),
        ("access:categories", "access", {"scope": "categories"}),
        ("access", "access", {}),
        ("access:specific", "access", {}),
        ("deletion", "erasure", {}),
    ],
)
def test_other_exercises_wait_for_the_person_to_verify_with_us(
    agent, mailoutbox, django_capture_on_commit_callbacks, exercise, request_type, details
):
    with django_capture_on_commit_callbacks(execute=True):
        response = agent.exercise(exercise)
    assert response.status_code == 200, response.content
    body = response.json()
    drp_request = DrpRequest.objects.get()
    case = drp_request.case
    assert case.request_type == request_type
    assert details.items() <= case.details.items()
    assert case.state == State.RECEIVED  # the agent's verified claim is only a claim
    assert body["status"] == "in_progress"
    assert body["reason"] == "need_user_verification"
    assert body["user_verification_url"].endswith(f"/drp/verify/{drp_request.request_id}/")
    # our own e-mail verification went to the claimed address
    assert [m.to for m in mailoutbox] == [["arta.krasniqi@demo.example"]]


def test_the_agents_trust_policy_can_extend_the_claim_to_another_exercise(agent):
    DrpAgent.objects.filter(pk=agent.agent.pk).update(
        trust_policy={"email_claim_suffices_for": ["sale:opt-out", "sale:opt-in"]}
    )
    agent.exercise("sale:opt-in")
    assert DrpRequest.objects.get().case.verified_at is not None


def test_the_trust_policy_can_withdraw_the_default(agent):
    DrpAgent.objects.filter(pk=agent.agent.pk).update(trust_policy={"email_claim_suffices_for": []})
    agent.exercise("sale:opt-out")
    assert DrpRequest.objects.get().case.state == State.RECEIVED


def test_ccpa_regime_is_taken_and_absent_regime_follows_the_country(agent, settings):
    agent.exercise("access", regime="ccpa")
    assert Case.objects.get().regime == "ccpa"
    agent.exercise("access", email="b@demo.example", address={"country": "DE"})
    assert Case.objects.get(email="b@demo.example").regime == settings.DSAR_DEFAULT_REGIME


def test_filing_is_audited_with_the_agent_and_no_personal_data(agent):
    agent.exercise("deletion")
    event = AuditEvent.objects.get(action="drp.request_filed")
    created = AuditEvent.objects.get(action="case.created")
    assert event.details["drp_agent"] == "TEST_AGENT"
    assert created.details["drp_agent"] == "TEST_AGENT"
    assert "arta" not in str(event.details).lower()


# --- status polling and revoking ----------------------------------------------------------------


def test_the_agent_polls_the_status(agent):
    request_id = agent.exercise("access").json()["request_id"]
    response = agent.status(request_id)
    assert response.status_code == 200
    assert response.json()["request_id"] == request_id


def test_another_agents_request_is_refused(client, agent):
    request_id = agent.exercise("access").json()["request_id"]
    other = AgentClient(client, "OTHER_AGENT")
    other.pair()
    response = other.status(request_id)
    assert response.status_code == 403
    assert response.json()["code"] == "403"


def test_an_unknown_request_is_404(agent):
    response = agent.status("00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert response.json() == {"code": "404", "message": "No such request.", "fatal": False}


def test_revoking_withdraws_the_case(agent):
    request_id = agent.exercise("deletion").json()["request_id"]
    response = agent.revoke(request_id)
    assert response.status_code == 200
    assert response.json()["status"] == "revoked"
    assert DrpRequest.objects.get().case.state == State.WITHDRAWN
    event = AuditEvent.objects.get(action="case.withdrawn")
    assert event.details["drp_agent"] == "TEST_AGENT"


def test_revoking_checks_an_envelope_it_carries(agent):
    request_id = agent.exercise("deletion").json()["request_id"]
    body = agent.sign({**agent.envelope(reason="no"), "business-id": "SOMEONE_ELSE"})
    response = agent.revoke(request_id, body=body)
    assert response.status_code == 403
    assert DrpRequest.objects.get().case.state == State.RECEIVED


def test_revoking_with_another_key_is_refused(agent):
    request_id = agent.exercise("deletion").json()["request_id"]
    body = agent.sign({"reason": "no"}, key=SigningKey.generate())
    assert agent.revoke(request_id, body=body).status_code == 403
    assert DrpRequest.objects.get().case.state == State.RECEIVED


def test_a_replayed_revocation_is_refused(agent, make_case):
    request_id = agent.exercise("deletion").json()["request_id"]
    body = agent.sign({"reason": "no"})
    assert agent.revoke(request_id, body=body).status_code == 200
    again = agent.revoke(request_id, body=body)
    assert again.status_code in (403, 409)


def test_a_closed_request_cannot_be_revoked(agent, dora):
    request_id = agent.exercise("deletion").json()["request_id"]
    case = DrpRequest.objects.get().case
    services.case_reject(case=case, actor=Actor.staff(dora), reason="Not ours")
    response = agent.revoke(request_id)
    assert response.status_code == 409
    assert response.json()["code"] == "409"


# --- bad input ------------------------------------------------------------------------------------


def _refused(response, status: int) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == str(status)
    assert set(body) == {"code", "message", "fatal"}
    assert _nothing_created()


def test_bad_base64_is_refused(agent):
    _refused(agent.file_signed("not base64 at all!!"), 400)


def test_a_signature_by_another_key_is_refused(agent):
    body = agent.sign(
        agent.envelope(exercise="access", email="a@demo.example"), SigningKey.generate()
    )
    _refused(agent.file_signed(body), 403)


def test_a_body_signed_for_another_business_is_refused(agent):
    claims = agent.envelope(exercise="access", email="a@demo.example")
    claims["business-id"] = "ANOTHER_BUSINESS"
    _refused(agent.file_signed(agent.sign(claims)), 403)


def test_a_body_signed_for_another_agent_id_is_refused(agent):
    claims = agent.envelope(exercise="access", email="a@demo.example")
    claims["agent-id"] = "OTHER_AGENT"
    _refused(agent.file_signed(agent.sign(claims)), 403)


def test_an_expired_message_is_refused(agent):
    now = timezone.now()
    claims = agent.envelope(exercise="access", email="a@demo.example")
    claims["issued-at"] = iso(now - dt.timedelta(minutes=12))
    claims["expires-at"] = iso(now - dt.timedelta(minutes=1))
    _refused(agent.file_signed(agent.sign(claims)), 403)


def test_a_message_from_the_future_is_refused(agent):
    now = timezone.now()
    claims = agent.envelope(exercise="access", email="a@demo.example")
    claims["issued-at"] = iso(now + dt.timedelta(minutes=2))
    claims["expires-at"] = iso(now + dt.timedelta(minutes=10))
    _refused(agent.file_signed(agent.sign(claims)), 403)


def test_a_window_longer_than_the_setting_is_refused(agent):
    now = timezone.now()
    claims = agent.envelope(exercise="access", email="a@demo.example")
    claims["issued-at"] = iso(now - dt.timedelta(minutes=1))
    claims["expires-at"] = iso(now + dt.timedelta(minutes=30))
    _refused(agent.file_signed(agent.sign(claims)), 403)


def test_a_replayed_message_is_refused_and_creates_nothing_more(agent):
    body = agent.sign(agent.envelope(exercise="access", email="a@demo.example"))
    assert agent.file_signed(body).status_code == 200
    again = agent.file_signed(body)
    assert again.status_code == 403
    assert Case.objects.count() == 1
    assert DrpSeenMessage.objects.count() == 2  # the pairing's and the filing's


def test_an_unknown_exercise_is_refused(agent):
    response = agent.exercise("sale:maybe")
    _refused(response, 400)
    assert response.json()["fatal"] is True


def test_a_missing_email_claim_is_refused(agent):
    body = agent.sign(agent.envelope(exercise="access", name="Arta"))
    _refused(agent.file_signed(body), 400)


def test_a_bad_phone_number_is_refused(agent):
    _refused(agent.exercise("access", phone_number="0691234567"), 400)


def test_a_token_for_another_agent_cannot_file_its_signed_body(client, agent):
    other = AgentClient(client, "OTHER_AGENT")
    other.pair()
    # signed by TEST_AGENT, presented with OTHER_AGENT's token
    body = agent.sign(agent.envelope(exercise="access", email="a@demo.example"))
    _refused(agent.file_signed(body, token=other.token), 403)


def test_no_token_is_401_and_a_bad_token_403(agent):
    body = agent.sign(agent.envelope(exercise="access", email="a@demo.example"))
    response = agent.client.post(
        "/drp/v1/data-rights-request", data=body, content_type="text/plain"
    )
    _refused(response, 401)
    _refused(agent.file_signed(body, token="x" * 43), 403)


def test_an_oversized_body_is_refused_before_it_is_read(agent, settings):
    settings.DRP_MAX_BODY_BYTES = 1024
    _refused(agent.file_signed("A" * 2000), 413)


def test_refusals_are_logged_without_personal_data(agent, caplog):
    claims = agent.envelope(exercise="access", email="secret.person@demo.example")
    claims["business-id"] = "ANOTHER_BUSINESS"
    with caplog.at_level("WARNING"):
        agent.file_signed(agent.sign(claims))
    assert "business_id" in caplog.text
    assert "secret.person" not in caplog.text


def test_over_the_agents_rate_limit_is_429(client, settings):
    # An agent of its own: the counts live in the cache (Redis keeps them between tests).
    agent = AgentClient(client, "RATE_" + "".join(secrets.choice("ABCDEFGH") for _ in range(12)))
    agent.pair()
    settings.DRP_RATE_PER_AGENT = 2
    request_id = agent.exercise("access").json()["request_id"]
    agent.status(request_id)
    response = agent.status(request_id)
    assert response.status_code == 429
    assert response.json()["code"] == "429"


def test_an_unknown_address_under_the_base_path_is_a_json_404(client):
    response = client.get("/drp/v1/nothing")
    assert response.status_code == 404
    assert response.json()["code"] == "404"


def test_an_address_with_a_newline_under_the_base_path_is_a_json_404_too(client):
    response = client.get("/drp/v1/data-rights-request/p%0Aq")
    assert response.status_code == 404
    assert response.json()["code"] == "404"


# --- the information page and the schema ----------------------------------------------------------


def test_the_information_page_names_our_business_id_and_actions(client):
    response = client.get("/drp/")
    assert response.status_code == 200
    text = response.content.decode()
    assert "DSAR_DEMO" in text
    assert "sale:opt-out" in text and "access:categories" in text


def test_the_schema_documents_the_drp_endpoints(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "post" in paths["/drp/v1/agent/{agent_id}"]
    assert "post" in paths["/drp/v1/data-rights-request"]
    detail = paths["/drp/v1/data-rights-request/{request_id}"]
    assert {"get", "delete"} <= set(detail)
    assert "DrpStatus" in response.json()["components"]["schemas"]


# --- the directory of agents and their admin ----------------------------------------------------


def test_load_drp_agents_adds_and_updates_agents(tmp_path):
    from django.core.management import call_command

    key = base64.b64encode(bytes(SigningKey.generate().verify_key)).decode()
    directory = tmp_path / "agents.json"
    entries = [
        {
            "id": "CR_AGENT",
            "name": "Consumer app",
            "verify_key": key,
            "web_url": "https://app.example",
            "identity_assurance_url": "https://app.example/ia",
            "technical_contact": "tech@app.example",
        }
    ]
    directory.write_text(json.dumps(entries))
    call_command("load_drp_agents", str(directory))
    entries[0]["name"] = "Consumer app 2"
    directory.write_text(json.dumps(entries))
    call_command("load_drp_agents", str(directory))
    agent = DrpAgent.objects.get()
    assert agent.name == "Consumer app 2"
    assert agent.contacts == {"technical_contact": "tech@app.example"}
    assert agent.trust_policy["email_claim_suffices_for"] == ["sale:opt-out"]


def test_load_drp_agents_refuses_a_bad_key(tmp_path):
    from django.core.management import CommandError, call_command

    directory = tmp_path / "agents.json"
    directory.write_text(json.dumps([{"id": "BAD", "name": "x", "verify_key": "abc"}]))
    with pytest.raises(CommandError):
        call_command("load_drp_agents", str(directory))
    assert DrpAgent.objects.count() == 0


def test_the_administrator_edits_agents_and_the_privacy_team_does_not(adam, alice):
    assert adam.has_perm("casework.change_drpagent")
    assert adam.has_perm("casework.add_drpagent")
    assert not alice.has_perm("casework.change_drpagent")
