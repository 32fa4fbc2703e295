"""Reads about gathering: the identifiers a request gives, what a manual system's settings tell
its person, and whether staff may confirm a learnt identifier."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from casework.models import Case, CaseIdentifier, ConnectorRun
from dsar.connectors import ConfigurationError
from dsar.connectors.mapping import merged_config
from dsar.identifiers import Identifier
from dsar.models import SourceSystem

MANUAL_UPLOAD_EXTENSIONS = (".csv", ".jsonl", ".ndjson")


def current_runs(case: Case) -> QuerySet[ConnectorRun]:
    """The case's searches of its current gathering: a case searched again (`gather_again`)
    keeps its earlier runs as history, and reads, reviews and plans only the new ones."""
    return ConnectorRun.objects.filter(case=case, gathering=case.gathering)


def followed_identifiers(case: Case) -> list[Identifier]:
    """Every identifier the case's searches have followed (given, learnt or added by staff;
    not the ambiguous ones): what a gathering after the first searches by from its start."""
    return [
        Identifier(kind, value)
        for kind, value in CaseIdentifier.objects.filter(
            case=case, status=CaseIdentifier.Status.FOLLOWED
        )
        .order_by("round", "kind", "pk")
        .values_list("kind", "value")
    ]


def request_identifiers(case: Case) -> list[Identifier]:
    """The identifiers the subject gave in the request."""
    found: list[Identifier] = []
    if case.email:
        found.append(Identifier("email", case.email))
    if case.phone:
        found.append(Identifier("phone", case.phone))
    if case.customer_number:
        found.append(Identifier("customer_number", case.customer_number))
    if case.name and case.company:
        found.append(Identifier("name_company", f"{case.name}|{case.company}"))
    return found


@dataclass(frozen=True)
class ManualSettings:
    """What a manual system's configuration tells the person who searches it."""

    instructions: str = ""
    category: str = ""  # the data category of its exports, unless the person names another
    problem: str = ""  # why the settings could not be read; "" when they could


def manual_settings(system: SourceSystem) -> ManualSettings:
    """A manual system's instructions and export category, read as its connector reads them:
    from its configuration with its mapping file (if it names one) merged in. A mapping file
    that cannot be read gives empty settings and says why, so that the pages showing them
    still open and the person can name the category themselves."""
    try:
        config = merged_config(system.config)
    except ConfigurationError as exc:
        return ManualSettings(problem=str(exc))
    instructions, category = config.get("instructions"), config.get("category")
    return ManualSettings(
        instructions=instructions if isinstance(instructions, str) else "",
        category=category if isinstance(category, str) else "",
    )


def why_not_confirmable(identifier: CaseIdentifier, case: Case) -> str:
    """Why staff cannot confirm this identifier of `case` now, or "" when they can.

    Learnt identifiers that are followed are confirmed by staff before they drive a change;
    the request's own are the subject's word, ambiguous ones are not followed at all, and a
    closed case changes no more. `confirm_identifier` enforces this; the admin asks it too.
    """
    if identifier.source == "request" or identifier.status != CaseIdentifier.Status.FOLLOWED:
        return "Only identifiers learnt from a system and followed need confirming."
    if not case.is_open:
        return "The case is closed."
    if identifier.confirmed_at is not None:
        return "This identifier is already confirmed."
    return ""


def confirmable(identifier: CaseIdentifier, case: Case) -> bool:
    """Staff may confirm this identifier of `case` now (see `why_not_confirmable`)."""
    return not why_not_confirmable(identifier, case)
