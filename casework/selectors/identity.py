"""How far each subject record a case's searches found is trusted to be the requester's.

Confirming an e-mail link proves one thing: the requester controls that mailbox. What else
they typed (a phone, a customer number, a name and company) is a claim. So a record counts as
the subject's when it was found through the verified channel, or through an identifier read
from a record already trusted (and not ambiguous), and holds no e-mail address other than
trusted ones; or when staff confirmed it with evidence (`RecordLink`). Every other record is
*held*: shown to staff with a warning, left out of every bundle, letter and status until staff
decide. The judgment is made here, once, from what the runs stored; nothing else decides it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import F, Q, QuerySet

from casework.models import (
    Case,
    CaseIdentifier,
    ConnectorRun,
    RecordLink,
    VerificationMethod,
    is_objection_lifting,
    is_opt_out,
)
from dsar.identifiers import Identifier

# Why a record is held, for the warning staff read.
FOUND_BY_CLAIM = "claim"  # found only through an identifier the requester typed
OTHER_EMAIL = "other_email"  # the record's own e-mail address is not the verified one
LOOKALIKE = "lookalike"  # the request's address looks like one we hold: nothing is trusted
CONTACT_KINDS = ("email", "phone")
MANUAL_SUBJECT_KEY = "manual"  # what a manual export's records carry as their subject key


@dataclass
class SubjectLink:
    """One subject of one system, as the case's searches found it (in one or more rounds):
    `found_by` every searched identifier that reached it, `identifiers` what it holds."""

    system_id: int
    system_name: str
    subject_key: str
    found_by: list[Identifier] = field(default_factory=list)
    identifiers: set[Identifier] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)
    manual: bool = False  # a person's export: reached by every identifier they were shown
    trusted: bool = False
    held_because: str = ""  # FOUND_BY_CLAIM, OTHER_EMAIL or LOOKALIKE; "" when trusted
    decision: RecordLink | None = None

    @property
    def key(self) -> tuple[int, str]:
        return (self.system_id, self.subject_key)

    @property
    def contacts(self) -> list[Identifier]:
        """The record's own contact details: where evidence of the link can be sought."""
        return sorted(i for i in self.identifiers if i.kind in CONTACT_KINDS)

    @property
    def records(self) -> int:
        return sum(self.counts.values())

    @property
    def undecided(self) -> bool:
        return not self.trusted and self.decision is None


def looks_like_held_address(email: str, skeleton: str) -> bool:
    """Whether an address (in its `email_key` form) looks like another address we hold, the
    e-mail of a case or one learnt from a system's records: same skeleton, other address.
    Systems are never searched by skeleton; this only warns."""
    if not skeleton:
        return False
    return (
        Case.objects.filter(email_skeleton=skeleton).exclude(email=email).exists()
        or CaseIdentifier.objects.filter(kind="email", skeleton=skeleton)
        .exclude(value=email)
        .exists()
    )


def verified_channel(case: Case) -> set[Identifier]:
    """The identifiers the case has proven the requester holds: the e-mail address whose
    link they confirmed, and identifiers staff added with their evidence (a letter's customer
    number). Identity checked by staff another way (a call-back) proves the person, not which
    records are theirs: those are confirmed one by one. None of the e-mail while the request's
    address is flagged as a look-alike and staff have not cleared it."""
    return _verified_channel(case, _identifier_rows(case))


# A case's identifiers as the judgment reads them: (kind, value, source, status).
IdentifierRow = tuple[str, str, str, str]


def _identifier_rows(case: Case) -> list[IdentifierRow]:
    return list(
        CaseIdentifier.objects.filter(case=case).values_list("kind", "value", "source", "status")
    )


def _verified_channel(case: Case, rows: list[IdentifierRow]) -> set[Identifier]:
    channel: set[Identifier] = set()
    if case.email and _email_proven(case) and not case.lookalike_held:
        channel.add(Identifier("email", case.email))
    channel |= {
        Identifier(kind, value) for kind, value, source, _status in rows if source == "staff"
    }
    return channel


