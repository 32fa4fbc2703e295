"""Sending one e-mail from templates, in the reader's language, with text and HTML parts. Nothing
here logs an address."""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation

# The references of the cases a message is about: the development outbox (casework.outbox) shows
# a message only to staff who may view those cases, and a mail client can sort by it.
CASE_HEADER = "X-DSAR-Case"


def send_email(
    *,
    to: list[str],
    template: str,
    context: dict,
    language: str,
    attachment=None,
    cases: Sequence = (),
) -> None:
    """`template`_subject.txt, `template`.txt and `template`.html rendered in `language`;
    `attachment` is (file name, PDF bytes); `cases` are the cases the message is about."""
    with translation.override(language):
        subject = render_to_string(f"{template}_subject.txt", context).strip()
        text = render_to_string(f"{template}.txt", context)
        html = render_to_string(f"{template}.html", context)
    headers = {CASE_HEADER: ", ".join(case.reference for case in cases)} if cases else None
    message = EmailMultiAlternatives(
        subject, text, settings.DEFAULT_FROM_EMAIL, to, headers=headers
    )
    message.attach_alternative(html, "text/html")
    if attachment is not None:
        message.attach(attachment[0], attachment[1], "application/pdf")
    message.send()
