"""The reason a decision states (a refusal, an extension) reaches the subject the same in the
e-mail that announces it and in the letter attached to it: both read the one reason the
service stored with the decision."""

from __future__ import annotations

import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from pypdf import PdfReader

from casework import letters, notifications, selectors, services
from casework.actors import Actor
from casework.deadlines import add_months
from casework.models import Case, CaseNote

pytestmark = pytest.mark.django_db
TZ = ZoneInfo("Europe/Tirane")
EXTENSION_REASON = "Twelve source systems to search"
REFUSAL_REASON = "The same request for the fifth time this month"


def letter_text(message) -> str:
    _name, content, mimetype = message.attachments[0]
    assert mimetype == "application/pdf"
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


@pytest.fixture
def extended(make_case, dora, mailoutbox, django_capture_on_commit_callbacks) -> Case:
    received = timezone.now() - dt.timedelta(days=2)
    case = make_case(received_at=received, regime="gdpr")
    with django_capture_on_commit_callbacks(execute=True):
        case = services.case_extend(
            case=case,
            actor=Actor.staff(dora),
            new_due=add_months(received.astimezone(TZ).date(), 2),
            reason=EXTENSION_REASON,
        )
    return case


def test_the_extension_email_and_letter_give_the_extensions_reason(extended, mailoutbox):
    (message,) = mailoutbox
    assert EXTENSION_REASON in message.body
    assert EXTENSION_REASON in letter_text(message)


def test_a_refusal_after_an_extension_gives_the_refusals_reason_in_email_and_letter(
    extended, dora, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.case_reject(case=extended, actor=Actor.staff(dora), reason=REFUSAL_REASON)
    refusal = mailoutbox[-1]
    assert refusal.attachments[0][0].endswith("-refusal.pdf")
    text = letter_text(refusal)
    assert REFUSAL_REASON in refusal.body and REFUSAL_REASON in text
    assert EXTENSION_REASON not in refusal.body and EXTENSION_REASON not in text


def test_the_letter_and_the_email_read_the_reason_stored_with_the_decision(
    make_case, dora, mailoutbox
):
    case = services.case_reject(case=make_case(), actor=Actor.staff(dora), reason=REFUSAL_REASON)
    # Another reason note written later (by hand, say) is not what either of them tells.
    CaseNote.objects.create(
        case=case, kind=CaseNote.Kind.REASON, text="Some other text", visible_to_subject=True
    )
    case = Case.objects.get(pk=case.pk)
    assert selectors.reason_told(case, "refusal") == REFUSAL_REASON
    assert letters.letter_facts(case, "refusal").reason == REFUSAL_REASON
    assert notifications.notify_subject(case, "rejected")
    (message,) = mailoutbox
    assert REFUSAL_REASON in message.body and REFUSAL_REASON in letter_text(message)
    assert "Some other text" not in message.body and "Some other text" not in letter_text(message)


def test_the_extension_notice_reads_its_reason_without_querying_the_notes(extended, mailoutbox):
    case = Case.objects.get(pk=extended.pk)
    mailoutbox.clear()
    with CaptureQueriesContext(connection) as queries:
        assert notifications.notify_subject(case, "extended")
    assert not [q for q in queries.captured_queries if "casework_casenote" in q["sql"]]
    (message,) = mailoutbox
    assert EXTENSION_REASON in message.body and EXTENSION_REASON in letter_text(message)


def test_an_extension_notice_sent_after_a_refusal_still_gives_the_extensions_reason(
    extended, dora, mailoutbox
):
    """The extension's e-mail was queued, and the case was refused before it went out."""
    services.case_reject(case=extended, actor=Actor.staff(dora), reason=REFUSAL_REASON)
    case = Case.objects.get(pk=extended.pk)
    mailoutbox.clear()
    assert notifications.notify_subject(case, "extended")
    (message,) = mailoutbox
    assert EXTENSION_REASON in message.body and EXTENSION_REASON in letter_text(message)
    assert REFUSAL_REASON not in message.body and REFUSAL_REASON not in letter_text(message)


def test_the_refusal_email_and_letter_name_the_supervisory_authority(make_case, dora, mailoutbox):
    case = services.case_reject(case=make_case(), actor=Actor.staff(dora), reason=REFUSAL_REASON)
    assert notifications.notify_subject(case, "rejected")
    (message,) = mailoutbox
    for text in (message.body, " ".join(letter_text(message).split())):
        assert "Information and Data Protection Commissioner" in text
        assert "www.idp.al" in text
