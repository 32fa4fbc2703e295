"""HTTP/REST connector: a source system that answers JSON over HTTP.

Configuration (a mapping; JSON in the admin or YAML in version control)::

    base_url: https://desk.example.com        # http(s), no credentials, no query
    auth: {type: bearer, token_env: SUPPORTDESK_TOKEN}
      # or {type: basic, username_env: ..., password_env: ...}
      # or {type: api_key, header: X-API-Key, key_env: ...}
      # or {type: none}
    timeout: 10                               # seconds, optional (default 10)
    lookup:
      method: GET                             # optional; GET sends params in the query,
                                              # POST sends them as a JSON body
      path: /api/customers
      params: {"{kind}": "{value}"}           # placeholders: {kind} and {value} only
      identifiers: [phone, email]             # the kinds this system can be searched by
      results: items                          # dotted path to the list of matches ("" = the answer)
      subject_key: id                         # field of a match holding the system's subject key
      identifier_fields: {phone: phone, email: email}   # optional: identifiers learnt from a match
    export:                                   # one entry per endpoint holding the subject's records
      - path: /api/customers/{subject_key}/tickets   # placeholder: {subject_key} only
        params: {}                            # optional query parameters ({subject_key} allowed)
        category: customer_enquiries          # DataCategory slug of the register
        results: items
        key: id                               # field that identifies a record within the endpoint
        paging: {type: cursor, param: cursor, next: next_cursor}
          # or {type: page, param: page, size_param: per_page, size: 100, first: 1}
          # or {type: link}  (RFC 8288/5988 Link header, rel="next", same origin only)
          # or {type: none}  (the default)
        fields: [subject, body, status]       # optional: export only these fields, or name
                                              # their register fields and currencies:
        # fields: {subject: {}, body: {field: enquiry}, amount: {currency: EUR}}
        label: {sq: Kërkesat për ndihmë, en: Support tickets}   # optional: what the report
                                              # calls the endpoint in the subject's language
      - path: /api/customers/{subject_key}    # an endpoint answering one object, not a list:
        single: true                          # the object (at `results`, or the answer) is one
        category: online_account              # record (none for null); no paging; `key` is
        fields: [name, phone, company]        # optional (the subject key when absent)
    check: {path: /api/health}                # optional: asked first by check()
    suppression:                              # optional: the system's suppression list, for
      method: POST                            # stopping marketing (Art. 21): one request per
      path: /api/suppressions                 # identifier of the subject; no placeholders in
      body: {"{kind}": "{value}"}             # the path; {kind} and {value} in the body
      identifiers: [email, phone]             # optional: the kinds it takes (default: any)

Each `export` entry may say how its records are changed (fulfilment, changes.py)::

      - path: /api/customers/{subject_key}/tickets
        ...
        changes:                              # each optional; a method defaults as shown
          erase: {method: DELETE, path: "/api/customers/{subject_key}/tickets/{key}"}
          rectify: {method: PATCH, path: "/api/customers/{subject_key}", fields: [name, phone]}
          restrict: {method: POST, path: "/api/customers/{subject_key}/restriction"}
          lift_restriction: {method: DELETE, path: "/api/customers/{subject_key}/restriction"}

A change path may use {subject_key} (the subject's key, as in the export path) and {key} (the
record's own key), each quoted as one path segment; nothing else. A path with {key} is called
once per record; a path without it once per subject, and each of that subject's records takes
the call's outcome (a restriction is set once, however many tickets the subject has). Changes
are planned per change endpoint (method and path), calls per record before calls per subject,
so that a subject's records go before the subject. A rectification sends the corrected values
of its `fields` (each fills the register field its export `fields` options name) as a JSON
object; a corrected field the endpoint exports but does not list, and every intent an endpoint
declares no change for, is planned by hand.

The contract with the system, per call: 2xx is DONE, unless the answer is a JSON object with
`"changed": false` (nothing to change: ALREADY_DONE). A 404 (or 410) to a DELETE is
ALREADY_DONE: the thing is gone; a 404 to any other method is MISSING. Every call must be
idempotent on the system's side: a change that failed half-way is simply applied again.

Any of these settings may live in a YAML file named by `mapping_file` instead (merged in by
BaseConnector, inline settings winning), so a shared mapping needs only its base_url inline.

Secrets are read from the environment variables the config names, never stored in it. Values
are sent through httpx's query and JSON encoding; the only value put into a path is the
subject key, quoted as one path segment. The connector does not retry: timeouts, connection
failures, 429 and 5xx raise TransientConnectorError (with Retry-After) for the task to retry;
everything else is a permanent ConnectorError. Messages name the system, the endpoint (as
configured, without values) and the status; never a response body or an identifier.
"""

from __future__ import annotations

import email.utils
import functools
import logging
import os
import re
import ssl
import string
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar
from urllib.parse import quote, unquote, urlsplit

import httpx

from dsar.connectors.base import (
    AmbiguousIdentifier,
    BaseConnector,
    ConfigurationError,
    ConnectorError,
    ExportedColumn,
    Lookup,
    Record,
    SubjectMatch,
    TransientConnectorError,
    check_label,
    field_key,
    listed_columns,
    manual_changes,
)
from dsar.connectors.changes import (
    Change,
    ChangeRequest,
    ChangeResult,
    Intent,
    Outcome,
    RecordRef,
    Strategy,
)
from dsar.identifiers import IDENTIFIER_KINDS, Identifier

