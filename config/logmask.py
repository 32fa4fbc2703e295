"""Mask tokens in request paths and query strings before they reach a log.

Verification, status and download links carry their token in the URL (DESIGN.md, "Security").
Access logs must not keep them, so the gunicorn access logger (config/gunicorn.conf.py) and the
development server pass every path through `mask_path` first.

- a run of 20 or more URL-safe characters (letters, digits, "-", "_") in the path, such as a
  whole segment made of a `secrets.token_urlsafe()` value, becomes "[token]";
- the value of a `token`, `code` or `t` query parameter becomes "[redacted]", and long runs in
  other values are masked as in the path.

Ordinary paths (/en/request/, /admin/casework/case/12/change/) come out unchanged.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

PATH_MASK = "[token]"
QUERY_MASK = "[redacted]"
SECRET_QUERY_KEYS = frozenset({"token", "code", "t"})

# 20+ URL-safe characters, not part of a longer run: a whole segment, or a token inside one
# ("/download/<token>.zip").
_TOKEN_RUN = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{20,}(?![A-Za-z0-9_-])")
# "scheme://authority" at the start of an absolute URL (a Referer, an absolute-form request).
_ORIGIN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")


def _mask_runs(text: str) -> str:
    return _TOKEN_RUN.sub(PATH_MASK, text)


def mask_query(query: str) -> str:
    """Mask a query string (without the leading "?"), keeping its shape and encoding."""
    if not query:
        return query
    parts = []
    for pair in query.split("&"):
        key, sep, value = pair.partition("=")
        if sep and unquote_plus(key).strip().lower() in SECRET_QUERY_KEYS:
            parts.append(f"{key}={QUERY_MASK}")
        else:
            parts.append(f"{_mask_runs(key)}{sep}{_mask_runs(value)}")
    return "&".join(parts)


def mask_path(path: str) -> str:
    """Mask tokens in a request path, with or without a query string and fragment.

    Also takes an absolute URL (a Referer header): its scheme and host are kept as they are.
    """
    if not path:
        return path
    origin = ""
    match = _ORIGIN.match(path)
    if match:
        origin, path = match.group(0), path[match.end() :]
    path, hash_sep, fragment = path.partition("#")
    path, query_sep, query = path.partition("?")
    masked = origin + _mask_runs(path)
    if query_sep:
        masked += "?" + mask_query(query)
    if hash_sep:
        masked += "#" + _mask_runs(fragment)
    return masked


def _mask_arg(value):
    # Only a path or URL can carry a link's token: other text (a Celery task's dotted name,
    # its id) keeps its long words.
    return mask_path(value) if isinstance(value, str) and "/" in value else value


class MaskTokensFilter:
    """A logging filter: masks tokens in the arguments of every record that are paths or URLs
    (django.request logs "Not Found: <path>", and a path may carry a verification or download
    token)."""

    def filter(self, record) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_mask_arg(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _mask_arg(v) for k, v in record.args.items()}
        if isinstance(record.msg, str) and not record.args:
            record.msg = mask_path(record.msg) if "/" in record.msg else record.msg
        return True
