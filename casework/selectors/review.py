"""Reads of the review of gathered data: whether it is open, what it decided in numbers, and the
records as review leaves them (`reviewed_records`, the only view a bundle is built from)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from django.db.models import Count, Q, QuerySet

from casework import results
from casework.models import Case, ConnectorRun, RecordDecision, State
from casework.selectors.gathering import current_runs
from casework.selectors.identity import held_keys
from exporters.context import REDACTED  # one text for a withheld value, everywhere

__all__ = ["REDACTED"]  # re-exported: casework.selectors names it


def review_is_open(case: Case) -> bool:
    """Records can be left out and values redacted: the case is in review, not yet completed."""
    return case.state == State.IN_REVIEW and case.review_completed_at is None


def review_can_reopen(case: Case) -> bool:
    """A completed review can be opened again while the case is still in review."""
    return case.state == State.IN_REVIEW and case.review_completed_at is not None


def stored_runs(case: Case) -> QuerySet[ConnectorRun]:
    """The case's searches that stored records (succeeded, with a file), in the order they
    were made: the runs review reads and counts (of its current gathering only)."""
    return (
        current_runs(case)
        .filter(state=ConnectorRun.State.SUCCEEDED)
        .exclude(result_file="")
        .select_related("system")
        .order_by("round", "system_id")
    )


def review_category_counts(case: Case) -> Counter:
    """Records by category, from the counts each run stored when it wrote its file: the runs
    `review.review_rows` reads (`stored_runs`), and no file opened to count them."""
    totals: Counter = Counter()
    for counts in stored_runs(case).order_by().values_list("counts", flat=True):
        totals.update({category: int(n) for category, n in (counts or {}).items()})
    return totals


def current_decisions(case: Case) -> QuerySet[RecordDecision]:
    """The review's decisions on the records of the case's current gathering (those taken on
    an earlier gathering's records stay as history)."""
    return RecordDecision.objects.filter(case=case, run__gathering=case.gathering)


def review_decision_counts(case: Case) -> dict[str, Counter]:
    """Decisions by category and action: {"events": Counter({"exclude": 1, "redact": 2})}."""
    result: dict[str, Counter] = {}
    decisions = (
        current_decisions(case).values("category", "action").annotate(n=Count("pk")).order_by()
    )
    for row in decisions:
        result.setdefault(row["category"], Counter())[row["action"]] = row["n"]
    return result


@dataclass(frozen=True)
class ReviewSummary:
    """What a review decided, in numbers: records gathered, left out, values redacted."""

    records: int
    excluded: int
    redacted: int


def review_summary(case: Case) -> ReviewSummary:
    """The review of a case in numbers, for every page that shows them."""
    decided = current_decisions(case).aggregate(
        excluded=Count("pk", filter=Q(action=RecordDecision.Action.EXCLUDE)),
        redacted=Count("pk", filter=Q(action=RecordDecision.Action.REDACT)),
    )
    return ReviewSummary(
        records=sum(review_category_counts(case).values()),
        excluded=decided["excluded"],
        redacted=decided["redacted"],
    )


@dataclass(frozen=True)
class KeptRecord:
    """A gathered record as review leaves it in: its run, category and key, the record as
    stored, and the fields review withheld (field -> ground)."""

    run: ConnectorRun
    category: str
    key: str
    record: dict[str, Any]
    withheld: Mapping[str, str]


def records_left_in(case: Case) -> Iterator[KeptRecord]:
    """Every gathered record review leaves in: excluded records out, records held back from
    the subject (found only through what the requester typed, or of a look-alike address:
    `selectors.identity`) out, each record once even where several rounds found it. Streamed
    run by run; the decisions (a small set) are the only thing held in memory. What bundles
    and letters are built from, and what a plan of changes acts on."""
    for run, category, key, record, withheld in _left_in(case):
        yield KeptRecord(run, category, key, record, withheld)


_NOTHING_WITHHELD: Mapping[str, str] = MappingProxyType({})  # shared by every record: read-only


def _left_in(case: Case) -> Iterator[tuple[ConnectorRun, str, str, dict, Mapping[str, str]]]:
    """`records_left_in` as tuples: a bundle of 10,000 records reads them all, and building an
    object for each was a third of the review's cost."""
    held = held_keys(case)
    # Decisions hold for the record wherever it was found: (system, category, key).
    excluded: set[tuple[int, str, str]] = set()
    # (system, category, key) -> {field: the reviewer's ground}
    redactions: dict[tuple[int, str, str], dict[str, str]] = {}
    for system_id, category, key, action, field, reason in current_decisions(case).values_list(
        "run__system_id", "category", "record_key", "action", "field", "reason"
    ):
        if action == RecordDecision.Action.EXCLUDE:
            excluded.add((system_id, category, key))
        else:
            redactions.setdefault((system_id, category, key), {})[field] = reason
    seen: set[tuple[int, str, str]] = set()  # (system, category, key): a record of a system once
    for run in stored_runs(case):
        system_id = run.system_id
        held_here = {subject_key for held_system, subject_key in held if held_system == system_id}
        for record in results.read_records(run.pk, run.result_file):
            category, key = record["category"], record["key"]
            identity = (system_id, category, key)
            if identity in seen or identity in excluded:
                continue
            if held_here and str(record.get("subject_key", "")) in held_here:
                continue
            seen.add(identity)
            yield run, category, key, record, redactions.get(identity, _NOTHING_WITHHELD)


def reviewed_records(case: Case) -> Iterator[tuple[str, dict[str, Any]]]:
    """(category, record) for every record review leaves in (`records_left_in`), redacted
    values replaced (and their grounds under "withheld"): the only view a bundle is built
    from."""
    for run, category, key, record, redactions in _left_in(case):
        data = dict(record.get("data") or {})
        withheld = {}
        for field, reason in redactions.items():
            if field in data:
                data[field] = REDACTED
                withheld[field] = reason
        found_by = record.get("found_by") or {}
        reviewed = {
            "source": f"{run.system.name}: {record.get('source', '')}".rstrip(": "),
            "key": key,
            "found_by": found_by.get("kind", "") if isinstance(found_by, dict) else "",
            "data": data,
        }
        if withheld:
            # The report says why a value is withheld (the data files show "[redacted]").
            reviewed["withheld"] = withheld
        yield category, reviewed


def review_rows(
    case: Case, *, category: str | None = None, limit: int = 100, offset: int = 0
) -> list[dict]:
    """Records for the review screen: each with its run, the identifier that found it (kind and
    value: staff need to judge), whether it is held back from the subject, and the decisions
    taken on it."""
    held_back = held_keys(case)
    decisions: dict[tuple[int, str, str], list[RecordDecision]] = {}
    for d in current_decisions(case):
        decisions.setdefault((d.run_id, d.category, d.record_key), []).append(d)
    rows: list[dict] = []
    index = 0
    for run in stored_runs(case):
        # A run's counts say how many of the page's records it holds: a run whose records all
        # come before the page (or that holds none of the category) is not decrypted at all.
        held = run.counts.get(category, 0) if category else sum(run.counts.values())
        if run.counts and index + held <= offset:
            index += held
            continue
        for record in results.read_records(run.pk, run.result_file):
            if category and record["category"] != category:
                continue
            if index >= offset + limit:
                return rows
            if index >= offset:
                rows.append(
                    {
                        "run": run,
                        "category": record["category"],
                        "key": record["key"],
                        "source": record.get("source", ""),
                        "found_by": record.get("found_by") or {},
                        "data": record.get("data") or {},
                        "decisions": decisions.get((run.pk, record["category"], record["key"]), []),
                        "held": (run.system_id, str(record.get("subject_key", ""))) in held_back,
                    }
                )
            index += 1
    return rows
