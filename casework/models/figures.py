"""The dashboard's rollups: the cases counted once per month of the controller's calendar, so
that the dashboard reads a few thousand small rows instead of every case ever received.

The database keeps them: triggers on the case table (`casework.rollups`) subtract an old row's
contribution and add the new one's on every INSERT, UPDATE and DELETE, whichever code writes
(services, bulk updates, the retention purge, a migration). No application code writes them;
`manage.py rebuild_dashboard_rollups` counts them again from the cases.

A case contributes to up to three `CaseMonthFigures` rows, one per event, each keyed by the
local month of that event: its receipt (with what became of it, for the yearly report), its
answer (completed or refused) and the announcement of its extension; to one `CaseCloseDays`
row when answered; and, unless confidential, to one `CaseGrounds` row per ground given (of its
refusal, of its extension). The grain (month, regime, request type, channel, assignee)
answers every filter of the dashboard; a period that starts or ends inside a month reads its
partial months live from the cases (`casework.selectors.dashboard`).
"""

from __future__ import annotations

from django.db import models

NOBODY = 0  # the assignee id of unassigned cases (a key column: NULL would not be unique)


class CaseMonthFigures(models.Model):
    month = models.DateField(help_text="The first day of the controller's local month.")
    regime = models.CharField(max_length=20)
    request_type = models.CharField(max_length=20)
    channel = models.CharField(max_length=20)
    assignee_id = models.IntegerField(default=NOBODY)  # the user's id; 0 for nobody
    # Requests received in the month, and what became of them (the yearly report).
    received = models.IntegerField(default=0)
    received_answered = models.IntegerField(default=0)
    received_in_time = models.IntegerField(default=0)
    received_extended = models.IntegerField(default=0)
    received_refused = models.IntegerField(default=0)
    received_open = models.IntegerField(default=0)
    # Requests answered (completed or refused) in the month: SLA, refusals.
    answered = models.IntegerField(default=0)
    answered_in_time = models.IntegerField(default=0)
    refused = models.IntegerField(default=0)
    refused_unfounded = models.IntegerField(default=0)
    # Extensions announced in the month.
    extended = models.IntegerField(default=0)

    KEY = ("month", "regime", "request_type", "channel", "assignee_id")
    CARRIED = ()
    COUNTS = (
        "received",
        "received_answered",
        "received_in_time",
        "received_extended",
        "received_refused",
        "received_open",
        "answered",
        "answered_in_time",
        "refused",
        "refused_unfounded",
        "extended",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["month", "regime", "request_type", "channel", "assignee_id"],
                name="case_month_figures_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.regime} {self.request_type} {self.channel}"


class CaseCloseDays(models.Model):
    """How many requests answered in the month took `days` whole local days (the calendar
    days from the day of receipt to the day of the answer): a histogram the median and 90th
    percentile of the days to close are read from exactly."""

    month = models.DateField(help_text="The first day of the controller's local month.")
    regime = models.CharField(max_length=20)
    request_type = models.CharField(max_length=20)
    assignee_id = models.IntegerField(default=NOBODY)
    days = models.IntegerField()
    answered = models.IntegerField(default=0)

    KEY = ("month", "regime", "request_type", "assignee_id", "days")
    CARRIED = ()
    COUNTS = ("answered",)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["month", "regime", "request_type", "assignee_id", "days"],
                name="case_close_days_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.request_type} {self.days} days"


class CaseGrounds(models.Model):
    """How many requests were refused, or had their deadline extended, in the month on one
    ground (the reason the subject was told, word for word). Confidential cases' grounds are
    not counted: the dashboard shows these texts."""

    class Kind(models.TextChoices):
        REFUSAL = "refusal"
        EXTENSION = "extension"

    month = models.DateField(help_text="The first day of the controller's local month.")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    regime = models.CharField(max_length=20)
    request_type = models.CharField(max_length=20)
    assignee_id = models.IntegerField(default=NOBODY)
    reason_key = models.CharField(max_length=32)  # md5 of the reason: a key of bounded length
    reason = models.TextField()
    cases = models.IntegerField(default=0)

    KEY = ("month", "kind", "regime", "request_type", "assignee_id", "reason_key")
    CARRIED = ("reason",)
    COUNTS = ("cases",)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["month", "kind", "regime", "request_type", "assignee_id", "reason_key"],
                name="case_grounds_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.kind} {self.reason[:40]}"
