"""The staff REST API (DRF) under /api/v1/: cases, their operations, review decisions, plans,
the audit trail and the source systems, for staff and intake clients, with bearer keys
(casework.services.api_tokens) or the admin's session. Views are thin: they call the same
services, selectors and operations as the admin and the `case` command."""
