"""The secure download: a one-time code by e-mail (10 minutes, 5 tries, in the database), a
single-use download button, the window and the download limit, streaming and the audit."""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from django.utils import timezone

from casework.models import AuditEvent, Bundle, DownloadCode, PortalToken
from casework.portal import services as portal_services
from tests.casework.helpers import verified
from tests.portal.conftest import code_of, ready_bundle

pytestmark = pytest.mark.django_db


@pytest.fixture
def case(make_case, alice):
    return verified(make_case(name="Arta Krasniqi"), alice)


@pytest.fixture
def status(case):
    return f"/en/status/{portal_services.issue_token(case=case, purpose='status')}/"


@pytest.fixture
def bundle(case):
    return ready_bundle(case)


def ask_code(post, status, mailoutbox) -> str:
    response = post(status + "download/", {"action": "send"})
    assert response.status_code == 200
    assert "We have sent you a code" in response.content.decode()
    return code_of(mailoutbox[-1])


def enter(post, status, code):
    return post(status + "download/", {"action": "check", "code": code})


def download_token(response) -> str:
    return re.search(r'name="token" value="([^"]+)"', response.content.decode()).group(1)


def test_the_status_page_offers_the_download(client, status, bundle):
    html = client.get(status).content.decode()
    assert "Your data is ready" in html
    assert "5 more times" in html


def test_a_code_is_sent_by_email_and_stored_as_a_hash(post, status, bundle, mailoutbox, case):
    code = ask_code(post, status, mailoutbox)
    assert re.fullmatch(r"\d{6}", code)
    assert mailoutbox[-1].to == [case.email]
    assert case.reference in mailoutbox[-1].subject
    stored = DownloadCode.objects.get(bundle=bundle)
    assert code not in stored.code_hash and len(stored.code_hash) == 64
    assert 590 <= (stored.expires_at - timezone.now()).total_seconds() <= 600


def test_the_right_code_streams_the_zip(client, post, status, bundle, mailoutbox, case):
    code = ask_code(post, status, mailoutbox)
    ready = enter(post, status, code)
    assert ready.status_code == 200
    assert ready["Referrer-Policy"] == "no-referrer" and "no-store" in ready["Cache-Control"]
    token = download_token(ready)
    response = client.post("/en/download/", {"token": token})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "application/zip"
    assert "no-store" in response["Cache-Control"]
    assert response["Content-Disposition"] == f'attachment; filename="{case.reference}.zip"'
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert archive.namelist() == ["manifest.json", "data/online_account.json"]
    event = AuditEvent.objects.get(case=case, action="bundle.downloaded")
    assert event.details == {"bundle": bundle.pk} and event.actor_kind == "subject"
    assert DownloadCode.objects.get(bundle=bundle).used_at is not None


def test_a_download_button_works_once(client, post, status, bundle, mailoutbox):
    token = download_token(enter(post, status, ask_code(post, status, mailoutbox)))
    assert client.post("/en/download/", {"token": token}).status_code == 200
    again = client.post("/en/download/", {"token": token})
    assert again.status_code == 410
    assert "Each download button works once" in again.content.decode()
    assert client.post("/en/download/", {"token": "x" * 43}).status_code == 404


def test_an_expired_download_button_answers_410(client, post, status, bundle, mailoutbox):
    token = download_token(enter(post, status, ask_code(post, status, mailoutbox)))
    PortalToken.objects.filter(purpose="download").update(expires_at=timezone.now())
    assert client.post("/en/download/", {"token": token}).status_code == 410
    assert not AuditEvent.objects.filter(action="bundle.downloaded").exists()


def test_a_wrong_code_counts_a_try(post, status, bundle, mailoutbox):
    code = ask_code(post, status, mailoutbox)
    wrong = "000000" if code != "000000" else "111111"
    response = enter(post, status, wrong)
    html = response.content.decode()
    assert 'id="id_code_error"' in html and "Tries left: 4." in html
    assert DownloadCode.objects.get(bundle=bundle).attempts == 1


def test_five_wrong_codes_need_a_new_code(post, status, bundle, mailoutbox):
    code = ask_code(post, status, mailoutbox)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        html = enter(post, status, wrong).content.decode()
    assert "no tries left" in html
    html = enter(post, status, code).content.decode()  # even the right one, now
    assert "Too many wrong tries with that code. Ask for a new code." in html
    assert 'name="token"' not in html
    new = ask_code(post, status, mailoutbox)
    assert 'name="token"' in enter(post, status, new).content.decode()


