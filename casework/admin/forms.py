"""Forms for the case admin: intake by staff, and one small form per thing staff do to a case.

Forms only parse input. Every rule lives in `casework.services`; a form's fields are named as the
service names its arguments, so that a `ValidationError({"reason": ...})` from the service lands
on the field the user typed into.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from casework import selectors, services
from casework.actors import Actor
from casework.models import (
    Case,
    Channel,
    ConnectorRun,
    RecordDecision,
    RecordLink,
)
from dsar.models import DataCategory

TEXTAREA = forms.Textarea(attrs={"rows": 4, "cols": 60})


def add_service_errors(form: forms.BaseForm, exc: ValidationError) -> None:
    """Put a service's ValidationError on the form: on the named field where the form has it,
    otherwise above the form."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


def _text(label, *, required: bool, help_text: str = "") -> forms.CharField:
    return forms.CharField(
        label=label,
        required=required,
        widget=TEXTAREA,
        max_length=services.NOTE_MAX_LENGTH,
        help_text=help_text,
    )


# --- intake by staff ---------------------------------------------------------------------------

STAFF_CHANNELS = [
    (c.value, c.label) for c in (Channel.LETTER, Channel.PHONE, Channel.EMAIL, Channel.IN_PERSON)
]


class CaseIntakeForm(forms.ModelForm):
    """A request that came by letter, phone or e-mail, entered by staff.

    The case is created by `services.case_create` while the form is validated (in `_post_clean`,
    where a ModelForm would otherwise validate its unsaved instance), because the service is the
    one place that knows the intake rules and its errors must appear on these fields. The admin
    wraps the whole request in a transaction, and the service writes nothing when it refuses, so
    an invalid form leaves nothing behind. `staff_user` is set by the admin for each request.
    """

    staff_user = None

    channel = forms.ChoiceField(label=_("Came in by"), choices=STAFF_CHANNELS)
    received_at = forms.DateTimeField(
        label=_("Received at"),
        required=False,
        help_text=_(
            "When the request reached us (the deadline runs from then). Leave empty for now."
        ),
    )
    identity_verified = forms.BooleanField(
        label=_("Identity verified by me through a channel on record"),
        required=False,
        help_text=_(
            "Tick only if you checked who the subject is through a contact detail we already "
            "held before this request (never a routine copy of an ID document)."
        ),
    )
    verification_note = _text(
        _("How identity was checked"),
        required=False,
        help_text=_("Required when the box above is ticked."),
    )

    class Meta:
        model = Case
        fields = [
            "request_type",
            "channel",
            "email",
            "postal_address",
            "name",
            "phone",
            "customer_number",
            "company",
            "language",
            "regime",
            "restriction_ground",
        ]
        widgets = {"postal_address": forms.Textarea(attrs={"rows": 3, "cols": 60})}

    def clean_received_at(self):
        value = self.cleaned_data.get("received_at")
        if value and value > timezone.now():
            raise ValidationError(_("A request cannot be received in the future."))
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("verification_note", "").strip() and not data.get("identity_verified"):
            self.add_error(
                "identity_verified",
                _("Tick this box if you checked the subject's identity, or leave the note empty."),
            )
        return data

    def _post_clean(self) -> None:
        # No model validation of an unsaved instance: the service validates and creates.
        if self.errors:
            return
        data = self.cleaned_data
        verified = data.get("identity_verified")
        try:
            self.instance = services.case_create(
                intake=services.Intake(
                    request_type=data["request_type"],
                    channel=data["channel"],
                    received_at=data.get("received_at") or None,
                    email=data.get("email", ""),
                    postal_address=data.get("postal_address", ""),
                    name=data.get("name", ""),
                    phone=data.get("phone", ""),
                    customer_number=data.get("customer_number", ""),
                    company=data.get("company", ""),
                    language=data["language"],
                    regime=data["regime"],
                    restriction_ground=data.get("restriction_ground", ""),
                ),
                actor=Actor.staff(self.staff_user),
                verified_by=self.staff_user if verified else None,
                verification_note=data.get("verification_note", "") if verified else "",
            )
        except ValidationError as exc:
            add_service_errors(self, exc)
        except PermissionDenied as exc:
            self.add_error("identity_verified", str(exc) or _("You are not allowed to do this."))

    def save(self, commit: bool = True) -> Case:
        # The case already exists: it came from the service, never from ModelForm.save().
        if self.errors or self.instance.pk is None:
            raise ValueError("the case was not created; check form.errors")
        self.save_m2m = lambda: None
        return self.instance


# --- gathering: identifiers and manual searches ---------------------------------------------------


class ConfirmIdentifierForm(forms.Form):
    """Nothing to fill in: the page shows the identifier and the button confirms it."""


