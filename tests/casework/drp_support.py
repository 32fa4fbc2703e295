"""A DRP 1.0 agent for the tests: its own Ed25519 keys (PyNaCl), signed messages, pairing."""

from __future__ import annotations

import base64
import datetime as dt
import json

from django.utils import timezone
from nacl.signing import SigningKey

from casework.models import DrpAgent

BUSINESS = "DSAR_DEMO"


def iso(when: dt.datetime) -> str:
    return when.isoformat()


class AgentClient:
    """Signs as an agent and talks to our DRP endpoints through Django's test client."""

    def __init__(self, client, agent_id: str = "TEST_AGENT", web_url="https://agent.example"):
        self.client = client
        self.key = SigningKey.generate()
        self.agent = DrpAgent.objects.create(
            id=agent_id,
            name=f"{agent_id} app",
            verify_key=base64.b64encode(bytes(self.key.verify_key)).decode(),
            web_url=web_url,
        )
        self.token = ""

    def envelope(self, **claims) -> dict:
        now = timezone.now()
        return {
            "agent-id": self.agent.pk,
            "business-id": BUSINESS,
            "issued-at": iso(now - dt.timedelta(seconds=5)),
            "expires-at": iso(now + dt.timedelta(minutes=10)),
            "drp.version": "1.0",
            **claims,
        }

    def sign(self, claims: dict, key: SigningKey | None = None) -> str:
        signed = (key or self.key).sign(json.dumps(claims).encode())
        return base64.b64encode(bytes(signed)).decode()

    def pair(self):
        response = self.client.post(
            f"/drp/v1/agent/{self.agent.pk}",
            data=self.sign(self.envelope()),
            content_type="text/plain",
        )
        if response.status_code == 200:
            self.token = response.json()["token"]
        return response

    def auth(self, token: str | None = None) -> dict:
        return {"HTTP_AUTHORIZATION": f"Bearer {token if token is not None else self.token}"}

    def file_signed(self, body: str, token: str | None = None):
        return self.client.post(
            "/drp/v1/data-rights-request",
            data=body,
            content_type="text/plain",
            **self.auth(token),
        )

    def exercise(self, exercise: str, **claims):
        claims.setdefault("email", "arta.krasniqi@demo.example")
        claims.setdefault("email_verified", True)
        claims.setdefault("name", "Arta Krasniqi")
        return self.file_signed(self.sign(self.envelope(exercise=exercise, **claims)))

    def status(self, request_id: str, token: str | None = None):
        return self.client.get(f"/drp/v1/data-rights-request/{request_id}", **self.auth(token))

    def revoke(self, request_id: str, body: str | None = None, **claims):
        claims.setdefault("reason", "I changed my mind")
        return self.client.delete(
            f"/drp/v1/data-rights-request/{request_id}",
            data=body if body is not None else self.sign(claims),
            content_type="text/plain",
            **self.auth(),
        )
