"""The register of processing in the admin: every model editable, Albanian and English side by
side."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from dsar.connectors.registry import check_system, validate_system
from dsar.models import (
    ControllerInfo,
    DataCategory,
    DataField,
    DataSource,
    LegalBasis,
    Purpose,
    Recipient,
    RetentionRule,
    SourceSystem,
    Transfer,
)


def bilingual(*names: str) -> tuple[tuple[str, str], ...]:
    """Put each text's Albanian and English fields on one row of the form."""
    return tuple((f"{name}_sq", f"{name}_en") for name in names)


@admin.register(LegalBasis)
class LegalBasisAdmin(admin.ModelAdmin):
    list_display = ("code", "article", "name_en", "name_sq")
    search_fields = ("code", "article", "name_en", "name_sq")
    fields = ("code", "article", *bilingual("name", "description"))


@admin.register(Purpose)
class PurposeAdmin(admin.ModelAdmin):
    list_display = ("code", "name_en", "name_sq", "direct_marketing")
    list_filter = ("direct_marketing", "legal_bases")
    search_fields = ("code", "name_en", "name_sq", "description_en", "description_sq")
    filter_horizontal = ("legal_bases",)
    fields = ("code", *bilingual("name", "description"), "legal_bases", "direct_marketing")


@admin.register(RetentionRule)
class RetentionRuleAdmin(admin.ModelAdmin):
    list_display = ("code", "name_en", "period_months", "on_erasure", "kept_while_active")
    list_filter = ("on_erasure", "kept_while_active")
    search_fields = ("code", "name_en", "name_sq", "description_en", "description_sq")
    fields = (
        "code",
        *bilingual("name", "description"),
        ("period_months", "on_erasure", "kept_while_active", "recent_days"),
        *bilingual("keep_reason"),
        "version",
    )
    readonly_fields = ("version",)

    def save_model(self, request, obj, form, change):
        if change and form.has_changed():
            obj.version += 1  # plans cite the version they applied; theirs stays as it was
        super().save_model(request, obj, form, change)


@admin.register(Recipient)
class RecipientAdmin(admin.ModelAdmin):
    list_display = ("code", "name_en", "kind")
    list_filter = ("kind",)
    search_fields = ("code", "name_en", "name_sq", "description_en", "description_sq")
    fields = ("code", "kind", *bilingual("name", "description", "condition"))


@admin.register(Transfer)
class TransferAdmin(admin.ModelAdmin):
    list_display = ("code", "safeguard", "destination_en")
    list_filter = ("safeguard",)
    search_fields = ("code", "destination_en", "destination_sq", "safeguard_en", "safeguard_sq")
    fields = ("code", *bilingual("destination"), "safeguard", *bilingual("safeguard"))


@admin.register(DataSource)
class DataSourceAdmin(admin.ModelAdmin):
    list_display = ("code", "name_en", "name_sq")
    search_fields = ("code", "name_en", "name_sq", "description_en", "description_sq")
    fields = ("code", *bilingual("name", "description"))


class DataFieldInline(admin.TabularInline):
    model = DataField
    extra = 0
    fields = (
        "position",
        "key",
        "name_sq",
        "name_en",
        "origin",
        "value_type",
        "value_format",
        "currency",
        "may_reveal_special_category",
        "special_category_condition_sq",
        "special_category_condition_en",
        "concerns_other_people",
    )


@admin.register(DataCategory)
class DataCategoryAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "slug",
        "name_en",
        "origin",
        "held",
        "portable",
        "may_reveal_special_category",
        "concerns_other_people",
        "retention_rule",
    )
    list_display_links = ("code", "slug")
    list_filter = (
        "origin",
        "held",
        "may_reveal_special_category",
        "concerns_other_people",
        "retention_rule",
    )
    list_select_related = ("retention_rule",)
    search_fields = ("code", "slug", "name_en", "name_sq", "examples_en", "examples_sq")
    filter_horizontal = ("purposes", "legal_bases", "recipients", "transfers", "sources")
    inlines = [DataFieldInline]
    fieldsets = (
        (None, {"fields": (("code", "slug"), *bilingual("name", "description", "examples"))}),
        ("Origin and holding", {"fields": ("origin", "held", *bilingual("not_held_reason"))}),
        (
            "Review flags",
            {
                "fields": (
                    "may_reveal_special_category",
                    *bilingual("special_category_note"),
                    "concerns_other_people",
                    *bilingual("other_people_note"),
                )
            },
        ),
        (
            "Processing",
            {
                "fields": (
                    "purposes",
                    "legal_bases",
                    "recipients",
                    "transfers",
                    "sources",
                    "retention_rule",
                )
            },
        ),
    )

    @admin.display(boolean=True, description="portable")
    def portable(self, obj: DataCategory) -> bool:
        return obj.portable


@admin.register(DataField)
class DataFieldAdmin(admin.ModelAdmin):
    list_display = (
        "key",
        "category",
        "name_en",
        "origin",
        "value_type",
        "currency",
        "may_reveal_special_category",
        "concerns_other_people",
    )
    list_filter = (
        "origin",
        "value_type",
        "may_reveal_special_category",
        "concerns_other_people",
        "category",
    )
    list_select_related = ("category",)
    search_fields = ("key", "name_en", "name_sq", "category__code", "category__slug")
    autocomplete_fields = ("category",)
    fields = (
        ("category", "key", "position"),
        *bilingual("name", "description"),
        "origin",
        ("value_type", "value_format", "currency"),
        ("may_reveal_special_category", "concerns_other_people"),
        bilingual("special_category_condition")[0],
    )


class SourceSystemForm(forms.ModelForm):
    """Refuses a system whose connector type is unknown, whose configuration is malformed, or
    (when active) that cannot be reached or does not match its mapping: the fault is named."""

    class Meta:
        model = SourceSystem
        fields = [
            "name",
            "slug",
            "description",
            "connector",
            "active",
            "owner_email",
            "processor",
            "processor_email",
            "backup_days",
            "config",
            "categories",
            "disclosed_to",
        ]

    def clean(self):
        data = super().clean()
        kind, config = data.get("connector"), data.get("config")
        if kind is None or config is None:
            return data
        problems = validate_system(kind, config)
        if problems:
            raise forms.ValidationError(problems)
        if data.get("active"):
            problems = check_system(
                SourceSystem(connector=kind, config=config, slug=data.get("slug") or kind)
            )
            if problems:
                raise forms.ValidationError(problems)
        return data


@admin.register(SourceSystem)
class SourceSystemAdmin(admin.ModelAdmin):
    form = SourceSystemForm
    list_display = ("name", "slug", "connector", "active", "owner_email", "processor")
    list_filter = ("connector", "active")
    search_fields = ("name", "slug", "description", "owner_email", "processor")
    prepopulated_fields = {"slug": ("name",)}
    filter_horizontal = ("categories", "disclosed_to")
    fields = (
        ("name", "slug"),
        "description",
        ("connector", "active"),
        "owner_email",
        ("processor", "processor_email"),
        "backup_days",
        "config",
        "categories",
        "disclosed_to",
    )


@admin.register(ControllerInfo)
class ControllerInfoAdmin(admin.ModelAdmin):
    list_display = ("name_en", "dpo_email", "statement_version", "statement_date")
    fields = (
        *bilingual("name"),
        "legal_entity",
        "postal_address",
        "dpo_email",
        *bilingual("contact", "rights", "marketing_opt_out", "complaint"),
        ("statement_version", "statement_date"),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        # One row: the controller.
        return super().has_add_permission(request) and not ControllerInfo.objects.exists()
