"""The DPO's dashboard: every figure, counted in the database.

Each figure is one function taking the dashboard's `Filters` and `now`, in a fixed number of
queries whatever the number of cases. The figures of what is open or waiting now read the open
cases (few, indexed). The figures of past months (SLA, days to close, volumes, extensions,
refusals, the yearly report) read the rollups the database keeps per local month
(`casework.models.figures`, maintained by triggers: `casework.rollups`) for every whole month of
the period, and the cases themselves, live, only for a month the period starts or ends inside
(`Filters.whole_months`, `Filters.part_months`); both give the same counts. Cases are kept for
ever: a closed case is later anonymised in place, its type, regime, channel, dates and state
kept. Totals count confidential cases too: they are counts, never lists of cases. The few
texts shown (the grounds of extensions and refusals) leave confidential cases out.

Days to close are whole days of the controller's calendar, from the day of receipt to the day
of the answer (answered the day it came: 0); their median and 90th percentile are
interpolated between the closest ranks (PostgreSQL's percentile_cont) from the histogram of
those days, exactly.

Which cases each figure reads:
- open, overdue, due soon: the open cases now (the period does not apply);
- SLA compliance and days to close: the cases answered (completed or refused) within the
  period, by the month of their answer; in time when closed by the end of their due day;
- volumes: the cases received within the period, by the month of receipt;
- extensions: announced within the period; refusals: refused within the period;
- connector health: every search of the last 7 days (systems are shared by every case, so
  only the period's end, `now`, applies);
- waiting for approval and for staff: what waits now.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Avg, Count, F, Func, IntegerField, Max, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth

from casework import deadlines, rollups
from casework.models import (
    BUNDLE_TYPES,
    OPEN_STATES,
    Case,
    CaseCloseDays,
    CaseGrounds,
    CaseMonthFigures,
    ConnectorRun,
    FulfilmentPlan,
    State,
)
from casework.selectors.identity import undecided_link_counts

# A request is answered by its completion or its refusal: both are owed by the deadline. A
# withdrawn, merged or expired request owes no answer and counts in no SLA.
ANSWERED_STATES = (State.COMPLETED, State.REJECTED)
HEALTH_DAYS = 7
GROUNDS_SHOWN = 10
# The longest period the dashboard shows, in months (its charts have a bar per month).
MAX_PERIOD_MONTHS = 60


def start_of_day(day: dt.date) -> dt.datetime:
    """The first instant of `day` in the controller's time zone, as an aware datetime."""
    zone = deadlines.controller_tz()
    return dt.datetime.combine(day, dt.time.min, tzinfo=zone).astimezone(dt.UTC)


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def months_between(first: dt.date, last: dt.date) -> list[dt.date]:
    """The first day of every month from `first`'s to `last`'s, both included."""
    months, current = [], month_start(first)
    while current <= last:
        months.append(current)
        current = deadlines.add_months(current, 1)
    return months