class ManualSearchForm(forms.Form):
    """A person's answer for a manual system: the export they took from it, or "nothing found".
    The fields are named as `services.complete_manual_run` names its arguments."""

    required_css_class = "required"

    category = forms.ChoiceField(
        label=_("Data category of the export"),
        required=False,
        help_text=_("Every row of the file is stored as a record of this category."),
    )
    upload = forms.FileField(label=_("Export"), required=False)
    nothing_found = forms.BooleanField(
        label=_("Nothing found"),
        required=False,
        help_text=_("Tick when the system holds nothing about the subject; attach no file then."),
    )

    def __init__(self, *args: Any, run: ConnectorRun, **kwargs: Any) -> None:
        self.run = run
        super().__init__(*args, **kwargs)
        categories = DataCategory.objects.filter(held=True).order_by("sort_key")
        self.fields["category"].choices = [
            ("", "---------"),
            *((c.slug, f"{c.code} {c.text('name')}") for c in categories),
        ]
        self.fields["category"].initial = selectors.manual_settings(run.system).category
        self.fields["upload"].help_text = _(
            "A CSV file with a header row, or JSON Lines (one JSON object per line), at most "
            "%(size)s."
        ) % {"size": filesizeformat(settings.DSAR_MANUAL_UPLOAD_MAX_BYTES)}

    def clean_upload(self):
        upload = self.cleaned_data.get("upload")
        if not upload:
            return None
        if not upload.name.lower().endswith(selectors.MANUAL_UPLOAD_EXTENSIONS):
            raise ValidationError(
                _(
                    "“%(name)s” is neither a CSV (.csv) nor a JSON Lines (.jsonl, .ndjson) "
                    "file. Export the data in one of these formats."
                ),
                params={"name": upload.name},
            )
        if upload.size > settings.DSAR_MANUAL_UPLOAD_MAX_BYTES:
            raise ValidationError(
                _("The file is %(size)s; at most %(max)s can be attached."),
                params={
                    "size": filesizeformat(upload.size),
                    "max": filesizeformat(settings.DSAR_MANUAL_UPLOAD_MAX_BYTES),
                },
            )
        return upload

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        has_file = bool(data.get("upload"))
        if "upload" in self.errors:
            return data
        if has_file and data.get("nothing_found"):
            self.add_error(
                "nothing_found",
                _("You attached an export: untick “Nothing found”, or remove the file."),
            )
        elif not has_file and not data.get("nothing_found"):
            self.add_error(
                "nothing_found",
                _("Attach the export, or tick “Nothing found” if the system holds nothing."),
            )
        return data

    def service_kwargs(self) -> dict[str, Any]:
        return {
            "upload": self.cleaned_data.get("upload"),
            "category": self.cleaned_data.get("category", ""),
        }


# --- review of the gathered data -------------------------------------------------------------------


class RecordDecisionForm(forms.Form):
    """One decision on one gathered record, posted from the review page. The run and the record
    key travel in the form; the view checks that the run is the case's before the service runs.
    `category` and `page` bring the reviewer back to where they were."""

    run = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    category = forms.CharField(max_length=60, widget=forms.HiddenInput)
    record_key = forms.CharField(max_length=300, strip=False, widget=forms.HiddenInput)
    page = forms.IntegerField(min_value=1, required=False, widget=forms.HiddenInput)
    reason = forms.ChoiceField(label=_("Reason"), choices=RecordDecision.Reason.choices)
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=services.NOTE_MAX_LENGTH,
        help_text=_("Required for “Another exemption”: say which one applies."),
    )

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "category": data["category"],
            "record_key": data["record_key"],
            "reason": data["reason"],
            "note": data["note"],
        }


class ExcludeRecordForm(RecordDecisionForm):
    pass


class RedactValueForm(RecordDecisionForm):
    field = forms.CharField(max_length=200, strip=False)

    def service_kwargs(self) -> dict[str, Any]:
        return {**super().service_kwargs(), "field": self.cleaned_data["field"]}


class RecordLinkForm(forms.Form):
    """Staff's decision on a held subject record (found only through what the requester typed,
    or holding another e-mail address): confirm it with evidence, or leave it out."""

    system = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    subject_key = forms.CharField(max_length=300, strip=False, widget=forms.HiddenInput)
    decision = forms.ChoiceField(label=_("Decision"), choices=RecordLink.Decision.choices)
    evidence = forms.ChoiceField(
        label=_("Evidence"),
        required=False,
        choices=[("", "—"), *RecordLink.Evidence.choices],
        help_text=_("Required to confirm: gathered through the record's own contact details."),
    )
    code = forms.CharField(
        label=_("Code given back"),
        required=False,
        max_length=12,
        help_text=_("For a code sent to the record's e-mail: the code its owner read back."),
    )
    note = forms.CharField(
        label=_("Note"),
        max_length=services.NOTE_MAX_LENGTH,
        help_text=_("What you did and found (e.g. the code came back from the record's e-mail)."),
    )


class LinkCodeForm(forms.Form):
    """Send a one-time code to a held record's own e-mail address."""

    system = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    subject_key = forms.CharField(max_length=300, strip=False, widget=forms.HiddenInput)