def _email_proven(case: Case) -> bool:
    """The subject confirmed the e-mail's link; or, for an opt-out of sale and marketing only,
    an authorised agent attested the address (DRP trust policy): an opt-out suppresses the
    claimed address and releases nothing, so the agent's word is enough for it."""
    if case.verification_method == VerificationMethod.EMAIL_LINK:
        return True
    return (
        case.verification_method == VerificationMethod.AGENT_ATTESTATION
        and is_opt_out(case)
        and not is_objection_lifting(case)  # an opt-in lets marketing resume: never on a claim
    )


def _with_status(rows: list[IdentifierRow], status: str) -> set[Identifier]:
    return {Identifier(kind, value) for kind, value, _source, s in rows if s == status}


def subject_links(case: Case) -> list[SubjectLink]:
    """Every subject the case's searches matched, each judged trusted or held (see the module
    docstring), in the order the systems were searched. Runs stored before matches were kept
    (and manual exports, chosen by a person) have none here: their records are not held.

    Only the current gathering's subjects are returned; a case searched again judges them
    with what its earlier gatherings established too: a subject record found to be the
    requester's then is still theirs (an erasure may since have masked the e-mail address
    that reached it), and what it held still leads to them."""
    runs = (
        ConnectorRun.objects.filter(
            case=case, gathering__lte=case.gathering, state=ConnectorRun.State.SUCCEEDED
        )
        .select_related("system")
        .order_by("gathering", "round", "system_id")
    )
    return _subject_links(case, runs, RecordLink.objects.filter(case=case), None)


def _subject_links(
    case: Case,
    runs: Iterable[ConnectorRun],
    decisions: Iterable[RecordLink],
    rows: list[IdentifierRow] | None,
) -> list[SubjectLink]:
    """`subject_links` from what was read for it: the case's succeeded runs (in the order
    they were made), its decisions and (None: read here, only if there are links) its
    identifiers."""
    links: dict[tuple[int, str], SubjectLink] = {}
    current: set[tuple[int, str]] = set()
    for run in runs:
        now = run.gathering == case.gathering
        if run.system.connector == "manual" and run.result_file:
            # The person searched with every identifier on the case, typed ones included.
            key = (run.system_id, MANUAL_SUBJECT_KEY)
            link = links.setdefault(
                key, SubjectLink(run.system_id, run.system.name, key[1], manual=True)
            )
            if now:
                current.add(key)
                for category, n in (run.counts or {}).items():
                    link.counts[category] = link.counts.get(category, 0) + int(n)
            continue
        for match in run.matches:
            key = (run.system_id, str(match["subject_key"]))
            link = links.setdefault(key, SubjectLink(run.system_id, run.system.name, key[1]))
            found_by = match["found_by"]
            for i in found_by if isinstance(found_by, list) else [found_by]:
                if (identifier := Identifier.from_dict(i)) not in link.found_by:
                    link.found_by.append(identifier)
            link.identifiers.update(Identifier.from_dict(i) for i in match["identifiers"])
            if now:  # what it holds now
                current.add(key)
                for category, n in (match.get("counts") or {}).items():
                    link.counts[category] = link.counts.get(category, 0) + int(n)
    if not links:
        return []
    for decision in decisions:
        if (link := links.get((decision.system_id, decision.subject_key))) is not None:
            link.decision = decision
    _judge(case, list(links.values()), _identifier_rows(case) if rows is None else rows)
    return [link for key, link in links.items() if key in current]


