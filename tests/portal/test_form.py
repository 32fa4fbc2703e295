"""The request form: intake through the service, the regime by country, the language of the
URL, errors next to their fields, the honeypot, and no way to tell known e-mails apart."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from casework import services
from casework.actors import Actor
from casework.models import (
    AuditEvent,
    Case,
    CountryRegime,
    PortalSubmission,
    PortalToken,
    State,
)
from tests.portal.conftest import ARTA, form_data, links

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def test_it_shows_the_form_in_both_languages(client):
    en = client.get("/en/request/")
    sq = client.get("/sq/request/")
    assert en.status_code == sq.status_code == 200
    assert '<html lang="en">' in en.content.decode()
    assert '<html lang="sq">' in sq.content.decode()
    assert "Make a request about your personal data" in en.content.decode()
    assert "Bëni një kërkesë për të dhënat tuaja personale" in sq.content.decode()
    for right in ("access", "rectification", "erasure", "restriction", "portability", "objection"):
        assert f'value="{right}"' in en.content.decode()


def test_it_redirects_the_bare_path_by_accept_language(client):
    response = client.get("/request/", headers={"accept-language": "sq,en;q=0.5"})
    assert response.status_code == 302
    assert response["Location"] == "/sq/request/"
    response = client.get("/request/", headers={"accept-language": "en-GB,en;q=0.9"})
    assert response["Location"] == "/en/request/"


def test_the_pages_carry_the_security_headers(client):
    response = client.get("/en/request/")
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response["Referrer-Policy"] == "same-origin"  # no token on this page
    assert "no-store" in response["Cache-Control"]
    assert "<script" not in response.content.decode()
    assert ' style="' not in response.content.decode()


@pytest.mark.parametrize(
    ("language", "heading"),
    [("en", "Please check your inbox."), ("sq", "Ju lutemi, shikoni kutinë tuaj postare.")],
)
def test_submitting_opens_a_case_and_a_task_sends_the_link(submit, mailoutbox, language, heading):
    response = submit(language, country="DE")
    assert response.status_code == 200
    assert heading in response.content.decode()
    case = Case.objects.get()
    assert case.state == State.RECEIVED
    assert case.language == language
    assert case.channel == "web"
    assert case.regime == "gdpr"
    assert case.email == ARTA and case.name == "Arta Krasniqi" and case.company == "Drini Sh.p.k."
    assert case.details["country"] == "DE"
    assert AuditEvent.objects.filter(case=case, action="case.created").exists()
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == [ARTA]
    assert case.reference in message.subject
    assert len(links(message)) == 1 and links(message)[0].startswith(f"/{language}/verify/")
    assert [kind for _content, kind in message.alternatives] == ["text/html"]
    assert PortalToken.objects.filter(case=case, purpose="verify").count() == 1


@pytest.mark.parametrize("language", ["en", "sq"])
def test_the_post_redirects_to_the_thank_you_page_which_a_reload_does_not_resend(
    client, submit, language
):
    response = submit(language, execute=False, follow=False)
    assert response.status_code == 303
    assert response["Location"] == f"/{language}/request/sent/"
    for _reload in range(2):
        page = client.get(response["Location"])
        assert page.status_code == 200
        assert page.templates[0].name == "portal/sent.html"
    assert PortalSubmission.objects.count() == 1


def test_the_thank_you_page_after_a_lost_mailbox_promises_no_email(submit):
    response = submit(mailbox_lost="on", execute=False, follow=False)
    assert response["Location"] == "/en/request/sent/?mailbox=lost"
    page = submit(mailbox_lost="on", email="other@demo.example", execute=False)
    assert "we will not write to it" in page.content.decode()
    assert "Please check your inbox." not in page.content.decode()
    # The same page in Albanian says the same.
    assert 'href="/sq/request/sent/?mailbox=lost"' in page.content.decode()


def test_the_email_is_in_the_subjects_language(submit, mailoutbox):
    submit("sq")
    assert "Ju lutemi, konfirmoni kërkesën tuaj" in mailoutbox[0].subject
    assert "konfirmoni" in mailoutbox[0].body


def test_the_request_itself_stores_one_submission_and_sends_nothing(submit, mailoutbox):
    submit(execute=False)
    # The case is opened, and the e-mail sent, by the task queued after commit.
    assert Case.objects.count() == 0
    assert PortalSubmission.objects.get().state == PortalSubmission.State.PENDING
    assert mailoutbox == []


@pytest.mark.parametrize(
    ("country", "california", "regime"),
    [
        ("DE", False, "gdpr"),
        ("NO", False, "gdpr"),
        ("GB", False, "uk_gdpr"),
        ("US", True, "ccpa"),
        ("US", False, "voluntary"),
        ("AL", False, "gdpr"),
        ("XK", False, "gdpr"),
        ("ZZ", False, "gdpr"),
        ("DE", True, "gdpr"),  # the California box counts for the United States only
    ],
)
def test_the_regime_comes_from_the_table_of_countries(submit, country, california, regime):
    submit(country=country, california_resident="on" if california else None)
    assert Case.objects.get().regime == regime


def test_the_default_regime_setting_applies_to_countries_without_one(submit, settings):
    settings.DSAR_DEFAULT_REGIME = "voluntary"
    submit(country="AL")
    assert Case.objects.get().regime == "voluntary"


def test_an_edited_table_changes_the_regime(submit):
    CountryRegime.objects.filter(country="XK").update(regime="uk_gdpr")
    submit(country="XK")
    assert Case.objects.get().regime == "uk_gdpr"


def test_rectification_stores_the_corrections(submit):
    submit(
        request_type="rectification",
        correction_field_1="Job title",
        correction_current_1="Sales assistant",
        correction_correct_1="Sales manager",
        correction_field_2="Phone",
        correction_correct_2="+355 69 000 0000",
    )
    case = Case.objects.get()
    assert case.details["corrections"] == [
        {"field": "Job title", "current": "Sales assistant", "correct": "Sales manager"},
        {"field": "Phone", "current": "", "correct": "+355 69 000 0000"},
    ]


def test_objection_to_marketing_needs_no_reasons(submit):
    submit(request_type="objection", objection_kind="marketing")
    details = Case.objects.get().details
    assert details["direct_marketing"] is True


def test_objection_to_another_use_stores_the_processing_and_grounds(submit):
    submit(
        request_type="objection",
        objection_kind="other",
        objection_processing="Profiling from my browsing",
        objection_grounds="I no longer work in this sector.",
    )
    details = Case.objects.get().details
    assert details["direct_marketing"] is False
    assert details["processing"] == "Profiling from my browsing"
    assert details["grounds"] == "I no longer work in this sector."


def test_restriction_stores_its_ground_and_erasure_its_scope(submit, client):
    submit(request_type="restriction", restriction_ground="c")
    assert Case.objects.get().restriction_ground == "c"
    submit(request_type="erasure", erasure_scope="Only the event registrations")
    assert (
        Case.objects.get(request_type="erasure").details["scope"] == "Only the event registrations"
    )


def _error_for(html: str, field_id: str) -> str:
    """The error list tied to a field, and check that the field points at it."""
    match = re.search(rf'<ul class="errorlist" id="{field_id}_error"><li>(.*?)</li>', html)
    assert match, f"no error next to {field_id}"
    tag = re.search(rf'<(?:input|select|textarea)[^>]*id="{field_id}"[^>]*>', html)
    if tag:  # a radio group points from its fieldset instead
        assert f"{field_id}_error" in tag.group(0) and 'aria-invalid="true"' in tag.group(0)
    return match.group(1)


@pytest.mark.parametrize(
    ("language", "messages"),
    [
        (
            "en",
            {
                "id_name": "Enter your full name.",
                "id_email": "Enter an e-mail address like name@company.com.",
                "id_country": "Choose the country where you live.",
                "id_acknowledge": "Please confirm that you have read how this request is processed.",
            },
        ),
        (
            "sq",
            {
                "id_name": "Shkruani emrin tuaj të plotë.",
                "id_email": "Shkruani një adresë e-maili si emri@kompania.com.",
                "id_country": "Zgjidhni shtetin ku jetoni.",
                "id_acknowledge": "Ju lutemi, konfirmoni se keni lexuar si përpunohet kjo kërkesë.",
            },
        ),
    ],
)
def test_invalid_fields_get_errors_next_to_them_and_nothing_is_stored(
    submit, mailoutbox, language, messages
):
    events = AuditEvent.objects.count()  # the register's set-up is on the trail already
    response = submit(language, name="", email="not-an-address", country="", acknowledge=None)
    assert response.status_code == 200
    html = response.content.decode()
    for field_id, message in messages.items():
        assert _error_for(html, field_id) == message
    assert 'class="error-summary"' in html
    assert Case.objects.count() == 0
    assert AuditEvent.objects.count() == events
    assert mailoutbox == []


def test_type_specific_fields_are_required_for_their_type(submit):
    html = submit(request_type="rectification").content.decode()
    assert _error_for(html, "id_correction_field_1") == "Tell us at least one thing to correct."
    html = submit(request_type="rectification", correction_field_1="Title").content.decode()
    assert _error_for(html, "id_correction_correct_1") == "Give the correct value."
    html = submit(request_type="objection", objection_kind="other").content.decode()
    assert _error_for(html, "id_objection_processing")
    assert _error_for(html, "id_objection_grounds") == "Give your reasons."
    html = submit(request_type="restriction").content.decode()
    assert _error_for(html, "id_restriction_ground") == "Choose why we should pause the use."
    assert 'aria-describedby="id_restriction_ground_error"' in html
    assert Case.objects.count() == 0


def test_every_field_has_a_size_limit(submit):
    html = submit(name="x" * 201, company="y" * 201, phone="1" * 41).content.decode()
    assert _error_for(html, "id_name")
    assert _error_for(html, "id_company")
    assert _error_for(html, "id_phone")
    assert Case.objects.count() == 0
    form_html = html
    for name in ("name", "email", "company", "phone", "customer_number"):
        assert re.search(rf'name="{name}"[^>]*maxlength="\d+"', form_html), name


def test_the_honeypot_answers_like_success_and_stores_nothing(submit, mailoutbox):
    honest = submit(email="someone@demo.example", follow=False)
    assert Case.objects.count() == 1 and len(mailoutbox) == 1
    trapped = submit(website="https://spam.example", follow=False)
    assert trapped.status_code == honest.status_code == 303
    assert _headers(trapped) == _headers(honest) and trapped.content == honest.content
    assert Case.objects.count() == 1
    assert len(mailoutbox) == 1


def test_a_representative_uploads_the_authority(submit):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("Power of attorney - Arta.pdf", PDF, "application/pdf")
    response = submit(
        has_representative="on",
        representative_name="Ilir Hoxha",
        representative_relationship="Lawyer",
        representative_authority=upload,
    )
    assert response.status_code == 200
    case = Case.objects.get()
    assert case.has_representative and case.representative_name == "Ilir Hoxha"
    assert case.representative_authority.name.startswith("authority/")
    assert "Arta" not in case.representative_authority.name  # no personal data in the name
    with case.representative_authority.open("rb") as fh:
        assert fh.read() == PDF
    event = AuditEvent.objects.get(case=case, action="case.authority_received")
    assert event.details["type"] == "application/pdf"


def test_a_representative_must_upload_a_pdf_or_image_within_the_limit(submit, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    base = {
        "has_representative": "on",
        "representative_name": "Ilir",
        "representative_relationship": "Lawyer",
    }
    html = submit(**base).content.decode()
    assert (
        _error_for(html, "id_representative_authority")
        == "Upload the authority signed by that person."
    )
    fake = SimpleUploadedFile("a.pdf", b"MZ\x90\x00 not a pdf", "application/pdf")
    html = submit(**base, representative_authority=fake).content.decode()
    assert _error_for(html, "id_representative_authority") == "Upload a PDF, JPEG or PNG file."
    settings.DSAR_AUTHORITY_MAX_BYTES = 1024
    big = SimpleUploadedFile("a.pdf", PDF + b"0" * 2048, "application/pdf")
    html = submit(**base, representative_authority=big).content.decode()
    assert "The file is too large" in _error_for(html, "id_representative_authority")
    assert Case.objects.count() == 0


def test_a_request_body_over_the_limit_is_refused(client, settings):
    settings.DSAR_AUTHORITY_MAX_BYTES = 100
    settings.DSAR_FORM_MAX_BYTES = 100
    response = client.post("/en/request/", form_data(erasure_scope="z" * 500))
    assert response.status_code == 413
    assert Case.objects.count() == 0


def test_a_lost_mailbox_gets_no_email_and_waits_for_staff(submit, mailoutbox):
    response = submit(mailbox_lost="on")
    case = Case.objects.get()
    assert case.mailbox_lost is True and "mailbox_lost" not in case.details
    assert case.state == State.RECEIVED
    assert mailoutbox == []
    assert "we will not write to it" in response.content.decode()


# --- no enumeration ------------------------------------------------------------------------------


def normalised(sql: str) -> str:
    """A query's shape: values and savepoint names left out."""
    return re.sub(r'"s\d+_x\d+"|\'[^\']*\'|\b\d+\b', "?", sql)


