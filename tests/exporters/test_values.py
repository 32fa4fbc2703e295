"""Values as people read them in the report: dates and times in the controller's zone with the
zone named, in the language's format; booleans as words; amounts with their currency."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.utils import translation

from exporters.values import as_datetime, format_value

TIRANE = zoneinfo.ZoneInfo("Europe/Tirane")


@pytest.mark.parametrize(
    ("language", "value", "expected"),
    [
        ("en", "2026-12-04T13:05:00+00:00", "4 December 2026, 14:05 (Europe/Tirane)"),
        ("sq", "2026-12-04T13:05:00+00:00", "4 dhjetor 2026, 14:05 (Europe/Tirane)"),
        ("en", "2026-07-01T10:00:00Z", "1 July 2026, 12:00 (Europe/Tirane)"),  # summer time
        ("en", "2026-12-04 13:05:00", "4 December 2026, 14:05 (Europe/Tirane)"),  # naive: UTC
        ("en", "2026-12-04", "4 December 2026"),
        ("sq", "2026-12-04", "4 dhjetor 2026"),
    ],
)
def test_dates_and_times_read_in_the_controllers_zone_with_the_zone_named(
    language, value, expected
):
    with translation.override(language):
        assert format_value(value, TIRANE) == expected


def test_booleans_are_words_in_the_language():
    with translation.override("sq"):
        assert (format_value(True, TIRANE), format_value(False, TIRANE)) == ("po", "jo")
    with translation.override("en"):
        assert (format_value(True, TIRANE), format_value(False, TIRANE)) == ("yes", "no")


def test_amounts_carry_their_currency_and_the_languages_decimal_separator():
    with translation.override("en"):
        assert format_value(25, TIRANE, currency="EUR") == "25.00 EUR"
        assert format_value("1250.5", TIRANE, currency="ALL") == "1,250.50 ALL"
    with translation.override("sq"):
        assert format_value(25.5, TIRANE, currency="EUR") == "25,50 EUR"


def test_other_values_are_left_to_the_caller():
    assert format_value("printer ë", TIRANE) is None
    assert format_value(17, TIRANE) is None
    assert format_value(None, TIRANE) is None
    assert format_value("2026-02-30", TIRANE) is None  # looks like a date, is not one


def test_only_whole_iso_values_are_taken_for_dates():
    assert as_datetime("2026-12-04 and more") is None
    assert as_datetime("20261204") is None
    assert as_datetime("2026-12-04T13:05") == dt.datetime(2026, 12, 4, 13, 5)
