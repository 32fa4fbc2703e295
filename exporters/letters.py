"""Letters for the outcomes other than access and portability, as PDF in the subject's language:
a rectification, erasure, restriction or objection carried out (what was done; what was kept
and why), a refusal (with the reason), an extension of the deadline (the new date and the
reason) and the lifting of a restriction (told before it is lifted, with the reason); and the notices that go by post to a subject who may not be e-mailed (the request
received, a question, the data ready, the request completed). Every letter says how to complain to a supervisory authority and that the subject has
the right to a judicial remedy (Art. 12(4), 77-79 GDPR)."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from exporters.context import DONE_KINDS, LetterFacts, controller_zone
from exporters.pdf import html_to_pdf, page_css


def letter_title(kind: str) -> str:
    return {
        "rectification": _("Your request for rectification: what we have done"),
        "erasure": _("Your request for erasure: what we have done"),
        "restriction": _("Your request for restriction: what we have done"),
        "objection": _("Your objection: what we have done"),
        "refusal": _("Your request: our decision"),
        "extension": _("Your request: we need more time"),
        "lifting": _("Your restriction: we are lifting it"),
        "acknowledgement": _("Your request: we have received it"),
        "question": _("Your request: we need something from you"),
        "ready": _("Your request: your data is ready"),
        "completion": _("Your request: completed"),
    }[kind]


def letter_html(facts: LetterFacts) -> str:
    """The letter's HTML (autoescaped)."""
    with translation.override(facts.language), timezone.override(controller_zone(facts.time_zone)):
        title = letter_title(facts.kind)
        context = {
            "facts": facts,
            "title": title,
            "page_css": page_css(facts.controller_name, facts.reference, title),
            "generated_at": timezone.localtime(facts.generated_at),
            "done_kind": facts.kind in DONE_KINDS,
        }
        return render_to_string("exporters/letter.html", context)


def render_letter(facts: LetterFacts) -> bytes:
    """The letter as PDF bytes."""
    return html_to_pdf(letter_html(facts))
