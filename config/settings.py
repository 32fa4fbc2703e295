"""Settings, read from the environment (12-factor) through django-environ.

Every value has a development default so that `make run` needs no servers; DSAR_SECURE=1
(set by docker-compose) demands real keys from the environment and turns on hardening.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from config.keys import decode_key, dev_key, export_demo_secrets
from config.mailurl import email_config, filemail_url

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

VAR_DIR = Path(env.str("DSAR_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DSAR_SECURE = env.bool("DSAR_SECURE", default=False)
DEBUG = env.bool("DEBUG", default=False)


def _key(name: str) -> str:
    value = env.str(name, default="")
    if value:
        return value
    if DSAR_SECURE:
        raise ImproperlyConfigured(f"{name} must be set in the environment when DSAR_SECURE=1")
    return dev_key(VAR_DIR / "keys", name.lower())


SECRET_KEY = _key("SECRET_KEY")
if not DSAR_SECURE:
    # The demo systems' secrets (the support desk's token), for every process and command
    # alike: `make run`, a worker, or `check_connectors` from a second shell.
    export_demo_secrets(VAR_DIR / "keys")
DSAR_BUNDLE_KEY = decode_key(_key("DSAR_BUNDLE_KEY"), name="DSAR_BUNDLE_KEY")
DSAR_AUDIT_KEY = decode_key(_key("DSAR_AUDIT_KEY"), name="DSAR_AUDIT_KEY")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "config.apps.DsarAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "rest_framework",  # the staff REST API (casework/api/)
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from our own static files
    # Beat's schedules live in the database (casework/schedules.py); before casework, whose
    # admin replaces its admin and whose roles need its permissions.
    "django_celery_beat",
    "dsar",
    "exporters",
    "casework",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "casework.middleware.CurrentUserMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # CSP on the portal and the admin; Referrer-Policy: no-referrer and Cache-Control:
    # no-store on the public portal.
    "casework.portal.middleware.PortalSecurityHeadersMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "casework.portal.context_processors.portal_limits",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'dsar.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web server, worker and beat write one file: WAL, a busy timeout and IMMEDIATE
    # transactions, or writers fail with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASE_IS_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")
# The dashboard's covering indexes (INCLUDE columns) speed up PostgreSQL; SQLite builds them
# without the extra columns, which is all the embedded default needs.
SILENCED_SYSTEM_CHECKS = [] if DATABASE_IS_POSTGRES else ["models.W040"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ----------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if env.str("CACHE_URL", default=""):
    CACHES = {"default": env.cache("CACHE_URL")}
elif REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "dsar",
        }
    }
else:
    # The database cache keeps rate limits and counters working without Redis.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "dsar_cache",
        }
    }

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("sq", _("Albanian")), ("en", _("English"))]
USE_I18N = True
USE_TZ = True
# The controller's time zone: receipt and due dates are dates there.
DSAR_TIME_ZONE = env.str("DSAR_TIME_ZONE", default="Europe/Tirane")
# Times are stored in UTC (USE_TZ) and shown where the controller works: a due date at the end
# of a Tirana day reads 11:59 p.m., not 10:59 p.m. UTC. Django refuses an unknown zone at start.
TIME_ZONE = DSAR_TIME_ZONE

# --- The law the subject is answered under, and where they may complain ----------------------
# The controller and its subjects are in Albania: the report and the letters name Albania's
# supervisory authority (Art. 15(1)(f), 77 GDPR) and its law beside the GDPR, in both languages.
# Each text is set per language (DSAR_AUTHORITY_NAME_SQ, ..._EN); DSAR_LAWS_SQ and DSAR_LAWS_EN
# list the laws separated by "|" (law names hold commas).


def _bilingual(name: str, sq: str, en: str) -> dict[str, str]:
    texts = {"sq": env.str(f"{name}_SQ", default=sq), "en": env.str(f"{name}_EN", default=en)}
    if not all(text.strip() for text in texts.values()):
        raise ImproperlyConfigured(f"{name}_SQ and {name}_EN must not be empty")
    return texts


def _laws(name: str, default: list[str]) -> list[str]:
    raw = env.str(name, default="")
    laws = [law.strip() for law in raw.split("|") if law.strip()] if raw else default
    if not laws:
        raise ImproperlyConfigured(f"{name} must name at least one law")
    return laws


DSAR_SUPERVISORY_AUTHORITY = {
    "name": _bilingual(
        "DSAR_AUTHORITY_NAME",
        sq="Komisioneri për të Drejtën e Informimit dhe Mbrojtjen e të Dhënave Personale",
        en="Information and Data Protection Commissioner",
    ),
    "address": _bilingual(
        "DSAR_AUTHORITY_ADDRESS",
        sq='Rr. "Abdi Toptani", Nd. 5, 1001 Tiranë, Shqipëri',
        en='Rr. "Abdi Toptani", Nd. 5, 1001 Tirana, Albania',
    ),
    "website": env.str("DSAR_AUTHORITY_WEBSITE", default="https://www.idp.al"),
}
DSAR_LAWS = {
    "sq": _laws(
        "DSAR_LAWS_SQ",
        [
            "Rregullorja (BE) 2016/679 (Rregullorja e Përgjithshme për Mbrojtjen e të Dhënave, "
            "GDPR)",
            'Ligji nr. 124/2024 "Për mbrojtjen e të dhënave personale"',
        ],
    ),
    "en": _laws(
        "DSAR_LAWS_EN",
        [
            "Regulation (EU) 2016/679 (General Data Protection Regulation, GDPR)",
            'Law No. 124/2024 "On personal data protection" (Albania)',
        ],
    ),
}

# --- Static and media -----------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_ROOT = Path(env.str("DSAR_MEDIA_ROOT", default=str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Without DSAR_SECURE (make run) static files are served straight from the apps.
WHITENOISE_USE_FINDERS = not DSAR_SECURE
WHITENOISE_AUTOREFRESH = not DSAR_SECURE
FILE_UPLOAD_PERMISSIONS = 0o600

# --- E-mail ---------------------------------------------------------------------------------
# In development mail goes to files under var/mail/, one a message, shown in the admin's Outbox
# (casework.outbox), so that a newcomer can follow the links in it; the console would print
# them through the log masker, which hides the tokens they carry.
EMAIL_CONFIG = email_config(
    env.str(
        "EMAIL_URL",
        default="consolemail://" if DSAR_SECURE else filemail_url(VAR_DIR.resolve() / "mail"),
    )
)
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="privacy@demo.example")

# --- Security -------------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# Rows keyed by a hash of the session key: a copy of the database opens no session.
SESSION_ENGINE = "casework.sessions"
SESSION_COOKIE_AGE = 60 * 60 * 8
if DSAR_SECURE:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# Staff must pass a second factor (TOTP) to reach the admin when hardened.
DSAR_STAFF_OTP_REQUIRED = env.bool("DSAR_STAFF_OTP_REQUIRED", default=DSAR_SECURE)
# Failed staff sign-ins: past this many per account name (and per address) within the window,
# sign-in is refused until the window ends (casework/signin.py).
DSAR_SIGNIN_MAX_FAILURES = env.int("DSAR_SIGNIN_MAX_FAILURES", default=5)
DSAR_SIGNIN_MAX_FAILURES_PER_IP = env.int("DSAR_SIGNIN_MAX_FAILURES_PER_IP", default=20)
DSAR_SIGNIN_WINDOW_SECONDS = env.int("DSAR_SIGNIN_WINDOW_SECONDS", default=900)

# --- Celery ---------------------------------------------------------------------------------
# The database row is the truth about work (DESIGN.md, "Reliability"); the broker only carries
# reminders to look at rows. Redis when REDIS_URL is set, else kombu's filesystem transport,
# which a real worker process consumes with no server.
DSAR_TASK_SOFT_TIME_LIMIT = env.int("DSAR_TASK_SOFT_TIME_LIMIT", default=300)
DSAR_TASK_TIME_LIMIT = env.int("DSAR_TASK_TIME_LIMIT", default=360)
DSAR_MAX_COUNTDOWN = env.int("DSAR_MAX_COUNTDOWN", default=3600)
if DSAR_TASK_SOFT_TIME_LIMIT >= DSAR_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("DSAR_TASK_SOFT_TIME_LIMIT must be below DSAR_TASK_TIME_LIMIT")
_visibility_timeout = env.int(
    "DSAR_VISIBILITY_TIMEOUT", default=2 * max(DSAR_TASK_TIME_LIMIT, DSAR_MAX_COUNTDOWN)
)
if _visibility_timeout <= max(DSAR_TASK_TIME_LIMIT, DSAR_MAX_COUNTDOWN):
    raise ImproperlyConfigured(
        "DSAR_VISIBILITY_TIMEOUT must be longer than the longest task and any countdown"
    )
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": _visibility_timeout}
else:
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        "visibility_timeout": _visibility_timeout,
    }
CELERY_TASK_DEFAULT_QUEUE = env.str("DSAR_CELERY_QUEUE", default="dsar")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = DSAR_TASK_SOFT_TIME_LIMIT
CELERY_TASK_TIME_LIMIT = DSAR_TASK_TIME_LIMIT
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
# No results are kept, so nothing to clean: beat adds no `celery.backend_cleanup` schedule.
CELERY_RESULT_EXPIRES = None
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_TASK_ALWAYS_EAGER = env.bool("DSAR_CELERY_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
# Loaded by every worker; casework.apps loads them in web processes too (casework.queue).
CELERY_IMPORTS = ["casework.tasks"]
# Beat reads its schedules from the database (django-celery-beat): a data migration creates
# them (casework/schedules.py), the administrator changes their intervals in the admin, and no
# schedule in settings overwrites them at a restart. The scheduler also writes beat's heartbeat.
CELERY_BEAT_SCHEDULER = "casework.beat:HeartbeatScheduler"
# Beat writes a heartbeat row this often; /healthz calls beat down after 3 missed beats.
DSAR_BEAT_HEARTBEAT_SECONDS = env.int("DSAR_BEAT_HEARTBEAT_SECONDS", default=10)
# The sweeps' interval (and expiry) at migration time: it seeds their schedules' rows.
DSAR_SWEEP_INTERVAL = env.int("DSAR_SWEEP_INTERVAL", default=30)
if DSAR_SWEEP_INTERVAL < 1 or DSAR_BEAT_HEARTBEAT_SECONDS < 1:
    raise ImproperlyConfigured("DSAR_SWEEP_INTERVAL and DSAR_BEAT_HEARTBEAT_SECONDS must be >= 1")
# A sweep is worth running only while it is current: while no worker runs, beat must not pile
# up sweeps that would each re-queue the same work once a worker is back.
# Sweeps go to a queue of their own, consumed by a worker process of its own (`make run`,
# docker-compose): a sweep must not wait behind the backlog it is there to clear.
DSAR_SWEEP_QUEUE = env.str("DSAR_SWEEP_QUEUE", default="dsar-sweeps")
CELERY_TASK_ROUTES = {
    "casework.tasks.sweep_*": {"queue": DSAR_SWEEP_QUEUE},
    "casework.tasks.export_audit_anchor": {"queue": DSAR_SWEEP_QUEUE},
}
# The audit anchor is copied outside the database this often (casework/anchors.py).
DSAR_AUDIT_ANCHOR_SECONDS = env.int("DSAR_AUDIT_ANCHOR_SECONDS", default=300)
DSAR_AUDIT_ANCHOR_SINK = env.str("DSAR_AUDIT_ANCHOR_SINK", default="casework.anchors.FileSink")
DSAR_AUDIT_ANCHOR_FILE = env.str(
    "DSAR_AUDIT_ANCHOR_FILE", default=str(VAR_DIR / "audit" / "anchors.jsonl")
)
# A worker writes a heartbeat row this often; /healthz calls a worker down after 3 missed beats.
DSAR_WORKER_HEARTBEAT_SECONDS = env.int("DSAR_WORKER_HEARTBEAT_SECONDS", default=10)

# --- Gathering (casework/services/gathering.py, casework/engine/gathering.py) -------------------
DSAR_GATHER_MAX_ATTEMPTS = env.int("DSAR_GATHER_MAX_ATTEMPTS", default=5)  # transient retries
DSAR_GATHER_MAX_DELIVERIES = env.int("DSAR_GATHER_MAX_DELIVERIES", default=5)  # claims per run
DSAR_GATHER_MAX_ROUNDS = env.int("DSAR_GATHER_MAX_ROUNDS", default=5)  # identity-graph passes
DSAR_RETRY_BACKOFF_BASE = env.float("DSAR_RETRY_BACKOFF_BASE", default=2.0)
DSAR_RETRY_BACKOFF_CAP = env.float("DSAR_RETRY_BACKOFF_CAP", default=300.0)
DSAR_RETRY_AFTER_MAX = env.float("DSAR_RETRY_AFTER_MAX", default=600.0)
DSAR_SWEEP_GRACE_SECONDS = env.int("DSAR_SWEEP_GRACE_SECONDS", default=60)
# Background work (casework.work) holds a lease on its row, renewed every third of it while the
# work runs: the sweeper takes back the row of a worker that stopped renewing it this long ago.
DSAR_WORK_LEASE_SECONDS = env.int("DSAR_WORK_LEASE_SECONDS", default=30)
DSAR_BUNDLE_MAX_DELIVERIES = env.int("DSAR_BUNDLE_MAX_DELIVERIES", default=3)
DSAR_MANUAL_UPLOAD_MAX_BYTES = env.int("DSAR_MANUAL_UPLOAD_MAX_BYTES", default=50 * 1024 * 1024)
DSAR_BUNDLE_RETENTION_DAYS = env.int("DSAR_BUNDLE_RETENTION_DAYS", default=30)
# An access bundle's report is rendered by a forked child process while the worker writes the
# data files (two cores at work, not one); off, it is rendered in the worker's own process.
DSAR_PDF_IN_CHILD = env.bool("DSAR_PDF_IN_CHILD", default=True)
DSAR_PDF_RENDER_TIMEOUT = env.int("DSAR_PDF_RENDER_TIMEOUT", default=900)
# Gathered records are deleted (with their keys) this long after the case closes.
DSAR_GATHERED_RETENTION_DAYS = env.int("DSAR_GATHERED_RETENTION_DAYS", default=30)
if max(DSAR_RETRY_BACKOFF_CAP, DSAR_RETRY_AFTER_MAX) > DSAR_MAX_COUNTDOWN:
    raise ImproperlyConfigured("retry delays must not exceed DSAR_MAX_COUNTDOWN")

# --- Case rules -----------------------------------------------------------------------------
DSAR_UNVERIFIED_EXPIRY_DAYS = env.int("DSAR_UNVERIFIED_EXPIRY_DAYS", default=14)
DSAR_VOLUNTARY_TARGET_DAYS = env.int("DSAR_VOLUNTARY_TARGET_DAYS", default=45)
DSAR_DUE_SOON_DAYS = env.int("DSAR_DUE_SOON_DAYS", default=7)
# A processor instructed to make a case's changes (casework.services.processors) confirms
# within this many days of the approval; its link works this many days from when it is sent.
DSAR_PROCESSOR_DUE_DAYS = env.int("DSAR_PROCESSOR_DUE_DAYS", default=7)
DSAR_PROCESSOR_LINK_DAYS = env.int("DSAR_PROCESSOR_LINK_DAYS", default=30)
if DSAR_PROCESSOR_DUE_DAYS < 1 or DSAR_PROCESSOR_LINK_DAYS < 1:
    raise ImproperlyConfigured("DSAR_PROCESSOR_DUE_DAYS and DSAR_PROCESSOR_LINK_DAYS must be >= 1")
DSAR_DEFAULT_REGIME = env.str("DSAR_DEFAULT_REGIME", default="gdpr")
# Request types whose approval needs a second person, on top of erasure and rectification
# (always): "access,portability" makes a release need someone other than the reviewer.
DSAR_FOUR_EYES = env.list("DSAR_FOUR_EYES", default=[])
if set(DSAR_FOUR_EYES) - {
    "access",
    "portability",
    "erasure",
    "rectification",
    "restriction",
    "objection",
}:
    raise ImproperlyConfigured("DSAR_FOUR_EYES may add only access and portability")
# Phone numbers written without a country code are read as numbers of this region (ISO 3166).
DSAR_PHONE_REGION = env.str("DSAR_PHONE_REGION", default="AL")
# At most this many status links in one e-mail (the most recent requests of the address).
DSAR_STATUS_LINKS_MAX = env.int("DSAR_STATUS_LINKS_MAX", default=5)

# --- The public portal (casework/portal/) -------------------------------------------------------
# Deliveries of the task that opens a form submission before it is marked failed.
DSAR_SUBMISSION_MAX_DELIVERIES = env.int("DSAR_SUBMISSION_MAX_DELIVERIES", default=5)
# The opener's bell (casework.services.submissions.wake_opener) rings at most this long without an
# opener answering; an opener works this long, then hands over to a fresh task.
DSAR_OPENER_BELL_SECONDS = env.int("DSAR_OPENER_BELL_SECONDS", default=10)
DSAR_OPENER_BUDGET_SECONDS = env.int(
    "DSAR_OPENER_BUDGET_SECONDS", default=min(60, DSAR_TASK_SOFT_TIME_LIMIT // 2)
)
if DSAR_OPENER_BUDGET_SECONDS >= DSAR_TASK_SOFT_TIME_LIMIT:
    raise ImproperlyConfigured("DSAR_OPENER_BUDGET_SECONDS must be under the task time limit")
# Failed submissions nobody acted on are deleted (with their uploads) after this many days.
DSAR_SUBMISSION_RETENTION_DAYS = env.int("DSAR_SUBMISSION_RETENTION_DAYS", default=30)
# Rate limits per e-mail and per client address, per window, counted in the cache.
DSAR_RATE_PER_EMAIL = env.int("DSAR_RATE_PER_EMAIL", default=5)
DSAR_RATE_PER_IP = env.int("DSAR_RATE_PER_IP", default=20)
DSAR_RATE_WINDOW_SECONDS = env.int("DSAR_RATE_WINDOW_SECONDS", default=3600)
# Asking again for a confirmation link, for a status link, or for a download code counts on
# its own, per e-mail (and per address, up to DSAR_RATE_PER_IP each): none uses up another,
# nor the requests a person may file.
DSAR_RATE_RESEND_PER_EMAIL = env.int("DSAR_RATE_RESEND_PER_EMAIL", default=3)
DSAR_RATE_STATUS_LINK_PER_EMAIL = env.int("DSAR_RATE_STATUS_LINK_PER_EMAIL", default=3)
DSAR_RATE_CODE_PER_EMAIL = env.int("DSAR_RATE_CODE_PER_EMAIL", default=5)
# Proxies in front of the web server whose X-Forwarded-For we trust (0: use REMOTE_ADDR).
DSAR_TRUSTED_PROXIES = env.int("DSAR_TRUSTED_PROXIES", default=0)
DSAR_VERIFY_TOKEN_HOURS = env.int("DSAR_VERIFY_TOKEN_HOURS", default=24)
DSAR_STATUS_TOKEN_HOURS = env.int("DSAR_STATUS_TOKEN_HOURS", default=24)
DSAR_DOWNLOAD_TOKEN_MINUTES = env.int("DSAR_DOWNLOAD_TOKEN_MINUTES", default=30)
DSAR_CODE_MINUTES = env.int("DSAR_CODE_MINUTES", default=10)
DSAR_CODE_MAX_TRIES = env.int("DSAR_CODE_MAX_TRIES", default=5)
# A code sent to a held record's own e-mail (evidence of a link, read back to staff by phone
# or reply): the owner of that mailbox needs days, not minutes; the tries stay few.
DSAR_LINK_CODE_HOURS = env.int("DSAR_LINK_CODE_HOURS", default=72)
# A ready bundle can be downloaded this many days after it was built, this many times.
DSAR_DOWNLOAD_WINDOW_DAYS = env.int("DSAR_DOWNLOAD_WINDOW_DAYS", default=7)
DSAR_DOWNLOAD_MAX = env.int("DSAR_DOWNLOAD_MAX", default=5)
# A representative's signed authority (PDF, JPEG, PNG), and the rest of the form.
DSAR_AUTHORITY_MAX_BYTES = env.int("DSAR_AUTHORITY_MAX_BYTES", default=5 * 1024 * 1024)
DSAR_FORM_MAX_BYTES = env.int("DSAR_FORM_MAX_BYTES", default=256 * 1024)
for _name in (
    "DSAR_RATE_PER_EMAIL",
    "DSAR_RATE_PER_IP",
    "DSAR_RATE_RESEND_PER_EMAIL",
    "DSAR_RATE_STATUS_LINK_PER_EMAIL",
    "DSAR_RATE_CODE_PER_EMAIL",
    "DSAR_CODE_MAX_TRIES",
    "DSAR_DOWNLOAD_MAX",
):
    if vars()[_name] < 1:
        raise ImproperlyConfigured(f"{_name} must be at least 1")
if DSAR_CODE_MINUTES > 10 or DSAR_CODE_MAX_TRIES > 5:
    raise ImproperlyConfigured("one-time codes are valid 10 minutes and 5 tries at most")

# Connector kinds (dsar/connectors/): a new kind of source system is one class and one line.
DSAR_CONNECTORS = {
    "sql": "dsar.connectors.sql.SqlConnector",
    "http": "dsar.connectors.http.HttpConnector",
    "files": "dsar.connectors.files.CsvFolderConnector",
    "manual": "dsar.connectors.manual.ManualConnector",
}

# --- The staff REST API (casework/api/) ----------------------------------------------------
# Bearer keys live this many days (issued by POST /api/v1/auth/token/ or `issue_api_token`).
DSAR_API_TOKEN_DAYS = env.int("DSAR_API_TOKEN_DAYS", default=30)
if DSAR_API_TOKEN_DAYS < 1:
    raise ImproperlyConfigured("DSAR_API_TOKEN_DAYS must be at least 1")
# --- The Data Rights Protocol 1.0 (casework/drp/) -------------------------------------------
DRP_BASE_PATH = "/" + env.str("DRP_BASE_PATH", default="/drp").strip("/")
DRP_BUSINESS_ID = env.str("DRP_BUSINESS_ID", default="DSAR_DEMO")
# A signed message's window (expires-at - issued-at) may be no longer than this.
DRP_MAX_WINDOW_MINUTES = env.int("DRP_MAX_WINDOW_MINUTES", default=15)
# Bodies are a few hundred bytes: anything over this is refused before it is read.
DRP_MAX_BODY_BYTES = env.int("DRP_MAX_BODY_BYTES", default=64 * 1024)
# Requests an agent may file (or poll, or revoke) per hour.
DRP_RATE_PER_AGENT = env.int("DRP_RATE_PER_AGENT", default=600)
DRP_SUPPORTED_ACTIONS = env.list(
    "DRP_SUPPORTED_ACTIONS",
    default=[
        "sale:opt-out",
        "sale:opt-in",
        "deletion",
        "access",
        "access:categories",
        "access:specific",
    ],
)
DRP_SUPPORTED_VERIFICATIONS = env.list("DRP_SUPPORTED_VERIFICATIONS", default=["email"])
# Status callbacks: https to public addresses only, unless this is set (tests, a local agent).
DRP_CALLBACK_ALLOW_PRIVATE = env.bool("DRP_CALLBACK_ALLOW_PRIVATE", default=False)
DRP_CALLBACK_MAX_ATTEMPTS = env.int("DRP_CALLBACK_MAX_ATTEMPTS", default=8)
DRP_CALLBACK_TIMEOUT_SECONDS = env.float("DRP_CALLBACK_TIMEOUT_SECONDS", default=10.0)
if not 1 <= DRP_MAX_WINDOW_MINUTES <= 60 or DRP_MAX_BODY_BYTES > 1024 * 1024:
    raise ImproperlyConfigured("DRP_MAX_WINDOW_MINUTES 1-60; DRP_MAX_BODY_BYTES at most 1 MB")
if set(DRP_SUPPORTED_ACTIONS) - {
    "sale:opt-out",
    "sale:opt-in",
    "deletion",
    "access",
    "access:categories",
    "access:specific",
}:
    raise ImproperlyConfigured("DRP_SUPPORTED_ACTIONS: only the exercises of DRP 1.0")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First: a request without credentials is answered 401 with WWW-Authenticate: Bearer.
        "casework.api.authentication.BearerTokenAuthentication",
        "casework.api.authentication.StaffSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["casework.api.filters.StrictFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "casework.api.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
        "rest_framework.throttling.ScopedRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("DSAR_API_RATE_ANON", default="60/minute"),
        "user": env.str("DSAR_API_RATE_USER", default="1200/minute"),
        "api_token": env.str("DSAR_API_RATE_TOKEN", default="10/minute"),
    },
    "EXCEPTION_HANDLER": "casework.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "casework.api.schema.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "DSAR casework API",
    "DESCRIPTION": (
        "The staff REST API: cases, their operations, review decisions, plans, the audit "
        "trail and the source systems. Errors answer {code, message, fields}."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "CaseStateEnum": "casework.models.case.State",
        "RegimeEnum": "casework.deadlines.REGIME_CHOICES",
        "PlanStateEnum": "casework.models.fulfilment.FulfilmentPlan.State",
        "PlanActionStateEnum": "casework.models.fulfilment.FulfilmentAction.State",
    },
}

# --- Logging: no personal data; our own code logs identifiers (case ids, references) only ----
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"mask_tokens": {"()": "config.logmask.MaskTokensFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["mask_tokens"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # The filesystem broker has no hostname; kombu warns about it on every connection.
        "kombu.connection": {"level": "ERROR"},
        # httpx logs whole request URLs at INFO, and a lookup's query carries an identifier.
        "httpx": {"level": "WARNING"},
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}