def test_an_expired_code_is_refused(post, status, bundle, mailoutbox):
    code = ask_code(post, status, mailoutbox)
    DownloadCode.objects.update(expires_at=timezone.now() - timezone.timedelta(seconds=1))
    html = enter(post, status, code).content.decode()
    assert "That code has expired" in html
    assert 'name="token"' not in html


def test_a_new_code_replaces_the_old_one(post, status, bundle, mailoutbox):
    first = ask_code(post, status, mailoutbox)
    second = ask_code(post, status, mailoutbox)
    if first != second:
        assert "not right" in enter(post, status, first).content.decode()
    assert 'name="token"' in enter(post, status, second).content.decode()


def test_the_download_limit_answers_410(client, post, status, bundle, mailoutbox, settings):
    settings.DSAR_DOWNLOAD_MAX = 2
    settings.DSAR_RATE_PER_EMAIL = 50
    for _ in range(2):
        token = download_token(enter(post, status, ask_code(post, status, mailoutbox)))
        assert client.post("/en/download/", {"token": token}).status_code == 200
    assert AuditEvent.objects.filter(action="bundle.downloaded").count() == 2
    response = client.get(status + "download/")
    assert response.status_code == 410
    assert "as many times as we allow" in response.content.decode()
    assert "Your data is ready" not in client.get(status).content.decode()


def test_the_download_limit_holds_for_buttons_already_handed_out(
    client, post, status, bundle, mailoutbox, settings
):
    settings.DSAR_DOWNLOAD_MAX = 1
    first = download_token(enter(post, status, ask_code(post, status, mailoutbox)))
    second = download_token(enter(post, status, ask_code(post, status, mailoutbox)))
    assert client.post("/en/download/", {"token": first}).status_code == 200
    response = client.post("/en/download/", {"token": second})
    assert response.status_code == 410
    assert "as many times as we allow" in response.content.decode()
    assert AuditEvent.objects.filter(action="bundle.downloaded").count() == 1


def test_the_window_closes_after_the_set_days(client, post, status, case, mailoutbox, settings):
    settings.DSAR_DOWNLOAD_WINDOW_DAYS = 7
    bundle = ready_bundle(case)
    token = download_token(enter(post, status, ask_code(post, status, mailoutbox)))
    Bundle.objects.filter(pk=bundle.pk).update(
        finished_at=timezone.now() - timezone.timedelta(days=8)
    )
    response = client.post("/en/download/", {"token": token})
    assert response.status_code == 410
    assert "The time to download your data has passed." in response.content.decode()
    assert client.get(status + "download/").status_code == 410
    assert not AuditEvent.objects.filter(action="bundle.downloaded").exists()


def test_no_code_is_sent_before_a_bundle_is_ready(post, status, mailoutbox):
    response = post(status + "download/", {"action": "send"})
    assert response.status_code == 410
    assert mailoutbox == []


def test_an_unverified_case_offers_no_download(client, make_case, mailoutbox):
    case = make_case(email="other@demo.example")
    ready_bundle(case)
    status = f"/en/status/{portal_services.issue_token(case=case, purpose='status')}/"
    assert "Your data is ready" not in client.get(status).content.decode()
    assert client.get(status + "download/").status_code == 410


def test_the_subject_is_told_when_the_data_is_ready_with_a_fresh_status_link(
    db, make_case, alice, mailoutbox, django_capture_on_commit_callbacks
):
    from casework import services
    from casework.actors import Actor
    from tests.casework.helpers import in_review

    case = in_review(make_case(language="sq"), alice)
    case = services.complete_review(case=case, actor=Actor.staff(alice))
    with django_capture_on_commit_callbacks(execute=True):
        services.case_approve(case=case, actor=Actor.staff(alice))
    ready = [m for m in mailoutbox if "gati" in m.subject]
    assert len(ready) == 1
    assert ready[0].to == ["arta.krasniqi@demo.example"]
    assert "/sq/status/" in ready[0].body
    assert ".zip" not in ready[0].body and not ready[0].attachments  # the data never goes by e-mail
