"""The models of casework, by topic: the case, its audit trail, gathering, review, bundles, the
public portal and the workers' health. Import them from here (`from casework.models import
Case`); each module holds one topic."""

from casework.models.api import ApiToken
from casework.models.audit import (
    AppendOnlyModel,
    AppendOnlyQuerySet,
    AuditAnchor,
    AuditChain,
    AuditCheckpoint,
    AuditEvent,
)
from casework.models.breach import AUTHORITY_NOTICE_HOURS, BreachRecord
from casework.models.bundles import Bundle
from casework.models.case import (
    ASKABLE_STATES,
    BUNDLE_TYPES,
    CHANGING_TYPES,
    OPEN_STATES,
    RESPONSE_STATES,
    AskPurpose,
    Case,
    CaseNote,
    Channel,
    Language,
    Notice,
    PostalLetter,
    PublicHoliday,
    ReferenceCounter,
    RequestType,
    RestrictionGround,
    State,
    VerificationMethod,
    four_eyes_types,
    is_categories_only,
    is_marketing_objection,
    is_objection_lifting,
    is_opt_out,
    latest_request_plan,
    needs_four_eyes,
    needs_no_search,
    stops_disclosure,
)
from casework.models.drp import (
    DrpAgent,
    DrpCallback,
    DrpDenialReason,
    DrpRequest,
    DrpSeenMessage,
)
from casework.models.figures import CaseCloseDays, CaseGrounds, CaseMonthFigures
from casework.models.fulfilment import (
    FulfilmentAction,
    FulfilmentPlan,
    ObjectionDecision,
    PlanKeep,
)
from casework.models.gathering import CaseIdentifier, ConnectorRun, LinkCode, RecordLink
from casework.models.health import BeatHeartbeat, WorkerHeartbeat
from casework.models.optouts import OptOut
from casework.models.portal import CountryRegime, DownloadCode, PortalSubmission, PortalToken
from casework.models.processors import ProcessorInstruction, RecipientNotice
from casework.models.reminders import DigestSent, Reminder
from casework.models.review import RecordDecision
from casework.models.staff import RoleGrant
from casework.models.work import WorkItem

__all__ = [
    "ASKABLE_STATES",
    "AUTHORITY_NOTICE_HOURS",
    "BUNDLE_TYPES",
    "CHANGING_TYPES",
    "OPEN_STATES",
    "RESPONSE_STATES",
    "ApiToken",
    "AppendOnlyModel",
    "AppendOnlyQuerySet",
    "AskPurpose",
    "AuditAnchor",
    "AuditChain",
    "AuditCheckpoint",
    "AuditEvent",
    "BeatHeartbeat",
    "BreachRecord",
    "Bundle",
    "Case",
    "CaseCloseDays",
    "CaseGrounds",
    "CaseIdentifier",
    "CaseMonthFigures",
    "CaseNote",
    "Channel",
    "ConnectorRun",
    "CountryRegime",
    "DigestSent",
    "DownloadCode",
    "DrpAgent",
    "DrpCallback",
    "DrpDenialReason",
    "DrpRequest",
    "DrpSeenMessage",
    "FulfilmentAction",
    "FulfilmentPlan",
    "Language",
    "LinkCode",
    "Notice",
    "ObjectionDecision",
    "OptOut",
    "PlanKeep",
    "PortalSubmission",
    "PortalToken",
    "PostalLetter",
    "ProcessorInstruction",
    "PublicHoliday",
    "RecipientNotice",
    "RecordDecision",
    "RecordLink",
    "ReferenceCounter",
    "Reminder",
    "RequestType",
    "RestrictionGround",
    "RoleGrant",
    "State",
    "VerificationMethod",
    "WorkItem",
    "WorkerHeartbeat",
    "four_eyes_types",
    "is_categories_only",
    "is_marketing_objection",
    "is_objection_lifting",
    "is_opt_out",
    "latest_request_plan",
    "needs_four_eyes",
    "needs_no_search",
    "stops_disclosure",
]
