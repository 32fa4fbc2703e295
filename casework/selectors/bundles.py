"""Reads for the subject's bundle: the facts its report states (from the register and the
case), and the stored bundle as a decrypted stream."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext

from casework import deadlines
from casework.models import (
    BUNDLE_TYPES,
    AuditEvent,
    Bundle,
    Case,
    CaseNote,
    ConnectorRun,
    Notice,
    PostalLetter,
    State,
    is_categories_only,
)
from casework.selectors.gathering import current_runs
from casework.selectors.recipients import recipients_blocked_for, recipients_disclosed_to
from dsar.connectors.registry import exported_columns, source_labels
from dsar.crypto import DecryptingReader
from dsar.models import ControllerInfo, DataCategory, DataField, LegalBasis, SourceSystem
from exporters.context import Authority, BundleFacts, CategoryInfo, ColumnInfo, SystemInfo

GENERATOR_VERSION = "dsar-casework 0.1"
# The request and its correspondence: a category of the copy of its own (issue 13, point 3),
# from the case itself rather than from a source system.
REQUEST_CATEGORY = "your_request"
REQUEST_SYSTEM = "requests"


def ready_told_at(case: Case) -> dt.datetime | None:
    """When the subject was told that the data of the case's release is ready, or None while
    they were not: the READY e-mail sent, or the READY letter posted by staff (a letter only
    queued has told no one). Only a notice of this approval counts: one of a release since
    revoked told of another bundle."""
    if case.approved_at is None:
        return None
    emailed = (
        AuditEvent.objects.filter(
            case=case,
            action="case.notice_sent",
            details__notice=Notice.READY,
            details__sent_by="email",
            created_at__gte=case.approved_at,
        )
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    posted = (
        PostalLetter.objects.filter(
            case=case,
            notice=Notice.READY,
            state=PostalLetter.State.POSTED,
            created_at__gte=case.approved_at,
        )
        .order_by("posted_at")
        .values_list("posted_at", flat=True)
        .first()
    )
    return min((at for at in (emailed, posted) if at is not None), default=None)


def cases_ready_to_complete() -> QuerySet[Case]:
    """Access and portability cases whose bundle is ready, still being fulfilled: each
    completes once its subject is told (`ready_told_at`); the bundles' sweeper looks here for
    one whose completion did not happen where the telling was recorded."""
    return Case.objects.filter(
        request_type__in=BUNDLE_TYPES, state=State.FULFILLING, bundle_ready_at__isnull=False
    )


def ready_notice_lost(now: dt.datetime | None = None) -> QuerySet[Case]:
    """Cases whose bundle has been ready for longer than the sweep grace with no notice of it
    sent by any channel since their approval: the message that would have told the subject
    was lost (a flushed broker, say). A letter queued for post counts as sent: staff have
    it."""
    now = now or timezone.now()
    sent = AuditEvent.objects.filter(
        case=OuterRef("pk"),
        action="case.notice_sent",
        details__notice=Notice.READY,
        created_at__gte=OuterRef("approved_at"),
    )
    grace = dt.timedelta(seconds=settings.DSAR_SWEEP_GRACE_SECONDS)
    return cases_ready_to_complete().filter(bundle_ready_at__lt=now - grace).exclude(Exists(sent))


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


def _recipient(recipient, language: str, *, stopped: bool = False) -> str:
    name, condition = recipient.text("name", language), recipient.text("condition", language)
    text = f"{name}: {condition}" if condition else name
    if stopped:
        with translation.override(language):
            text = gettext("%(recipient)s (disclosure stopped at your request)") % {
                "recipient": text
            }
    return text


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
    the schema leaves it open; `check_connectors` warns about it). Tables, endpoints and
    folders are named as their mapping's `label` says in the subject's language."""
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
        labels = {
            source: texts.get(language) or texts.get("en") or next(iter(texts.values()))
            for source, texts in source_labels(system).items()
        }
        systems.append(
            SystemInfo(name=system.name, columns=columns, slug=system.slug, labels=labels)
        )
    return systems


