"""Details stored as JSON (a case's type-specific details, an audit event's details) shown as
readable fields: a human label for each key, lists as lists, yes and no for flags. Every value is
escaped: details hold what a subject typed."""

from __future__ import annotations

from typing import Any

from django.utils.html import conditional_escape, escape, format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

EMPTY = "—"

DETAIL_LABELS = {
    # A case's details (casework.services.intake)
    "corrections": _("Corrections"),
    "field": _("Field"),
    "current": _("Now reads"),
    "correct": _("Should read"),
    "processing": _("Processing objected to"),
    "direct_marketing": _("Direct marketing"),
    "grounds": _("Grounds"),
    "scope": _("What to erase"),
    "country": _("Country"),
    "california_resident": _("California resident"),
    "mailbox_lost": _("Lost access to the mailbox"),
    # Audit events
    "request_type": _("Request type"),
    "channel": _("Came in by"),
    "regime": _("Regime"),
    "language": _("Language"),
    "representative": _("Through a representative"),
    "portal": _("From the web form"),
    "entered_via": _("Entered via"),
    "via": _("Via"),
    "os_user": _("Operating-system user"),
    "method": _("Method"),
    "purpose": _("Purpose"),
    "how": _("How"),
    "note": _("Note (number)"),
    "note_sha256": _("Note fingerprint (SHA-256)"),
    "sha256": _("Fingerprint (SHA-256)"),
    "unfounded": _("Manifestly unfounded"),
    "notice": _("Notice"),
    "sent_by": _("Sent by"),
    "letter": _("Letter (number)"),
    "into": _("Merged into"),
    "from": _("From"),
    "to": _("To"),
    "of": _("Possible duplicate of"),
    "bundle": _("Bundle (number)"),
    "records": _("Records"),
    "size": _("Size (bytes)"),
    "encrypted": _("Encrypted"),
    "system": _("System"),
    "systems": _("Systems"),
    "failed": _("Failed systems"),
    "round": _("Round"),
    "identifier": _("Identifier (number)"),
    "identifier_kinds": _("Identifier kinds"),
    "kind": _("Kind"),
    "excluded": _("Records left out"),
    "redacted": _("Values redacted"),
    "decision": _("Decision (number)"),
    "category": _("Category"),
    "record": _("Record (fingerprint)"),
    "reason": _("Reason"),
    "error_kind": _("Error"),
    "files": _("Files"),
    "model": _("Register table"),
    "pk": _("Row (number)"),
    "type": _("Type"),
}


def detail_label(key: str) -> str:
    """The human label of a key; a key nobody named yet still reads as words."""
    return DETAIL_LABELS.get(key) or key.replace("_", " ").capitalize()


def details_html(data: Any) -> SafeString:
    """`data` as a small definition list (mappings), a list (lists) or text, escaped."""
    if data in (None, "", [], {}):
        return SafeString(EMPTY)
    return _html(data)


def _html(value: Any) -> SafeString:
    if isinstance(value, dict):
        if not value:
            return SafeString(EMPTY)
        return format_html(
            '<dl class="details">{}</dl>',
            format_html_join(
                "",
                "<dt>{}</dt><dd>{}</dd>",
                ((detail_label(str(key)), _html(item)) for key, item in value.items()),
            ),
        )
    if isinstance(value, list):
        if not value:
            return SafeString(EMPTY)
        return format_html(
            '<ul class="details">{}</ul>',
            format_html_join("", "<li>{}</li>", ((_html(item),) for item in value)),
        )
    if isinstance(value, bool):
        return conditional_escape(_("yes") if value else _("no"))
    if value is None or value == "":
        return SafeString(EMPTY)
    return escape(str(value))
