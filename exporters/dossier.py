"""The case dossier: one PDF per case for a regulator's inquiry or a complaint. Its facts, its
timeline, every event of its audit trail, the letters sent to the subject, the history of its
deadline, the decisions taken with their reasons and the plans of changes with their actions.

Takes plain data (`DossierFacts`, gathered by `casework.selectors.dossier`), in the case's
language; never the subject's gathered records: what the dossier shows of the subject is what
the letters showed them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from exporters.context import controller_zone
from exporters.pdf import html_to_pdf, page_css


@dataclass(frozen=True)
class DossierEvent:
    """One event of the case's audit trail, as stored (its details hold no raw personal
    data); `hash` is the start of its chained hash."""

    seq: int
    at: dt.datetime
    action: str
    actor: str
    from_state: str = ""
    to_state: str = ""
    details: list[tuple[str, str]] = field(default_factory=list)
    hash: str = ""


@dataclass(frozen=True)
class DossierLetter:
    """A notice told to the subject: by e-mail, or a letter posted (`posted_at`)."""

    at: dt.datetime
    notice: str
    channel: str
    posted_at: dt.datetime | None = None
    told: str = ""


@dataclass(frozen=True)
class DossierEntry:
    """A line of the deadline's history or of the decisions: when, what, by whom, the outcome
    ("manifestly unfounded", ...), the reason recorded and the due date it set."""

    at: dt.datetime | None
    what: str
    by: str = ""
    outcome: str = ""
    reason: str = ""
    due: dt.date | None = None


@dataclass(frozen=True)
class DossierAction:
    position: int
    system: str
    action: str
    records: int
    status: str
    confirmed: str = ""


@dataclass(frozen=True)
class DossierPlan:
    number: int
    intent: str
    state: str
    submitted: str = ""
    approved: str = ""
    executed_at: dt.datetime | None = None
    verification: str = ""
    actions: list[DossierAction] = field(default_factory=list)


@dataclass(frozen=True)
class DossierFacts:
    reference: str
    language: str
    generated_at: dt.datetime
    controller_name: str = ""
    time_zone: str = ""
    # The case, its labels already in the case's language.
    request_type: str = ""
    regime: str = ""
    channel: str = ""
    state: str = ""
    subject_name: str = ""
    subject_contact: str = ""
    assignee: str = ""
    received_at: dt.datetime | None = None
    due_at: dt.datetime | None = None
    original_due_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    answered_in_time: bool | None = None
    legal_hold: str = ""
    purged_at: dt.datetime | None = None
    timeline: list[tuple[dt.datetime, str]] = field(default_factory=list)
    deadlines: list[DossierEntry] = field(default_factory=list)
    decisions: list[DossierEntry] = field(default_factory=list)
    review_counts: list[tuple[str, int]] = field(default_factory=list)
    plans: list[DossierPlan] = field(default_factory=list)
    letters: list[DossierLetter] = field(default_factory=list)
    events: list[DossierEvent] = field(default_factory=list)
    # Whether the case's chain of events verifies (every hash, every link, its head).
    trail_intact: bool | None = None


def dossier_title() -> str:
    return _("Case dossier")


def dossier_html(facts: DossierFacts) -> str:
    """The dossier's HTML (autoescaped), in the case's language."""
    with translation.override(facts.language), timezone.override(controller_zone(facts.time_zone)):
        title = dossier_title()
        context = {
            "facts": facts,
            "title": title,
            "page_css": page_css(facts.controller_name, facts.reference, title),
            "generated_at": timezone.localtime(facts.generated_at),
        }
        return render_to_string("exporters/dossier.html", context)


def render_dossier(facts: DossierFacts) -> bytes:
    """The dossier as PDF bytes."""
    return html_to_pdf(dossier_html(facts))