@dataclass(frozen=True)
class Filters:
    """What the dashboard shows: a period of local calendar days (both included), and
    optionally one regime, one request type and one assignee (a user's id)."""

    start: dt.date
    end: dt.date
    regime: str = ""
    request_type: str = ""
    assignee: int | None = None

    @classmethod
    def default(cls, now: dt.datetime, **chosen) -> Filters:
        """The last 12 months: from the first day of the month 11 months before today's."""
        today = deadlines.local_date(now)
        return cls(start=deadlines.add_months(month_start(today), -11), end=today, **chosen)

    @property
    def since(self) -> dt.datetime:
        return start_of_day(self.start)

    @property
    def until(self) -> dt.datetime:
        """The first instant after the period."""
        return start_of_day(self.end + dt.timedelta(days=1))

    @property
    def months(self) -> list[dt.date]:
        return months_between(self.start, self.end)

    def cases(self, queryset: QuerySet | None = None, prefix: str = "") -> QuerySet:
        """`queryset` (of all cases, or of rows reaching a case through `prefix`) narrowed to
        the chosen regime, request type and assignee."""
        rows = Case.objects.all() if queryset is None else queryset
        chosen = {
            "regime": self.regime,
            "request_type": self.request_type,
            "assignee_id": self.assignee,
        }
        return rows.filter(**{f"{prefix}{k}": v for k, v in chosen.items() if v})

    def within(self, field_name: str) -> Q:
        return Q(**{f"{field_name}__gte": self.since, f"{field_name}__lt": self.until})

    @property
    def whole_months(self) -> list[dt.date]:
        """The months wholly inside the period: read from the rollups."""
        return [
            month
            for month in self.months
            if self.start <= month and deadlines.add_months(month, 1) <= self.end + ONE_DAY
        ]

    @property
    def part_months(self) -> list[tuple[dt.datetime, dt.datetime]]:
        """The parts of the months the period starts or ends inside (at most two), as
        [since, until) windows: read live from the cases."""
        whole = set(self.whole_months)
        return [
            (max(self.since, start_of_day(month)), min(self.until, start_of_day(next_month)))
            for month in self.months
            if month not in whole
            for next_month in [deadlines.add_months(month, 1)]
        ]

    def rolled(self, model) -> QuerySet | None:
        """The rollup rows (of `model`) of the whole months, narrowed to the chosen regime,
        type and assignee; None when no month is whole."""
        months = self.whole_months
        if not months:
            return None
        rows = model.objects.filter(month__gte=months[0], month__lte=months[-1])
        return self.cases(rows)

    def live(self, field_name: str, queryset: QuerySet | None = None) -> QuerySet | None:
        """The cases (of `queryset`) whose `field_name` falls in the part months; None when
        the period has none."""
        windows = self.part_months
        if not windows:
            return None
        within = Q()
        for since, until in windows:
            within |= Q(**{f"{field_name}__gte": since, f"{field_name}__lt": until})
        return self.cases(queryset).filter(within)


ONE_DAY = dt.timedelta(days=1)


def _added(*parts: QuerySet | None, key: tuple[str, ...]) -> dict[tuple, dict[str, int]]:
    """The rows of rollups and live counts (querysets of dicts with the same names), added
    up by `key`."""
    totals: dict[tuple, dict[str, int]] = {}
    for part in parts:
        if part is None:
            continue
        for row in part:
            counts = totals.setdefault(tuple(row[name] for name in key), defaultdict(int))
            for name, value in row.items():
                if name not in key:
                    counts[name] += value or 0
    return totals