def _judge(case: Case, links: list[SubjectLink], rows: list[IdentifierRow]) -> None:
    """Trust spreads from the verified channel through the records it reaches, round by round
    of the identity graph, until nothing changes; what it never reaches is held."""
    trusted_ids = _verified_channel(case, rows)
    ambiguous = _with_status(rows, CaseIdentifier.Status.AMBIGUOUS)
    pending = [link for link in links if not link.manual]
    changed = True
    while changed:
        changed = False
        trusted_emails = {i for i in trusted_ids if i.kind == "email"}
        for link in list(pending):
            decision = link.decision
            if decision is not None and decision.decision == RecordLink.Decision.LEFT_OUT:
                continue
            confirmed = decision is not None and decision.decision == RecordLink.Decision.CONFIRMED
            emails = {i for i in link.identifiers if i.kind == "email"}
            reached = any(i in trusted_ids for i in link.found_by)
            if confirmed or (reached and (not emails or emails & trusted_emails)):
                link.trusted = True
                pending.remove(link)
                trusted_ids |= {i for i in link.identifiers if i not in ambiguous and i.usable}
                changed = True
    shown = _with_status(rows, CaseIdentifier.Status.FOLLOWED)
    for link in links:
        if link.manual:
            decision = link.decision
            if decision is not None:
                link.trusted = decision.decision == RecordLink.Decision.CONFIRMED
            else:
                link.trusted = shown <= trusted_ids and not case.lookalike_held
            if not link.trusted:
                pending.append(link)
    lookalike = case.lookalike_held
    for link in pending:
        if lookalike:
            link.held_because = LOOKALIKE
        elif link.found_by and any(i in trusted_ids for i in link.found_by):
            link.held_because = OTHER_EMAIL
        else:
            link.held_because = FOUND_BY_CLAIM


def held_links(case: Case) -> list[SubjectLink]:
    """The subject records not trusted (undecided or left out), for the review page."""
    return [link for link in subject_links(case) if not link.trusted]


def held_keys(case: Case) -> set[tuple[int, str]]:
    """(system, subject key) of every record held back from what the subject receives."""
    return {link.key for link in subject_links(case) if not link.trusted}


def undecided_links(case: Case) -> list[SubjectLink]:
    """Held records staff have not yet confirmed or left out: the review cannot complete."""
    return [link for link in subject_links(case) if link.undecided]


def undecided_link_counts(cases: QuerySet[Case]) -> dict[int, int]:
    """For each of `cases` with held records that wait for staff to confirm them or leave
    them out (`undecided_links`), how many; read for all of them at once: four queries,
    however many cases (the dashboard counts them over every case whose review is open)."""
    # Only runs that matched a subject, or a person's export, make links.
    makes_links = ~Q(matches=[]) | Q(system__connector="manual", result_file__gt="")
    runs: dict[int, list[ConnectorRun]] = defaultdict(list)
    for run in (
        ConnectorRun.objects.filter(
            case__in=cases.values("pk"),
            gathering__lte=F("case__gathering"),
            state=ConnectorRun.State.SUCCEEDED,
        )
        .filter(makes_links)
        .select_related("system")
        .order_by("case_id", "gathering", "round", "system_id")
    ):
        runs[run.case_id].append(run)
    if not runs:
        return {}
    # What the judgment reads (and `state`, which the state machine reads as a case loads).
    judged = Case.objects.filter(pk__in=list(runs)).only(
        "state",
        "email",
        "request_type",
        "details",
        "verification_method",
        "lookalike_flagged_at",
        "lookalike_cleared_at",
        "gathering",
    )
    decisions: dict[int, list[RecordLink]] = defaultdict(list)
    for decision in RecordLink.objects.filter(case_id__in=list(runs)):
        decisions[decision.case_id].append(decision)
    rows: dict[int, list[IdentifierRow]] = defaultdict(list)
    for case_id, *row in CaseIdentifier.objects.filter(case_id__in=list(runs)).values_list(
        "case_id", "kind", "value", "source", "status"
    ):
        rows[case_id].append(tuple(row))
    counts = {
        case.pk: sum(
            1
            for link in _subject_links(case, runs[case.pk], decisions[case.pk], rows[case.pk])
            if link.undecided
        )
        for case in judged
    }
    return {pk: n for pk, n in counts.items() if n}
