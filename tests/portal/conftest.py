"""Fixtures for the portal: a valid form, submitting it the way a browser does (tasks run
after commit, eagerly), and the links and codes the e-mails carry."""

from __future__ import annotations

import io
import re
import uuid
import zipfile

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from casework.models import Bundle, Case
from casework.selectors import associated_id
from dsar.crypto import EncryptingWriter

ARTA = "arta.krasniqi@demo.example"
LINK = re.compile(r"https?://[^\s\"<>]+/(en|sq)/(verify|status)/([A-Za-z0-9_-]+)/")
CODE = re.compile(r"^\s*(\d{6})\s*$", re.M)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    # Uploaded authorities and bundles go to a folder of the test's own.
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _own_rate_counters(settings):
    # Rate counters live in the cache: the database cache rolls back with each test, but Redis
    # (CI) does not, so every test counts under a key prefix of its own.
    default = dict(settings.CACHES["default"])
    default["KEY_PREFIX"] = f"test-{uuid.uuid4().hex}"
    settings.CACHES = {**settings.CACHES, "default": default}


def form_data(**overrides) -> dict:
    data = {
        "request_type": "access",
        "name": "Arta Krasniqi",
        "email": ARTA,
        "company": "Drini Sh.p.k.",
        "phone": "+355 69 123 4567",
        "customer_number": "C-1001",
        "country": "AL",
        "acknowledge": "on",
        "website": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def submit(client, django_capture_on_commit_callbacks):
    """POST the request form (tasks run on commit, as in production) and return the response:
    the page the browser ends on (following the redirect to the thank-you page), or with
    `follow=False` the answer to the POST itself."""

    def _submit(
        language: str = "en", execute: bool = True, client=client, follow=True, **overrides
    ):
        with django_capture_on_commit_callbacks(execute=execute):
            return client.post(f"/{language}/request/", form_data(**overrides), follow=follow)

    return _submit


def links(message, kind: str = "verify") -> list[str]:
    """The token paths of `kind` in an e-mail (text and HTML parts)."""
    bodies = [message.body] + [content for content, _type in message.alternatives]
    found = []
    for body in bodies:
        for match in LINK.finditer(body):
            if match.group(2) == kind:
                path = f"/{match.group(1)}/{kind}/{match.group(3)}/"
                if path not in found:
                    found.append(path)
    return found


def token_of(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[1]


def code_of(message) -> str:
    return CODE.search(message.body).group(1)


@pytest.fixture
def post(client, django_capture_on_commit_callbacks):
    def _post(path: str, data: dict | None = None):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(path, data or {})

    return _post


def ready_bundle(case: Case, *, payload: bytes | None = None, built_days_ago: int = 0) -> Bundle:
    """A READY bundle holding a small real ZIP, encrypted like the builder stores it."""
    now = timezone.now() - timezone.timedelta(days=built_days_ago)
    bundle = Bundle.objects.create(case=case, kind=Bundle.Kind.ACCESS)
    if payload is None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("manifest.json", '{"files": []}')
            archive.writestr("data/online_account.json", '[{"name": "Arta Krasniqi"}]')
        payload = buffer.getvalue()
    sealed = io.BytesIO()
    with EncryptingWriter(sealed, associated_id=associated_id(bundle.pk)) as writer:
        writer.write(payload)
    name = default_storage.save(
        f"bundles/{case.pk}/bundle-{bundle.pk}-test.zip.enc", ContentFile(sealed.getvalue())
    )
    Bundle.objects.filter(pk=bundle.pk).update(
        state=Bundle.State.READY,
        file=name,
        size=len(payload),
        finished_at=now,
        expires_at=now + timezone.timedelta(days=30),
    )
    Case.objects.filter(pk=case.pk).update(bundle_ready_at=now)
    bundle.refresh_from_db()
    return bundle
