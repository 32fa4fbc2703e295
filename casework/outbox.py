"""The development outbox: e-mails written to files, read back in the admin.

With `EMAIL_URL=filemail:///abs/folder` (the default of `make run`: `var/mail/`) every message
is one `.eml` file in that folder, and the admin's Outbox (casework/admin/outbox.py) lists and
shows them with their links intact. The console is no place for them: logs go through the log
masker (config/logmask.py), which hides the tokens a confirmation link needs, and must.

Who sees a message (least privilege, as if the mail had gone out):
- a message about cases (the X-DSAR-Case header that casework.mail sets) only to staff who may
  view every one of those cases, by the case admin's own view permission;
- any other message (a staff notice, a deadline digest) only to its recipients and superusers.

A system check (casework.E003) refuses this backend with DSAR_SECURE=1: files of live tokens
are not how a production installation sends mail.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import logging
import os
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail.backends.base import BaseEmailBackend

from casework.mail import CASE_HEADER
from casework.models import Case

logger = logging.getLogger(__name__)

BACKEND = "casework.outbox.OutboxBackend"
# A message's name: when it was written (UTC, to the microsecond, so names sort by time) and a
# random suffix. Short runs between the dots: the log masker leaves the name readable.
_STAMP = "%Y%m%d.%H%M%S.%f"
MESSAGE_ID = re.compile(r"^\d{8}\.\d{6}\.\d{6}\.[0-9a-f]{8}$")
LISTED = 200  # the newest messages the list shows


def outbox_enabled() -> bool:
    return settings.EMAIL_BACKEND == BACKEND


def outbox_folder() -> Path:
    return Path(settings.EMAIL_FILE_PATH)


class OutboxBackend(BaseEmailBackend):
    """Writes each message to <EMAIL_FILE_PATH>/<name>.eml (mode 0600: the links in it are
    live) and logs one line saying where to read it, with no address and no link."""

    def __init__(self, *, file_path: str | None = None, fail_silently: bool = False, **kwargs):
        super().__init__(fail_silently=fail_silently, **kwargs)
        self.folder = Path(file_path or settings.EMAIL_FILE_PATH)
        if not self.folder.is_absolute():
            raise ImproperlyConfigured(f"the outbox folder {str(self.folder)!r} is not absolute")

    def send_messages(self, email_messages) -> int:
        sent = 0
        for message in email_messages:
            if not message.recipients():
                continue
            try:
                name = self._write(message.message().as_bytes(linesep="\n"))
            except OSError:
                if not self.fail_silently:
                    raise
                continue
            sent += 1
            cases = message.extra_headers.get(CASE_HEADER, "")
            logger.info(
                "mail%s saved to the outbox: %s/admin/outbox/%s/",
                f" for {cases}" if cases else "",
                settings.SITE_URL.rstrip("/"),
                name,
            )
        return sent

    def _write(self, data: bytes) -> str:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        name = f"{datetime.now(UTC).strftime(_STAMP)}.{secrets.token_hex(4)}"
        partial = self.folder / f".{name}.partial"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        # Whole or not at all: the list never shows half a message.
        os.replace(partial, self.folder / f"{name}.eml")
        return name


@dataclass(frozen=True)
class OutboxMessage:
    id: str
    written_at: datetime
    sender: str
    to: tuple[str, ...]
    subject: str
    case_references: tuple[str, ...]
    text: str
    attachments: tuple[str, ...]


def _read(path: Path) -> OutboxMessage:
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    body = parsed.get_body(preferencelist=("plain",))
    references = str(parsed.get(CASE_HEADER, "") or "")
    return OutboxMessage(
        id=path.stem,
        written_at=datetime.strptime(path.stem[:22], _STAMP).replace(tzinfo=UTC),
        sender=str(parsed.get("From", "")),
        to=tuple(a.strip() for a in str(parsed.get("To", "")).split(",") if a.strip()),
        subject=str(parsed.get("Subject", "")),
        case_references=tuple(r.strip() for r in references.split(",") if r.strip()),
        text=body.get_content() if body is not None else "",
        attachments=tuple(p.get_filename() or "" for p in parsed.iter_attachments()),
    )


def outbox_messages(*, folder: Path | None = None, limit: int = LISTED) -> list[OutboxMessage]:
    """The newest messages first."""
    folder = folder or outbox_folder()
    if not folder.is_dir():
        return []
    paths = sorted(
        (p for p in folder.glob("*.eml") if MESSAGE_ID.match(p.stem)),
        key=lambda p: p.name,
        reverse=True,
    )
    return [_read(p) for p in paths[:limit]]


def outbox_message(message_id: str, *, folder: Path | None = None) -> OutboxMessage | None:
    """One message by its name; None for a name that is not one (nothing outside the folder
    can be named)."""
    if not MESSAGE_ID.match(message_id):
        return None
    path = (folder or outbox_folder()) / f"{message_id}.eml"
    return _read(path) if path.is_file() else None


def visible_messages(
    messages: Iterable[OutboxMessage], *, user, may_view_case: Callable[[Case], bool]
) -> list[OutboxMessage]:
    """The messages `user` may read (see the module's docstring); `may_view_case` is the case
    admin's view permission for this request."""
    messages = list(messages)
    references = {r for m in messages for r in m.case_references}
    cases = {c.reference: c for c in Case.objects.filter(reference__in=references)}
    viewable = {ref for ref, case in cases.items() if may_view_case(case)}
    own = (user.email or "").strip().lower()

    def visible(message: OutboxMessage) -> bool:
        if message.case_references:
            return all(ref in viewable for ref in message.case_references)
        if user.is_superuser:
            return True
        return bool(own) and any(_address(a) == own for a in message.to)

    return [m for m in messages if visible(m)]


def _address(header_value: str) -> str:
    return email.utils.parseaddr(header_value)[1].strip().lower()