def bundle_facts(case: Case, kind: str) -> BundleFacts:
    language = case.language
    controller = ControllerInfo.load()
    categories = DataCategory.objects.prefetch_related(
        "purposes", "legal_bases", "sources", "recipients", "transfers", "fields"
    ).select_related("retention_rule")
    # Never "we found nothing" where we did not look: the systems that failed, and those
    # never searched for this case (nothing it held reached them), are named as not searched.
    register_only = is_categories_only(case)
    runs = list(current_runs(case).values_list("system_id", "system__name", "state"))
    searched_ok = {system for system, _name, state in runs if state != ConnectorRun.State.FAILED}
    failed = sorted(
        {name for _system, name, state in runs if state == ConnectorRun.State.FAILED}
        | set(
            SourceSystem.objects.filter(active=True)
            .exclude(pk__in=searched_ok)
            .values_list("name", flat=True)
        )
    )
    if register_only:
        # The categories, as asked: no system was searched on purpose, and none failed. The
        # report says that it describes the register, not what was found.
        failed = []
    blocked = set(recipients_blocked_for(case).values_list("pk", flat=True))
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
        categories=[
            *(_category_info(c, language) for c in categories),
            request_category(language),
        ],
        generator_version=GENERATOR_VERSION,
        time_zone=settings.DSAR_TIME_ZONE,
        systems=[*_systems(language), _request_system(language)],
        controller_entity=controller.legal_entity if controller else "",
        controller_address=controller.postal_address if controller else "",
        authority=supervisory_authority(language),
        laws=list(settings.DSAR_LAWS[language]),
        disclosed_to=[
            _recipient(r, language, stopped=r.pk in blocked) for r in recipients_disclosed_to(case)
        ],
        register_only=register_only,
    )


# --- the request as a category of its own ----------------------------------------------------


def _request_places() -> dict[str, str]:
    return {"request": gettext("The request"), "correspondence": gettext("What we sent you")}


def _request_system_name() -> str:
    return gettext("Our file of your request")


def _request_system(language: str) -> SystemInfo:
    with translation.override(language):
        return SystemInfo(
            name=_request_system_name(), slug=REQUEST_SYSTEM, labels=_request_places()
        )


def request_category(language: str) -> CategoryInfo:
    """The register-like description of the request category, in the subject's language. We
    keep case files for as long as we may have to show how a request was handled; nothing
    deletes them on a schedule, so the text names no period for them, only for the data
    gathered to answer."""
    # The register's own words for the basis, where it has them, as every category states it.
    basis = LegalBasis.objects.filter(code="legal_obligation").first()
    with translation.override(language):
        if basis is not None:
            legal_basis = f"{basis.text('name', language)} ({basis.article})"
        else:
            legal_basis = gettext("Legal obligation (Art. 6(1)(c) GDPR)")
        retention = gettext(
            "We keep the record of your request and of our correspondence with you for as long "
            "as we may need to show how we handled it (for example to the supervisory authority "
            "or to defend legal claims), in line with section 8 of our privacy statement. The "
            "copy of your data we gathered to answer you is deleted %(days)s days after your "
            "request is closed."
        ) % {"days": settings.DSAR_GATHERED_RETENTION_DAYS}
        return CategoryInfo(
            slug=REQUEST_CATEGORY,
            code="",
            name=gettext("Your request"),
            description=gettext(
                "Your request to us under data protection law, and the notices and letters we "
                "sent you about it."
            ),
            origin="provided",
            portable=False,  # kept under a legal obligation, not given for a service: Art. 20
            purposes=[gettext("Handling your request")],
            legal_bases=[legal_basis],
            sources=[gettext("You, and our correspondence with you")],
            retention=retention,
            field_labels={
                "reference": gettext("Reference"),
                "request_type": gettext("Request type"),
                "received_at": gettext("Received on"),
                "channel": gettext("Channel"),
                "language": gettext("Language"),
                "corrections": gettext("Corrections asked for"),
                "erasure_scope": gettext("What to erase"),
                "objection_to": gettext("Objection to"),
                "objection_grounds": gettext("Grounds of the objection"),
                "restriction_ground": gettext("Ground for restriction"),
                "notice": gettext("Notice"),
                "sent_at": gettext("Sent on"),
                "sent_by": gettext("Sent by"),
                "text": gettext("Text"),
            },
        )


