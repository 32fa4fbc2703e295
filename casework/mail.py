"""Sending one e-mail from templates, in the reader's language, with text and HTML parts. Nothing
here logs an address."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation


def send_email(
    *, to: list[str], template: str, context: dict, language: str, attachment=None
) -> None:
    """`template`_subject.txt, `template`.txt and `template`.html rendered in `language`;
    `attachment` is (file name, PDF bytes)."""
    with translation.override(language):
        subject = render_to_string(f"{template}_subject.txt", context).strip()
        text = render_to_string(f"{template}.txt", context)
        html = render_to_string(f"{template}.html", context)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, to)
    message.attach_alternative(html, "text/html")
    if attachment is not None:
        message.attach(attachment[0], attachment[1], "application/pdf")
    message.send()
