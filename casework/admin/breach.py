"""Possible breaches: what a revoked release gave out, and the DPO's assessment of it.

Everything is read-only but the assessment, which only the DPO fills in (through
`casework.services.breach_assess`, which audits it); the auditor reads. Records are made by the
services that find a possible breach, never here, and never deleted.
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from casework import roles, services
from casework.actors import Actor
from casework.models import BreachRecord
from casework.selectors.access import of_visible_cases
from casework.services.release import check_breach_assessment

ASSESSMENT_FIELDS = ("risk", "notify_authority", "assessment_note")


def _when(value) -> str:
    return date_format(timezone.localtime(value), "DATETIME_FORMAT") if value else "—"


class BreachAssessmentForm(forms.ModelForm):
    class Meta:
        model = BreachRecord
        fields = ASSESSMENT_FIELDS

    def clean(self):
        cleaned = super().clean()
        try:
            check_breach_assessment(
                risk=cleaned.get("risk") or "", notify_authority=cleaned.get("notify_authority")
            )
        except ValidationError as exc:
            for field, errors in exc.error_dict.items():
                for error in errors:
                    self.add_error(field if field in self.fields else None, error)
        return cleaned


@admin.register(BreachRecord)
class BreachRecordAdmin(admin.ModelAdmin):
    form = BreachAssessmentForm
    list_display = (
        "case",
        "kind",
        "revoked_at",
        "revoked_by",
        "deadline_column",
        "risk",
        "notify_authority",
        "assessed_at",
    )
    list_filter = ("kind", "risk")
    list_select_related = ("case", "revoked_by")
    search_fields = ("case__reference",)
    fieldsets = (
        (
            _("What happened"),
            {
                "fields": (
                    "case",
                    "kind",
                    "released_list",
                    "release_check_column",
                    "released_at",
                    "approved_at",
                    "approved_by",
                    "downloads_list",
                    "revoked_at",
                    "revoked_by",
                    "reason",
                )
            },
        ),
        (
            _("The DPO's assessment (Art. 33)"),
            {
                "fields": (
                    "deadline_column",
                    *ASSESSMENT_FIELDS,
                    "assessed_at",
                    "assessed_by",
                )
            },
        ),
    )

    def get_queryset(self, request):
        return of_visible_cases(request.user, super().get_queryset(request))

    def has_add_permission(self, request) -> bool:
        return False  # written by the service that finds the possible breach

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the record of a breach is kept (Art. 33(5))

    def has_change_permission(self, request, obj=None) -> bool:
        # Only the DPO assesses; others with the view permission read.
        return request.user.has_perm(roles.BREACH_ASSESS) and super().has_change_permission(
            request, obj
        )

    def get_readonly_fields(self, request, obj=None):
        shown = [f for _name, opts in self.fieldsets for f in opts["fields"]]
        if self.has_change_permission(request, obj):
            return [f for f in shown if f not in ASSESSMENT_FIELDS]
        return shown

    def save_model(self, request, obj, form, change):
        services.breach_assess(
            breach=obj,
            actor=Actor.staff(request.user),
            risk=form.cleaned_data["risk"],
            notify_authority=form.cleaned_data["notify_authority"],
            note=form.cleaned_data["assessment_note"],
        )

    @admin.display(description=_("notify the authority by"))
    def deadline_column(self, breach: BreachRecord) -> str:
        text = _when(breach.authority_deadline)
        if breach.assessed_at is None and timezone.now() > breach.authority_deadline:
            return format_html("{} <strong>{}</strong>", text, _("(passed, not assessed)"))
        return text

    @admin.display(description=_("what was released"))
    def released_list(self, breach: BreachRecord) -> str:
        rows = []
        for bundle in (breach.released or {}).get("bundles", []):
            categories = ", ".join(
                f"{name}: {count}" for name, count in sorted(bundle.get("categories", {}).items())
            )
            rows.append(
                (
                    _(
                        "Bundle %(id)s (%(kind)s): %(records)s records, %(size)s bytes, %(files)s files"
                    )
                    % {
                        "id": bundle.get("bundle"),
                        "kind": bundle.get("kind"),
                        "records": bundle.get("records"),
                        "size": bundle.get("size"),
                        "files": len(bundle.get("files", [])),
                    },
                    categories or "—",
                )
            )
        if not rows:
            return "—"
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}<br>{}</li>", rows))

    @admin.display(description=_("release check at approval"))
    def release_check_column(self, breach: BreachRecord) -> str:
        check = (breach.released or {}).get("release_check") or {}
        if not check:
            return "—"
        return _("%(n)s contact details or identifiers listed; acknowledged: %(ack)s") % {
            "n": check.get("listed", 0),
            "ack": _("yes") if check.get("acknowledged") else _("no"),
        }

    @admin.display(description=_("downloads before the revocation"))
    def downloads_list(self, breach: BreachRecord) -> str:
        if not breach.downloads:
            return _("None")
        rows = [
            (_when(dt.datetime.fromisoformat(d["at"])), d.get("bundle")) for d in breach.downloads
        ]
        return format_html(
            "<ol>{}</ol>",
            format_html_join(
                "", "<li>{} ({})</li>", ((at, _("bundle %(id)s") % {"id": b}) for at, b in rows)
            ),
        )
