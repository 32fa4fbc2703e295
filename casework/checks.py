"""System checks of the settings casework relies on (`manage.py check`, and every start)."""

from __future__ import annotations

from django.conf import settings
from django.core import checks
from django.db import connections

from casework.dbroles import connected_role

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


@checks.register(checks.Tags.database)
def check_database_role(app_configs=None, databases=None, **kwargs) -> list[checks.CheckMessage]:
    """The role the application connects as must not be able to change the audit trail: a
    superuser or the tables' owner can disable the append-only trigger or TRUNCATE (see
    casework.dbroles). Asked only when a command names the databases (`check --database
    default`, `migrate`); `migrate` itself runs as the owner, with --skip-checks."""
    messages = []
    for alias in databases or ():
        if connections[alias].vendor != "postgresql":
            continue
        role, superuser, owned = connected_role(using=alias)
        if superuser:
            problem = "is a superuser"
        elif owned:
            problem = f"owns {', '.join(owned)}"  # or is a member of the role that does
        else:
            continue
        level, code = (checks.Error, "E002") if settings.DSAR_SECURE else (checks.Warning, "W002")
        messages.append(
            level(
                f"The application's database role {role!r} {problem}: it could "
                "disable the audit trail's append-only trigger, or truncate the audit tables.",
                hint="Connect as a role that owns no table, given its rights by `manage.py "
                "grant_app_role ROLE` run as the owner after migrate (README, the two "
                "database roles).",
                obj=alias,
                id=f"casework.{code}",
            )
        )
    return messages


@checks.register(checks.Tags.security)
def check_outbox_not_in_production(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """The development outbox (casework.outbox) keeps every e-mail, live links and codes
    included, in files, and sends nothing: never with DSAR_SECURE=1."""
    from casework.outbox import outbox_enabled  # it reads the models, loaded by now

    if settings.DSAR_SECURE and outbox_enabled():
        return [
            checks.Error(
                "E-mail goes to the development outbox (files under "
                f"{settings.EMAIL_FILE_PATH}), with DSAR_SECURE=1: nothing is sent, and the "
                "files keep live links and codes.",
                hint="Set EMAIL_URL to your mail server, e.g. smtp+tls://user:password@host:587.",
                id="casework.E003",
            )
        ]
    return []


@checks.register(checks.Tags.database)
def check_database_vendor(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """The dashboard's rollups are kept by triggers written for PostgreSQL and SQLite only
    (casework.rollups): on another database the migration that installs them would fail."""
    from casework.rollups import SUPPORTED_VENDORS

    vendor = connections["default"].vendor
    if vendor in SUPPORTED_VENDORS:
        return []
    return [
        checks.Error(
            f"The database is {vendor}; DSAR casework runs on PostgreSQL (or SQLite for "
            "development and tests): the dashboard's rollups are kept by triggers written "
            "for those two.",
            hint="Set DATABASE_URL to a PostgreSQL database.",
            id="casework.E004",
        )
    ]
