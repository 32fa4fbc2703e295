"""The status page of a completed access request (issue 14, point 9): the request is complete
and the data ready to download until the window ends, then the download has expired; no
withdrawal is offered; downloads are recorded apart and complete nothing."""

from __future__ import annotations

import re

import pytest
from django.utils import dateformat, timezone

from casework import notifications, services
from casework.actors import Actor
from casework.models import AuditEvent, Bundle, Case, Notice, State
from casework.portal import selectors as portal_selectors
from casework.portal import services as portal_services
from tests.casework.helpers import bring_to
from tests.portal.conftest import code_of, ready_bundle

pytestmark = pytest.mark.django_db


def completed(case: Case, **built) -> Case:
    """The bundle built (`ready_bundle`) and the subject told by e-mail: the case completed."""
    ready_bundle(case, **built)
    notifications.notify_subject(Case.objects.get(pk=case.pk), Notice.READY)
    case = Case.objects.get(pk=case.pk)
    assert case.state == State.COMPLETED
    return case


@pytest.fixture
def case(make_case, alice, bob):
    return bring_to(State.FULFILLING, make_case(name="Arta Krasniqi"), alice, approver=bob)


def status_of(case: Case, language: str = "en") -> str:
    token = portal_services.issue_token(case=case, purpose="status")
    return f"/{language}/status/{token}/"


def test_the_page_says_complete_and_ready_to_download_until_the_window_ends(client, case):
    case = completed(case)
    html = client.get(status_of(case)).content.decode()
    assert "Your request is complete." in html
    assert "Your data is ready" in html and "You can download it until" in html
    assert "Download my data" in html
    assert "Withdraw my request" not in html and "Changed your mind?" not in html


def test_after_the_window_the_page_says_the_download_has_expired(client, case):
    case = completed(case, built_days_ago=8)
    html = client.get(status_of(case)).content.decode()
    assert "Your request is complete." in html
    assert "The download of your data has expired" in html
    ends = timezone.localtime(portal_selectors.download_ended_on(case))
    assert f"could be downloaded until {dateformat.format(ends, 'j F Y')}." in html
    assert ends < timezone.now()
    assert "Your data is ready" not in html and "Download my data" not in html
    assert "Withdraw my request" not in html


def test_a_bundle_deleted_after_its_retention_is_said_expired_too(client, case):
    case = completed(case, built_days_ago=8)
    Bundle.objects.filter(case=case, state=Bundle.State.READY).update(
        state=Bundle.State.DELETED, file=""
    )
    html = client.get(status_of(case)).content.decode()
    assert "The download of your data has expired" in html


def test_the_page_says_so_in_albanian(client, case):
    case = completed(case, built_days_ago=8)
    html = client.get(status_of(case, "sq")).content.decode()
    assert "Afati për të shkarkuar të dhënat tuaja ka mbaruar" in html


def test_downloads_used_up_are_said(client, case, settings):
    settings.DSAR_DOWNLOAD_MAX = 0
    case = completed(case)
    html = client.get(status_of(case)).content.decode()
    assert "You have downloaded your data as many times as we allow" in html
    assert "Download my data" not in html


def test_a_completed_request_offers_no_withdrawal(client, case, django_capture_on_commit_callbacks):
    case = completed(case)
    status = status_of(case)
    assert client.get(status + "withdraw/").status_code == 302
    with django_capture_on_commit_callbacks(execute=True):
        client.post(status + "withdraw/")
    assert Case.objects.get(pk=case.pk).state == State.COMPLETED


def test_a_download_is_recorded_apart_and_changes_no_completion(
    client, case, mailoutbox, django_capture_on_commit_callbacks
):
    case = completed(case)
    closed_at = case.closed_at
    status = status_of(case)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(status + "download/", {"action": "send"})
    with django_capture_on_commit_callbacks(execute=True):
        page = client.post(
            status + "download/", {"action": "check", "code": code_of(mailoutbox[-1])}
        )
    token = re.search(r'name="token" value="([^"]+)"', page.content.decode()).group(1)
    response = client.post("/en/download/", {"token": token})
    assert response.status_code == 200
    b"".join(response.streaming_content)

    assert AuditEvent.objects.filter(case=case, action="bundle.downloaded").count() == 1
    case = Case.objects.get(pk=case.pk)
    assert case.state == State.COMPLETED and case.closed_at == closed_at
    assert AuditEvent.objects.filter(case=case, action="case.completed").count() == 1
    assert "4 more times" in client.get(status).content.decode()


def test_a_release_revoked_after_completion_is_said_withdrawn(client, case, dora):
    case = completed(case)
    status = status_of(case)
    services.release_revoke(case=case, actor=Actor.staff(dora), reason="Another Arta's orders")
    html = client.get(status).content.decode()
    assert "The download of your data was withdrawn" in html
    assert "Your request is complete." not in html and "Your data is ready" not in html