def _what_was_asked(case: Case) -> dict[str, Any]:
    """What the subject asked for beyond the request type, from the form's details: only their
    own words and data (never a representative's, never staff's)."""
    details = case.details or {}
    asked: dict[str, Any] = {}
    corrections = details.get("corrections")
    if case.request_type == "rectification" and isinstance(corrections, list):
        asked["corrections"] = "; ".join(
            f"{c.get('field', '')}: {c.get('current', '') or '—'} → {c.get('correct', '')}"
            for c in corrections
            if isinstance(c, dict)
        )
    if case.request_type == "erasure" and details.get("scope"):
        asked["erasure_scope"] = str(details["scope"])
    if case.request_type == "objection":
        if details.get("direct_marketing"):
            asked["objection_to"] = gettext("Direct marketing")
        elif details.get("processing"):
            asked["objection_to"] = str(details["processing"])
        if details.get("grounds"):
            asked["objection_grounds"] = str(details["grounds"])
    if case.request_type == "restriction" and case.restriction_ground:
        asked["restriction_ground"] = case.get_restriction_ground_display()
    return asked


def request_records(case: Case) -> Iterator[tuple[str, dict[str, Any]]]:
    """(category, record) for the request itself and what we sent the subject about it (each
    notice with its date and channel, and the texts we let them see), in the subject's
    language: the same shape as `reviewed_records`, added after them to the bundle. Internal
    notes and how identity was checked stay out."""
    with translation.override(case.language):
        system = _request_system_name()
        yield (
            REQUEST_CATEGORY,
            {
                "source": f"{system}: request",
                "key": case.reference,
                "found_by": "",
                "data": {
                    "reference": case.reference,
                    "request_type": case.get_request_type_display(),
                    "received_at": case.received_at.isoformat(),
                    "channel": case.get_channel_display(),
                    "language": case.get_language_display(),
                    **_what_was_asked(case),
                },
            },
        )
        channels = {"email": gettext("E-mail"), "post": gettext("Letter")}
        sent = AuditEvent.objects.filter(case=case, action="case.notice_sent").order_by("seq")
        for seq, at, details in sent.values_list("seq", "created_at", "details"):
            notice = details.get("notice", "")
            yield (
                REQUEST_CATEGORY,
                {
                    "source": f"{system}: correspondence",
                    "key": f"notice:{seq}",
                    "found_by": "",
                    "data": {
                        "notice": str(Notice(notice).label) if notice in Notice.values else notice,
                        "sent_at": at.isoformat(),
                        "sent_by": channels.get(details.get("sent_by", ""), ""),
                    },
                },
            )
        told = CaseNote.objects.filter(case=case, visible_to_subject=True).exclude(
            kind__in=[CaseNote.Kind.INTERNAL, CaseNote.Kind.VERIFICATION]
        )
        for note in told.order_by("created_at", "pk"):
            yield (
                REQUEST_CATEGORY,
                {
                    "source": f"{system}: correspondence",
                    "key": f"note:{note.pk}",
                    "found_by": "",
                    "data": {
                        "notice": note.get_kind_display(),
                        "sent_at": note.created_at.isoformat(),
                        "text": note.text,
                    },
                },
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


# --- the download window (the portal shows it; the DRP status gives it as expires_at) ---------


def download_window_end(bundle: Bundle) -> dt.datetime | None:
    """The end of the download window: DSAR_DOWNLOAD_WINDOW_DAYS after the bundle was built,
    and never past its retention (Bundle.expires_at)."""
    if bundle.finished_at is None:
        return None
    end = bundle.finished_at + dt.timedelta(days=settings.DSAR_DOWNLOAD_WINDOW_DAYS)
    if bundle.expires_at is not None:
        end = min(end, bundle.expires_at)
    return end


def download_ended_on(case: Case) -> dt.datetime | None:
    """When the download window of the case's newest released bundle ended (or ends): the
    bundle may since have been deleted after its retention. None when no bundle was ready
    or the newest was revoked."""
    bundle = (
        case.bundles.filter(state__in=[Bundle.State.READY, Bundle.State.DELETED])
        .exclude(finished_at=None)
        .order_by("-finished_at", "-pk")
        .first()
    )
    if bundle is None or bundle.revoked_at is not None:
        return None
    return download_window_end(bundle)
