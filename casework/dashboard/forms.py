"""The dashboard's filters, a GET form: a bad date or an unknown regime is the form's error
(a 400 page), never a server error."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils.translation import gettext_lazy as _

from casework import permissions
from casework.deadlines import REGIME_CHOICES
from casework.models import RequestType
from casework.selectors.dashboard import MAX_PERIOD_MONTHS, Filters, months_between

FIRST_YEAR, LAST_YEAR = 2000, 2999  # dates outside are typing mistakes


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self):
        super().__init__(format="%Y-%m-%d")


class FiltersForm(forms.Form):
    start = forms.DateField(label=_("From"), required=False, widget=DateInput())
    end = forms.DateField(label=_("To"), required=False, widget=DateInput())
    regime = forms.ChoiceField(
        label=_("Regime"), required=False, choices=[("", _("All regimes")), *REGIME_CHOICES]
    )
    request_type = forms.ChoiceField(
        label=_("Request type"),
        required=False,
        choices=[("", _("All types")), *RequestType.choices],
    )
    assignee = forms.ModelChoiceField(
        label=_("Assignee"), required=False, queryset=None, empty_label=_("Anyone")
    )

    FIELDS = ("start", "end", "regime", "request_type", "assignee")

    def __init__(self, *args, now: dt.datetime, **kwargs):
        super().__init__(*args, **kwargs)
        self.now = now
        # The case admin's rule; deactivated staff too: their cases are still counted.
        self.fields["assignee"].queryset = permissions.assignable_staff(active_only=False)

    @classmethod
    def from_query(cls, query, *, now: dt.datetime) -> FiltersForm:
        """Bound when the query string sets any filter, else unbound (the default view)."""
        if any(query.get(name) for name in cls.FIELDS):
            return cls(query, now=now)
        default = Filters.default(now)
        return cls(now=now, initial={"start": default.start, "end": default.end})

    def clean(self):
        data = super().clean()
        default = Filters.default(self.now)
        start, end = data.get("start") or default.start, data.get("end") or default.end
        for name, day in (("start", start), ("end", end)):
            if not FIRST_YEAR <= day.year <= LAST_YEAR:
                self.add_error(
                    name,
                    _("Give a date from %(first)d to %(last)d.")
                    % {"first": FIRST_YEAR, "last": LAST_YEAR},
                )
        if self.errors:
            return data
        if start > end:
            self.add_error("end", _("The end of the period is before its start."))
        elif len(months_between(start, end)) > MAX_PERIOD_MONTHS:
            self.add_error(
                "start", _("The period is longer than %(n)d months.") % {"n": MAX_PERIOD_MONTHS}
            )
        data["start"], data["end"] = start, end
        return data

    def filters(self) -> Filters:
        """The chosen filters (a valid or unbound form)."""
        if not self.is_bound:
            return Filters.default(self.now)
        data = self.cleaned_data
        assignee = data.get("assignee")
        return Filters(
            start=data["start"],
            end=data["end"],
            regime=data.get("regime") or "",
            request_type=data.get("request_type") or "",
            assignee=assignee.pk if assignee else None,
        )