# auth type -> the settings it needs (all required)
AUTH_SETTINGS: dict[str, tuple[str, ...]] = {
    "none": (),
    "bearer": ("token_env",),
    "basic": ("username_env", "password_env"),
    "api_key": ("header", "key_env"),
}
# paging type -> (required settings, optional settings)
PAGING_SETTINGS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "none": ((), ()),
    "cursor": (("param", "next"), ()),
    "page": (("param",), ("size_param", "size", "first")),
    "link": ((), ()),
}
# mapping_file is merged in by BaseConnector: the connector never sees it.
TOP_SETTINGS = ("base_url", "auth", "timeout", "lookup", "export", "check", "suppression")
LOOKUP_SETTINGS = (
    "method",
    "path",
    "params",
    "identifiers",
    "results",
    "subject_key",
    "identifier_fields",
)
EXPORT_SETTINGS = (
    "path",
    "params",
    "category",
    "results",
    "key",
    "paging",
    "fields",
    "label",
    "single",
    "changes",
)
# intent -> (its strategy, the method it uses unless the mapping says otherwise)
CHANGE_SETTINGS: dict[str, tuple[Strategy, str]] = {
    Intent.ERASE: (Strategy.DELETE, "DELETE"),
    Intent.RECTIFY: (Strategy.RECTIFY, "PATCH"),
    Intent.RESTRICT: (Strategy.RESTRICT, "POST"),
    Intent.LIFT_RESTRICTION: (Strategy.LIFT_RESTRICTION, "DELETE"),
}
CHANGE_METHODS = ("DELETE", "POST", "PATCH", "PUT")
DEFAULT_TIMEOUT = 10.0
DEFAULT_PAGE_SIZE = 100

# check() looks these up to test credentials and the answer's shape; they match nobody.
CHECK_VALUES: dict[str, str] = {
    "email": "dsar-connection-check@example.invalid",
    "phone": "+0000000000",
    "name_company": "dsar connection check|dsar connection check",
}
CHECK_VALUE = "DSAR-CONNECTION-CHECK"

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_MISSING = object()


# --- configuration ------------------------------------------------------------------------------


def _placeholders(template: str) -> set[str] | None:
    """The {names} in a str.format template; None when the template is malformed or uses
    anything beyond a bare name (positional fields, conversions, format specs, attributes)."""
    names: set[str] = set()
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return None
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if not field.isidentifier() or spec or conversion:
            return None
        names.add(field)
    return names


def _check_template(where: str, template: str, allowed: set[str], problems: list[str]) -> set[str]:
    names = _placeholders(template)
    if names is None:
        problems.append(f"{where} is not a valid template (use {{name}} placeholders only)")
        return set()
    unknown = names - allowed
    if unknown:
        use = " and ".join("{" + name + "}" for name in sorted(allowed)) or "none"
        bad = ", ".join("{" + name + "}" for name in sorted(unknown))
        problems.append(f"{where} uses unknown placeholder {bad} (allowed: {use})")
    return names & allowed


def _check_path(where: str, path: Any, allowed: set[str], problems: list[str]) -> set[str]:
    if not isinstance(path, str) or not path.strip():
        problems.append(f"{where} is required (a path such as /api/customers)")
        return set()
    if not path.startswith("/") or "://" in path:
        problems.append(f"{where} must start with / (it is relative to base_url)")
    if "?" in path or "#" in path:
        problems.append(f"{where} must not contain ? or #: put query parameters in params")
    return _check_template(where, path, allowed, problems)


def _check_unknown(where: str, mapping: Mapping, known: Iterable[str], problems: list[str]) -> None:
    for key in mapping:
        if key not in known:
            problems.append(f"unknown setting {where}{key}")


def _check_name(where: str, value: Any, problems: list[str], *, required: bool = True) -> None:
    """A dotted field path such as `id` or `data.items`."""
    if value is None and not required:
        return
    if not isinstance(value, str) or (required and not value.strip()):
        problems.append(
            f"{where} is required (a field name)" if required else f"{where} must be text"
        )


def _check_params(where: str, params: Any, allowed: set[str], problems: list[str]) -> set[str]:
    used: set[str] = set()
    if params is None:
        return used
    if not isinstance(params, Mapping):
        problems.append(f"{where} must be a mapping of parameter names to values")
        return used
    for name, value in params.items():
        if not isinstance(name, str) or not isinstance(value, str):
            problems.append(f"{where} names and values must be text")
            continue
        used |= _check_template(f"{where} name {name!r}", name, allowed, problems)
        used |= _check_template(f"{where}[{name!r}]", value, allowed, problems)
    return used


def _check_auth(auth: Any, problems: list[str]) -> None:
    if not isinstance(auth, Mapping):
        problems.append(
            "auth is required: {type: bearer|basic|api_key|none} with the environment "
            "variables that hold the secrets"
        )
        return
    kind = auth.get("type")
    if kind not in AUTH_SETTINGS:
        problems.append(f"auth.type must be one of {', '.join(AUTH_SETTINGS)}")
        return
    needed = AUTH_SETTINGS[kind]
    _check_unknown("auth.", auth, ("type", *needed), problems)
    for setting in needed:
        value = auth.get(setting)
        if setting == "header":
            if not isinstance(value, str) or not _HEADER_NAME.match(value):
                problems.append("auth.header is required (a header name such as X-API-Key)")
        elif not isinstance(value, str) or not _ENV_NAME.match(value):
            problems.append(
                f"auth.{setting} is required: the name of the environment variable that holds "
                "the secret (secrets are never stored in the configuration)"
            )