def _local_month(value) -> dt.date:
    """The month a TruncMonth in the controller's zone returned, as its first day."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(deadlines.controller_tz())
        value = value.date()
    return value.replace(day=1)


def _by_local_month(field_name: str) -> TruncMonth:
    return TruncMonth(field_name, tzinfo=deadlines.controller_tz())


# Counts are COUNT(*), or, with a filter (which Django's Count("*") does not take), the count
# of a column never null that the figure's covering index holds: PostgreSQL then answers from
# the index alone.

# --- open cases ---------------------------------------------------------------------------


@dataclass
class Workload:
    """The open cases now: by state and type, and how many are overdue or due soon."""

    cells: dict[tuple[str, str], int] = field(default_factory=dict)  # (state, type) -> n
    overdue_by_type: dict[str, int] = field(default_factory=dict)
    due_soon_by_type: dict[str, int] = field(default_factory=dict)
    due_soon_days: int = 7

    @property
    def total(self) -> int:
        return sum(self.cells.values())

    @property
    def by_state(self) -> dict[str, int]:
        return _sum_by(self.cells, 0)

    @property
    def by_type(self) -> dict[str, int]:
        return _sum_by(self.cells, 1)

    @property
    def overdue(self) -> int:
        return sum(self.overdue_by_type.values())

    @property
    def due_soon(self) -> int:
        return sum(self.due_soon_by_type.values())


def _sum_by(cells: dict[tuple, int], position: int) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for key, n in cells.items():
        totals[key[position]] += n
    return dict(totals)


def due_soon_horizon(now: dt.datetime, days: int) -> dt.datetime:
    """The end of the day `days` days after today (`casework.selectors.cases_due_within`)."""
    return deadlines.end_of_day(deadlines.local_date(now) + dt.timedelta(days=days))


def workload(filters: Filters, now: dt.datetime) -> Workload:
    """Open cases by state and type; overdue (past their due time) and due within
    DSAR_DUE_SOON_DAYS (7) days, by type. One query."""
    days = settings.DSAR_DUE_SOON_DAYS
    horizon = due_soon_horizon(now, days)
    rows = (
        filters.cases()
        .filter(state__in=OPEN_STATES)
        .values("state", "request_type")
        .annotate(
            n=Count("*"),
            overdue=Count("due_at", filter=Q(due_at__lt=now)),
            due_soon=Count("due_at", filter=Q(due_at__gte=now, due_at__lte=horizon)),
        )
        .order_by()
    )
    figures = Workload(due_soon_days=days)
    overdue: dict[str, int] = defaultdict(int)
    soon: dict[str, int] = defaultdict(int)
    for row in rows:
        figures.cells[(row["state"], row["request_type"])] = row["n"]
        overdue[row["request_type"]] += row["overdue"]
        soon[row["request_type"]] += row["due_soon"]
    figures.overdue_by_type = {k: v for k, v in overdue.items() if v}
    figures.due_soon_by_type = {k: v for k, v in soon.items() if v}
    return figures


# --- SLA compliance -------------------------------------------------------------------------


@dataclass
class SlaMonth:
    month: dt.date
    answered: int = 0
    in_time: int = 0

    @property
    def share(self) -> float | None:
        """The share answered in time, 0..1; None when nothing was answered."""
        return self.in_time / self.answered if self.answered else None


@dataclass
class Sla:
    """Answers in time per month of the answer, overall and per regime."""

    months: list[SlaMonth]
    by_regime: dict[str, list[SlaMonth]]

    @property
    def answered(self) -> int:
        return sum(m.answered for m in self.months)

    @property
    def in_time(self) -> int:
        return sum(m.in_time for m in self.months)

    @property
    def share(self) -> float | None:
        return self.in_time / self.answered if self.answered else None


def answered_cases_anywhen() -> QuerySet[Case]:
    return Case.objects.filter(state__in=ANSWERED_STATES)


def answered_cases(filters: Filters) -> QuerySet[Case]:
    """The cases answered (completed or refused) within the period."""
    return filters.cases(answered_cases_anywhen()).filter(filters.within("closed_at"))


IN_TIME = Q(closed_at__lte=F("due_at"))


def sla_compliance(filters: Filters, now: dt.datetime) -> Sla:
    """The share of the cases answered in each month (of the controller's calendar) that
    were answered by the end of their due day, overall and per regime. Two queries at most:
    the rollups of the whole months, the cases of the part months."""
    rolled = filters.rolled(CaseMonthFigures)
    if rolled is not None:
        rolled = (
            rolled.filter(answered__gt=0)
            .values("month", "regime")
            .annotate(n=Sum("answered"), in_time_n=Sum("answered_in_time"))
            .order_by()
        )
    live = filters.live("closed_at", answered_cases_anywhen())
    if live is not None:
        live = (
            live.annotate(month=_by_local_month("closed_at"))
            .values("month", "regime")
            .annotate(n=Count("*"), in_time_n=Count("due_at", filter=IN_TIME))
            .order_by()
        )
    months = filters.months
    overall = {m: SlaMonth(m) for m in months}
    regimes: dict[str, dict[dt.date, SlaMonth]] = {}
    for (month, regime), counts in _added(rolled, live, key=("month", "regime")).items():
        month = _local_month(month)
        if month not in overall:
            continue
        per_regime = regimes.setdefault(regime, {m: SlaMonth(m) for m in months})
        for target in (overall[month], per_regime[month]):
            target.answered += counts["n"]
            target.in_time += counts["in_time_n"]
    return Sla(
        months=list(overall.values()),
        by_regime={code: list(regimes[code].values()) for code in sorted(regimes)},
    )


# --- days to close --------------------------------------------------------------------------


class LocalDays(Func):
    """The whole days of the controller's calendar from `received_at` to `closed_at`, as
    the rollups' triggers count them (`casework.rollups`)."""

    output_field = IntegerField()

    def __init__(self, received: str, closed: str, **extra):
        super().__init__(F(received), F(closed), **extra)

    def as_sql(self, compiler, connection, **extra):
        received, received_params = compiler.compile(self.source_expressions[0])
        closed, closed_params = compiler.compile(self.source_expressions[1])
        sql = rollups.local_days_sql(connection.vendor, received, closed)
        return sql, [*received_params, *closed_params]


def percentile(histogram: dict[int, int], fraction: float) -> float | None:
    """percentile_cont of the values counted in `histogram` (value -> how many): linear
    interpolation between the closest ranks."""
    total = sum(histogram.values())
    if total <= 0:
        return None
    position = (total - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    values: dict[int, float] = {}
    seen = 0
    for value in sorted(histogram):
        count = histogram[value]
        for rank in (low, high):
            if seen <= rank < seen + count:
                values[rank] = value
        seen += count
        if high in values:
            break
    return values[low] + (values[high] - values[low]) * (position - low)


@dataclass
class Spread:
    answered: int = 0
    median_days: float | None = None
    p90_days: float | None = None

    @classmethod
    def of(cls, histogram: dict[int, int]) -> Spread:
        return cls(sum(histogram.values()), percentile(histogram, 0.5), percentile(histogram, 0.9))


@dataclass
class TimeToClose:
    overall: Spread
    by_type: dict[str, Spread]


def time_to_close(filters: Filters, now: dt.datetime) -> TimeToClose:
    """Median and 90th percentile of the days from receipt to answer (whole local days), of
    the cases answered within the period, overall and by request type. Two queries at most:
    the histogram of the whole months' days, the cases of the part months."""
    rolled = filters.rolled(CaseCloseDays)
    if rolled is not None:
        rolled = rolled.values("request_type", "days").annotate(n=Sum("answered")).order_by()
    live = filters.live("closed_at", answered_cases_anywhen())
    if live is not None:
        live = (
            live.annotate(days=LocalDays("received_at", "closed_at"))
            .values("request_type", "days")
            .annotate(n=Count("*"))
            .order_by()
        )
    histograms: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    every: dict[int, int] = defaultdict(int)
    for (request_type, days), counts in _added(rolled, live, key=("request_type", "days")).items():
        histograms[request_type][days] += counts["n"]
        every[days] += counts["n"]
    return TimeToClose(
        Spread.of(every),
        {k: Spread.of(v) for k, v in sorted(histograms.items()) if any(v.values())},
    )


# --- volumes ------------------------------------------------------------------------------


@dataclass
class Volumes:
    """Requests received per month, by type and by channel."""

    months: list[dt.date]
    by_type: dict[str, dict[dt.date, int]]
    by_channel: dict[str, dict[dt.date, int]]

    @property
    def totals(self) -> dict[dt.date, int]:
        return {m: sum(row.get(m, 0) for row in self.by_type.values()) for m in self.months}

    @property
    def total(self) -> int:
        return sum(self.totals.values())


def volumes(filters: Filters, now: dt.datetime) -> Volumes:
    """Requests received within the period, per month of receipt, by type and channel.
    Two queries at most: the rollups of the whole months, the cases of the part months."""
    key = ("month", "request_type", "channel")
    rolled = filters.rolled(CaseMonthFigures)
    if rolled is not None:
        rolled = rolled.filter(received__gt=0).values(*key).annotate(n=Sum("received")).order_by()
    live = filters.live("received_at")
    if live is not None:
        live = (
            live.annotate(month=_by_local_month("received_at"))
            .values(*key)
            .annotate(n=Count("*"))
            .order_by()
        )
    by_type: dict[str, dict[dt.date, int]] = defaultdict(lambda: defaultdict(int))
    by_channel: dict[str, dict[dt.date, int]] = defaultdict(lambda: defaultdict(int))
    for (month, request_type, channel), counts in _added(rolled, live, key=key).items():
        month = _local_month(month)
        by_type[request_type][month] += counts["n"]
        by_channel[channel][month] += counts["n"]
    return Volumes(
        filters.months,
        {k: dict(v) for k, v in sorted(by_type.items())},
        {k: dict(v) for k, v in sorted(by_channel.items())},
    )


# --- extensions and refusals ----------------------------------------------------------------


@dataclass
class Decisions:
    """Extensions or refusals within the period: how many by type, and their grounds (the
    reasons the subject was told, the most frequent first; confidential cases' left out)."""

    by_type: dict[str, int]
    grounds: list[tuple[str, int]]
    unfounded: int = 0  # refusals: of which as manifestly unfounded or excessive

    @property
    def total(self) -> int:
        return sum(self.by_type.values())


def _grounds(
    filters: Filters, kind: str, cases: QuerySet[Case], date_field: str, reason_field: str
) -> list[tuple[str, int]]:
    """The grounds most given (of `kind`), with how many cases each, the most frequent first:
    the rollups' for the whole months, the cases' (of `cases`, not confidential) for the part
    months. Two queries at most."""
    rolled = filters.rolled(CaseGrounds)
    if rolled is not None:
        rolled = (
            rolled.filter(kind=kind, cases__gt=0)
            .values("reason_key")
            .annotate(ground=Max("reason"), n=Sum("cases"))
            .values("ground", "n")
            .order_by()
        )
    live = filters.live(date_field, cases.filter(confidential=False).exclude(**{reason_field: ""}))
    if live is not None:
        live = live.values(ground=F(reason_field)).annotate(n=Count("*")).order_by()
    counted = _added(rolled, live, key=("ground",))
    ranked = sorted(counted.items(), key=lambda item: (-item[1]["n"], item[0][0]))
    return [(ground, row["n"]) for (ground,), row in ranked[:GROUNDS_SHOWN]]


def extensions(filters: Filters, now: dt.datetime) -> Decisions:
    """Deadlines extended (announced) within the period, by type, with their grounds.
    Four queries at most: the rollups of the whole months and the cases of the part months,
    for the counts and for the grounds."""
    rolled = filters.rolled(CaseMonthFigures)
    if rolled is not None:
        rolled = (
            rolled.filter(extended__gt=0)
            .values("request_type")
            .annotate(n=Sum("extended"))
            .order_by()
        )
    live = filters.live(
        "extension_announced_at", Case.objects.filter(original_due_at__isnull=False)
    )
    if live is not None:
        live = live.values("request_type").annotate(n=Count("*")).order_by()
    counts = _added(rolled, live, key=("request_type",))
    return Decisions(
        {request_type: row["n"] for (request_type,), row in sorted(counts.items())},
        _grounds(
            filters,
            CaseGrounds.Kind.EXTENSION,
            Case.objects.filter(original_due_at__isnull=False),
            "extension_announced_at",
            "extension_reason",
        ),
    )


def refusals(filters: Filters, now: dt.datetime) -> Decisions:
    """Requests refused within the period, by type (and how many as manifestly unfounded or
    excessive), with their grounds. Four queries at most, as `extensions`."""
    rolled = filters.rolled(CaseMonthFigures)
    if rolled is not None:
        rolled = (
            rolled.filter(refused__gt=0)
            .values("request_type")
            .annotate(n=Sum("refused"), unfounded_n=Sum("refused_unfounded"))
            .order_by()
        )
    live = filters.live("closed_at", Case.objects.filter(state=State.REJECTED))
    if live is not None:
        live = (
            live.values("request_type")
            .annotate(
                n=Count("*"), unfounded_n=Count("closed_at", filter=Q(rejected_as_unfounded=True))
            )
            .order_by()
        )
    counts = _added(rolled, live, key=("request_type",))
    return Decisions(
        {request_type: row["n"] for (request_type,), row in sorted(counts.items())},
        _grounds(
            filters,
            CaseGrounds.Kind.REFUSAL,
            Case.objects.filter(state=State.REJECTED),
            "closed_at",
            "rejection_reason",
        ),
        unfounded=sum(row["unfounded_n"] for row in counts.values()),
    )


# --- connector health -----------------------------------------------------------------------


@dataclass
class SystemHealth:
    system_id: int
    name: str
    searches: int
    failed: int
    mean_ms: float | None  # of the searches that finished with a duration

    @property
    def failure_share(self) -> float | None:
        return self.failed / self.searches if self.searches else None


def health_since(now: dt.datetime) -> dt.datetime:
    return now - dt.timedelta(days=HEALTH_DAYS)


def connector_health(filters: Filters, now: dt.datetime) -> list[SystemHealth]:
    """Per source system, the searches started in the last 7 days: how many, how many failed,
    and their mean search time. One query. Every case's searches count (a system serves them
    all), so only `now` applies."""
    rows = (
        ConnectorRun.objects.filter(created_at__gte=health_since(now), created_at__lte=now)
        .values("system_id", "system__name")
        .annotate(
            searches=Count("*"),
            failed=Count("state", filter=Q(state=ConnectorRun.State.FAILED)),
            mean_ms=Avg("duration_ms"),
        )
        .order_by("system__name", "system_id")
    )
    return [
        SystemHealth(
            row["system_id"], row["system__name"], row["searches"], row["failed"], row["mean_ms"]
        )
        for row in rows
    ]


# --- waiting ------------------------------------------------------------------------------


@dataclass
class Waiting:
    """What waits for a person now: plans of changes submitted for approval, releases of
    reviewed data to approve, and held records for staff to confirm or leave out."""

    plans: int = 0
    releases: int = 0
    records: int = 0
    record_cases: int = 0  # the cases those records are on


def cases_with_plan_to_approve(filters: Filters) -> QuerySet[Case]:
    plans = FulfilmentPlan.objects.filter(state=FulfilmentPlan.State.SUBMITTED)
    return filters.cases().filter(pk__in=plans.values("case_id"))


def cases_with_release_to_approve(filters: Filters) -> QuerySet[Case]:
    """Access and portability cases whose review is complete, waiting for the release's
    approval."""
    return filters.cases().filter(
        state=State.IN_REVIEW, request_type__in=BUNDLE_TYPES, review_completed_at__isnull=False
    )


def records_waiting_by_case(filters: Filters) -> dict[int, int]:
    """Held records staff have not yet decided, per case with any (cases in an open review).
    Four queries, however many cases."""
    in_review = filters.cases().filter(state=State.IN_REVIEW, review_completed_at__isnull=True)
    return undecided_link_counts(in_review)


def waiting(filters: Filters, now: dt.datetime) -> Waiting:
    """Plans and releases waiting for approval, records waiting for staff. Seven queries."""
    submitted = FulfilmentPlan.objects.filter(state=FulfilmentPlan.State.SUBMITTED)
    plans = filters.cases(submitted, prefix="case__").count()
    releases = cases_with_release_to_approve(filters).count()
    records = records_waiting_by_case(filters)
    return Waiting(
        plans=plans,
        releases=releases,
        records=sum(records.values()),
        record_cases=len(records),
    )


# --- the yearly report for the regulator ----------------------------------------------------


@dataclass
class YearRow:
    request_type: str
    received: int = 0
    answered: int = 0
    answered_in_time: int = 0
    extended: int = 0
    refused: int = 0
    still_open: int = 0


@dataclass
class YearReport:
    """The requests received in a calendar year (the controller's), by type, and what became
    of them: answered (completed or refused), in time, extended, refused, still open."""

    year: int
    rows: list[YearRow]

    @property
    def total(self) -> YearRow:
        total = YearRow("")
        for row in self.rows:
            for name in (
                "received",
                "answered",
                "answered_in_time",
                "extended",
                "refused",
                "still_open",
            ):
                setattr(total, name, getattr(total, name) + getattr(row, name))
        return total


def year_filters(year: int, filters: Filters | None = None) -> Filters:
    chosen = {}
    if filters is not None:
        chosen = {
            "regime": filters.regime,
            "request_type": filters.request_type,
            "assignee": filters.assignee,
        }
    return Filters(start=dt.date(year, 1, 1), end=dt.date(year, 12, 31), **chosen)


def yearly_report(year: int, filters: Filters | None = None) -> YearReport:
    """The regulator's yearly figures of the requests received in `year`. One query: a year
    is twelve whole months of the rollups."""
    scope = year_filters(year, filters)
    rolled = scope.rolled(CaseMonthFigures)
    if rolled is not None:
        rolled = (
            rolled.filter(received__gt=0)
            .values("request_type")
            .annotate(**{f"{name}_n": Sum(column) for name, column in YEAR_COLUMNS.items()})
            .order_by()
        )
    live = scope.live("received_at")  # none: a year has no part month; kept for symmetry
    if live is not None:
        answered = Q(state__in=ANSWERED_STATES)
        live = (
            live.values("request_type")
            .annotate(
                received_n=Count("*"),
                answered_n=Count("received_at", filter=answered),
                answered_in_time_n=Count("received_at", filter=answered & IN_TIME),
                extended_n=Count("received_at", filter=Q(original_due_at__isnull=False)),
                refused_n=Count("received_at", filter=Q(state=State.REJECTED)),
                still_open_n=Count("received_at", filter=Q(state__in=OPEN_STATES)),
            )
            .order_by()
        )
    rows = _added(rolled, live, key=("request_type",))
    return YearReport(
        year,
        [
            YearRow(request_type, **{name: counts[f"{name}_n"] for name in YEAR_COLUMNS})
            for (request_type,), counts in sorted(rows.items())
        ],
    )


# The yearly report's figures, and the rollup columns (of the month of receipt) they add up.
YEAR_COLUMNS = {
    "received": "received",
    "answered": "received_answered",
    "answered_in_time": "received_in_time",
    "extended": "received_extended",
    "refused": "received_refused",
    "still_open": "received_open",
}


# --- the case lists the figures link to (the admin's filters) -------------------------------


def answered_in_time(in_time: bool) -> QuerySet[Case]:
    """Cases answered (completed or refused) by the end of their due day, or after it."""
    answered = Case.objects.filter(state__in=ANSWERED_STATES)
    return answered.filter(IN_TIME) if in_time else answered.exclude(IN_TIME)


def cases_waiting(what: str, now: dt.datetime) -> QuerySet[Case]:
    """The cases behind a `Waiting` figure: "plan", "release" or "records"."""
    everything = Filters.default(now)
    if what == "plan":
        return cases_with_plan_to_approve(everything)
    if what == "release":
        return cases_with_release_to_approve(everything)
    if what == "records":
        return Case.objects.filter(pk__in=list(records_waiting_by_case(everything)))
    return Case.objects.none()


def cases_with_failed_search(system_id: int, now: dt.datetime) -> QuerySet[Case]:
    """The cases a search of the system failed for in the last 7 days (`connector_health`)."""
    failed = ConnectorRun.objects.filter(
        system_id=system_id,
        state=ConnectorRun.State.FAILED,
        created_at__gte=health_since(now),
        created_at__lte=now,
    )
    return Case.objects.filter(pk__in=failed.values("case_id"))
