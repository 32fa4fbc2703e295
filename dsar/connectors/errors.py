"""The failures a connector reports: permanent, a configuration fault, or transient (worth
retrying). Their own module, so that the base class and the mapping files both build on them."""

from __future__ import annotations


class ConnectorError(Exception):
    """A permanent failure: retrying will not help (bad config, 4xx, missing table)."""


class ConfigurationError(ConnectorError):
    """The system's configuration is malformed or does not match the system."""


class TransientConnectorError(ConnectorError):
    """A failure that may pass: timeouts, 429, 5xx, connection resets."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
