"""The register of processing: what the controller holds, why, on what basis, from where, shared
with whom, sent where, kept how long, and in which source systems.

Every text a data subject may read is stored in Albanian and English (`<field>_sq`,
`<field>_en`); `text(field, language)` picks one, falling back to English. The default register
comes from the controller's privacy statement (dsar/data/default_register.yaml, loaded by
`manage.py load_data_map`); the admin edits it. This app is the ground floor: it imports no other
app of the project.
"""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

LANGUAGES = ("sq", "en")
FALLBACK_LANGUAGE = "en"

# Six years: the statement's (§8) usual upper bound on keeping personal data.
DEFAULT_RECENT_DAYS = 90
DEFAULT_RETENTION_MONTHS = 72
# Our own case files (the DSAR cases, their letters and notes): kept for accountability this
# long after a case closes, then reduced to an anonymous statistics row. The period is the
# register's rule CASE_FILES_RULE, which the DPO edits; this default applies while it has none.
CASE_FILES_RULE = "case_files"
DEFAULT_CASE_FILES_MONTHS = 36

category_code_validator = RegexValidator(
    r"^\d+(\.\d+)*$", _("Use the statement's section number, for example 2.4.1.")
)


class BilingualText:
    """`text("name", "sq")` returns `name_sq`, or `name_en` when that is empty."""

    def text(self, field: str, language: str | None = None) -> str:
        if not hasattr(self, f"{field}_{FALLBACK_LANGUAGE}"):
            raise AttributeError(f"{type(self).__name__} has no bilingual field {field!r}")
        language = (language or get_language() or FALLBACK_LANGUAGE).split("-")[0].lower()
        if language in LANGUAGES:
            value = getattr(self, f"{field}_{language}")
            if value:
                return value
        return getattr(self, f"{field}_{FALLBACK_LANGUAGE}") or getattr(self, f"{field}_sq")


class Origin(models.TextChoices):
    """Where the data came from; portability (Art. 20) covers only provided and observed data."""

    PROVIDED = "provided", _("Provided by the subject")
    OBSERVED = "observed", _("Observed from the subject's use of the services")
    INFERRED = "inferred", _("Inferred or derived by the controller")
    THIRD_PARTY = "third_party", _("Obtained from a third party")


PORTABLE_ORIGINS = (Origin.PROVIDED, Origin.OBSERVED)


class ErasureAction(models.TextChoices):
    """What an erasure request does to data under a retention rule (§8)."""

    ERASE = "erase", _("Erase on request")
    KEEP = "keep", _("Keep for the retention period, for the stated reason")
    SUPPRESS = "suppress", _("Erase, keeping a suppression record so that no marketing is sent")
    REVIEW = "review", _("A reviewer decides whether the reason to keep it still applies")


class Safeguard(models.TextChoices):
    ADEQUACY = "adequacy", _("Adequacy decision (Art. 45)")
    SCC = "scc", _("EU standard contractual clauses (Art. 46(2)(c))")
    BCR = "bcr", _("Binding corporate rules (Art. 47)")
    DEROGATION = "derogation", _("Derogation for a specific situation (Art. 49)")
    OTHER = "other", _("Other safeguard")


