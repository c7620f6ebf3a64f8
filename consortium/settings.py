"""NBTC platform settings: one file, read from the environment (django-environ).

Defaults are safe for production: DEBUG is off and the secret key is required.
`make run` and `make test` export development values (see the Makefile); the
deployment path (docker-compose.yml) sets the production ones.
"""

import os
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A development checkout keeps its values in .env (written by `make setup`); it is read only
# when the environment does not say which mode to run in, so deployments never read it.
if "DJANGO_DEBUG" not in os.environ and (BASE_DIR / ".env").exists():
    env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set DJANGO_SECRET_KEY (required when DJANGO_DEBUG is off).")
    # Only with DEBUG on (refused above otherwise), so a development checkout runs as is.
    SECRET_KEY = "dev-only-insecure-key-never-use-in-production-0123456789abcdef"  # noqa: S105
ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# Synthetic national ID numbers (Skatteetaten's Tenor, month +80) are refused in production; the
# demo and the tests allow them. Month +40 numbers are H-numbers, accepted everywhere.
ALLOW_SYNTHETIC_NATIONAL_IDS = env.bool("NBTC_ALLOW_SYNTHETIC_IDS", default=DEBUG)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "pgtrigger",
    "pghistory",
    "pghistory.admin",
    "consortium",
    "registry",
    "screening",
    "trials",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "consortium.middleware.ApiNeverCachedMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "consortium.middleware.RequestSizeLimitMiddleware",  # before anything reads the body
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "consortium.middleware.RefuseNulCharacterMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "consortium.middleware.SessionActivityMiddleware",  # usersessions' tracking, once a minute
    "consortium.middleware.AbsoluteSessionLifetimeMiddleware",
    "consortium.middleware.RequireMFAMiddleware",
    "pghistory.middleware.HistoryMiddleware",
]