def _headers(response) -> dict:
    # Expires is the time of the answer (never cached): it may tick between two posts.
    return {name: value for name, value in response.headers.items() if name != "Expires"}


def _without_csrf(response) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode())


def test_known_and_unknown_emails_get_the_same_answer_and_queries(client, submit, make_case):
    known = "known@demo.example"
    make_case(email=known)  # this address has a case already
    submit(email="warm-up@demo.example")  # the year's reference counter exists from here on

    def measured(email):
        with CaptureQueriesContext(connection) as queries:
            response = submit(email=email, execute=False, follow=False)
        return response, [normalised(q["sql"]) for q in queries]

    known_response, known_queries = measured(known)
    unknown_response, unknown_queries = measured("nobody@demo.example")
    # The answer to the POST: the same redirect, headers and body.
    assert known_response.status_code == unknown_response.status_code == 303
    assert _headers(known_response) == _headers(unknown_response)
    assert known_response.content == unknown_response.content
    assert len(known_queries) == len(unknown_queries)
    assert known_queries == unknown_queries
    # And the page it leads to.
    known_page, unknown_page = (
        client.get(r["Location"]) for r in (known_response, unknown_response)
    )
    assert known_page.status_code == unknown_page.status_code == 200
    assert _without_csrf(known_page) == _without_csrf(unknown_page)