def _check_lookup(lookup: Any, problems: list[str]) -> None:
    if not isinstance(lookup, Mapping):
        problems.append("lookup is required (how to find the subject)")
        return
    _check_unknown("lookup.", lookup, LOOKUP_SETTINGS, problems)
    if str(lookup.get("method", "GET")).upper() not in ("GET", "POST"):
        problems.append("lookup.method must be GET or POST")
    _check_path("lookup.path", lookup.get("path"), set(), problems)
    params = lookup.get("params")
    if not isinstance(params, Mapping) or not params:
        problems.append('lookup.params is required, e.g. {"{kind}": "{value}"}')
    elif "value" not in _check_params("lookup.params", params, {"kind", "value"}, problems):
        problems.append("lookup.params never uses {value}: the identifier would not be sent")
    kinds = lookup.get("identifiers")
    if not isinstance(kinds, list) or not kinds:
        problems.append("lookup.identifiers is required (the identifier kinds it can search by)")
    else:
        for kind in kinds:
            if kind not in IDENTIFIER_KINDS:
                problems.append(
                    f"lookup.identifiers: unknown identifier kind {kind!r} "
                    f"(known: {', '.join(IDENTIFIER_KINDS)})"
                )
        if len(set(map(str, kinds))) != len(kinds):
            problems.append("lookup.identifiers lists a kind twice")
    _check_name("lookup.results", lookup.get("results"), problems, required=False)
    _check_name("lookup.subject_key", lookup.get("subject_key"), problems)
    fields = lookup.get("identifier_fields")
    if fields is not None:
        if not isinstance(fields, Mapping):
            problems.append("lookup.identifier_fields must map identifier kinds to field names")
        else:
            for kind, field in fields.items():
                if kind not in IDENTIFIER_KINDS:
                    problems.append(f"lookup.identifier_fields: unknown identifier kind {kind!r}")
                _check_name(f"lookup.identifier_fields.{kind}", field, problems)


def _check_paging(where: str, paging: Any, problems: list[str]) -> None:
    if paging is None:
        return
    if not isinstance(paging, Mapping) or paging.get("type") not in PAGING_SETTINGS:
        problems.append(f"{where}.type must be one of {', '.join(PAGING_SETTINGS)}")
        return
    required, optional = PAGING_SETTINGS[paging["type"]]
    _check_unknown(f"{where}.", paging, ("type", *required, *optional), problems)
    for setting in required:
        value = paging.get(setting)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{where}.{setting} is required for {paging['type']} paging")
    if "size_param" in paging and (
        not isinstance(paging["size_param"], str) or not paging["size_param"].strip()
    ):
        problems.append(f"{where}.size_param must be a parameter name")
    size = paging.get("size", DEFAULT_PAGE_SIZE)
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 10_000:
        problems.append(f"{where}.size must be a whole number from 1 to 10000")
    first = paging.get("first", 1)
    if isinstance(first, bool) or not isinstance(first, int) or first < 0:
        problems.append(f"{where}.first must be a whole number, 0 or more")


def _check_export(export: Any, problems: list[str]) -> None:
    if not isinstance(export, list) or not export:
        problems.append("export is required: a list of endpoints holding the subject's records")
        return
    for index, entry in enumerate(export):
        where = f"export[{index}]"
        if not isinstance(entry, Mapping):
            problems.append(f"{where} must be a mapping")
            continue
        _check_unknown(f"{where}.", entry, EXPORT_SETTINGS, problems)
        used = _check_path(f"{where}.path", entry.get("path"), {"subject_key"}, problems)
        used |= _check_params(f"{where}.params", entry.get("params"), {"subject_key"}, problems)
        if entry.get("path") and "subject_key" not in used:
            problems.append(
                f"{where} never uses {{subject_key}}: it would export every subject's records"
            )
        category = entry.get("category")
        if not isinstance(category, str) or not category.strip():
            problems.append(f"{where}.category is required (a data category slug)")
        _check_name(f"{where}.results", entry.get("results"), problems, required=False)
        single = entry.get("single", False)
        if not isinstance(single, bool):
            problems.append(f"{where}.single must be true or false")
        elif single and (entry.get("paging") or {}).get("type", "none") != "none":
            problems.append(f"{where}: an endpoint answering a single object has no paging")
        _check_name(f"{where}.key", entry.get("key"), problems, required=not single)
        _check_paging(f"{where}.paging", entry.get("paging"), problems)
        check_label(entry.get("label"), f"{where}.label", problems)
        if entry.get("fields") is not None:
            listed_columns(entry["fields"], f"{where}.fields", problems)
        if entry.get("changes") is not None:
            _check_changes(f"{where}.changes", entry, problems)


