"""Demo source systems: small but real services the connectors can be pointed at, for `make run`
and the tests (the HTTP support desk lives in `supportdesk`)."""