def test_known_and_unknown_emails_match_on_the_query_count_fixture(
    client, submit, make_case, django_assert_num_queries
):
    make_case(email="known@demo.example")
    submit(email="warm-up@demo.example")
    with CaptureQueriesContext(connection) as first:
        submit(email="nobody@demo.example", execute=False, follow=False)
    with django_assert_num_queries(len(first)):
        submit(email="known@demo.example", execute=False, follow=False)


def test_staff_created_cases_do_not_change_the_answer(submit, alice):
    services.case_create(
        intake=services.Intake(request_type="access", email=ARTA), actor=Actor.staff(alice)
    )
    response = submit()
    assert "Please check your inbox." in response.content.decode()
    assert Case.objects.count() == 2


def test_an_edit_of_the_controller_shows_on_the_next_page(client):
    from dsar.models import ControllerInfo

    ControllerInfo(name_sq="Drini", name_en="Drini Ltd", dpo_email="dpo@demo.example").save()
    assert "Drini Ltd" in client.get("/en/request/").content.decode()  # now kept a minute
    controller = ControllerInfo.load()
    controller.name_en = "Renamed Controller Ltd"
    controller.dpo_email = "privacy@renamed.example"
    controller.save()
    page = client.get("/en/request/").content.decode()
    assert "Renamed Controller Ltd" in page and "privacy@renamed.example" in page


