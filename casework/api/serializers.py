"""The API's input and output shapes. Outputs never carry gathered records' values: counts of
records, the plans' structure and the review's decisions (to those who review) only."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from casework import selectors
from casework.deadlines import REGIME_CHOICES
from casework.models import (
    AuditEvent,
    Case,
    Channel,
    FulfilmentAction,
    FulfilmentPlan,
    Language,
    RecordDecision,
    RequestType,
    RestrictionGround,
)
from casework.services.intake import Intake


def username() -> serializers.SlugRelatedField:
    """A staff member by username (null: nobody)."""
    return serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)


class FiledCaseSerializer(serializers.ModelSerializer):
    """What an intake client sees of the cases it filed: where each stands, nothing more."""

    class Meta:
        model = Case
        fields = ["reference", "request_type", "state", "received_at", "due_at"]
        read_only_fields = fields


class CaseSerializer(serializers.ModelSerializer):
    assignee = username()

    class Meta:
        model = Case
        fields = [
            "reference",
            "request_type",
            "state",
            "regime",
            "channel",
            "language",
            "received_at",
            "due_at",
            "original_due_at",
            "closed_at",
            "assignee",
            "confidential",
            "name",
            "email",
            "company",
        ]
        read_only_fields = fields


class SourceCountSerializer(serializers.Serializer):
    """A search of one system for the case: how many records, by category; never their values."""

    system = serializers.CharField(source="system.slug")
    state = serializers.CharField()
    records = serializers.IntegerField(source="records_count")
    by_category = serializers.DictField(child=serializers.IntegerField(), source="counts")
    attempts = serializers.IntegerField()
    duration_ms = serializers.IntegerField(allow_null=True)


class ReviewCountsSerializer(serializers.Serializer):
    records = serializers.IntegerField()
    excluded = serializers.IntegerField()
    redacted = serializers.IntegerField()


class CaseDetailSerializer(CaseSerializer):
    # Codes, or "" when none applies (the model's blank choice).
    restriction_ground = serializers.CharField(read_only=True)
    verification_method = serializers.CharField(read_only=True)
    awaiting_purpose = serializers.CharField(read_only=True)
    sources = serializers.SerializerMethodField()
    review = serializers.SerializerMethodField()

    class Meta(CaseSerializer.Meta):
        fields = [
            *CaseSerializer.Meta.fields,
            "postal_address",
            "phone",
            "customer_number",
            "details",
            "restriction_ground",
            "has_representative",
            "verified_at",
            "verification_method",
            "awaiting_purpose",
            "extension_reason",
            "rejection_reason",
            "review_completed_at",
            "response_sent_at",
            "sources",
            "review",
        ]
        read_only_fields = fields

    @extend_schema_field(SourceCountSerializer(many=True))
    def get_sources(self, case: Case):
        runs = selectors.current_runs(case).select_related("system").order_by("system__slug")
        return SourceCountSerializer(runs, many=True).data

    @extend_schema_field(ReviewCountsSerializer(allow_null=True))
    def get_review(self, case: Case):
        if not case.review_completed_at and case.state != "in_review":
            return None
        return ReviewCountsSerializer(selectors.review_summary(case)).data


class CaseCreateSerializer(serializers.Serializer):
    """A request to file: its type and one way to reach the subject at least (an e-mail or a
    postal address). The case starts unverified, as the web form's do."""

    request_type = serializers.ChoiceField(choices=RequestType.choices)
    email = serializers.CharField(required=False, allow_blank=True, max_length=254)
    postal_address = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    phone = serializers.CharField(required=False, allow_blank=True, max_length=40)
    customer_number = serializers.CharField(required=False, allow_blank=True, max_length=64)
    company = serializers.CharField(required=False, allow_blank=True, max_length=200)
    language = serializers.ChoiceField(choices=Language.choices, default=Language.EN)
    regime = serializers.ChoiceField(choices=REGIME_CHOICES, required=False, allow_null=True)
    channel = serializers.ChoiceField(choices=Channel.choices, default=Channel.API)
    received_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text=_("When the request was received; now if left out"),
    )
    details = serializers.DictField(required=False, default=dict)
    restriction_ground = serializers.ChoiceField(
        choices=RestrictionGround.choices, required=False, allow_blank=True
    )
    has_representative = serializers.BooleanField(default=False)
    representative_name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    representative_relationship = serializers.CharField(
        required=False, allow_blank=True, max_length=200
    )
    mailbox_lost = serializers.BooleanField(default=False)

    def validate_received_at(self, value):
        if value is not None and value > timezone.now():
            raise serializers.ValidationError(_("A request cannot be received in the future."))
        if value is not None and value.year < 2000:
            raise serializers.ValidationError(_("Give the date the request was received."))
        return value

    def intake(self) -> Intake:
        data = {k: v for k, v in self.validated_data.items() if v is not None}
        data.setdefault("regime", settings.DSAR_DEFAULT_REGIME)
        return Intake(**data)


class OperationFieldSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    kind = serializers.CharField(help_text="text, line, date, case, choice, flag, staff, hidden")
    required = serializers.BooleanField()
    help_text = serializers.CharField()
    choices = serializers.ListField(child=serializers.ListField(child=serializers.CharField()))
    initial = serializers.CharField(allow_null=True)


class ReleaseItemSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="email, phone, customer_number or postal_address")
    kind_label = serializers.CharField()
    value = serializers.CharField()
    places = serializers.ListField(
        child=serializers.CharField(), help_text="System: source · category, as first found"
    )
    records = serializers.IntegerField(help_text="In how many records")
    on_request = serializers.BooleanField(help_text="Given by the requester on the request")


class OperationSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    explanation = serializers.CharField()
    danger = serializers.BooleanField()
    fields = OperationFieldSerializer(many=True)
    release_check = ReleaseItemSerializer(
        many=True,
        help_text="For an approval that asks `acknowledge`: the contact details and "
        "identifiers other than the verified channel that the bundle carries, which the "
        "acknowledgement covers (`release_seen` is their fingerprint). Empty otherwise.",
    )


class OperationResultSerializer(serializers.Serializer):
    operation = serializers.CharField()
    message = serializers.CharField()
    case = CaseSerializer()


class RecordDecisionSerializer(serializers.ModelSerializer):
    system = serializers.CharField(source="run.system.slug")
    decided_by = username()

    class Meta:
        model = RecordDecision
        fields = [
            "id",
            "system",
            "category",
            "record_key",
            "action",
            "field",
            "reason",
            "note",
            "decided_by",
            "decided_at",
        ]
        read_only_fields = fields


class FulfilmentActionSerializer(serializers.ModelSerializer):
    """An action's structure and progress; not the values it writes."""

    system = serializers.CharField(source="system.slug")
    confirmed_by = username()

    class Meta:
        model = FulfilmentAction
        fields = [
            "position",
            "system",
            "state",
            "strategy",
            "manual",
            "records",
            "attempts",
            "error",
            "finished_at",
            "confirmed_by",
            "confirmed_at",
        ]
        read_only_fields = fields


class FulfilmentPlanSerializer(serializers.ModelSerializer):
    submitted_by = username()
    approved_by = username()
    actions = FulfilmentActionSerializer(many=True, read_only=True)

    class Meta:
        model = FulfilmentPlan
        fields = [
            "number",
            "intent",
            "state",
            "drafted_at",
            "submitted_by",
            "submitted_at",
            "approved_by",
            "approved_at",
            "executed_at",
            "verified_at",
            "verification_clean",
            "error",
            "actions",
        ]
        read_only_fields = fields


class AuditEventSerializer(serializers.ModelSerializer):
    case = serializers.SlugRelatedField(slug_field="reference", read_only=True, allow_null=True)

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "case",
            "seq",
            "created_at",
            "action",
            "actor_kind",
            "actor_label",
            "from_state",
            "to_state",
            "details",
            "hash",
        ]
        read_only_fields = fields


class SystemHealthSerializer(serializers.Serializer):
    runs = serializers.IntegerField()
    failed = serializers.IntegerField()
    active = serializers.IntegerField()
    mean_ms = serializers.IntegerField(allow_null=True)


class SourceSystemSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    connector = serializers.CharField()
    active = serializers.BooleanField()
    processor = serializers.CharField()
    health = serializers.SerializerMethodField()

    @extend_schema_field(SystemHealthSerializer)
    def get_health(self, system) -> dict:
        found = self.context.get("health", {}).get(system.pk)
        if found is None:
            return {"runs": 0, "failed": 0, "active": 0, "mean_ms": None}
        return SystemHealthSerializer(found).data


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=200, trim_whitespace=False)
    otp_token = serializers.CharField(
        required=False, allow_blank=True, max_length=16, help_text="The TOTP code, when required"
    )
    name = serializers.CharField(required=False, allow_blank=True, max_length=100)


class TokenSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="Shown once: keep it; only its hash is stored")
    prefix = serializers.CharField()
    name = serializers.CharField()
    expires_at = serializers.DateTimeField()


class FigureValueField(serializers.Field):
    """A count (an integer), a share or a duration (a number), or null where nothing was
    measured: kept as it is, not cast to a float."""

    def to_representation(self, value):
        return value


@extend_schema_field({"type": "number", "nullable": True})
class FigureValue(FigureValueField):
    pass


class DashboardFigureSerializer(serializers.Serializer):
    figure = serializers.CharField(help_text="e.g. open, overdue, sla_share_in_time, received")
    month = serializers.CharField(allow_blank=True, help_text="YYYY-MM, or empty")
    regime = serializers.CharField(allow_blank=True)
    request_type = serializers.CharField(allow_blank=True)
    state = serializers.CharField(allow_blank=True)
    channel = serializers.CharField(allow_blank=True)
    detail = serializers.CharField(allow_blank=True)
    value = FigureValue()


class DashboardFiguresSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    figures = DashboardFigureSerializer(many=True)