def _check_changes(where: str, entry: Mapping[str, Any], problems: list[str]) -> None:
    changes = entry["changes"]
    if not isinstance(changes, Mapping) or not changes:
        problems.append(f"{where} must map intents ({', '.join(CHANGE_SETTINGS)}) to endpoints")
        return
    _check_unknown(f"{where}.", changes, CHANGE_SETTINGS, problems)
    export_path = entry.get("path")
    in_export_path = isinstance(export_path, str) and "{subject_key}" in export_path
    exported = None
    if entry.get("fields") is not None:
        exported = {name for name, _options in listed_columns(entry["fields"], "fields", [])}
    for intent, change in changes.items():
        if intent not in CHANGE_SETTINGS:
            continue
        here = f"{where}.{intent}"
        if not isinstance(change, Mapping):
            problems.append(f"{here} must be a mapping such as {{method: ..., path: ...}}")
            continue
        allowed = ("method", "path", "fields") if intent == Intent.RECTIFY else ("method", "path")
        _check_unknown(f"{here}.", change, allowed, problems)
        method = change.get("method", CHANGE_SETTINGS[intent][1])
        if not isinstance(method, str) or method.upper() not in CHANGE_METHODS:
            problems.append(f"{here}.method must be one of {', '.join(CHANGE_METHODS)}")
        elif intent == Intent.RECTIFY and method.upper() == "DELETE":
            problems.append(f"{here}.method cannot be DELETE: a correction sends the new values")
        used = _check_path(f"{here}.path", change.get("path"), {"subject_key", "key"}, problems)
        if change.get("path") and not used:
            problems.append(
                f"{here}.path uses neither {{subject_key}} nor {{key}}: it would change "
                "something other than the subject's records"
            )
        if "subject_key" in used and not in_export_path:
            problems.append(
                f"{here}.path uses {{subject_key}}, but the endpoint's own path does not "
                "carry it (its records' keys would not say whose they are)"
            )
        if intent == Intent.RECTIFY:
            fields = change.get("fields")
            if not (
                isinstance(fields, list) and fields and all(isinstance(f, str) for f in fields)
            ):
                problems.append(f"{here}.fields must list the fields a correction may set")
            elif exported is not None:
                for name in fields:
                    if name not in exported:
                        problems.append(f"{here}.fields: {name!r} is not among the exported fields")


def _check_suppression(suppression: Any, problems: list[str]) -> None:
    if not isinstance(suppression, Mapping):
        problems.append(
            "suppression must be a mapping such as {method: POST, path: ..., body: ...}"
        )
        return
    _check_unknown("suppression.", suppression, ("method", "path", "body", "identifiers"), problems)
    method = suppression.get("method", "POST")
    if not isinstance(method, str) or method.upper() not in ("POST", "PUT", "PATCH"):
        problems.append("suppression.method must be POST, PUT or PATCH")
    _check_path("suppression.path", suppression.get("path"), set(), problems)
    body = suppression.get("body")
    if not isinstance(body, Mapping) or not body:
        problems.append('suppression.body is required, e.g. {"{kind}": "{value}"}')
    elif "value" not in _check_params("suppression.body", body, {"kind", "value"}, problems):
        problems.append("suppression.body never uses {value}: the identifier would not be sent")
    kinds = suppression.get("identifiers")
    if kinds is not None and not (
        isinstance(kinds, list) and kinds and all(kind in IDENTIFIER_KINDS for kind in kinds)
    ):
        problems.append(
            f"suppression.identifiers must list identifier kinds ({', '.join(IDENTIFIER_KINDS)})"
        )


def _check_base_url(base_url: Any, problems: list[str]) -> None:
    if not isinstance(base_url, str) or not base_url.strip():
        problems.append("base_url is required (for example https://desk.example.com)")
        return
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append("base_url must be an http:// or https:// address")
    if parts.username or parts.password:
        problems.append("base_url must not contain credentials: name them in auth")
    if parts.query or parts.fragment:
        problems.append("base_url must not contain a query or fragment")


# --- answers ------------------------------------------------------------------------------------


def _dig(data: Any, path: str | None) -> Any:
    """The value at a dotted path (`data.items`), or _MISSING; an empty path is the data."""
    if not path:
        return data
    for part in path.split("."):
        if not isinstance(data, Mapping) or part not in data:
            return _MISSING
        data = data[part]
    return data


def _scalar(value: Any) -> str | None:
    """A key or identifier value as text; None when it is absent or not a scalar."""
    if isinstance(value, bool) or value is None or value is _MISSING:
        return None
    if isinstance(value, (str, int)):
        text = str(value).strip()
        return text or None
    return None


def _quote_segment(value: str) -> str:
    # One path segment: "/" and "?" are escaped, and "." / ".." cannot climb the path.
    quoted = quote(value, safe="")
    return quoted.replace(".", "%2E") if quoted in (".", "..") else quoted


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def _transport_problem(exc: httpx.TransportError, host: str) -> str:
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect to {host}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the connection broke off mid-answer"
    if isinstance(exc, (httpx.ReadError, httpx.WriteError)):
        return "the connection failed"
    return f"connection problem ({type(exc).__name__})"


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The TLS context every HTTP connector of this process verifies servers with: httpx's
    default (certifi's CAs, or SSL_CERT_FILE / SSL_CERT_DIR), made once. A context is safe to
    share between clients and threads once made, and a forked process has its own copy."""
    return httpx.create_ssl_context()


class RedactQueryStrings(logging.Filter):
    """httpx logs every request's full URL at INFO; a lookup's query string carries the
    subject's e-mail or phone. Keep the line, drop the query."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _without_query(arg) if isinstance(arg, httpx.URL) else arg for arg in record.args
            )
        return True


def _without_query(url: httpx.URL) -> str:
    return str(url.copy_with(query=None, fragment=None)) + ("?[redacted]" if url.query else "")


def _redact_httpx_log() -> None:
    log = logging.getLogger("httpx")
    if not any(isinstance(existing, RedactQueryStrings) for existing in log.filters):
        log.addFilter(RedactQueryStrings())


_redact_httpx_log()


# --- the connector ------------------------------------------------------------------------------


