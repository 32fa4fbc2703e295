"""System checks of the settings casework relies on (`manage.py check`, and every start)."""

from __future__ import annotations

from django.conf import settings
from django.core import checks

# Caches that live in one process: web and worker processes would each see their own.
PER_PROCESS_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


@checks.register(checks.Tags.caches)
def check_shared_cache(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """The portal's rate limits and the opener's bell (casework.services.submissions.wake_opener)
    must be seen alike by every web and worker process."""
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if backend in PER_PROCESS_CACHES:
        return [
            checks.Warning(
                f"The default cache ({backend.rsplit('.', 1)[-1]}) is not shared between "
                "processes: rate limits count per process, and a form request may wait for "
                "the sweeper to be opened.",
                hint="Set REDIS_URL, or a CACHE_URL of Redis or the database cache.",
                id="casework.W001",
            )
        ]
    return []
