"""The admin where the privacy team works cases, by topic: cases (`case`, with its gathering and
review parts and its operations), the audit trail, possible breaches, the public portal's tables
and the calendar. Importing this package registers them all."""

from casework.admin import (  # noqa: F401
    api,
    audit,
    breach,
    case,
    drp,
    holidays,
    letters,
    optouts,
    portal,
    reminders,
    schedules,
    staff,
)