ROOT_URLCONF = "consortium.urls"
WSGI_APPLICATION = "consortium.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "consortium.context_processors.inbox",
            ],
        },
    },
    {
        # The busiest pages' per-row fragments (consortium/jinja2.py says why).
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [BASE_DIR / "jinja_templates"],
        "APP_DIRS": False,
        "OPTIONS": {"environment": "consortium.jinja2.environment"},
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:54329/nbtc"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)

REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:63799/0")
# Rate limits (allauth, DRF throttling) count in the cache, so it must be shared: Redis.
# With Redis down the cache reads as empty and logs a warning (consortium/cache.py: rate
# limits fail open rather than lock everyone out); short timeouts keep an unreachable host
# from holding requests up.
CACHES = {
    "default": {
        "BACKEND": "consortium.cache.FailSafeRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "nbtc",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
    }
}

AUTH_USER_MODEL = "consortium.User"
AUTHENTICATION_BACKENDS = [
    # Django's and allauth's, reading the session's member with a prepared query.
    "consortium.sessions.ModelBackend",
    "consortium.sessions.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    # ASVS 6.2.1: at least 12 characters for accounts that reach health data.
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Sign-in (django-allauth 65; the setting names of
# https://docs.allauth.org/en/latest/account/configuration.html, not the deprecated ones) ---
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_ADAPTER = "consortium.adapters.InviteOnlyAccountAdapter"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = True
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_EMAIL_NOTIFICATIONS = True
ACCOUNT_REAUTHENTICATION_REQUIRED = True
# Failed sign-ins: 10 a minute per address, 5 per 5 minutes per account (allauth defaults, stated).
ACCOUNT_RATE_LIMITS = {"login_failed": "10/m/ip,5/5m/key", "login": "30/m/ip"}
# The client address that rate limits, API throttles and the access log count by. Served
# directly (0, the default) the connection's address is used and X-Forwarded-For, which any
# client can write, is ignored. Behind N reverse proxies of our own, the client is the N-th
# address from the right of X-Forwarded-For (each proxy appends the address it saw). allauth
# and DRF read the header the same way (allauth docs, rate_limits; DRF docs, throttling).
TRUSTED_PROXY_COUNT = env.int("NBTC_TRUSTED_PROXY_COUNT", default=0)
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT
MFA_ADAPTER = "consortium.adapters.RoleAwareMFAAdapter"
# TOTP secrets and recovery-code seeds are encrypted at rest (the MFA adapter's encrypt hook)
# with Fernet keys derived from NBTC_MFA_ENCRYPTION_KEY: long random strings, comma-separated;
# the first encrypts, every one decrypts (so a key can be rotated). ASVS 11.2: keys outside the
# database. In DEBUG, a development key derived from the secret key.
MFA_ENCRYPTION_KEYS = env.list("NBTC_MFA_ENCRYPTION_KEY", default=[])
if not MFA_ENCRYPTION_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured(
            "Set NBTC_MFA_ENCRYPTION_KEY (required when DJANGO_DEBUG is off), e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'."
        )
    MFA_ENCRYPTION_KEYS = [f"dev-only-mfa-{SECRET_KEY}"]
if any(len(key) < 32 for key in MFA_ENCRYPTION_KEYS):
    raise ImproperlyConfigured("Each NBTC_MFA_ENCRYPTION_KEY needs at least 32 characters.")
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "NBTC"
MFA_TRUST_ENABLED = False
USERSESSIONS_TRACK_ACTIVITY = False  # consortium.middleware.SessionActivityMiddleware does it

# Sessions: 30 minutes idle (cookie age renewed on every request) and 12 hours at most
# (AbsoluteSessionLifetimeMiddleware). ASVS 7.3.1 / 7.3.2.
# Sessions live in PostgreSQL only: a member stays signed in (and can save) while Redis is
# down, and a sign-out during a Redis outage cannot come back from a stale cached copy
# afterwards (as it could with cached_db). One primary-key read per request.
SESSION_ENGINE = "consortium.sessions"  # Django's database sessions, read prepared
SESSION_COOKIE_AGE = 30 * 60
SESSION_SAVE_EVERY_REQUEST = False  # renewed once a minute by SessionActivityMiddleware
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_ABSOLUTE_LIFETIME = timedelta(hours=12)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# --- Security headers; `check --deploy` is clean when DEBUG is off ---
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # ASVS 3.3.3: the __Host- prefix pins cookies to this host over HTTPS.
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"

# Content Security Policy (Django 6 built-in). Nothing loads from another host.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/Oslo"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

EMAIL_BACKEND = env(
    "DJANGO_EMAIL_BACKEND",
    default=(
        "django.core.mail.backends.console.EmailBackend"
        if DEBUG
        else "django.core.mail.backends.smtp.EmailBackend"
    ),
)
EMAIL_HOST = env("DJANGO_EMAIL_HOST", default="localhost")
DEFAULT_FROM_EMAIL = env("DJANGO_DEFAULT_FROM_EMAIL", default="NBTC <no-reply@nbtc.no>")

# --- REST API ---
# API tokens (django-rest-knox): stored as SHA-512 digests, shown once, always expiring.
# The member chooses the lifetime up to the maximum; 90 days is the ceiling.
API_TOKEN_DEFAULT_DAYS = env.int("NBTC_API_TOKEN_DAYS", default=30)
API_TOKEN_MAX_DAYS = env.int("NBTC_API_TOKEN_MAX_DAYS", default=90)
if not 1 <= API_TOKEN_DEFAULT_DAYS <= API_TOKEN_MAX_DAYS <= 90:
    raise ImproperlyConfigured(
        "API token lifetimes: need 1 <= NBTC_API_TOKEN_DAYS <= NBTC_API_TOKEN_MAX_DAYS <= 90."
    )
KNOX_TOKEN_MODEL = "consortium.ApiToken"  # noqa: S105 (a model name, not a secret)
# knox's migrations create its own token table even when the model is swapped (they declare no
# `swappable` option); ours is consortium.ApiToken, so knox's are switched off.
MIGRATION_MODULES = {"knox": None}
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=API_TOKEN_DEFAULT_DAYS),
    "AUTO_REFRESH": False,  # a token ends when it says, however often it is used
    "AUTH_HEADER_PREFIX": "Token",  # `Authorization: Token <token>`, as before
    "TOKEN_PREFIX": "nbtc_",  # recognisable to secret scanners
}
REST_FRAMEWORK = {
    # Token first, so an unauthenticated call gets 401 with `WWW-Authenticate: Token`.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "consortium.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,  # throttles count clients as sign-in limits do
    "DEFAULT_SCHEMA_CLASS": "consortium.schema.ApiAutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "consortium.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "consortium.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("NBTC_API_ANON_RATE", default="600/minute"),
        "user": env("NBTC_API_USER_RATE", default="3000/minute"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "NBTC platform API",
    "DESCRIPTION": "Norwegian Brain Tumour Consortium: directory, register, trials, screening.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No deep links: Swagger UI puts each operation's link inside its expand button, a link
    # nested in a button that assistive technology cannot reach (axe-core nested-interactive,
    # WCAG 2.2 4.1.2 https://www.w3.org/TR/WCAG22/#name-role-value).
    "SWAGGER_UI_SETTINGS": {"deepLinking": False},
    "ENUM_NAME_OVERRIDES": {
        "YesNoUnknownEnum": "registry.models.YesNoUnknown",
        "ReportStatusEnum": "screening.models.Report.Status",
        "ManualCheckStatusEnum": "trials.models.ManualCheck.Status",
        "MdtMeetingKindEnum": "registry.models.MdtMeeting.Kind",
        "MdtSummaryStatusEnum": "registry.models.MdtSummary.Status",
    },
}

# --- Celery (Redis broker); tasks are thin, idempotent and acknowledged late ---
# ClinicalTrials.gov API v2 (trials: import_trials --from-api); tests point it at a local
# server replaying recorded pages.
CTGOV_API_URL = env("NBTC_CTGOV_API_URL", default="https://clinicaltrials.gov/api/v2")

# Change history needs the request's user and URL only where data can change: reads
# (GET) skip the context, so the access-log insert of a page view costs one statement.
PGHISTORY_MIDDLEWARE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
# Every event (history) table refuses UPDATE and DELETE in the database; TRUNCATE is
# refused by consortium/append_only.py's statement trigger.
PGHISTORY_APPEND_ONLY = True
# The admin site's history list leaves out the register's events (they hold full national IDs).
PGHISTORY_ADMIN_CLASS = "consortium.history_admin.HistoryWithoutPatientsAdmin"

# Research extracts (registry/research_extracts.py): files under NBTC_EXTRACT_ROOT (shared by
# the web and worker containers), downloadable for NBTC_EXTRACT_DAYS. Pseudonyms are keyed
# hashes with a per-project key derived from NBTC_RESEARCH_PSEUDONYM_KEY (default: from the
# secret key, so rotating that one changes every project's pseudonyms: set this to keep them).
NBTC_EXTRACT_ROOT = Path(env("NBTC_EXTRACT_ROOT", default=str(BASE_DIR / ".local" / "extracts")))
NBTC_EXTRACT_DAYS = env.int("NBTC_EXTRACT_DAYS", default=30)
RESEARCH_PSEUDONYM_KEY = env("NBTC_RESEARCH_PSEUDONYM_KEY", default="") or f"research-{SECRET_KEY}"

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
# A task whose worker died unacknowledged (acks_late) goes back to the queue after the
# visibility timeout. It must be longer than the longest task (the 15-minute time limit below),
# or a task still running is handed to a second worker; Redis' default is an hour
# (https://docs.celeryq.dev/en/stable/getting-started/backends-and-brokers/redis.html#visibility-timeout).
# Plate analyses and the full re-match do not wait for it: they send a heartbeat and a beat
# task requeues them within minutes of it stopping (CELERY_BEAT_SCHEDULE, *-requeue-stale-*).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 20 * 60, "socket_connect_timeout": 2}
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 2
# Seconds between heartbeats of a running analysis or full re-match (consortium/heartbeat.py);
# 8 missed beats and the run is started again.
NBTC_HEARTBEAT_SECONDS = env.float("NBTC_HEARTBEAT_SECONDS", default=15)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 15 * 60
CELERY_TIMEZONE = TIME_ZONE
# Each app's periodic tasks, by name (apps depend one way, so settings do not import them).
# The platform's address, for links in mails sent by background tasks (no request there).
NBTC_BASE_URL = env("NBTC_BASE_URL", default="http://127.0.0.1:8000")

CELERY_BEAT_SCHEDULE: dict = {
    # Follow-up work written while the broker was down goes out once it is back.
    "consortium-relay-outbox": {
        "task": "consortium.tasks.relay_outbox",
        "schedule": crontab(minute="*"),
    },
    # The access log's month partitions are made ahead of the months they hold.
    "consortium-access-log-partitions": {
        "task": "consortium.tasks.access_log_partitions",
        "schedule": crontab(hour=1, minute=15),
    },
    # Each institution's admins get last month's access-log summary on the 1st.
    "registry-monthly-access-review-summary": {
        "task": "registry.tasks.send_access_review_summaries",
        "schedule": crontab(day_of_month=1, hour=6, minute=0),
    },
    # Each clinician gets one digest of their open register items per night.
    "registry-nightly-worklist-digest": {
        "task": "registry.tasks.send_worklist_digests",
        "schedule": crontab(hour=env.int("NBTC_DIGEST_HOUR", default=5), minute=30),
    },
    # Alert sender and lab when a shipment nears or passes its viability window,
    # or a reading leaves the allowed range (once per event).
    "screening-check-open-shipments": {
        "task": "screening.tasks.check_open_shipments",
        "schedule": crontab(minute="*/5"),
    },
    # A plate analysis or full re-match whose worker stopped sending its heartbeat is
    # started again (consortium/heartbeat.py).
    "screening-requeue-lost-analyses": {
        "task": "screening.tasks.requeue_lost_analyses",
        "schedule": crontab(minute="*"),
    },
    "trials-requeue-lost-matching-runs": {
        "task": "trials.tasks.requeue_lost_matching_runs",
        "schedule": crontab(minute="*"),
    },
    # Nightly full re-match of open trials (also catches patients crossing an age limit).
    "trials-nightly-rematch": {
        "task": "trials.tasks.rematch_all",
        "schedule": crontab(hour=2, minute=30),
    },
    # The register's quality indicators: a national snapshot every night, after the digest.
    "registry-nightly-indicator-snapshot": {
        "task": "registry.tasks.nightly_indicator_snapshot",
        "schedule": crontab(hour=4, minute=0),
    },
    # Members' monthly indicator reports: a link e-mailed on the 1st, after the night's snapshot.
    "registry-monthly-indicator-reports": {
        "task": "registry.tasks.send_monthly_indicator_reports",
        "schedule": crontab(day_of_month=1, hour=6, minute=0),
    },
    # A tumour board that ended with decisions gets its summary (PDF) without being asked.
    "registry-summarise-ended-meetings": {
        "task": "registry.tasks.summarise_ended_meetings",
        "schedule": crontab(minute="*/15"),
    },
    # The day before a tumour board, its coordinators get the agenda's candidate trials.
    "trials-mdt-candidates-day-before": {
        "task": "trials.tasks.send_mdt_candidates",
        "schedule": crontab(hour=env.int("NBTC_MDT_CANDIDATES_HOUR", default=12), minute=0),
    },
    # Research deliveries past their download period: files removed (the log stays).
    "registry-expire-research-extracts": {
        "task": "registry.tasks.expire_research_extracts",
        "schedule": crontab(hour=3, minute=15),
    },
    # Weekly: new, changed and closed brain-tumour trials from ClinicalTrials.gov.
    "trials-weekly-catalogue-sync": {
        "task": "trials.tasks.sync_catalogue",
        "schedule": crontab(day_of_week="mon", hour=4, minute=0),
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
}