class LegalBasis(BilingualText, models.Model):
    code = models.SlugField(max_length=50, unique=True, help_text=_("e.g. legitimate_interests"))
    article = models.CharField(max_length=40, help_text=_("GDPR reference, e.g. Art. 6(1)(f)"))
    name_sq = models.CharField(_("name (Albanian)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200)
    description_sq = models.TextField(_("explanation (Albanian)"), blank=True)
    description_en = models.TextField(_("explanation (English)"), blank=True)

    class Meta:
        ordering = ["article", "code"]
        verbose_name = _("legal basis")
        verbose_name_plural = _("legal bases")

    def __str__(self) -> str:
        return f"{self.name_en} ({self.article})"


class Purpose(BilingualText, models.Model):
    code = models.SlugField(max_length=50, unique=True)
    name_sq = models.CharField(_("name (Albanian)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200)
    description_sq = models.TextField(_("description (Albanian)"), blank=True)
    description_en = models.TextField(_("description (English)"), blank=True)
    legal_bases = models.ManyToManyField(LegalBasis, related_name="purposes", blank=True)
    # An objection to direct marketing is absolute (Art. 21(3)): these purposes stop on request.
    direct_marketing = models.BooleanField(
        default=False, help_text=_("Direct marketing: stops whenever the subject objects.")
    )

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name_en


class RetentionRule(BilingualText, models.Model):
    code = models.SlugField(max_length=50, unique=True)
    name_sq = models.CharField(_("name (Albanian)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200)
    description_sq = models.TextField(_("description (Albanian)"), blank=True)
    description_en = models.TextField(_("description (English)"), blank=True)
    period_months = models.PositiveIntegerField(
        null=True,
        blank=True,
        default=DEFAULT_RETENTION_MONTHS,
        help_text=_("Longest time kept, in months; empty when no fixed period applies."),
    )
    on_erasure = models.CharField(
        max_length=20, choices=ErasureAction.choices, default=ErasureAction.ERASE
    )
    # §8: nothing is erased that belongs to an active relationship or a product or service the
    # subject asked for (a recent purchase, say).
    kept_while_active = models.BooleanField(
        default=False,
        help_text=_(
            "Not erased while it belongs to an active relationship or a requested service."
        ),
    )
    keep_reason_sq = models.TextField(_("why it is kept (Albanian)"), blank=True)
    keep_reason_en = models.TextField(_("why it is kept (English)"), blank=True)
    recent_days = models.PositiveIntegerField(
        default=DEFAULT_RECENT_DAYS,
        help_text=_(
            "For rules kept while active: a record dated within this many days (a recent "
            "purchase) counts as part of a service the subject asked for."
        ),
    )
    # Raised by every change (register load, admin): a plan and its letter cite the version
    # they applied, and keep their own copy of its words, so a later edit changes neither.
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name_en

    @classmethod
    def case_files_months(cls) -> int:
        """How many months our own case files are kept after a case closes (the rule
        CASE_FILES_RULE; DEFAULT_CASE_FILES_MONTHS while it is missing or has no period)."""
        months = (
            cls.objects.filter(code=CASE_FILES_RULE).values_list("period_months", flat=True).first()
        )
        return months or DEFAULT_CASE_FILES_MONTHS


class RecipientKind(models.TextChoices):
    """Who a recipient is to the controller. An opt-out of disclosure ("sale") stops what goes
    to third parties; a processor acts on the controller's behalf, and an authority receives
    data where the law obliges the controller, whatever the subject asked."""

    THIRD_PARTY = "third_party", _("third party (uses the data for its own purposes)")
    PROCESSOR = "processor", _("processor (acts on our behalf, under contract)")
    AUTHORITY = "authority", _("public authority (where the law obliges us)")


class Recipient(BilingualText, models.Model):
    """A category of recipient (Art. 15(1)(c)), not a named company."""

    code = models.SlugField(max_length=50, unique=True)
    # Third party unless the register says otherwise: an opt-out of disclosure then stops it.
    kind = models.CharField(
        _("kind"), max_length=20, choices=RecipientKind.choices, default=RecipientKind.THIRD_PARTY
    )
    name_sq = models.CharField(_("name (Albanian)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200)
    description_sq = models.TextField(_("description (Albanian)"), blank=True)
    description_en = models.TextField(_("description (English)"), blank=True)
    # The statement names some recipients only under a condition (a buyer "if we sell business
    # assets", the police "in exceptional circumstances"): listed flatly, they would read as
    # recipients of everything, always.
    condition_sq = models.TextField(
        _("when the data is disclosed (Albanian)"),
        blank=True,
        help_text=_("Empty: disclosed whenever the purposes need it."),
    )
    condition_en = models.TextField(_("when the data is disclosed (English)"), blank=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name_en


class Transfer(BilingualText, models.Model):
    """A transfer to another country or an international organisation and its safeguard
    (Art. 15(2)), named by destination as the controller sees it: from Albania, the EU is
    abroad too."""

    code = models.SlugField(max_length=50, unique=True)
    destination_sq = models.TextField(_("destination (Albanian)"))
    destination_en = models.TextField(_("destination (English)"))
    safeguard = models.CharField(max_length=20, choices=Safeguard.choices, default=Safeguard.SCC)
    safeguard_sq = models.TextField(_("safeguard (Albanian)"))
    safeguard_en = models.TextField(_("safeguard (English)"))

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code}: {self.get_safeguard_display()}"


class DataSource(BilingualText, models.Model):
    """Where data comes from (Art. 15(1)(g)): the subject, their use, a partner, ..."""

    code = models.SlugField(max_length=50, unique=True)
    name_sq = models.CharField(_("name (Albanian)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200)
    description_sq = models.TextField(_("description (Albanian)"), blank=True)
    description_en = models.TextField(_("description (English)"), blank=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name_en


def category_sort_key(code: str) -> str:
    """'2.4.1' -> '0002.0004.0001', so that 2.10 sorts after 2.9."""
    return ".".join(part.zfill(4) for part in code.split("."))


class DataCategory(BilingualText, models.Model):
    code = models.CharField(
        max_length=20, unique=True, validators=[category_code_validator], help_text=_("e.g. 2.4.1")
    )
    slug = models.SlugField(max_length=60, unique=True, help_text=_("e.g. online_account"))
    sort_key = models.CharField(max_length=60, editable=False, blank=True, db_index=True)
    name_sq = models.CharField(_("name (Albanian)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200)
    description_sq = models.TextField(_("description (Albanian)"), blank=True)
    description_en = models.TextField(_("description (English)"), blank=True)
    examples_sq = models.TextField(_("examples (Albanian)"), blank=True)
    examples_en = models.TextField(_("examples (English)"), blank=True)
    origin = models.CharField(max_length=20, choices=Origin.choices)

    held = models.BooleanField(default=True)
    not_held_reason_sq = models.TextField(_("why not held (Albanian)"), blank=True)
    not_held_reason_en = models.TextField(_("why not held (English)"), blank=True)

    # Review flags: a reviewer looks again before such data is released.
    may_reveal_special_category = models.BooleanField(
        default=False, help_text=_("May reveal Art. 9 data (health, religion, ...).")
    )
    special_category_note_sq = models.TextField(blank=True)
    special_category_note_en = models.TextField(blank=True)
    concerns_other_people = models.BooleanField(
        default=False, help_text=_("May hold data about people other than the subject.")
    )
    other_people_note_sq = models.TextField(blank=True)
    other_people_note_en = models.TextField(blank=True)

    purposes = models.ManyToManyField(Purpose, related_name="categories", blank=True)
    legal_bases = models.ManyToManyField(LegalBasis, related_name="categories", blank=True)
    recipients = models.ManyToManyField(Recipient, related_name="categories", blank=True)
    transfers = models.ManyToManyField(Transfer, related_name="categories", blank=True)
    sources = models.ManyToManyField(DataSource, related_name="categories", blank=True)
    retention_rule = models.ForeignKey(
        RetentionRule, null=True, blank=True, on_delete=models.PROTECT, related_name="categories"
    )

    class Meta:
        ordering = ["sort_key"]
        verbose_name = _("data category")
        verbose_name_plural = _("data categories")

    def __str__(self) -> str:
        return f"{self.code} {self.name_en}"

    def save(self, *args, **kwargs) -> None:
        self.sort_key = category_sort_key(self.code)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "code" in update_fields:
            kwargs["update_fields"] = {*update_fields, "sort_key"}
        super().save(*args, **kwargs)

    @property
    def portable(self) -> bool:
        """Within the right to portability: held, and provided by or observed from the subject."""
        return self.held and self.origin in PORTABLE_ORIGINS


class ValueType(models.TextChoices):
    """What kind of value a field holds: the type its portability JSON Schema states."""

    STRING = "string", _("Text")
    INTEGER = "integer", _("Whole number")
    NUMBER = "number", _("Number")
    # Exact amounts: drivers hand back Decimal, which the records carry as text ("12.50").
    DECIMAL = "decimal", _("Exact decimal number (an amount)")
    BOOLEAN = "boolean", _("Yes or no")
    DATE = "date", _("Date")
    DATE_TIME = "date-time", _("Date and time")
    TIME = "time", _("Time of day")


class ValueFormat(models.TextChoices):
    """JSON Schema formats a text field may state, beside those its type implies."""

    EMAIL = "email", _("E-mail address")
    URI = "uri", _("Web address (URI)")
    IPV4 = "ipv4", _("IPv4 address")
    IPV6 = "ipv6", _("IPv6 address")
    UUID = "uuid", _("UUID")


currency_validator = RegexValidator(
    r"^[A-Z]{3}$", _("Use an ISO 4217 currency code, for example EUR or ALL.")
)


class DataField(BilingualText, models.Model):
    """One item of a category; its origin overrides the category's where a category mixes them
    (§2.4.2: the serial number is provided, the repair history observed). `value_type`,
    `value_format` and `currency` describe its values for the portability files' JSON Schemas."""

    category = models.ForeignKey(DataCategory, on_delete=models.CASCADE, related_name="fields")
    key = models.SlugField(max_length=60, help_text=_("e.g. serial_number"))
    position = models.PositiveSmallIntegerField(default=0)
    name_sq = models.CharField(_("name (Albanian)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200)
    description_sq = models.TextField(_("description (Albanian)"), blank=True)
    description_en = models.TextField(_("description (English)"), blank=True)
    origin = models.CharField(
        max_length=20,
        choices=Origin.choices,
        blank=True,
        help_text=_("Empty: as the category."),
    )
    may_reveal_special_category = models.BooleanField(default=False)
    # Art. 9(1) forbids processing such data unless one of the conditions of Art. 9(2) applies,
    # on top of the Art. 6 basis: the subject is told which one.
    special_category_condition_sq = models.TextField(
        _("Art. 9(2) condition (Albanian)"),
        blank=True,
        help_text=_("Required when the field may reveal Art. 9 data, e.g. explicit consent."),
    )
    special_category_condition_en = models.TextField(_("Art. 9(2) condition (English)"), blank=True)
    concerns_other_people = models.BooleanField(default=False)
    value_type = models.CharField(
        _("type of value"), max_length=20, choices=ValueType.choices, default=ValueType.STRING
    )
    value_format = models.CharField(
        _("format"),
        max_length=20,
        choices=ValueFormat.choices,
        blank=True,
        help_text=_("Optional, for text: what the text is (an e-mail address, a web address)."),
    )
    currency = models.CharField(
        _("currency"),
        max_length=3,
        blank=True,
        validators=[currency_validator],
        help_text=_("For an amount: its ISO 4217 currency code, e.g. EUR or ALL."),
    )

    class Meta:
        ordering = ["category__sort_key", "position", "key"]
        constraints = [
            models.UniqueConstraint(fields=["category", "key"], name="dsar_field_key_per_category")
        ]

    def __str__(self) -> str:
        return f"{self.category.code} {self.key}"

    @property
    def effective_origin(self) -> str:
        return self.origin or self.category.origin

    @property
    def portable(self) -> bool:
        return self.category.held and self.effective_origin in PORTABLE_ORIGINS


class SourceSystem(models.Model):
    """A system searched for the subject's data. `connector` names a kind in the connectors
    registry (sql, http, files, manual), which validates it and reads `config`."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    description = models.TextField(blank=True)
    connector = models.CharField(
        max_length=40, help_text=_("Connector kind: sql, http, files, manual")
    )
    config = models.JSONField(
        default=dict,
        blank=True,
        help_text=_("Connector settings. Secrets are named by environment variable, never stored."),
    )
    active = models.BooleanField(default=True)
    owner_email = models.EmailField(
        blank=True, help_text=_("Who searches and changes a manual system by hand.")
    )
    categories = models.ManyToManyField(DataCategory, related_name="systems", blank=True)
    # Who runs it: blank for the controller itself, else the processor (Art. 28) that is
    # instructed to make a case's changes too, and confirms them.
    processor = models.CharField(
        _("run by"),
        max_length=200,
        blank=True,
        help_text=_("The processor that runs it (a hosting or service partner); blank: we do."),
    )
    processor_email = models.EmailField(
        _("processor's e-mail"),
        blank=True,
        help_text=_("Where instructions to the processor go (a link, never personal data)."),
    )
    backup_days = models.PositiveIntegerField(
        _("backups kept (days)"),
        null=True,
        blank=True,
        help_text=_("How long its backups keep data; blank or 0: it has no backups."),
    )
    disclosed_to = models.ManyToManyField(
        Recipient,
        related_name="systems",
        blank=True,
        verbose_name=_("disclosed to"),
        help_text=_("The recipients its data is disclosed to (§4 of the statement)."),
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ControllerInfo(BilingualText, models.Model):
    """The controller, its DPO and the texts on rights and complaints (§7, §11, §12).
    One row (pk 1): `ControllerInfo.load()`."""

    name_sq = models.CharField(_("controller (Albanian)"), max_length=300)
    name_en = models.CharField(_("controller (English)"), max_length=300)
    # The name above is how the statement speaks of the controller ("Canon"); the subject also
    # needs the legal person that answers for it and where to write to it (Art. 13(1)(a)).
    legal_entity = models.CharField(_("legal entity"), max_length=300, blank=True)
    postal_address = models.TextField(_("postal address"), blank=True)
    dpo_email = models.EmailField(_("DPO e-mail"))
    contact_sq = models.TextField(_("how to contact (Albanian)"), blank=True)
    contact_en = models.TextField(_("how to contact (English)"), blank=True)
    rights_sq = models.TextField(_("rights (Albanian)"), blank=True)
    rights_en = models.TextField(_("rights (English)"), blank=True)
    marketing_opt_out_sq = models.TextField(_("marketing opt-out (Albanian)"), blank=True)
    marketing_opt_out_en = models.TextField(_("marketing opt-out (English)"), blank=True)
    complaint_sq = models.TextField(_("complaint to the authority (Albanian)"), blank=True)
    complaint_en = models.TextField(_("complaint to the authority (English)"), blank=True)
    statement_version = models.CharField(max_length=40, blank=True)
    statement_date = models.DateField(null=True, blank=True)

    class Meta:
        verbose_name = _("controller information")
        verbose_name_plural = _("controller information")
        constraints = [
            models.CheckConstraint(condition=models.Q(pk=1), name="dsar_controller_single_row")
        ]

    def __str__(self) -> str:
        return self.name_en

    def save(self, *args, **kwargs) -> None:
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> ControllerInfo | None:
        return cls.objects.filter(pk=1).first()