# --- bad input: every field is matched by the rule or refused with a clear message -----------------

HIDDEN = "This contains an invisible or control character"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "arta.krasniqi\u200b@demo.example"),  # zero-width space
        ("email", "arta.krasniqi\u200d@demo.example"),  # zero-width joiner
        ("phone", "+355 69 123\u202e4567"),  # right-to-left override
        ("customer_number", "C-10\u200c01"),  # zero-width non-joiner
        ("name", "Arta\u202e Krasniqi"),  # right-to-left override
        ("company", "Drini\u2067 Sh.p.k."),  # right-to-left isolate
        ("name", "Arta\x00Krasniqi"),  # a control character
    ],
)
def test_hidden_characters_are_refused_with_a_clear_message(submit, field, value):
    html = submit(**{field: value}).content.decode()
    # The field's own check may say it first (an e-mail's shape, a phone's characters).
    assert _error_for(html, f"id_{field}")
    assert Case.objects.count() == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("customer_number", "C-10\u200c01"),
        ("name", "Arta\u202e Krasniqi"),
        ("company", "Drini\u2067 Sh.p.k."),
    ],
)
def test_the_message_names_the_hidden_character(submit, field, value):
    html = submit(**{field: value}).content.decode()
    assert HIDDEN in _error_for(html, f"id_{field}")


@pytest.mark.parametrize(
    ("email", "stored"),
    [
        ("  Arta.Krasniqi@Demo.EXAMPLE  ", "arta.krasniqi@demo.example"),
        ("arta.krasniqi+dsar@demo.example", "arta.krasniqi+dsar@demo.example"),
        ("arta@d\u00ebmo.example", "arta@xn--dmo-jma.example"),  # an IDN domain, by IDNA
        # The dotted capital I is kept as typed: its own address, no one else's.
        ("ARTA.KRASN\u0130Q\u0130@demo.example", "arta.krasn\u0130q\u0130@demo.example"),
        ("arta@bad_domain..example", None),
    ],
)
def test_an_address_is_stored_in_the_one_form_or_refused_never_dropped(submit, email, stored):
    html = submit(email=email).content.decode()
    if stored is None:
        assert _error_for(html, "id_email")
        assert Case.objects.count() == 0
    else:
        assert Case.objects.get().email == stored


@pytest.mark.parametrize(
    "name", ["Zoë Krasniqi", "Zoe\u0308 Krasniqi", "\u0622\u0631\u062a\u0627", "Ｚoe"]
)
def test_names_in_any_script_and_form_are_kept_as_typed(submit, name):
    submit(name=name)
    assert Case.objects.get().name == name


def test_the_pages_name_the_supervisory_authority_in_the_subjects_language(client):
    english = client.get("/en/request/").content.decode()
    assert "Information and Data Protection Commissioner" in english
    assert 'href="https://www.idp.al"' in english
    albanian = client.get("/sq/request/").content.decode()
    assert (
        "Komisioneri për të Drejtën e Informimit dhe Mbrojtjen e të Dhënave Personale" in albanian
    )
