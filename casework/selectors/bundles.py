"""Reads for the subject's bundle: the facts its report states (from the register and the
case), and the stored bundle as a decrypted stream."""

from __future__ import annotations

from dataclasses import replace

from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone
from django.utils.translation import gettext

from casework import deadlines
from casework.models import Bundle, Case, ConnectorRun
from dsar.connectors.registry import exported_columns
from dsar.crypto import DecryptingReader
from dsar.models import ControllerInfo, DataCategory, DataField, SourceSystem
from exporters.context import Authority, BundleFacts, CategoryInfo, ColumnInfo, SystemInfo

GENERATOR_VERSION = "dsar-casework 0.1"


def associated_id(bundle_id: int) -> str:
    return f"bundle:{bundle_id}"


def supervisory_authority(language: str) -> Authority:
    """The authority named in the report and the letters (settings.DSAR_SUPERVISORY_AUTHORITY)."""
    authority = settings.DSAR_SUPERVISORY_AUTHORITY
    return Authority(
        name=authority["name"][language],
        address=authority["address"][language],
        website=authority["website"],
    )


def _recipient(recipient, language: str) -> str:
    name, condition = recipient.text("name", language), recipient.text("condition", language)
    return f"{name}: {condition}" if condition else name


def _special_category_conditions(category: DataCategory, language: str) -> list[str]:
    if not category.may_reveal_special_category:
        return []
    return [
        f"{f.text('name', language)}: {f.text('special_category_condition', language)}"
        for f in category.fields.all()
        if f.may_reveal_special_category and f.text("special_category_condition", language)
    ]


def _category_info(category: DataCategory, language: str) -> CategoryInfo:
    def names(objects) -> list[str]:
        return [o.text("name", language) for o in objects]

    rule = category.retention_rule
    retention = ""
    if rule is not None:
        retention = rule.text("description", language) or rule.text("name", language)
    return CategoryInfo(
        slug=category.slug,
        code=category.code,
        name=category.text("name", language),
        description=category.text("description", language),
        examples=category.text("examples", language),
        origin=category.origin,
        portable=category.portable,
        held=category.held,
        not_held_reason=category.text("not_held_reason", language),
        purposes=names(category.purposes.all()),
        legal_bases=[
            f"{b.text('name', language)} ({b.article})" for b in category.legal_bases.all()
        ],
        sources=names(category.sources.all()),
        recipients=[_recipient(r, language) for r in category.recipients.all()],
        retention=retention,
        transfers=[
            f"{t.text('destination', language)}: {t.text('safeguard', language)}"
            for t in category.transfers.all()
        ],
        special_category_note=category.text("special_category_note", language)
        if category.may_reveal_special_category
        else "",
        special_category_conditions=_special_category_conditions(category, language),
        other_people_note=category.text("other_people_note", language)
        if category.concerns_other_people
        else "",
    )


def _systems(language: str) -> list[SystemInfo]:
    """Every source system under its register name, its exported columns in mapping order
    with what the register says of their fields: the name in the subject's language (the
    report's header), both names, value type, format and currency (the portability schema).
    Read once per bundle, so nothing is looked up per record. A column whose field the
    register lacks is listed without a label (the report falls back to the column's name and
    the schema leaves it open; `check_connectors` warns about it)."""
    fields = {(f.category.slug, f.key): f for f in DataField.objects.select_related("category")}
    systems = []
    for system in SourceSystem.objects.order_by("name"):
        columns: dict[str, dict[str, ColumnInfo]] = {}
        for column in exported_columns(system):
            found = fields.get((column.category, column.field))
            if found is None:
                info = ColumnInfo(label="", currency=column.currency, category=column.category)
            else:
                info = ColumnInfo(
                    label=found.text("name", language),
                    currency=column.currency or found.currency,
                    category=column.category,
                    titles={"sq": found.name_sq, "en": found.name_en},
                    value_type=found.value_type,
                    value_format=found.value_format,
                    description=found.text("description", language),
                )
            columns.setdefault(column.source, {})[column.column] = info
        systems.append(SystemInfo(name=system.name, columns=columns, slug=system.slug))
    return systems


def bundle_facts(case: Case, kind: str) -> BundleFacts:
    language = case.language
    controller = ControllerInfo.load()
    categories = DataCategory.objects.prefetch_related(
        "purposes", "legal_bases", "sources", "recipients", "transfers", "fields"
    ).select_related("retention_rule")
    # Never "we found nothing" where we did not look: the systems that failed, and those
    # never searched for this case (nothing it held reached them), are named as not searched.
    runs = list(
        ConnectorRun.objects.filter(case=case).values_list("system_id", "system__name", "state")
    )
    searched_ok = {system for system, _name, state in runs if state != ConnectorRun.State.FAILED}
    failed = sorted(
        {name for _system, name, state in runs if state == ConnectorRun.State.FAILED}
        | set(
            SourceSystem.objects.filter(active=True)
            .exclude(pk__in=searched_ok)
            .values_list("name", flat=True)
        )
    )
    return BundleFacts(
        reference=case.reference,
        request_type=kind,
        language=language,
        subject_name=case.name,
        received_on=deadlines.local_date(case.received_at),
        due_on=deadlines.local_date(case.due_at),
        generated_at=timezone.now(),
        controller_name=controller.text("name", language) if controller else "",
        controller_contact=controller.text("contact", language) if controller else "",
        dpo_email=controller.dpo_email if controller else "",
        rights_text=controller.text("rights", language) if controller else "",
        complaint_text=controller.text("complaint", language) if controller else "",
        failed_sources=failed,
        categories=[_category_info(c, language) for c in categories],
        generator_version=GENERATOR_VERSION,
        time_zone=settings.DSAR_TIME_ZONE,
        systems=_systems(language),
        controller_entity=controller.legal_entity if controller else "",
        controller_address=controller.postal_address if controller else "",
        authority=supervisory_authority(language),
        laws=list(settings.DSAR_LAWS[language]),
    )


def with_unregistered_categories(facts: BundleFacts, counts: dict[str, int]) -> BundleFacts:
    """The facts with a category for each kind of record gathered that the register does not
    describe (a system mapped to a category not, or no longer, in it): its records still
    reach the subject, under their own heading, rather than vanish from the copy."""
    known = {c.slug for c in facts.categories}
    extra = [
        CategoryInfo(
            slug=slug,
            code="",
            name=slug.replace("_", " ").capitalize(),
            description=gettext(
                "Records of a kind our register of processing does not describe yet. Ask our "
                "data protection officer about their purpose and legal basis."
            ),
            portable=False,
        )
        for slug in sorted(counts)
        if slug not in known and counts[slug]
    ]
    return replace(facts, categories=[*facts.categories, *extra]) if extra else facts


def open_bundle(bundle: Bundle):
    """A readable stream of the decrypted ZIP (verified chunk by chunk)."""
    raw = default_storage.open(bundle.file, "rb")
    return DecryptingReader(raw, associated_id=associated_id(bundle.pk), close_fileobj=True)
