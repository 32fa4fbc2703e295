"""Deadlines per legal regime: regimes are data, the arithmetic is plain functions.

Dates are calendar dates in the controller's time zone (settings.DSAR_TIME_ZONE): a request at
23:30 UTC on 31 January is received on 1 February in Tirana. A case is due by the end of its due
day in that zone. Nothing here touches the database; callers pass holidays in.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Period:
    """A length of time: whole calendar months or days."""

    months: int = 0
    days: int = 0

    def after(self, start: dt.date) -> dt.date:
        return add_months(start, self.months) + dt.timedelta(days=self.days)


@dataclass(frozen=True)
class Regime:
    code: str
    label: str
    deadline: Period
    extension: Period  # the most the deadline may be extended by, in total
    statutory: bool = True
    # Business days within which receipt must be confirmed (CCPA/CPRA), or None.
    confirm_receipt_business_days: int | None = None
    # Whether the clock waits while the controller awaits the subject (GDPR: information
    # needed to identify the subject); and for which kinds of question.
    clock_pauses_for: frozenset[str] = frozenset()


GDPR_PAUSES = frozenset({"identity", "authority", "callback"})

REGIMES: dict[str, Regime] = {
    r.code: r
    for r in (
        Regime("gdpr", _("GDPR"), Period(months=1), Period(months=2), clock_pauses_for=GDPR_PAUSES),
        Regime(
            "uk_gdpr",
            _("UK GDPR"),
            Period(months=1),
            Period(months=2),
            clock_pauses_for=GDPR_PAUSES,
        ),
        Regime(
            "ccpa",
            _("CCPA/CPRA"),
            Period(days=45),
            Period(days=45),
            confirm_receipt_business_days=10,
        ),
        Regime(
            "voluntary",
            _("Voluntary (no statutory deadline)"),
            Period(days=45),  # replaced by settings.DSAR_VOLUNTARY_TARGET_DAYS in get_regime
            Period(days=0),
            statutory=False,
        ),
    )
}
REGIME_CHOICES = [(code, regime.label) for code, regime in REGIMES.items()]


def get_regime(code: str) -> Regime:
    try:
        regime = REGIMES[code]
    except KeyError:
        raise ValueError(f"unknown regime {code!r}") from None
    if code == "voluntary":
        target = Period(days=settings.DSAR_VOLUNTARY_TARGET_DAYS)
        regime = Regime(**{**regime.__dict__, "deadline": target})
    return regime


def controller_tz() -> ZoneInfo:
    return ZoneInfo(settings.DSAR_TIME_ZONE)


def add_months(start: dt.date, months: int) -> dt.date:
    """The same day `months` later; where the target month has no such day, its last day."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return dt.date(year, month, day)


def local_date(moment: dt.datetime, tz: dt.tzinfo | None = None) -> dt.date:
    """The calendar date of an aware moment in the controller's time zone."""
    if moment.tzinfo is None:
        raise ValueError("an aware datetime is required")
    return moment.astimezone(tz or controller_tz()).date()


def end_of_day(day: dt.date, tz: dt.tzinfo | None = None) -> dt.datetime:
    """The last instant of `day` in the controller's time zone, as an aware datetime.

    Where clocks go back at midnight (America/Santiago), 23:59:59.999999 happens twice and the
    day ends at the second (fold=1); where they skip it, fold=1 is the instant before the jump.
    The round trip through UTC normalises the result to a wall time that really occurred.
    """
    zone = tz or controller_tz()
    last = dt.datetime.combine(day, dt.time.max, tzinfo=zone).replace(fold=1)
    return last.astimezone(dt.UTC).astimezone(zone)


def due_date(regime: Regime, received_on: dt.date, paused_days: int = 0) -> dt.date:
    """The statutory (or target) due date, pushed back by the days the clock was paused."""
    return regime.deadline.after(received_on) + dt.timedelta(days=paused_days)


def latest_extended_due_date(regime: Regime, received_on: dt.date, paused_days: int = 0) -> dt.date:
    """The furthest an extension may move the due date (GDPR: three months from receipt)."""
    longest = Period(
        months=regime.deadline.months + regime.extension.months,
        days=regime.deadline.days + regime.extension.days,
    )
    return longest.after(received_on) + dt.timedelta(days=paused_days)


def add_business_days(start: dt.date, days: int, holidays: Iterable[dt.date] = ()) -> dt.date:
    """`days` business days after `start`: weekends and the given holidays are skipped."""
    closed = set(holidays)
    current = start
    remaining = days
    while remaining > 0:
        current += dt.timedelta(days=1)
        if current.weekday() < 5 and current not in closed:
            remaining -= 1
    return current


# CCPA/CPRA regulations (§ 7026(f)): a request to opt out of sale or sharing is complied with
# as soon as feasibly possible, and no later than 15 business days from its receipt.
OPT_OUT_BUSINESS_DAYS = 15


def opt_out_due_date(
    regime: Regime, received_on: dt.date, holidays: Iterable[dt.date] = ()
) -> dt.date:
    """The due date of an opt-out of disclosure ("sale"): 15 business days from receipt, or
    the regime's own deadline where that is sooner."""
    return min(
        add_business_days(received_on, OPT_OUT_BUSINESS_DAYS, holidays),
        due_date(regime, received_on),
    )


def receipt_confirmation_due(
    regime: Regime, received_on: dt.date, holidays: Iterable[dt.date] = ()
) -> dt.date | None:
    if regime.confirm_receipt_business_days is None:
        return None
    return add_business_days(received_on, regime.confirm_receipt_business_days, holidays)


def pause_days(paused_at: dt.datetime, resumed_at: dt.datetime, tz: dt.tzinfo | None = None) -> int:
    """Whole calendar days the clock stood still (the day of resumption counts as running)."""
    return max(0, (local_date(resumed_at, tz) - local_date(paused_at, tz)).days)


def days_left(due_at: dt.datetime, now: dt.datetime, tz: dt.tzinfo | None = None) -> int:
    """Calendar days from today to the due day; negative when overdue."""
    return (local_date(due_at, tz) - local_date(now, tz)).days
