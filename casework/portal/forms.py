"""Forms of the public portal. Every field has a size limit; messages are in the page's
language; type-specific fields are checked only for the type chosen."""

from __future__ import annotations

import unicodedata
from typing import Any

from django import forms
from django.conf import settings
from django.core.validators import RegexValidator
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

from casework.models import RequestType, RestrictionGround
from casework.portal.countries import OTHER, US, country_choices
from casework.services.case import NOTE_MAX_LENGTH
from casework.services.intake import authority_kind
from dsar.identifiers import InvalidEmail, email_key

# Fields that identify the subject: not one character in them may be invisible.
IDENTIFYING_FIELDS = frozenset({"email", "phone", "customer_number"})
# Characters that change how text reads without being seen: the bidirectional overrides,
# embeddings and isolates (which can show "moc.live" as "evil.com"), and zero-width spaces.
DECEPTIVE = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\ufeff")


def hidden_characters(field: str, value: str) -> str:
    """Why `value` is refused for hiding characters, or "": control characters anywhere (but
    line breaks and tabs in free text), characters that change how text reads, and in the
    fields that identify the subject any invisible formatting character at all (zero-width
    joiners too, which names in some scripts need elsewhere)."""
    for ch in value:
        category = unicodedata.category(ch)
        if category == "Cc" and ch not in "\n\r\t":
            break
        if ch in DECEPTIVE or (field in IDENTIFYING_FIELDS and category == "Cf"):
            break
    else:
        return ""
    return str(
        _(
            "This contains an invisible or control character (for example a zero-width space "
            "or a right-to-left mark). Type it again without it."
        )
    )


CORRECTION_ROWS = 3

RIGHTS = {
    RequestType.ACCESS: (
        _("See the data we hold about you"),
        _(
            "A copy of the personal data we hold about you (for example your contact details, "
            "your service portal account, enquiries, event registrations, purchases and "
            "service history), with why we use it, on what legal basis, where it came from, "
            "who we share it with and how long we keep it."
        ),
    ),
    RequestType.RECTIFICATION: (
        _("Correct your data"),
        _(
            "Tell us what is wrong or out of date (for example your name, job title, business "
            "e-mail or phone number) and what it should be. We correct it in every system "
            "that holds it."
        ),
    ),
    RequestType.ERASURE: (
        _("Delete your data"),
        _(
            "We delete what we no longer need. We keep what the law requires (for example "
            "purchase records for invoicing, tax and warranty periods), what belongs to an "
            "active relationship or a product you asked for, and, if you stop our marketing, "
            "a short record so that it never starts again."
        ),
    ),
    RequestType.RESTRICTION: (
        _("Pause the use of your data"),
        _(
            "We keep your data but stop using it, for example while we check whether it is "
            "correct, or because you need it for a legal claim."
        ),
    ),
    RequestType.PORTABILITY: (
        _("Take your data with you"),
        _(
            "The data you gave us, or that your use of our services produced, in files you "
            "can reuse elsewhere (JSON and CSV)."
        ),
    ),
    RequestType.OBJECTION: (
        _("Object to a use of your data"),
        _(
            "Stop our marketing to you (we always stop), or object to another use based on "
            "our legitimate interests, for reasons that concern your situation."
        ),
    ),
}

RESTRICTION_GROUNDS = [
    (
        RestrictionGround.ACCURACY_CONTESTED,
        _("The data is wrong: stop using it while you check it."),
    ),
    (
        RestrictionGround.UNLAWFUL,
        _("You should not be using the data, but I want you to keep it rather than delete it."),
    ),
    (
        RestrictionGround.LEGAL_CLAIMS,
        _("You no longer need the data, but I need it for a legal claim."),
    ),
    (
        RestrictionGround.OBJECTION_PENDING,
        _("I have objected to a use of my data: stop it while you decide."),
    ),
]

MARKETING = "marketing"
OTHER_USE = "other"

phone_chars = RegexValidator(
    r"^[0-9+()./\- ]*$",
    _("Use digits, spaces and + ( ) - . / only."),
)


