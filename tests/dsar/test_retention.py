"""The retention rules applied to records an erasure would change (dsar/retention.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from dsar.connectors.changes import RecordFacts
from dsar.retention import Ground, RuleSnapshot, Verdict, add_months, decide

TODAY = dt.date(2026, 12, 5)


def rule(**overrides) -> RuleSnapshot:
    values = {"code": "needed_for_purpose", "version": 3, "on_erasure": "erase"}
    return RuleSnapshot(**{**values, **overrides})


def test_a_record_without_a_rule_is_erased():
    assert decide(None, RecordFacts(), TODAY).verdict == Verdict.ERASE


def test_a_plain_rule_erases_on_request():
    decision = decide(rule(), RecordFacts(dated=TODAY), TODAY)
    assert decision.verdict == Verdict.ERASE
    assert not decision.kept


def test_an_active_relationship_keeps_the_record_whatever_its_age():
    active = rule(code="active_relationship", kept_while_active=True)
    decision = decide(active, RecordFacts(active=True, dated=dt.date(2010, 1, 1)), TODAY)
    assert (decision.verdict, decision.ground) == (Verdict.KEEP, Ground.ACTIVE)
    assert decision.rule.version == 3


@pytest.mark.parametrize(("days", "kept"), [(0, True), (90, True), (91, False)])
def test_a_recent_purchase_is_kept_within_the_rules_window(days, kept):
    active = rule(kept_while_active=True, recent_days=90)
    decision = decide(active, RecordFacts(dated=TODAY - dt.timedelta(days=days)), TODAY)
    assert decision.kept is kept
    if kept:
        assert decision.ground == Ground.RECENT


def test_purchase_records_are_kept_for_the_period_then_erased():
    purchases = rule(code="purchase_records", on_erasure="keep", period_months=72)
    within = decide(purchases, RecordFacts(dated=dt.date(2021, 3, 1)), TODAY)
    assert (within.verdict, within.ground, within.until) == (
        Verdict.KEEP,
        Ground.RULE,
        dt.date(2027, 3, 1),
    )
    past = decide(purchases, RecordFacts(dated=dt.date(2020, 12, 4)), TODAY)
    assert past.verdict == Verdict.ERASE


def test_a_kept_record_without_a_date_stays_kept():
    purchases = rule(on_erasure="keep", period_months=72)
    assert decide(purchases, RecordFacts(), TODAY).verdict == Verdict.KEEP


def test_correspondence_is_left_to_a_person():
    decision = decide(rule(on_erasure="review"), RecordFacts(), TODAY)
    assert (decision.verdict, decision.ground) == (Verdict.REVIEW, Ground.REVIEW)
    assert decision.kept


def test_marketing_data_is_erased_and_the_subject_suppressed():
    assert decide(rule(on_erasure="suppress"), RecordFacts(), TODAY).verdict == Verdict.SUPPRESS


def test_months_are_added_to_the_last_day_a_month_has():
    assert add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2020, 2, 29), 72) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2026, 11, 15), 2) == dt.date(2027, 1, 15)