class HttpConnector(BaseConnector):
    kind: ClassVar[str] = "http"
    verbose_name: ClassVar[str] = "HTTP/REST API"

    def __init__(
        self,
        config: dict[str, Any],
        *,
        name: str = "",
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(config, name=name)
        self._transport = transport  # tests of header shapes only; None = the network
        self._client: httpx.Client | None = None
        self.timeout = float(self.config.get("timeout", DEFAULT_TIMEOUT))
        self.host = urlsplit(self.config["base_url"]).netloc

    def searchable_kinds(self) -> frozenset[str]:
        return frozenset(self.config["lookup"]["identifiers"])

    @classmethod
    def columns_of_merged_config(cls, config: dict[str, Any]) -> list[ExportedColumn]:
        exported = []
        for entry in config.get("export") or []:
            for name, options in listed_columns(entry.get("fields") or [], "fields", []):
                exported.append(
                    ExportedColumn(
                        entry["category"],
                        entry["path"],
                        name,
                        options.get("field") or field_key(name),
                        options.get("currency") or "",
                    )
                )
        return exported

    @classmethod
    def labels_of_merged_config(cls, config: dict[str, Any]) -> dict[str, dict[str, str]]:
        labels = {}
        for entry in config.get("export") or []:
            label = check_label(entry.get("label"), "label", [])
            if label:
                labels[entry["path"]] = label
        return labels

    @classmethod
    def validate_merged_config(cls, config: dict[str, Any]) -> list[str]:
        problems = super().validate_merged_config(config)
        _check_unknown("", config, TOP_SETTINGS, problems)
        _check_base_url(config.get("base_url"), problems)
        _check_auth(config.get("auth"), problems)
        timeout = config.get("timeout", DEFAULT_TIMEOUT)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            problems.append("timeout must be a number of seconds")
        elif not 0 < timeout <= 300:
            problems.append("timeout must be more than 0 and at most 300 seconds")
        _check_lookup(config.get("lookup"), problems)
        _check_export(config.get("export"), problems)
        check = config.get("check")
        if check is not None:
            if not isinstance(check, Mapping):
                problems.append("check must be a mapping such as {path: /api/health}")
            else:
                _check_unknown("check.", check, ("path",), problems)
                _check_path("check.path", check.get("path"), set(), problems)
        if config.get("suppression") is not None:
            _check_suppression(config["suppression"], problems)
        return problems

    # --- the client -----------------------------------------------------------------------------

    def _secret(self, setting: str) -> str:
        variable = self.config["auth"][setting]
        value = os.environ.get(variable)
        if value is None:
            raise ConfigurationError(
                f"{self.name}: environment variable {variable} is not set (auth.{setting})"
            )
        if not value.strip():
            raise ConfigurationError(
                f"{self.name}: environment variable {variable} is empty (auth.{setting})"
            )
        return value.strip()

    def _build_client(self) -> httpx.Client:
        # verify: the process's one TLS context (the same checks as httpx's default, which
        # would load the CA bundle again for every client: 35-50 ms of every run).
        auth_config = self.config["auth"]
        headers = {"Accept": "application/json", "User-Agent": "dsar-connector/1"}
        auth: httpx.Auth | None = None
        match auth_config["type"]:
            case "bearer":
                headers["Authorization"] = f"Bearer {self._secret('token_env')}"
            case "basic":
                auth = httpx.BasicAuth(self._secret("username_env"), self._secret("password_env"))
            case "api_key":
                headers[auth_config["header"]] = self._secret("key_env")
        return httpx.Client(
            base_url=self.config["base_url"],
            headers=headers,
            auth=auth,
            timeout=httpx.Timeout(self.timeout),
            follow_redirects=False,  # a redirect could carry credentials elsewhere
            transport=self._transport,
            verify=tls_context(),
        )

    @property
    def client(self) -> httpx.Client:
        """One client per connector, made on first use (so check() can report a missing
        secret as a problem), closed by close()."""
        if self._client is None:
            self._client = self._build_client()
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # --- one request ----------------------------------------------------------------------------

    def _send(
        self,
        what: str,
        url: str | httpx.URL,
        *,
        method: str = "GET",
        params: Mapping[str, Any] | None = None,
        json: Mapping[str, Any] | None = None,
        missing_ok: bool = False,
    ) -> httpx.Response | None:
        """One request; a 404 is None when `missing_ok`. Never quotes the URL (its query
        carries identifiers) nor the body."""
        client = self.client
        try:
            response = client.request(method, url, params=params, json=json)
        except httpx.TimeoutException:
            raise TransientConnectorError(f"{what}: no answer within {self.timeout:g} s") from None
        except httpx.UnsupportedProtocol:
            raise ConnectorError(f"{what}: unsupported address scheme") from None
        except httpx.TransportError as exc:
            raise TransientConnectorError(f"{what}: {_transport_problem(exc, self.host)}") from None
        except httpx.InvalidURL:
            raise ConnectorError(f"{what}: invalid address") from None
        status = response.status_code
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            later = f", retry after {retry_after:g} s" if retry_after is not None else ""
            raise TransientConnectorError(f"{what}: HTTP {status}{later}", retry_after=retry_after)
        if status in (401, 403):
            raise ConnectorError(f"{what}: credentials refused (HTTP {status})")
        if missing_ok and (status == 404 or (status == 410 and method == "DELETE")):
            return None
        if status == 404:
            raise ConnectorError(f"{what}: not found (HTTP 404)")
        if 300 <= status < 400:
            raise ConnectorError(f"{what}: redirected (HTTP {status}); redirects are not followed")
        if status >= 400 or status < 200:
            raise ConnectorError(f"{what}: refused (HTTP {status})")
        return response

    def _json(self, response: httpx.Response, what: str) -> Any:
        try:
            return response.json()
        except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
            raise ConnectorError(f"{what}: the answer is not JSON") from None

    def _items(self, data: Any, results: str | None, what: str) -> list[Mapping[str, Any]]:
        items = _dig(data, results)
        if not isinstance(items, list):
            where = f"at {results!r}" if results else "at the top"
            raise ConnectorError(f"{what}: the answer has no list {where}")
        if not all(isinstance(item, Mapping) for item in items):
            raise ConnectorError(f"{what}: the answer's list holds something other than objects")
        return items

    # --- finding the subject --------------------------------------------------------------------

    def _lookup(self, identifier: Identifier) -> list[Mapping[str, Any]]:
        lookup = self.config["lookup"]
        method = str(lookup.get("method", "GET")).upper()
        what = f"{self.name}: lookup by {identifier.kind} ({method} {lookup['path']})"
        values = {"kind": identifier.kind, "value": identifier.value}
        params = {
            name.format(**values): template.format(**values)
            for name, template in lookup["params"].items()
        }
        if method == "POST":
            response = self._send(what, lookup["path"], method="POST", json=params, missing_ok=True)
        else:
            response = self._send(what, lookup["path"], params=params, missing_ok=True)
        if response is None:  # 404: nobody by that identifier
            return []
        return self._items(self._json(response, what), lookup.get("results"), what)

    def _learnt(self, item: Mapping[str, Any]) -> set[Identifier]:
        learnt: set[Identifier] = set()
        for kind, field in (self.config["lookup"].get("identifier_fields") or {}).items():
            value = _dig(item, field)
            for one in value if isinstance(value, list) else [value]:
                text = _scalar(one)
                if text is None:
                    continue
                identifier = Identifier(kind, text)
                if identifier.usable:
                    learnt.add(identifier)
        return learnt

    def find_subject(self, identifiers: Iterable[Identifier]) -> Lookup:
        """One request per identifier this system can be searched by. A subject found by several
        identifiers is one match (found by the first), with everything learnt from each."""
        lookup = self.config["lookup"]
        supported = set(lookup["identifiers"])
        key_field = lookup["subject_key"]
        result = Lookup()
        asked: set[Identifier] = set()
        for identifier in identifiers:
            if identifier.kind not in supported or identifier in asked:
                continue
            asked.add(identifier)
            found: dict[str, Mapping[str, Any]] = {}
            checkable = identifier.kind in (lookup.get("identifier_fields") or {})
            for item in self._lookup(identifier):
                if checkable and identifier not in self._learnt(item):
                    # The system answered with someone whose own value is another under our
                    # rule (a look-alike address, a looser match): not the subject.
                    continue
                key = _scalar(_dig(item, key_field))
                if key is None:
                    raise ConnectorError(
                        f"{self.name}: lookup by {identifier.kind}: a match has no "
                        f"{key_field!r} field"
                    )
                found.setdefault(key, item)
            if len(found) > 1:
                result.ambiguous.append(AmbiguousIdentifier(identifier, matches=len(found)))
            elif found:
                ((key, item),) = found.items()
                learnt = frozenset(self._learnt(item) | {identifier})
                result.add(SubjectMatch(key, found_by=identifier, identifiers=learnt))
        return result

    # --- exporting ------------------------------------------------------------------------------

    def export(self, match: SubjectMatch) -> Iterator[Record]:
        """The subject's records, endpoint by endpoint and page by page: a page is fetched
        only when the one before has been consumed."""
        for entry in self.config["export"]:
            yield from self._export_entry(entry, match)

    def _export_entry(self, entry: Mapping[str, Any], match: SubjectMatch) -> Iterator[Record]:
        template = entry["path"]
        path = template.format(subject_key=_quote_segment(match.subject_key))
        params = {
            name.format(subject_key=match.subject_key): value.format(subject_key=match.subject_key)
            for name, value in (entry.get("params") or {}).items()
        }
        what = f"{self.name}: export {template}"
        fields = entry.get("fields")
        single = entry.get("single", False)
        items = self._single(entry, path, params, what) if single else None
        for item in items if single else self._pages(entry, path, params, what):
            if single and not entry.get("key"):
                key = match.subject_key  # the one record of its path
            else:
                key = _scalar(_dig(item, entry["key"]))
            if key is None:
                raise ConnectorError(f"{what}: a record has no {entry['key']!r} field")
            data = {field: item.get(field) for field in fields} if fields else dict(item)
            yield Record(
                category=entry["category"],
                source=template,
                key=f"{path}:{key}",
                data=data,
                subject_key=match.subject_key,
                found_by=match.found_by,
            )

    def _single(
        self, entry: Mapping[str, Any], path: str, params: dict[str, str], what: str
    ) -> list[Mapping[str, Any]]:
        """The one object an endpoint such as /api/customers/{id} answers (none for a null:
        the system holds no such record). A 404 is an error, as for every endpoint: the
        subject was just found, so a missing record means a wrong path, not an empty one."""
        response = self._send(what, path, params=params)
        item = _dig(self._json(response, what), entry.get("results"))
        if item is None:
            return []
        if not isinstance(item, Mapping):
            where = f"at {entry['results']!r}" if entry.get("results") else "at the top"
            raise ConnectorError(f"{what}: the answer has no object {where}")
        return [item]

    def _pages(
        self, entry: Mapping[str, Any], path: str, params: dict[str, str], what: str
    ) -> Iterator[Mapping[str, Any]]:
        paging = entry.get("paging") or {"type": "none"}
        results = entry.get("results")
        match paging["type"]:
            case "cursor":
                yield from self._cursor_pages(paging, path, params, results, what)
            case "page":
                yield from self._numbered_pages(paging, path, params, results, what)
            case "link":
                yield from self._linked_pages(path, params, results, what)
            case _:
                response = self._send(what, path, params=params)
                yield from self._items(self._json(response, what), results, what)

    def _cursor_pages(self, paging, path, params, results, what) -> Iterator[Mapping[str, Any]]:
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            query = dict(params) if cursor is None else {**params, paging["param"]: cursor}
            data = self._json(self._send(what, path, params=query), what)
            yield from self._items(data, results, what)
            following = _dig(data, paging["next"])
            if following is None or following is _MISSING or following == "":
                return
            cursor = _scalar(following)
            if cursor is None:
                raise ConnectorError(f"{what}: the next cursor is not text")
            if cursor in seen:
                raise ConnectorError(f"{what}: paging does not advance (a cursor came back)")
            seen.add(cursor)

    def _numbered_pages(self, paging, path, params, results, what) -> Iterator[Mapping[str, Any]]:
        # Reads until an empty page (or a 404 past the first page): a server that caps the page
        # size below what we asked for must not make us stop early and lose records.
        first = number = paging.get("first", 1)
        size_param = paging.get("size_param")
        previous: list[Mapping[str, Any]] | None = None
        while True:
            query = {**params, paging["param"]: str(number)}
            if size_param:
                query[size_param] = str(paging.get("size", DEFAULT_PAGE_SIZE))
            response = self._send(what, path, params=query, missing_ok=number != first)
            if response is None:
                return
            items = self._items(self._json(response, what), results, what)
            if not items:
                return
            if items == previous:  # a server that answers its last page for every later one
                raise ConnectorError(f"{what}: paging does not advance (a page came back)")
            yield from items
            previous = items
            number += 1

    def _linked_pages(self, path, params, results, what) -> Iterator[Mapping[str, Any]]:
        base = httpx.URL(self.config["base_url"])
        url: str | httpx.URL = path
        query: dict[str, str] | None = params
        seen: set[str] = set()
        while True:
            response = self._send(what, url, params=query)
            yield from self._items(self._json(response, what), results, what)
            following = response.links.get("next", {}).get("url")
            if not following:
                return
            url = response.url.join(following)
            if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
                raise ConnectorError(
                    f"{what}: the next-page link points away from {self.host}; not followed"
                )
            if str(url) in seen:
                raise ConnectorError(f"{what}: paging does not advance (a link came back)")
            seen.add(str(url))
            query = None  # the link carries its own query

    # --- health ---------------------------------------------------------------------------------

    def check(self) -> list[str]:
        """Reachable (the check path, when configured), credentials accepted and the lookup
        answer shaped as configured (a lookup by a value that matches nobody)."""
        try:
            self.client  # noqa: B018 - builds the client: a missing secret is a problem
        except ConfigurationError as exc:
            return [str(exc)]
        check_path = (self.config.get("check") or {}).get("path")
        if check_path:
            try:
                self._send(f"{self.name}: check (GET {check_path})", check_path)
            except ConnectorError as exc:
                return [str(exc)]  # nothing more to learn from an unreachable system
        kind = self.config["lookup"]["identifiers"][0]
        try:
            self._lookup(Identifier(kind, CHECK_VALUES.get(kind, CHECK_VALUE)))
        except ConnectorError as exc:
            return [str(exc)]
        return []

    # --- the change side (changes.py) -----------------------------------------------------------

    def plan_changes(self, request: ChangeRequest) -> list[Change]:
        """One change per change endpoint (its method and path), calls per record first; what
        no endpoint declares is planned by hand (see the module's docstring)."""
        if request.intent == Intent.STOP_MARKETING:
            return self._plan_suppression(request)
        if request.intent not in CHANGE_SETTINGS:
            return manual_changes(request)
        strategy = CHANGE_SETTINGS[request.intent][0]
        entries = {entry["path"]: entry for entry in self.config["export"]}
        keys_of: dict[str, list[str]] = {}  # target -> record keys
        values_of: dict[str, dict[str, Any]] = {}  # target -> the body of a correction
        by_hand: list[RecordRef] = []
        by_hand_corrections: dict[str, Any] = {}
        for record in request.records:
            entry = entries.get(record.source) or {}
            declared = (entry.get("changes") or {}).get(request.intent)
            if request.intent == Intent.RECTIFY:
                sent, left = _corrections(entry, declared, request.corrections)
                if left:
                    by_hand.append(record)
                    by_hand_corrections.update(left)
                if not sent:
                    continue
                declared_target = _target(request.intent, declared)
                values_of.setdefault(declared_target, {}).update(sent)
            elif declared is None:
                by_hand.append(record)
                continue
            keys_of.setdefault(_target(request.intent, declared), []).append(record.key)
        # Calls per record (a ticket) before calls per subject (the customer they belong to).
        targets = sorted(keys_of, key=lambda target: "{key}" not in target)
        planned = [
            Change(
                target=target,
                strategy=strategy,
                keys=tuple(keys_of[target]),
                columns=tuple(sorted(values_of.get(target, {}).items())),
            )
            for target in targets
        ]
        if by_hand:
            hand = ChangeRequest(request.intent, by_hand, corrections=by_hand_corrections)
            planned += manual_changes(hand)
        return planned

    def _plan_suppression(self, request: ChangeRequest) -> list[Change]:
        """The subject's identifiers on the suppression list: one change over all of the
        subject's records here, one call per identifier."""
        suppression = self.config.get("suppression")
        if not suppression or not request.records:
            return manual_changes(request)
        kinds = suppression.get("identifiers")
        listed = tuple(
            (kind, value)
            for kind, value in sorted(request.identifiers.items())
            if kinds is None or kind in kinds
        )
        if not listed:
            return manual_changes(request)
        method = str(suppression.get("method", "POST")).upper()
        return [
            Change(
                target=f"{method} {suppression['path']}",
                strategy=Strategy.SUPPRESS,
                keys=tuple(record.key for record in request.records),
                columns=listed,
            )
        ]

    def apply(self, change: Change) -> ChangeResult:
        """One request per record (a path with {key}) or per subject (a path without); a
        transient failure half-way is raised, and the change is applied again whole: every
        call is idempotent (the module's docstring has the contract)."""
        if change.manual:
            raise ConnectorError(f"{self.name}: a manual change is carried out by a person")
        if change.strategy == Strategy.SUPPRESS:
            return self._apply_suppression(change)
        method, path, templates = self._declared(change)
        what = f"{self.name}: {change.strategy} ({method} {path})"
        calls: dict[str, list[str]] = {}  # the path called -> the keys it serves
        for key in change.keys:
            subject_key, record_key = _split_key(key, templates, what)
            called = path.format(
                subject_key=_quote_segment(subject_key), key=_quote_segment(record_key)
            )
            calls.setdefault(called, []).append(key)
        body = dict(change.columns) if change.strategy == Strategy.RECTIFY else None
        result = ChangeResult()
        for called, keys in calls.items():
            response = self._send(what, called, method=method, json=body, missing_ok=True)
            if response is None:
                # Gone: what a DELETE wanted; anything else has nothing left to change.
                outcome = Outcome.ALREADY_DONE if method == "DELETE" else Outcome.MISSING
            else:
                outcome = Outcome.ALREADY_DONE if _unchanged(response) else Outcome.DONE
            for key in keys:
                result.outcomes[key] = outcome
        return result

    def _declared(self, change: Change) -> tuple[str, str, list[str]]:
        """The method and path of a planned change's endpoint, and the export paths whose
        records it changes, from the mapping as it is now."""
        intents = [
            i for i, (strategy, _m) in CHANGE_SETTINGS.items() if strategy == change.strategy
        ]
        if not intents:
            raise ConnectorError(f"{self.name}: cannot {change.strategy} records over HTTP")
        intent = intents[0]
        templates = []
        for entry in self.config["export"]:
            declared = (entry.get("changes") or {}).get(intent)
            if declared is not None and _target(intent, declared) == change.target:
                templates.append(entry["path"])
        if not templates:
            raise ConnectorError(
                f"{self.name}: {change.target} is no longer declared for {intent}; plan again"
            )
        method, _, path = change.target.partition(" ")
        return method, path, templates

    def _apply_suppression(self, change: Change) -> ChangeResult:
        suppression = self.config.get("suppression")
        method, _, path = change.target.partition(" ")
        if not suppression or path != suppression["path"]:
            raise ConnectorError(f"{self.name}: {change.target} is no longer the suppression list")
        what = f"{self.name}: suppress ({method} {path})"
        added = False
        for kind, value in change.columns:
            values = {"kind": kind, "value": value}
            body = {
                name.format(**values): template.format(**values)
                for name, template in suppression["body"].items()
            }
            response = self._send(what, path, method=method, json=body)
            added = added or not _unchanged(response)
        outcome = Outcome.DONE if added else Outcome.ALREADY_DONE
        return ChangeResult({key: outcome for key in change.keys})


def _target(intent: str, declared: Mapping[str, Any]) -> str:
    """What a change is planned against: its endpoint's method and path template."""
    method = str(declared.get("method", CHANGE_SETTINGS[intent][1])).upper()
    return f"{method} {declared['path']}"


def _corrections(
    entry: Mapping[str, Any], declared: Mapping[str, Any] | None, corrections: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The body a rectification sends to this endpoint ({its field: new value}), and the
    corrections (register field: value) of fields it exports but may not set: by hand. An
    endpoint that does not list its fields may hold any of them."""
    listed = entry.get("fields")
    exported = dict(listed_columns(listed, "fields", [])) if listed is not None else None
    settable = set(declared["fields"]) if declared else set()
    sent, left = {}, {}
    if exported is None:
        for name in settable:
            if field_key(name) in corrections:
                sent[name] = corrections[field_key(name)]
        return sent, ({} if declared else dict(corrections))
    for name, options in exported.items():
        register_field = options.get("field") or field_key(name)
        if register_field not in corrections:
            continue
        if name in settable:
            sent[name] = corrections[register_field]
        else:
            left[register_field] = corrections[register_field]
    return sent, left


def _split_key(key: str, templates: list[str], what: str) -> tuple[str, str]:
    """(subject key, record key) of a record key `{filled export path}:{record key}`."""
    for template in templates:
        literal = [re.escape(part) for part in template.split("{subject_key}")]
        # A quoted subject key holds neither "/" nor ":": the first ":" after it ends the path.
        pattern = "([^/:]+)".join(literal) if len(literal) > 1 else literal[0]
        found = re.match(f"^{pattern}:(.*)$", key, re.DOTALL)
        if found:
            subject_key = unquote(found.group(1)) if len(literal) > 1 else ""
            return subject_key, found.group(found.lastindex)
    raise ConnectorError(f"{what}: a record's key does not belong to the endpoint")


def _unchanged(response: httpx.Response) -> bool:
    """The system's word that there was nothing to change: `{"changed": false}`."""
    try:
        data = response.json()
    except ValueError:
        return False
    return isinstance(data, Mapping) and data.get("changed") is False
