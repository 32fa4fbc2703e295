"""Development keys: generated once, kept under var/keys/, shared by every process.

In production (DSAR_SECURE=1) keys come from the environment and nothing is generated.
"""

import base64
import os
import secrets
import time
from pathlib import Path


def dev_key(folder: Path, name: str, nbytes: int = 32) -> str:
    """Return the key stored in folder/name, creating it on first use.

    Two processes starting at once (web, worker, beat) must agree on one key, so the file is
    created with O_EXCL and the loser of the race reads the winner's key.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if not path.exists():
        value = base64.urlsafe_b64encode(secrets.token_bytes(nbytes)).decode()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(value)
            return value
    for _ in range(50):  # the winner may not have written yet
        value = path.read_text().strip()
        if value:
            return value
        time.sleep(0.02)
    raise RuntimeError(f"key file {path} is empty")


def decode_key(value: str, *, name: str, nbytes: int = 32) -> bytes:
    """Decode a urlsafe-base64 key and check its length: a bad key fails at start, loudly."""
    try:
        raw = base64.urlsafe_b64decode(value.encode() + b"=" * (-len(value) % 4))
    except ValueError as exc:
        raise ValueError(f"{name} is not valid urlsafe base64") from exc
    if len(raw) != nbytes:
        raise ValueError(f"{name} must decode to {nbytes} bytes, got {len(raw)}")
    return raw


# The demo systems' secrets: environment variable -> key file under var/keys/.
DEMO_SECRETS = {"SUPPORTDESK_TOKEN": "supportdesk_token"}


def export_demo_secrets(folder: Path) -> None:
    """Put the demo systems' secrets into the environment, unless already set.

    The connectors read secrets from the environment by name (dsar/connectors/http.py); every
    process that loads the settings calls this, so the support desk and whoever searches it
    (the worker, `manage.py check_connectors` in a second shell) share one token.
    """
    for variable, name in DEMO_SECRETS.items():
        os.environ.setdefault(variable, dev_key(folder, name))
