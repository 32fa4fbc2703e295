"""EMAIL_URL, read by django-environ, with one rule of our own for `filemail://`.

django-environ reads `filemail:///srv/mail` as the relative path "srv/mail", so mail carrying
live tokens would land in an untracked folder of the checkout, wherever the process started.
Here a `filemail` URL means the absolute path it names, and anything else is refused. Its
messages go to the outbox backend (casework.outbox): one .eml file per message, which the
admin's Outbox shows.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

OUTBOX_BACKEND = "casework.outbox.OutboxBackend"


def email_config(url: str) -> dict:
    """The EMAIL_* settings for `url`; a `filemail` URL must name an absolute folder."""
    parts = urlsplit(url)
    if parts.scheme != "filemail":
        return environ.Env.email_url_config(url)
    path = unquote(parts.path)
    if parts.netloc or not path.startswith("/"):
        # "filemail://var/mail" parses as host "var" and path "/mail": say what to write.
        named = parts.netloc + path
        problem = f"names the relative folder {named!r}" if named else "names no folder"
        raise ImproperlyConfigured(
            f"EMAIL_URL={url!r} {problem}; a filemail URL needs an absolute one, e.g. "
            "filemail:///srv/mail (three slashes, then the path)"
        )
    return {
        "EMAIL_BACKEND": OUTBOX_BACKEND,
        # "filemail:////srv/mail" (four slashes) names the same folder.
        "EMAIL_FILE_PATH": str(PurePosixPath("/" + path.lstrip("/"))),
    }


def filemail_url(folder) -> str:
    """The filemail URL of an absolute folder (the development default, `var/mail/`)."""
    return "filemail://" + str(folder)
