"""DRP status callbacks delivered by the real worker: an agent files a request with a
status_callback, revokes it, and the worker POSTs the status object to the agent's receiver
(a work-engine row, claimed and marked delivered)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from casework.models import DrpCallback
from tests.casework.drp_support import AgentClient
from tests.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]


class Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        type(self).received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver(settings):
    settings.DRP_CALLBACK_ALLOW_PRIVATE = True
    Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://localhost:{server.server_port}/drp/status"
    server.shutdown()


def test_the_worker_calls_the_agent_back_when_its_request_is_revoked(real_worker, client, receiver):
    agent = AgentClient(client)
    assert agent.pair().status_code == 200
    filed = agent.exercise("deletion", status_callback=receiver)
    assert filed.status_code == 200, filed.content
    request_id = filed.json()["request_id"]
    assert agent.revoke(request_id).status_code == 200

    wait_for(lambda: any(r["status"] == "revoked" for r in Receiver.received), timeout=60)
    [payload] = [r for r in Receiver.received if r["status"] == "revoked"]
    assert payload["request_id"] == request_id
    delivered = wait_for(
        lambda: DrpCallback.objects.filter(state=DrpCallback.State.DELIVERED).first(), timeout=30
    )
    assert delivered.response_status == 200
