"""Record values as a person reads them in the report (the data files keep them as they are).

Records reach the exporters as plain JSON values (dsar.connectors.base.plain_value): dates and
times are ISO text by then. The report shows them in the controller's time zone, with the zone
named, in the language's own format ("4 dhjetor 2026, 14:05 (Europe/Tirane)"; a table names it
once, in the column's header); booleans as
words; amounts with their currency, where the system's mapping names one. Call these inside
`translation.override(language)`: month names and separators come from the active language.

A time without an offset is taken as UTC: that is how the databases we read store them (and
how Django does); shown in local time with the zone named, it cannot be misread.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import dateformat, formats
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# "2026-12-04T13:05", "2026-12-04 13:05:00.123456+00:00", "2026-12-04T13:05:00Z"
DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?")
DATE_FORMAT = "j F Y"
DATETIME_FORMAT = "j F Y, H:i"


def as_datetime(text: str) -> dt.datetime | dt.date | None:
    """The date or time an ISO text holds, or None when it is not one (or not a real day)."""
    if len(text) > 32 or not text[:1].isdigit():
        return None  # cheap refusal of the common case: most values are not dates
    try:
        if DATE.fullmatch(text):
            return dt.date.fromisoformat(text)
        if DATETIME.fullmatch(text):
            return dt.datetime.fromisoformat(text)
    except ValueError:
        return None  # 2026-02-30 looks like a date and is not one: shown as written
    return None


# Albanian writes month names in lower case ("4 dhjetor 2026"); Django's catalogue has them
# capitalised, as a calendar heading would. App catalogues come before Django's, so these
# msgids, translated in ours, fix every date of every report, letter and e-mail.
MONTH_NAMES = (
    gettext_noop("January"),
    gettext_noop("February"),
    gettext_noop("March"),
    gettext_noop("April"),
    gettext_noop("May"),
    gettext_noop("June"),
    gettext_noop("July"),
    gettext_noop("August"),
    gettext_noop("September"),
    gettext_noop("October"),
    gettext_noop("November"),
    gettext_noop("December"),
)


def _formatted(value: dt.date, pattern: str) -> str:
    return dateformat.format(value, pattern)


def format_date(value: dt.date) -> str:
    return _formatted(value, DATE_FORMAT)


def format_datetime(value: dt.datetime, zone: zoneinfo.ZoneInfo, *, zone_named: bool = True) -> str:
    """In `zone`, named after the time unless the caller names it once for many (a table's
    column header)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    text = _formatted(value.astimezone(zone), DATETIME_FORMAT)
    return f"{text} ({zone.key})" if zone_named else text


def format_amount(value: Any, currency: str) -> str:
    """An amount with two decimals, the language's separators, and its currency code."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if not amount.is_finite():
        return str(value)
    number = formats.number_format(amount, 2, use_l10n=True, force_grouping=True)
    return f"{number} {currency}"


def format_value(value: Any, zone: zoneinfo.ZoneInfo, *, currency: str = "") -> str | None:
    """A scalar value as people read it, or None when it is not one this module formats
    (text that is not a date, nested values): the caller shows those as they are."""
    if value is True:
        return _("yes")
    if value is False:
        return _("no")
    if currency and type(value) in (int, float, str) and value != "":
        return format_amount(value, currency)
    if type(value) is str:
        when = as_datetime(value)
        if isinstance(when, dt.datetime):
            return format_datetime(when, zone)
        if when is not None:
            return format_date(when)
    return None