def _required(message) -> dict[str, Any]:
    return {"required": message}


class HoneypotMixin(forms.Form):
    # Hidden from people (CSS and aria-hidden); bots fill it in. Not a real field of the form.
    website = forms.CharField(required=False, max_length=200, label=_("Leave this empty"))

    @property
    def is_bot(self) -> bool:
        return bool((self.data.get("website") or "").strip())


class RequestForm(HoneypotMixin, forms.Form):
    request_type = forms.ChoiceField(
        label=_("What would you like us to do?"),
        choices=RequestType.choices,
        widget=forms.RadioSelect,
        error_messages=_required(_("Choose what you would like us to do.")),
    )

    # Objection
    objection_kind = forms.ChoiceField(
        label=_("What do you object to?"),
        choices=[
            (MARKETING, _("Marketing sent to me")),
            (OTHER_USE, _("Another use of my data")),
        ],
        widget=forms.RadioSelect,
        required=False,
    )
    objection_processing = forms.CharField(
        label=_("Which use of your data do you object to?"),
        max_length=500,
        required=False,
        help_text=_("For example: profiling from my use of your websites."),
    )
    objection_grounds = forms.CharField(
        label=_("Your reasons"),
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Reasons that concern your particular situation."),
    )

    # Restriction
    restriction_ground = forms.ChoiceField(
        label=_("Why should we pause the use of your data?"),
        choices=RESTRICTION_GROUNDS,
        widget=forms.RadioSelect,
        required=False,
    )

    # Erasure
    erasure_scope = forms.CharField(
        label=_("What should we delete? (optional)"),
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Leave empty to ask us to delete everything we may delete."),
    )

    # About you
    name = forms.CharField(
        label=_("Full name"),
        max_length=200,
        error_messages=_required(_("Enter your full name.")),
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    email = forms.EmailField(
        label=_("E-mail address"),
        max_length=254,
        help_text=_(
            "The business e-mail address you used with us. We send a link there to confirm "
            "that the request is yours."
        ),
        error_messages={
            "required": _("Enter your e-mail address."),
            "invalid": _("Enter an e-mail address like name@company.com."),
        },
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    mailbox_lost = forms.BooleanField(
        label=_("I can no longer open this mailbox (for example, I have left that company)."),
        required=False,
        help_text=_(
            "We will then not write to that address: our privacy team will confirm your "
            "identity through contact details we already hold, and answer you only that way."
        ),
    )
    company = forms.CharField(
        label=_("Company"),
        max_length=200,
        help_text=_("The company you worked for when you dealt with us."),
        error_messages=_required(_("Enter the name of the company.")),
        widget=forms.TextInput(attrs={"autocomplete": "organization"}),
    )
    phone = forms.CharField(
        label=_("Business phone (optional)"),
        max_length=40,
        required=False,
        validators=[phone_chars],
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )
    customer_number = forms.CharField(
        label=_("Customer number (optional)"),
        max_length=64,
        required=False,
        help_text=_("From an invoice, contract or service portal, if you have one."),
    )
    country = forms.ChoiceField(
        label=_("Country where you live"),
        choices=country_choices,
        error_messages=_required(_("Choose the country where you live.")),
    )
    california_resident = forms.BooleanField(
        label=_("I live in California"),
        required=False,
        help_text=_("Only for the United States."),
    )

    # A representative
    has_representative = forms.BooleanField(
        label=_("I am making this request for someone else"),
        required=False,
        help_text=_(
            "The details above are then those of the person the data is about. Our privacy "
            "team checks your authority before we act."
        ),
    )
    representative_name = forms.CharField(label=_("Your name"), max_length=200, required=False)
    representative_relationship = forms.CharField(
        label=_("Your relationship to that person"),
        max_length=200,
        required=False,
        help_text=_("For example: lawyer, or employer's data protection officer."),
    )
    representative_authority = forms.FileField(
        label=_("Signed authority"),
        required=False,
        max_length=200,
        widget=forms.FileInput(attrs={"accept": ".pdf,.jpg,.jpeg,.png"}),
    )

    acknowledge = forms.BooleanField(
        label=_("I have read how this request itself is processed."),
        error_messages=_required(
            _("Please confirm that you have read how this request is processed.")
        ),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for row in range(1, CORRECTION_ROWS + 1):
            self.fields[f"correction_field_{row}"] = forms.CharField(
                label=_("What is wrong"),
                max_length=100,
                required=False,
                help_text=_("For example: job title") if row == 1 else "",
            )
            self.fields[f"correction_current_{row}"] = forms.CharField(
                label=_("What we hold now (if you know)"), max_length=500, required=False
            )
            self.fields[f"correction_correct_{row}"] = forms.CharField(
                label=_("What it should be"), max_length=500, required=False
            )
        # The order of the page, so that the list of errors at the top follows it.
        self.order_fields(
            [
                "request_type",
                *(
                    f"correction_{part}_{row}"
                    for row in range(1, CORRECTION_ROWS + 1)
                    for part in ("field", "current", "correct")
                ),
            ]
        )
        limit = filesizeformat(settings.DSAR_AUTHORITY_MAX_BYTES)
        self.fields["representative_authority"].help_text = _(
            "A PDF, JPEG or PNG of the authority signed by that person, up to %(size)s."
        ) % {"size": limit}

    # --- the groups the template lays out ---------------------------------------------------

    def correction_rows(self) -> list[tuple[int, list]]:
        return [
            (row, [self[f"correction_{part}_{row}"] for part in ("field", "current", "correct")])
            for row in range(1, CORRECTION_ROWS + 1)
        ]

    def rights(self) -> list[dict[str, Any]]:
        """The radio options of request_type, each with its plain-words title and text."""
        return [
            {
                "option": option,
                "title": RIGHTS[option.data["value"]][0],
                "text": RIGHTS[option.data["value"]][1],
            }
            for option in self["request_type"]
        ]

    # --- validation ---------------------------------------------------------------------------

    def clean_representative_authority(self):
        upload = self.cleaned_data.get("representative_authority")
        if not upload:
            return None
        if upload.size > settings.DSAR_AUTHORITY_MAX_BYTES:
            raise forms.ValidationError(
                _("The file is too large: the limit is %(size)s.")
                % {"size": filesizeformat(settings.DSAR_AUTHORITY_MAX_BYTES)}
            )
        if authority_kind(upload) is None:
            raise forms.ValidationError(_("Upload a PDF, JPEG or PNG file."))
        return upload

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name, value in list(data.items()):
            if isinstance(value, str) and (problem := hidden_characters(name, value)):
                self.add_error(name, problem)
        if data.get("email"):
            try:
                email_key(data["email"])
            except InvalidEmail:
                self.add_error("email", _("Enter an e-mail address like name@company.com."))
        kind = data.get("request_type")
        if kind == RequestType.RECTIFICATION:
            self._clean_corrections(data)
        elif kind == RequestType.OBJECTION:
            objection = data.get("objection_kind")
            if not objection:
                self.add_error("objection_kind", _("Choose what you object to."))
            elif objection == OTHER_USE:
                if not data.get("objection_processing", "").strip():
                    self.add_error(
                        "objection_processing", _("Tell us which use of your data you object to.")
                    )
                if not data.get("objection_grounds", "").strip():
                    self.add_error("objection_grounds", _("Give your reasons."))
        elif kind == RequestType.RESTRICTION and not data.get("restriction_ground"):
            self.add_error("restriction_ground", _("Choose why we should pause the use."))
        if data.get("has_representative"):
            if not data.get("representative_name", "").strip():
                self.add_error("representative_name", _("Enter your name."))
            if not data.get("representative_relationship", "").strip():
                self.add_error(
                    "representative_relationship", _("Tell us how you are related to that person.")
                )
            if not data.get("representative_authority") and not self.has_error(
                "representative_authority"
            ):
                self.add_error(
                    "representative_authority", _("Upload the authority signed by that person.")
                )
        return data

    def _clean_corrections(self, data: dict[str, Any]) -> None:
        complete = 0
        for row in range(1, CORRECTION_ROWS + 1):
            field = data.get(f"correction_field_{row}", "").strip()
            current = data.get(f"correction_current_{row}", "").strip()
            correct = data.get(f"correction_correct_{row}", "").strip()
            if not (field or current or correct):
                continue
            if not field:
                self.add_error(f"correction_field_{row}", _("Say what is wrong."))
            if not correct:
                self.add_error(f"correction_correct_{row}", _("Give the correct value."))
            if field and correct:
                complete += 1
        flagged = any(
            self.has_error(f"correction_{part}_{row}")
            for part in ("field", "correct")
            for row in range(1, CORRECTION_ROWS + 1)
        )
        if not complete and not flagged:
            self.add_error("correction_field_1", _("Tell us at least one thing to correct."))

    # --- what the service gets ---------------------------------------------------------------

    def submission(self) -> dict[str, Any]:
        """Keyword arguments for casework.services.intake.submit_request."""
        data = self.cleaned_data
        kind = data["request_type"]
        details: dict[str, Any] = {}
        if kind == RequestType.RECTIFICATION:
            details["corrections"] = [
                {
                    "field": data[f"correction_field_{row}"].strip(),
                    "current": data[f"correction_current_{row}"].strip(),
                    "correct": data[f"correction_correct_{row}"].strip(),
                }
                for row in range(1, CORRECTION_ROWS + 1)
                if data[f"correction_field_{row}"].strip()
            ]
        elif kind == RequestType.OBJECTION:
            marketing = data["objection_kind"] == MARKETING
            details.update(
                direct_marketing=marketing,
                processing=data["objection_processing"].strip(),
                grounds=data["objection_grounds"].strip(),
            )
        elif kind == RequestType.ERASURE and data["erasure_scope"].strip():
            details["scope"] = data["erasure_scope"].strip()
        country = data["country"]
        representative = bool(data.get("has_representative"))
        return {
            "request_type": kind,
            "email": data["email"],
            "name": data["name"],
            "company": data["company"],
            "phone": data["phone"],
            "customer_number": data["customer_number"],
            "country": country if country != OTHER else "",
            "california_resident": country == US and bool(data.get("california_resident")),
            "mailbox_lost": bool(data.get("mailbox_lost")),
            "restriction_ground": data["restriction_ground"]
            if kind == RequestType.RESTRICTION
            else "",
            "details": details,
            "has_representative": representative,
            "representative_name": data["representative_name"] if representative else "",
            "representative_relationship": data["representative_relationship"]
            if representative
            else "",
            "authority": data.get("representative_authority") if representative else None,
        }


class ResendForm(forms.Form):
    email = forms.EmailField(
        label=_("E-mail address"),
        max_length=254,
        error_messages={
            "required": _("Enter your e-mail address."),
            "invalid": _("Enter an e-mail address like name@company.com."),
        },
    )
    reference = forms.RegexField(
        label=_("Reference"),
        regex=r"^\s*[A-Za-z]{4}-\d{4}-\d{6}\s*$",
        max_length=32,
        help_text=_("As in our e-mail, for example DSAR-2026-000042."),
        error_messages={
            "required": _("Enter the reference of your request."),
            "invalid": _("Enter a reference like DSAR-2026-000042."),
        },
    )


class StatusLinkForm(forms.Form):
    email = ResendForm.base_fields["email"]


class AnswerForm(forms.Form):
    text = forms.CharField(
        label=_("Your answer"),
        max_length=NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 6}),
        error_messages=_required(_("Write your answer.")),
    )


class CodeForm(forms.Form):
    code = forms.RegexField(
        label=_("Code from the e-mail"),
        regex=r"^\s*\d{6}\s*$",
        max_length=12,
        help_text=_("6 digits."),
        error_messages={
            "required": _("Enter the code from the e-mail."),
            "invalid": _("The code has 6 digits."),
        },
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "size": 8}
        ),
    )
