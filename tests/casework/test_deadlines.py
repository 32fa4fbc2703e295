"""Deadlines per regime: calendar arithmetic, local dates in the controller's zone, regimes as data.

Pure functions, no database. Tests that read Django settings take pytest-django's `settings`
fixture and pin the values they rely on; the property-based tests pass time zones explicitly.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from casework.deadlines import (
    GDPR_PAUSES,
    REGIME_CHOICES,
    REGIMES,
    Period,
    add_business_days,
    add_months,
    days_left,
    due_date,
    end_of_day,
    get_regime,
    latest_extended_due_date,
    local_date,
    pause_days,
    receipt_confirmation_due,
)

UTC = dt.UTC
TIRANA = ZoneInfo("Europe/Tirane")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
KIRITIMATI = ZoneInfo("Pacific/Kiritimati")
SANTIAGO = ZoneInfo("America/Santiago")  # clocks change at midnight
ZONES = [TIRANA, LOS_ANGELES, KIRITIMATI, SANTIAGO]
ONE_MICROSECOND = dt.timedelta(microseconds=1)

# Modest example counts, and no example database written into the working tree.
PROPERTY = hsettings(max_examples=200, database=None, deadline=None)

# Far enough either way for any real case, and clear of datetime's overflow at the extremes.
reasonable_dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2200, 12, 31))
utc_moments = st.datetimes(
    min_value=dt.datetime(1900, 1, 2), max_value=dt.datetime(2200, 12, 30), timezones=st.just(UTC)
)
statutory_codes = st.sampled_from(["gdpr", "uk_gdpr", "ccpa"])


def tirana(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=TIRANA)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.fixture
def controller_in_tirana(settings):
    settings.DSAR_TIME_ZONE = "Europe/Tirane"
    return settings


# --- Regimes as data ------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["gdpr", "uk_gdpr"])
def test_gdpr_gives_one_calendar_month_extendable_by_two_more(code):
    regime = get_regime(code)
    assert regime.code == code
    assert regime.statutory
    assert regime.deadline == Period(months=1)
    assert regime.extension == Period(months=2)
    assert regime.confirm_receipt_business_days is None


@pytest.mark.parametrize("code", ["gdpr", "uk_gdpr"])
def test_the_gdpr_clock_waits_for_identity_authority_and_callback_but_not_clarification(code):
    pauses = get_regime(code).clock_pauses_for
    assert pauses == GDPR_PAUSES == {"identity", "authority", "callback"}
    assert "clarification" not in pauses


def test_ccpa_gives_45_days_extendable_by_45_and_the_clock_never_pauses():
    regime = get_regime("ccpa")
    assert regime.statutory
    assert regime.deadline == Period(days=45)
    assert regime.extension == Period(days=45)
    assert regime.clock_pauses_for == frozenset()


def test_ccpa_receipt_must_be_confirmed_within_ten_business_days():
    assert get_regime("ccpa").confirm_receipt_business_days == 10


def test_the_voluntary_regime_has_no_statutory_deadline_but_a_45_day_target_by_default(settings):
    regime = get_regime("voluntary")
    assert not regime.statutory
    assert settings.DSAR_VOLUNTARY_TARGET_DAYS == 45
    assert regime.deadline == Period(days=45)
    assert regime.extension == Period()
    assert regime.clock_pauses_for == frozenset()
    assert regime.confirm_receipt_business_days is None


def test_changing_the_voluntary_target_setting_changes_the_voluntary_deadline(settings):
    settings.DSAR_VOLUNTARY_TARGET_DAYS = 30
    assert get_regime("voluntary").deadline == Period(days=30)
    assert due_date(get_regime("voluntary"), dt.date(2026, 3, 1)) == dt.date(2026, 3, 31)

    settings.DSAR_VOLUNTARY_TARGET_DAYS = 60
    assert get_regime("voluntary").deadline == Period(days=60)
    assert due_date(get_regime("voluntary"), dt.date(2026, 3, 1)) == dt.date(2026, 4, 30)


def test_reading_the_voluntary_target_leaves_the_shared_regime_table_alone(settings):
    settings.DSAR_VOLUNTARY_TARGET_DAYS = 7
    regime = get_regime("voluntary")
    assert regime.deadline == Period(days=7)
    assert REGIMES["voluntary"].deadline == Period(days=45)
    assert regime.label == REGIMES["voluntary"].label


def test_a_voluntary_target_leaves_no_room_for_an_extension(settings):
    settings.DSAR_VOLUNTARY_TARGET_DAYS = 45
    regime = get_regime("voluntary")
    received = dt.date(2026, 1, 31)
    assert latest_extended_due_date(regime, received) == due_date(regime, received)
    assert due_date(regime, received) == dt.date(2026, 3, 17)


def test_an_unknown_regime_is_a_value_error():
    with pytest.raises(ValueError, match="nope"):
        get_regime("nope")


def test_every_regime_is_offered_as_a_choice():
    assert [code for code, _label in REGIME_CHOICES] == ["gdpr", "uk_gdpr", "ccpa", "voluntary"]
    assert {str(label) for _code, label in REGIME_CHOICES} == {
        "GDPR",
        "UK GDPR",
        "CCPA/CPRA",
        "Voluntary (no statutory deadline)",
    }


def test_regimes_and_periods_are_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_regime("gdpr").deadline = Period(months=6)  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Period(days=1).days = 2  # type: ignore[misc]


# --- Receipt and due instants in the controller's time zone ---------------------------------


def test_a_request_late_on_31_january_utc_is_received_on_1_february_in_tirana(
    controller_in_tirana,
):
    assert local_date(utc(2026, 1, 31, 23, 30)) == dt.date(2026, 2, 1)


def test_the_same_request_is_received_on_31_january_in_los_angeles():
    assert local_date(utc(2026, 1, 31, 23, 30), LOS_ANGELES) == dt.date(2026, 1, 31)


def test_a_request_early_on_1_february_utc_is_received_on_31_january_in_los_angeles():
    assert local_date(utc(2026, 2, 1, 5, 0), LOS_ANGELES) == dt.date(2026, 1, 31)


def test_the_receipt_date_follows_the_time_zone_setting(settings):
    moment = utc(2026, 1, 31, 23, 30)
    settings.DSAR_TIME_ZONE = "America/Los_Angeles"
    assert local_date(moment) == dt.date(2026, 1, 31)
    settings.DSAR_TIME_ZONE = "Europe/Tirane"
    assert local_date(moment) == dt.date(2026, 2, 1)


def test_the_controller_time_zone_is_tirana_by_default(settings):
    assert settings.DSAR_TIME_ZONE == "Europe/Tirane"


def test_a_moment_given_in_any_offset_is_converted_to_the_controller_zone():
    plus_five = dt.timezone(dt.timedelta(hours=5))
    # 02:00 at +05:00 is 21:00 UTC the day before, 22:00 in Tirana in winter.
    assert local_date(dt.datetime(2026, 2, 1, 2, 0, tzinfo=plus_five), TIRANA) == dt.date(
        2026, 1, 31
    )


def test_a_naive_moment_is_refused():
    with pytest.raises(ValueError, match="aware"):
        local_date(dt.datetime(2026, 1, 31, 23, 30), TIRANA)


def test_a_case_is_due_at_the_last_microsecond_of_its_due_day_in_tirana(controller_in_tirana):
    due = end_of_day(dt.date(2026, 2, 28))
    assert due.tzinfo is not None
    assert due.utcoffset() == dt.timedelta(hours=1)
    assert due == tirana(2026, 2, 28, 23, 59, 59, 999999)
    assert due.astimezone(UTC) == utc(2026, 2, 28, 22, 59, 59, 999999)
    assert (due.astimezone(UTC) + ONE_MICROSECOND).astimezone(TIRANA) == tirana(2026, 3, 1)


def test_the_due_day_ends_at_local_midnight_in_summer_too(controller_in_tirana):
    due = end_of_day(dt.date(2026, 7, 15))
    assert due.utcoffset() == dt.timedelta(hours=2)
    assert due.astimezone(UTC) == utc(2026, 7, 15, 21, 59, 59, 999999)


def test_the_spring_forward_sunday_in_tirana_is_23_hours_long(controller_in_tirana):
    # Last Sunday of March 2026: clocks go from 02:00 to 03:00 (CET to CEST).
    sunday = dt.date(2026, 3, 29)
    due = end_of_day(sunday)
    assert due.astimezone(UTC) == utc(2026, 3, 29, 21, 59, 59, 999999)
    assert local_date(due) == sunday
    day_before = end_of_day(sunday - dt.timedelta(days=1))
    # In UTC: Python subtracts two datetimes sharing a tzinfo by their wall clocks.
    assert due.astimezone(UTC) - day_before.astimezone(UTC) == dt.timedelta(hours=23)


def test_the_fall_back_sunday_in_tirana_is_25_hours_long(controller_in_tirana):
    # Last Sunday of October 2026: clocks go from 03:00 back to 02:00 (CEST to CET).
    sunday = dt.date(2026, 10, 25)
    due = end_of_day(sunday)
    assert due.astimezone(UTC) == utc(2026, 10, 25, 22, 59, 59, 999999)
    assert local_date(due) == sunday
    day_before = end_of_day(sunday - dt.timedelta(days=1))
    # In UTC: Python subtracts two datetimes sharing a tzinfo by their wall clocks.
    assert due.astimezone(UTC) - day_before.astimezone(UTC) == dt.timedelta(hours=25)


def test_where_clocks_go_back_at_midnight_the_day_ends_after_the_repeated_hour():
    # Santiago, Saturday 4 April 2026: at 24:00 (-03) clocks go back to 23:00 (-04), so
    # 23:59:59.999999 happens twice; the day ends at the second one.
    saturday = dt.date(2026, 4, 4)
    due = end_of_day(saturday, SANTIAGO)
    assert due.astimezone(UTC) == utc(2026, 4, 5, 3, 59, 59, 999999)
    assert local_date(due, SANTIAGO) == saturday
    assert local_date(due.astimezone(UTC) + ONE_MICROSECOND, SANTIAGO) == dt.date(2026, 4, 5)


def test_where_clocks_skip_midnight_the_day_still_ends_at_the_skip():
    # Santiago, Saturday 5 September 2026: at 24:00 (-04) clocks jump to Sunday 01:00 (-03).
    saturday = dt.date(2026, 9, 5)
    assert end_of_day(saturday, SANTIAGO).astimezone(UTC) == utc(2026, 9, 6, 3, 59, 59, 999999)
    sunday = dt.date(2026, 9, 6)
    assert end_of_day(sunday, SANTIAGO).astimezone(UTC) == utc(2026, 9, 7, 2, 59, 59, 999999)


def test_a_day_the_zone_skipped_is_over_before_the_next_day_begins():
    # Kiritimati crossed the date line at the end of 1994: 31 December 1994 never happened there.
    skipped = end_of_day(dt.date(1994, 12, 31), KIRITIMATI)
    assert skipped == end_of_day(dt.date(1994, 12, 30), KIRITIMATI)
    assert skipped < dt.datetime(1995, 1, 1, tzinfo=KIRITIMATI)


# --- Calendar months ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (dt.date(2027, 1, 31), 1, dt.date(2027, 2, 28)),
        (dt.date(2028, 1, 31), 1, dt.date(2028, 2, 29)),
        (dt.date(2026, 3, 31), 1, dt.date(2026, 4, 30)),
        (dt.date(2026, 1, 15), 1, dt.date(2026, 2, 15)),
        (dt.date(2026, 2, 28), 1, dt.date(2026, 3, 28)),
        (dt.date(2026, 12, 15), 1, dt.date(2027, 1, 15)),
        (dt.date(2026, 12, 31), 2, dt.date(2027, 2, 28)),
        (dt.date(2026, 11, 30), 3, dt.date(2027, 2, 28)),
        (dt.date(2027, 11, 30), 3, dt.date(2028, 2, 29)),
        (dt.date(2028, 2, 29), 12, dt.date(2029, 2, 28)),
        (dt.date(2024, 2, 29), 48, dt.date(2028, 2, 29)),
        (dt.date(2026, 5, 31), 0, dt.date(2026, 5, 31)),
        (dt.date(2026, 3, 31), -1, dt.date(2026, 2, 28)),
        (dt.date(2026, 1, 31), -2, dt.date(2025, 11, 30)),
        (dt.date(2100, 1, 31), 1, dt.date(2100, 2, 28)),  # not a leap year
        (dt.date(2000, 1, 31), 1, dt.date(2000, 2, 29)),  # a leap year
    ],
)
def test_add_months_keeps_the_day_or_clamps_to_the_last_day_of_the_month(start, months, expected):
    assert add_months(start, months) == expected


@pytest.mark.parametrize("code", ["gdpr", "uk_gdpr"])
@pytest.mark.parametrize(
    ("received", "due", "latest"),
    [
        (dt.date(2026, 1, 31), dt.date(2026, 2, 28), dt.date(2026, 4, 30)),
        (dt.date(2028, 1, 31), dt.date(2028, 2, 29), dt.date(2028, 4, 30)),
        (dt.date(2026, 3, 31), dt.date(2026, 4, 30), dt.date(2026, 6, 30)),
        (dt.date(2026, 1, 15), dt.date(2026, 2, 15), dt.date(2026, 4, 15)),
        (dt.date(2026, 11, 30), dt.date(2026, 12, 30), dt.date(2027, 2, 28)),
        (dt.date(2026, 12, 31), dt.date(2027, 1, 31), dt.date(2027, 3, 31)),
    ],
)
def test_gdpr_is_due_one_month_and_at_most_three_months_after_receipt(code, received, due, latest):
    regime = get_regime(code)
    assert due_date(regime, received) == due
    assert latest_extended_due_date(regime, received) == latest


def test_the_gdpr_extension_counts_from_receipt_not_from_the_clamped_due_date():
    # Chaining 31 Jan -> 28 Feb -> 28 Apr would lose two days.
    regime = get_regime("gdpr")
    received = dt.date(2026, 1, 31)
    assert add_months(due_date(regime, received), 2) == dt.date(2026, 4, 28)
    assert latest_extended_due_date(regime, received) == dt.date(2026, 4, 30)


@pytest.mark.parametrize(
    ("received", "due", "latest"),
    [
        (dt.date(2026, 1, 31), dt.date(2026, 3, 17), dt.date(2026, 5, 1)),
        (dt.date(2027, 2, 1), dt.date(2027, 3, 18), dt.date(2027, 5, 2)),
        (dt.date(2028, 2, 1), dt.date(2028, 3, 17), dt.date(2028, 5, 1)),
        (dt.date(2026, 12, 1), dt.date(2027, 1, 15), dt.date(2027, 3, 1)),
    ],
)
def test_ccpa_is_due_45_days_and_at_most_90_days_after_receipt(received, due, latest):
    regime = get_regime("ccpa")
    assert due_date(regime, received) == due == received + dt.timedelta(days=45)
    assert latest_extended_due_date(regime, received) == latest == received + dt.timedelta(days=90)


def test_paused_days_push_the_gdpr_due_date_and_its_latest_extension():
    regime = get_regime("gdpr")
    received = dt.date(2026, 1, 31)
    assert due_date(regime, received, paused_days=3) == dt.date(2026, 3, 3)
    assert latest_extended_due_date(regime, received, paused_days=3) == dt.date(2026, 5, 3)


def test_paused_days_push_the_ccpa_due_date_and_its_latest_extension():
    regime = get_regime("ccpa")
    received = dt.date(2026, 1, 31)
    assert due_date(regime, received, paused_days=5) == dt.date(2026, 3, 22)
    assert latest_extended_due_date(regime, received, paused_days=5) == dt.date(2026, 5, 6)


# --- Business days --------------------------------------------------------------------------


def test_one_business_day_after_a_friday_is_the_monday():
    assert add_business_days(dt.date(2026, 1, 30), 1) == dt.date(2026, 2, 2)


@pytest.mark.parametrize("weekend_day", [dt.date(2026, 1, 31), dt.date(2026, 2, 1)])
def test_one_business_day_after_a_weekend_day_is_the_monday(weekend_day):
    assert add_business_days(weekend_day, 1) == dt.date(2026, 2, 2)


def test_a_holiday_on_the_monday_moves_the_business_day_to_tuesday():
    assert add_business_days(dt.date(2026, 1, 30), 1, [dt.date(2026, 2, 2)]) == dt.date(2026, 2, 3)


def test_holidays_on_a_weekend_change_nothing():
    holidays = [dt.date(2026, 1, 31), dt.date(2026, 2, 1)]
    assert add_business_days(dt.date(2026, 1, 30), 1, holidays) == dt.date(2026, 2, 2)


def test_the_holiday_list_may_be_any_iterable():
    holidays = (dt.date(2026, 2, d) for d in (2, 3))
    assert add_business_days(dt.date(2026, 1, 30), 1, holidays) == dt.date(2026, 2, 4)


def test_zero_business_days_is_the_start_day():
    assert add_business_days(dt.date(2026, 1, 31), 0) == dt.date(2026, 1, 31)


@pytest.mark.parametrize(
    ("received", "holidays", "confirm_by"),
    [
        (dt.date(2026, 2, 2), [], dt.date(2026, 2, 16)),  # Monday -> Monday two weeks on
        (dt.date(2026, 1, 30), [], dt.date(2026, 2, 13)),  # Friday -> Friday two weeks on
        (dt.date(2026, 1, 31), [], dt.date(2026, 2, 13)),  # Saturday counts from Monday
        (dt.date(2026, 2, 2), [dt.date(2026, 2, 9)], dt.date(2026, 2, 17)),
        (dt.date(2026, 2, 2), [dt.date(2026, 2, 9), dt.date(2026, 2, 16)], dt.date(2026, 2, 18)),
    ],
)
def test_ccpa_receipt_is_confirmed_within_ten_business_days(received, holidays, confirm_by):
    assert receipt_confirmation_due(get_regime("ccpa"), received, holidays) == confirm_by


@pytest.mark.parametrize("code", ["gdpr", "uk_gdpr", "voluntary"])
def test_only_ccpa_has_a_receipt_confirmation_deadline(settings, code):
    assert receipt_confirmation_due(get_regime(code), dt.date(2026, 2, 2)) is None


# --- Pauses and days left -------------------------------------------------------------------


def test_a_pause_within_one_local_day_counts_no_days():
    assert pause_days(tirana(2026, 2, 2, 9), tirana(2026, 2, 2, 17), TIRANA) == 0


def test_a_pause_counts_whole_local_calendar_days_and_the_day_of_resumption_runs():
    assert pause_days(tirana(2026, 2, 2, 10), tirana(2026, 2, 5, 9), TIRANA) == 3
    assert pause_days(tirana(2026, 2, 2, 23, 59), tirana(2026, 2, 3, 0, 1), TIRANA) == 1


def test_pause_days_are_counted_in_the_controller_zone_not_in_utc(controller_in_tirana):
    paused, resumed = utc(2026, 1, 31, 23, 30), utc(2026, 2, 1, 10, 0)
    assert pause_days(paused, resumed) == 0  # both on 1 February in Tirana
    assert pause_days(paused, resumed, UTC) == 1


def test_a_pause_across_the_spring_forward_night_counts_calendar_days():
    assert pause_days(tirana(2026, 3, 28, 12), tirana(2026, 3, 30, 12), TIRANA) == 2
    assert pause_days(tirana(2026, 10, 24, 12), tirana(2026, 10, 26, 12), TIRANA) == 2


def test_a_resumption_before_the_pause_counts_no_days():
    assert pause_days(tirana(2026, 2, 5), tirana(2026, 2, 2), TIRANA) == 0


def test_days_left_counts_calendar_days_to_the_due_day(controller_in_tirana):
    due_at = end_of_day(dt.date(2026, 2, 28))
    assert days_left(due_at, tirana(2026, 2, 25, 9)) == 3
    assert days_left(due_at, tirana(2026, 2, 28, 0, 0)) == 0
    assert days_left(due_at, tirana(2026, 2, 28, 23, 59)) == 0


def test_days_left_is_negative_when_overdue(controller_in_tirana):
    due_at = end_of_day(dt.date(2026, 2, 28))
    assert days_left(due_at, tirana(2026, 3, 1, 0, 30)) == -1
    assert days_left(due_at, tirana(2026, 3, 7, 12)) == -7


def test_days_left_uses_local_dates(controller_in_tirana):
    due_at = end_of_day(dt.date(2026, 2, 28))
    now = utc(2026, 2, 27, 23, 30)  # already 28 February in Tirana
    assert days_left(due_at, now) == 0
    assert days_left(due_at, now, UTC) == 1


# --- Properties of the calendar arithmetic --------------------------------------------------


@PROPERTY
@given(start=reasonable_dates, months=st.integers(min_value=-240, max_value=240))
def test_add_months_lands_in_the_target_month_on_the_same_day_or_that_months_last_day(
    start, months
):
    result = add_months(start, months)
    year, month_index = divmod(start.year * 12 + start.month - 1 + months, 12)
    assert (result.year, result.month) == (year, month_index + 1)
    last_day = calendar.monthrange(result.year, result.month)[1]
    assert result.day <= start.day
    if start.day <= last_day:
        assert result.day == start.day
    else:
        assert result.day == last_day


@PROPERTY
@given(start=reasonable_dates, months=st.integers(min_value=-240, max_value=240))
def test_add_months_agrees_with_a_plain_year_and_month_count(start, months):
    result = add_months(start, months)
    assert (result.year * 12 + result.month) - (start.year * 12 + start.month) == months


@PROPERTY
@given(start=reasonable_dates)
def test_one_month_later_is_always_later_and_at_most_31_days_later(start):
    result = add_months(start, 1)
    assert start < result <= start + dt.timedelta(days=31)
    assert result >= start + dt.timedelta(days=28)


@PROPERTY
@given(
    start=reasonable_dates,
    first=st.integers(min_value=-60, max_value=60),
    second=st.integers(min_value=-60, max_value=60),
)
def test_adding_months_in_steps_never_ends_later_than_adding_them_at_once(start, first, second):
    assert add_months(add_months(start, first), second) <= add_months(start, first + second)


@PROPERTY
@given(
    start=reasonable_dates.filter(lambda d: d.day <= 28),
    months=st.integers(min_value=-240, max_value=240),
)
def test_months_round_trip_for_days_every_month_has(start, months):
    assert add_months(add_months(start, months), -months) == start


@PROPERTY
@given(
    first=reasonable_dates,
    second=reasonable_dates,
    months=st.integers(min_value=0, max_value=36),
)
def test_add_months_is_monotone_in_the_start_date(first, second, months):
    first, second = sorted((first, second))
    assert add_months(first, months) <= add_months(second, months)


@PROPERTY
@given(code=statutory_codes, first=reasonable_dates, second=reasonable_dates)
def test_the_due_date_is_monotone_in_the_receipt_date(code, first, second):
    regime = get_regime(code)
    first, second = sorted((first, second))
    assert due_date(regime, first) <= due_date(regime, second)
    assert latest_extended_due_date(regime, first) <= latest_extended_due_date(regime, second)


@PROPERTY
@given(
    code=statutory_codes, received=reasonable_dates, paused=st.integers(min_value=0, max_value=400)
)
def test_the_latest_extension_is_never_before_the_due_date(code, received, paused):
    regime = get_regime(code)
    due = due_date(regime, received, paused)
    latest = latest_extended_due_date(regime, received, paused)
    assert received < due <= latest


@PROPERTY
@given(
    code=statutory_codes, received=reasonable_dates, paused=st.integers(min_value=0, max_value=400)
)
def test_paused_days_move_both_dates_by_exactly_that_many_days(code, received, paused):
    regime = get_regime(code)
    shift = dt.timedelta(days=paused)
    assert due_date(regime, received, paused) == due_date(regime, received) + shift
    assert (
        latest_extended_due_date(regime, received, paused)
        == latest_extended_due_date(regime, received) + shift
    )


@PROPERTY
@given(code=st.sampled_from(["gdpr", "uk_gdpr"]), received=reasonable_dates)
def test_gdpr_allows_one_month_and_at_most_three_months_from_receipt(code, received):
    regime = get_regime(code)
    due = due_date(regime, received)
    latest = latest_extended_due_date(regime, received)
    assert due == add_months(received, 1)
    assert latest == add_months(received, 3)
    assert dt.timedelta(days=28) <= due - received <= dt.timedelta(days=31)
    assert dt.timedelta(days=89) <= latest - received <= dt.timedelta(days=92)


@PROPERTY
@given(received=reasonable_dates)
def test_ccpa_allows_45_days_and_at_most_90_days_from_receipt(received):
    regime = get_regime("ccpa")
    assert due_date(regime, received) - received == dt.timedelta(days=45)
    assert latest_extended_due_date(regime, received) - received == dt.timedelta(days=90)


def business_days_between(start: dt.date, end: dt.date, holidays: set[dt.date]) -> int:
    """Business days in (start, end]."""
    days = (start + dt.timedelta(days=offset) for offset in range(1, (end - start).days + 1))
    return sum(1 for day in days if day.weekday() < 5 and day not in holidays)


window_starts = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2100, 12, 31))
holiday_offsets = st.sets(st.integers(min_value=-5, max_value=90), max_size=30)


@PROPERTY
@given(
    start=window_starts,
    days=st.integers(min_value=1, max_value=30),
    offsets=holiday_offsets,
)
def test_add_business_days_lands_on_an_open_weekday_exactly_n_business_days_on(
    start, days, offsets
):
    holidays = {start + dt.timedelta(days=offset) for offset in offsets}
    result = add_business_days(start, days, holidays)
    assert result > start
    assert result.weekday() < 5
    assert result not in holidays
    assert business_days_between(start, result, holidays) == days


@PROPERTY
@given(
    start=window_starts,
    days=st.integers(min_value=0, max_value=30),
    offsets=holiday_offsets,
)
def test_one_more_business_day_is_always_a_later_day(start, days, offsets):
    holidays = {start + dt.timedelta(days=offset) for offset in offsets}
    assert add_business_days(start, days, holidays) < add_business_days(start, days + 1, holidays)


@PROPERTY
@given(start=window_starts, days=st.integers(min_value=1, max_value=30))
def test_without_holidays_every_five_business_days_are_one_week(start, days):
    assume(start.weekday() < 5)
    weeks = add_business_days(start, 5 * days)
    assert weeks == start + dt.timedelta(weeks=days)


@PROPERTY
@given(day=reasonable_dates, tz=st.sampled_from(ZONES))
def test_the_end_of_a_day_is_on_that_day_and_the_next_instant_is_on_the_next(day, tz):
    # Kiritimati skipped 31 December 1994 altogether; see the dedicated test above.
    assume(not (tz is KIRITIMATI and day == dt.date(1994, 12, 31)))
    end = end_of_day(day, tz)
    assert end.utcoffset() is not None
    assert local_date(end, tz) == day
    assert local_date(end.astimezone(UTC) + ONE_MICROSECOND, tz) == day + dt.timedelta(days=1)


@PROPERTY
@given(moment=utc_moments, tz=st.sampled_from(ZONES))
def test_the_local_date_of_a_utc_instant_matches_zoneinfo(moment, tz):
    received = local_date(moment, tz)
    assert received == moment.astimezone(tz).date()
    assert abs(received - moment.date()) <= dt.timedelta(days=1)
    assert end_of_day(received, tz) >= moment


@PROPERTY
@given(moment=utc_moments, offset_minutes=st.integers(min_value=-14 * 60, max_value=14 * 60))
def test_the_local_date_does_not_depend_on_the_offset_the_moment_was_given_in(
    moment, offset_minutes
):
    elsewhere = moment.astimezone(dt.timezone(dt.timedelta(minutes=offset_minutes)))
    assert local_date(elsewhere, TIRANA) == local_date(moment, TIRANA)


@PROPERTY
@given(first=utc_moments, second=utc_moments, tz=st.sampled_from(ZONES))
def test_days_left_and_pause_days_mirror_each_other(first, second, tz):
    assert days_left(second, first, tz) == -days_left(first, second, tz)
    assert pause_days(first, second, tz) == max(0, days_left(second, first, tz))
