"""The retention rules (§8 of the privacy statement), applied to one record an erasure would
change: erase it, keep it (and why, in words a letter can use), or ask a person.

One function decides, for every system and category alike; the plan stores its answer with
the rule's code, version and words as they were, so a later edit of the rule changes no plan.

- No rule for the category: erase.
- `on_erasure: keep` (purchase records, statutory periods): keep while the rule's period runs
  from the record's date; a record older than the period is erased (the reason ran out). A
  record without a date is kept: we cannot tell that the period is over.
- `kept_while_active`: keep a record that belongs to an active relationship (an open order,
  repair, contract, ticket: the connector's mapping says which rows are active), or one dated
  within the rule's `recent_days` (a recent purchase the subject asked for).
- `on_erasure: review` (correspondence kept while needed to defend a legal claim): a person
  decides; the plan cannot be submitted until they have.
- `on_erasure: suppress` (marketing): erased, and the subject goes on the suppression list,
  which no later erasure removes.
"""

from __future__ import annotations

import calendar
import datetime as dt
import enum
from dataclasses import dataclass

from dsar.connectors.changes import RecordFacts


class Verdict(enum.StrEnum):
    ERASE = "erase"
    KEEP = "keep"
    REVIEW = "review"  # a person decides
    SUPPRESS = "suppress"  # erase, and list the subject as opted out of marketing


class Ground(enum.StrEnum):
    """Why a record is kept (or left to a person): what the letter explains."""

    RULE = "rule"  # the rule keeps such records for its period
    ACTIVE = "active"  # part of an active relationship
    RECENT = "recent"  # dated within the rule's window: a recent purchase
    REVIEW = "review"  # kept while needed to defend a legal claim: a person decides


@dataclass(frozen=True)
class RuleSnapshot:
    """A retention rule as a plan applied it."""

    code: str
    version: int
    on_erasure: str
    kept_while_active: bool = False
    period_months: int | None = None
    recent_days: int = 90
    keep_reason_en: str = ""
    keep_reason_sq: str = ""

    @classmethod
    def of(cls, rule) -> RuleSnapshot:
        return cls(
            code=rule.code,
            version=rule.version,
            on_erasure=rule.on_erasure,
            kept_while_active=rule.kept_while_active,
            period_months=rule.period_months,
            recent_days=rule.recent_days,
            keep_reason_en=rule.keep_reason_en,
            keep_reason_sq=rule.keep_reason_sq,
        )


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    ground: Ground | None = None
    rule: RuleSnapshot | None = None
    until: dt.date | None = None  # kept until about then (the period's end), when known

    @property
    def kept(self) -> bool:
        return self.verdict in (Verdict.KEEP, Verdict.REVIEW)


def add_months(day: dt.date, months: int) -> dt.date:
    """`day` plus whole months; a day the target month lacks becomes its last day."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def decide(rule: RuleSnapshot | None, facts: RecordFacts, today: dt.date) -> Decision:
    """What an erasure does to one record under `rule` (None: no rule applies)."""
    if rule is None:
        return Decision(Verdict.ERASE)
    if rule.kept_while_active and facts.active:
        return Decision(Verdict.KEEP, Ground.ACTIVE, rule)
    if (
        rule.kept_while_active
        and facts.dated is not None
        and (today - facts.dated).days <= rule.recent_days
    ):
        return Decision(Verdict.KEEP, Ground.RECENT, rule)
    if rule.on_erasure == "keep":
        if facts.dated is None or rule.period_months is None:
            return Decision(Verdict.KEEP, Ground.RULE, rule)
        until = add_months(facts.dated, rule.period_months)
        if until > today:
            return Decision(Verdict.KEEP, Ground.RULE, rule, until=until)
        return Decision(Verdict.ERASE, rule=rule)  # the period is over: nothing keeps it
    if rule.on_erasure == "review":
        return Decision(Verdict.REVIEW, Ground.REVIEW, rule)
    if rule.on_erasure == "suppress":
        return Decision(Verdict.SUPPRESS, rule=rule)
    return Decision(Verdict.ERASE, rule=rule)
