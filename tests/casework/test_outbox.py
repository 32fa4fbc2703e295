"""The development outbox: e-mails written one file each, read in the admin only by staff who
may see their case, absent with any other backend, refused with DSAR_SECURE=1."""

from __future__ import annotations

import logging

import pytest
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMessage, get_connection

from casework import outbox
from casework.mail import CASE_HEADER
from casework.portal import emails
from config.logmask import mask_path

pytestmark = pytest.mark.django_db


@pytest.fixture
def mail_dir(settings, tmp_path):
    settings.EMAIL_BACKEND = outbox.BACKEND
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    return tmp_path / "mail"


@pytest.fixture
def confirmation(mail_dir, make_case):
    """A new request's confirmation link, written to the outbox."""
    case = make_case()
    assert emails.send_verification_link(case)
    (message,) = outbox.outbox_messages()
    return case, message


def test_it_writes_one_private_eml_file_per_message(mail_dir):
    sent = EmailMessage("Hello", "Body", "a@demo.example", ["b@demo.example"]).send()
    EmailMessage("Again", "Body", "a@demo.example", ["b@demo.example"]).send()

    assert sent == 1
    files = sorted(mail_dir.glob("*.eml"))
    assert len(files) == 2
    assert all(oct(f.stat().st_mode)[-3:] == "600" for f in files)
    assert [m.subject for m in outbox.outbox_messages()] == ["Again", "Hello"]


def test_it_refuses_a_relative_folder():
    with pytest.raises(ImproperlyConfigured, match="not absolute"):
        get_connection(outbox.BACKEND, file_path="var/mail")


def test_it_logs_where_to_read_the_mail_without_the_address_or_the_link(confirmation, caplog):
    case, _ = confirmation
    with caplog.at_level(logging.INFO, logger="casework.outbox"):
        emails.send_verification_link(case)
    (line,) = [r.getMessage() for r in caplog.records if r.name == "casework.outbox"]
    newest = outbox.outbox_messages()[0]
    assert line == (
        f"mail for {case.reference} saved to the outbox: "
        f"http://127.0.0.1:8000/admin/outbox/{newest.id}/"
    )
    assert "arta" not in line and "/verify/" not in line
    assert mask_path(line) == line  # the log masker leaves where to read it readable


def test_case_mail_names_its_case_and_keeps_its_link(confirmation):
    case, message = confirmation
    assert message.case_references == (case.reference,)
    assert message.to == ("arta.krasniqi@demo.example",)
    assert "http://127.0.0.1:8000/en/verify/" in message.text


def test_a_name_outside_the_outbox_names_no_message(mail_dir):
    assert outbox.outbox_message("../../etc/passwd") is None
    assert outbox.outbox_message("20250101.000000.000000.deadbeef") is None


def test_the_privacy_team_reads_its_cases_mail_with_the_link(client, alice, confirmation):
    _, message = confirmation
    client.force_login(alice)

    listing = client.get("/admin/outbox/")
    assert listing.status_code == 200
    assert f"/admin/outbox/{message.id}/" in listing.content.decode()

    page = client.get(f"/admin/outbox/{message.id}/").content.decode()
    link = next(line for line in message.text.splitlines() if "/verify/" in line).strip()
    assert f'<a href="{link}"' in page


def test_an_administrator_sees_no_case_mail(client, adam, confirmation):
    _, message = confirmation
    client.force_login(adam)

    assert message.id not in client.get("/admin/outbox/").content.decode()
    assert client.get(f"/admin/outbox/{message.id}/").status_code == 404


def test_mail_about_no_case_is_for_its_recipient_only(client, alice, bob, mail_dir):
    EmailMessage("For Bob", "Body", "a@demo.example", [bob.email]).send()
    (message,) = outbox.outbox_messages()

    client.force_login(alice)
    assert client.get(f"/admin/outbox/{message.id}/").status_code == 404
    client.force_login(bob)
    assert client.get(f"/admin/outbox/{message.id}/").status_code == 200


def test_mail_about_several_cases_needs_them_all(alice, confirmation, make_case):
    case, message = confirmation
    other = make_case(email="someone@demo.example")
    both = outbox.OutboxMessage(
        **{**message.__dict__, "case_references": (case.reference, other.reference)}
    )

    visible = outbox.visible_messages([both], user=alice, may_view_case=lambda c: c.pk == case.pk)
    assert visible == []


def test_the_outbox_is_not_there_with_another_backend(client, alice, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    client.force_login(alice)

    assert client.get("/admin/outbox/").status_code == 404
    assert "/admin/outbox/" not in client.get("/admin/").content.decode()


def test_the_admin_index_links_to_the_outbox_when_mail_goes_there(client, alice, mail_dir):
    client.force_login(alice)
    assert 'href="/admin/outbox/"' in client.get("/admin/").content.decode()


def test_the_outbox_with_dsar_secure_is_a_system_check_error(settings, mail_dir):
    settings.DSAR_SECURE = True
    errors = [m for m in checks.run_checks() if m.id == "casework.E003"]
    assert len(errors) == 1 and errors[0].level == checks.ERROR


def test_the_outbox_in_development_passes_the_checks(settings, mail_dir):
    settings.DSAR_SECURE = False
    assert not [m for m in checks.run_checks() if m.id == "casework.E003"]


def test_case_mail_carries_its_reference_in_a_header(mailoutbox, make_case):
    case = make_case()
    emails.send_verification_link(case)
    assert mailoutbox[-1].extra_headers[CASE_HEADER] == case.reference
