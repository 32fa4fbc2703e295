"""Connectors to source systems: identifiers in, records and learnt identifiers out.

They know nothing of cases (DESIGN.md, "Layout"): the case side lives in casework.
"""

from dsar.connectors.base import (
    AmbiguousIdentifier,
    BaseConnector,
    ConfigurationError,
    ConnectorError,
    Lookup,
    Record,
    SubjectMatch,
    TransientConnectorError,
)
from dsar.connectors.changes import (
    Change,
    ChangeRequest,
    ChangeResult,
    Intent,
    Mask,
    Outcome,
    RecordFacts,
    RecordRef,
    Strategy,
)
from dsar.connectors.registry import connector_class, connector_for, validate_system

__all__ = [
    "AmbiguousIdentifier",
    "BaseConnector",
    "Change",
    "ChangeRequest",
    "ChangeResult",
    "ConfigurationError",
    "ConnectorError",
    "Intent",
    "Lookup",
    "Mask",
    "Outcome",
    "Record",
    "RecordFacts",
    "RecordRef",
    "Strategy",
    "SubjectMatch",
    "TransientConnectorError",
    "connector_class",
    "connector_for",
    "validate_system",
]
