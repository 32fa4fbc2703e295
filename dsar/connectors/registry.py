"""The registry of connector kinds, filled from dotted paths in settings.DSAR_CONNECTORS:
a new kind of system is one class and one line."""

from __future__ import annotations

from functools import cache
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from dsar.connectors.base import (
    BaseConnector,
    ConfigurationError,
    ConnectorError,
    ExportedColumn,
)


@cache
def _load(path: str) -> type[BaseConnector]:
    cls = import_string(path)
    if not (isinstance(cls, type) and issubclass(cls, BaseConnector)):
        raise ConfigurationError(f"{path} is not a connector class")
    return cls


def connector_class(kind: str) -> type[BaseConnector]:
    try:
        path = settings.DSAR_CONNECTORS[kind]
    except KeyError:
        known = ", ".join(sorted(settings.DSAR_CONNECTORS))
        raise ConfigurationError(f"unknown connector type {kind!r} (known: {known})") from None
    return _load(path)


def validate_system(kind: str, config: Any) -> list[str]:
    """Problems with a system's connector type and configuration, without contacting it."""
    try:
        cls = connector_class(kind)
    except ConfigurationError as exc:
        return [str(exc)]
    return cls.validate_config(config)  # merges the mapping file, as building a connector does


def connector_for(system) -> BaseConnector:
    """A connector for a SourceSystem row (or anything with .connector, .config, .slug); its
    mapping file, if it names one, merged in by BaseConnector."""
    return connector_class(system.connector)(system.config, name=system.slug)


def check_system(system) -> list[str]:
    """Every problem with a system: its configuration, then contacting it (reachable,
    credentials, mapping matches the schema). Never raises for a fault of the system."""
    problems = validate_system(system.connector, system.config)
    if problems:
        return problems
    try:
        with connector_for(system) as connector:
            return connector.check()
    except ConnectorError as exc:
        return [str(exc)]
    except Exception as exc:  # a check must report, never crash
        return [f"the check failed unexpectedly ({type(exc).__name__})"]


def exported_columns(system) -> list[ExportedColumn]:
    """The columns a system's mapping exports, each with the register field it fills (empty
    for an unknown kind or a configuration that is not valid: `check_system` reports those)."""
    try:
        cls = connector_class(system.connector)
    except ConfigurationError:
        return []
    return cls.exported_columns(system.config)


def source_labels(system) -> dict[str, dict[str, str]]:
    """The readable names a system's mapping gives its tables, endpoints or folder:
    {source: {language: text}} (empty for an unknown kind or a configuration not valid)."""
    try:
        cls = connector_class(system.connector)
    except ConfigurationError:
        return {}
    return cls.source_labels(system.config)


def unlabelled_columns(system, labelled: set[tuple[str, str]]) -> list[str]:
    """Warnings for the exported columns whose field the register does not name (no DataField
    (category, key) in `labelled`): the report would show them under the source's own
    column name. A mapping that lists no columns exports whatever the source has, unlabelled."""
    columns = exported_columns(system)
    if not columns and not validate_system(system.connector, system.config):
        if system.connector in ("files", "http"):
            return ["the mapping lists no columns: the report cannot name what it exports"]
        return []
    return [
        f"{c.source}: column {c.column!r} fills no field of the register "
        f"({c.category}/{c.field}): the report would show the column's own name"
        for c in columns
        if (c.category, c.field) not in labelled
    ]
