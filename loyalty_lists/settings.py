"""Settings for Smile loyalty lists: one module, everything from the environment.

Demo defaults (no environment at all): SQLite in WAL mode, the django-q2 ORM broker, the database
cache, and the bundled Smile sandbox on 127.0.0.1:8001. Production: set DATABASE_URL, REDIS_URL,
SECRET_KEY, ALLOWED_HOSTS and the SMILE_* variables (see README.md). Over 400 lines on purpose: every
setting in one module, each with the line saying what it is for.
"""

from pathlib import Path
from urllib.parse import urlsplit

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():  # optional, never committed
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "insecure-dev-only-key-do-not-use-in-production"  # noqa: S105 - DEBUG only

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "django_q",
    "django_htmx",
    "csp",
    "loyalty_lists.accounts",
    "loyalty_lists.merchants",
    "integrations.smile",
    "loyalty_lists.lists",
    "loyalty_lists.api",
    "loyalty_lists.outbound",
    "loyalty_lists.web",
    "loyalty_lists.ops",
]

MIDDLEWARE = [
    "loyalty_lists.ops.middleware.RequestMetricsMiddleware",  # first: times the whole stack
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "loyalty_lists.merchants.middleware.CurrentMerchantMiddleware",
    "loyalty_lists.web.middleware.MerchantTimezoneMiddleware",
]

ROOT_URLCONF = "loyalty_lists.urls"
WSGI_APPLICATION = "loyalty_lists.wsgi.application"
ASGI_APPLICATION = "loyalty_lists.asgi.application"

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
                "loyalty_lists.merchants.context_processors.current_merchant",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------
SQLITE_PATH = env.str("SQLITE_PATH", default=str(BASE_DIR / "var" / "db.sqlite3"))
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # A dead database server fails a connection (and /readyz) in seconds, not at the TCP timeout.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=5)
    )
else:
    Path(SQLITE_PATH).parent.mkdir(parents=True, exist_ok=True)
    SQLITE_TEMP_STORE = env.str("SQLITE_TEMP_STORE", default="FILE").upper()
    if SQLITE_TEMP_STORE not in ("MEMORY", "FILE", "DEFAULT"):
        raise ImproperlyConfigured("SQLITE_TEMP_STORE must be MEMORY, FILE or DEFAULT.")
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": SQLITE_PATH,
            # Reuse the connection across requests: opening one (and running init_command) per request
            # cost a fifth of a lookup's time in the benchmark.
            "CONN_MAX_AGE": env.int("DB_CONN_MAX_AGE", default=60),
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": {
                # IMMEDIATE: writers take the lock at BEGIN, so concurrent writers wait (busy timeout)
                # instead of failing with "database is locked" on lock upgrade.
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                # Memory per connection: SQLITE_CACHE_KB of page cache, SQLITE_MMAP_BYTES of the file
                # memory-mapped, temp tables in memory or in files. All of it counts in the process's
                # RSS; these defaults keep a 1M-customer sync at ~50 MB of growth instead of ~420 MB,
                # for a 15 % slower full sync (see the Performance section).
                "init_command": (
                    "PRAGMA journal_mode=WAL;"
                    "PRAGMA synchronous=NORMAL;"
                    "PRAGMA busy_timeout=30000;"
                    f"PRAGMA temp_store={SQLITE_TEMP_STORE};"
                    f"PRAGMA mmap_size={env.int('SQLITE_MMAP_BYTES', default=0)};"
                    f"PRAGMA cache_size=-{env.int('SQLITE_CACHE_KB', default=16384)};"
                    # Checkpoint the WAL every 64 MB rather than every 4 MB: each checkpoint syncs the
                    # database file, and a full sync's small commits (one page per chain) made them a
                    # fifth of its time. The file is truncated back to 64 MB after a checkpoint.
                    "PRAGMA wal_autocheckpoint=16384;"
                    "PRAGMA journal_size_limit=67108864;"
                ),
            },
            "TEST": {"NAME": env.str("SQLITE_TEST_PATH", default="") or None},
        }
    }
IS_SQLITE = DATABASES["default"]["ENGINE"].endswith("sqlite3")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and task queue -------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "sll",
        }
    }
else:
    # Shared between processes (web, qcluster, sandbox-driven tests): rate limiters and allauth's
    # login limits need one cache that every process sees, which locmem is not.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "django_cache",
            "KEY_PREFIX": "sll",
            # Rate-limiter slots of many merchants live here at once; the default (300) would cull them.
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }

SYNC_TASK_TIMEOUT = env.int("SYNC_TASK_TIMEOUT", default=3600)
# Full walks get a django-q2 queue of their own when set (bin/run-prod: "full"), read by clusters started
# with Q_CLUSTER_NAME=<it>; empty: one queue for every task (lists/sync/dispatch.py).
SYNC_FULL_QUEUE = env.str("SYNC_FULL_QUEUE", default="")
Q_CLUSTER = {
    # The site's name: django-q2's signing salt and stats prefix, so the same in every process. It is also
    # the default queue; a cluster started with Q_CLUSTER_NAME=<queue> (django-q2's variable) reads that
    # queue instead, with the overrides of ALT_CLUSTERS[<queue>].
    "name": "loyalty_lists",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": SYNC_TASK_TIMEOUT,
    "retry": SYNC_TASK_TIMEOUT + 300,  # must exceed timeout, or a long task is handed out twice
    "max_attempts": 1,
    "catch_up": False,
    "ack_failures": True,
    "save_limit": 500,
    "poll": 0.2,
    "label": "Task queue",
    # Clusters named by Q_CLUSTER_NAME read that queue with these overrides (django-q2 needs the key).
    "ALT_CLUSTERS": (
        {SYNC_FULL_QUEUE: {"workers": env.int("Q_FULL_WORKERS", default=env.int("Q_WORKERS", default=2))}}
        if SYNC_FULL_QUEUE
        else {}
    ),
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"  # explicit: without it django-q2 silently picks Redis

# --- Auth: django-allauth, email + password, no public signup, MFA --------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/"
ACCOUNT_ADAPTER = "loyalty_lists.accounts.adapter.StaffOnlyAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "none"  # staff accounts are created by operators, not by signup
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_SESSION_REMEMBER = None
ACCOUNT_RATE_LIMITS = {
    "login_failed": env.str("LOGIN_FAILED_RATE_LIMIT", default="10/m/ip,5/5m/key"),
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Smile loyalty lists"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Mail (alerts): EMAIL_URL as django-environ reads it — smtp+tls://user:pass@host:587 (STARTTLS),
# smtp+ssl://user:pass@host:465, smtp://host:25, consolemail://, filemail:////abs/path; else EMAIL_BACKEND
# (default: the console). For SES, Postmark and others, install django-anymail and set EMAIL_BACKEND to
# its backend (README).
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="lists@localhost")
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)

# --- i18n / time ----------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "var" / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or env.bool("PLAIN_STATIC", default=False)
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=DEBUG)

# --- Smile ----------------------------------------------------------------------------------------
# Default to the bundled sandbox; production points these at api.smile.io / connect.smile.io.
SMILE_API_BASE = env.str("SMILE_API_BASE", default="http://127.0.0.1:8001/v1").rstrip("/")
SMILE_OAUTH_AUTHORIZE_URL = env.str(
    "SMILE_OAUTH_AUTHORIZE_URL", default="http://127.0.0.1:8001/oauth2/authorize"
)
SMILE_OAUTH_TOKEN_URL = env.str("SMILE_OAUTH_TOKEN_URL", default="http://127.0.0.1:8001/oauth2/token")
SMILE_CLIENT_ID = env.str("SMILE_CLIENT_ID", default="sandbox-client")
SMILE_CLIENT_SECRET = env.str("SMILE_CLIENT_SECRET", default="sandbox-secret")
SMILE_CLIENT_SECRET_PREVIOUS = env.str("SMILE_CLIENT_SECRET_PREVIOUS", default="")
SMILE_OAUTH_REDIRECT_URI = env.str(
    "SMILE_OAUTH_REDIRECT_URI", default=f"{SITE_URL}/integrations/smile/oauth/callback"
)
# Scopes asked for on Connect, and those a connection cannot work without (the others are optional:
# without VIP tiers, member lists work and tier lists are unavailable). Smile's scope names are
# documented per endpoint; if yours differ, set both.
SMILE_OAUTH_SCOPES = env.list("SMILE_OAUTH_SCOPES", default=["customer:read", "vip_tier:read"])
SMILE_OAUTH_REQUIRED_SCOPES = env.list("SMILE_OAUTH_REQUIRED_SCOPES", default=["customer:read"])
SMILE_TOKEN_AUTH_METHOD = env.str("SMILE_TOKEN_AUTH_METHOD", default="basic")  # basic | form
SMILE_WEBHOOK_SECRET = env.str("SMILE_WEBHOOK_SECRET", default="") or SMILE_CLIENT_SECRET
SMILE_WEBHOOK_SIGNATURE_HEADER = env.str("SMILE_WEBHOOK_SIGNATURE_HEADER", default="X-Smile-Hmac-Sha256")
SMILE_WEBHOOK_SIGNATURE_ENCODING = env.str("SMILE_WEBHOOK_SIGNATURE_ENCODING", default="base64")
SMILE_RATE_LIMIT_PER_SECOND = env.float("SMILE_RATE_LIMIT_PER_SECOND", default=10)
SMILE_HTTP_TIMEOUT = env.float("SMILE_HTTP_TIMEOUT", default=30)
SMILE_MAX_ATTEMPTS = env.int("SMILE_MAX_ATTEMPTS", default=6)
# Production must not talk to the bundled sandbox by accident (its defaults are the demo's): with DEBUG off,
# a Smile URL on a loopback address or a sandbox secret stops the start-up, unless this says so (a staging
# box that really uses the sandbox; the demo and the tests set it).
SMILE_ALLOW_SANDBOX = env.bool("SMILE_ALLOW_SANDBOX", default=DEBUG)
SANDBOX_SECRETS = {"sandbox-secret"}


def _sandbox_settings() -> list[str]:
    found = []
    for name in ("SMILE_API_BASE", "SMILE_OAUTH_AUTHORIZE_URL", "SMILE_OAUTH_TOKEN_URL"):
        host = urlsplit(globals()[name]).hostname or ""
        if host in ("localhost", "::1") or host.startswith("127."):
            found.append(f"{name} points at {host}")
    for name in ("SMILE_CLIENT_SECRET", "SMILE_WEBHOOK_SECRET", "SMILE_CLIENT_SECRET_PREVIOUS"):
        if globals()[name] in SANDBOX_SECRETS:
            found.append(f"{name} is the sandbox's public default")
    return found


if not SMILE_ALLOW_SANDBOX and (_found := _sandbox_settings()):
    raise ImproperlyConfigured(
        "These settings are the bundled Smile sandbox's, not the real Smile's: "
        + "; ".join(_found)
        + ". Set the real Smile's URLs and your app's credentials (README, \"Connecting the real Smile\"),"
        " or SMILE_ALLOW_SANDBOX=1 on a staging box that really uses the sandbox."
    )
# MultiFernet keys for tokens at rest, comma-separated, newest first. Separate from SECRET_KEY.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
if not FIELD_ENCRYPTION_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS must be set when DEBUG is off.")
    FIELD_ENCRYPTION_KEYS = ["ZGVtby1vbmx5LWZpZWxkLWVuY3J5cHRpb24ta2V5LTE="]  # DEBUG only

# --- Sync -----------------------------------------------------------------------------------------
SYNC_INTERVAL_MINUTES = env.int("SYNC_INTERVAL_MINUTES", default=15)
# Each merchant's daily full reconcile runs at its own minute of the day; the schedule looks for the
# slots that came this often (lists/sync/slots.py).
SYNC_FULL_TICK_MINUTES = env.int("SYNC_FULL_TICK_MINUTES", default=5)
SYNC_REMOVAL_GUARDRAIL_PERCENT = env.float("SYNC_REMOVAL_GUARDRAIL_PERCENT", default=20.0)
SYNC_REMOVAL_GUARDRAIL_MIN_ITEMS = env.int("SYNC_REMOVAL_GUARDRAIL_MIN_ITEMS", default=100)
# Removals published into a list within this window count together (cycles and webhook refreshes).
SYNC_REMOVAL_GUARDRAIL_WINDOW_MINUTES = env.int("SYNC_REMOVAL_GUARDRAIL_WINDOW_MINUTES", default=60)
# A killed worker's lease is free again after this long (the holder extends it every ttl/5 while working).
SYNC_LEASE_TTL_SECONDS = env.int("SYNC_LEASE_TTL_SECONDS", default=300)
# A queued cycle whose task was sent this long ago (and at least a lease TTL) while no cycle runs gets
# its task again from the sweep (the broker lost it).
SYNC_QUEUED_RESEND_SECONDS = env.int("SYNC_QUEUED_RESEND_SECONDS", default=300)
# A full walk of a known program runs this many id-range cursor chains in parallel (1: one per state).
SYNC_FULL_WALK_CHAINS = env.int("SYNC_FULL_WALK_CHAINS", default=4)
# A connection where made-up cursors were found unsupported is asked again after this many days.
SMILE_CAPABILITY_RECHECK_DAYS = env.int("SMILE_CAPABILITY_RECHECK_DAYS", default=7)

# --- Outbound: change feed, webhooks, alerts ------------------------------------------------------
# Feed rows (ListChange: also the history pages' changes) older than this are removed; a cursor before
# them gets 410. 0 keeps everything.
CHANGE_FEED_RETENTION_DAYS = env.int("CHANGE_FEED_RETENTION_DAYS", default=30)
# Endpoints may point at private, loopback and link-local addresses (the demo and tests; never production).
OUTBOUND_ALLOW_PRIVATE_URLS = env.bool("OUTBOUND_ALLOW_PRIVATE_URLS", default=False)
OUTBOUND_BATCH_SIZE = env.int("OUTBOUND_BATCH_SIZE", default=500)
OUTBOUND_TIMEOUT_SECONDS = env.float("OUTBOUND_TIMEOUT_SECONDS", default=10)
# Seconds before each retry (each +-20 % jitter): ~3 days in all; the endpoint is disabled after the last.
OUTBOUND_RETRY_DELAYS = [
    int(x)
    for x in env.list(
        "OUTBOUND_RETRY_DELAYS", default=[5, 30, 120, 600, 1800, 3600, 10800, 21600, 43200, 86400, 86400]
    )
]
OUTBOUND_CONCURRENCY = env.int("OUTBOUND_CONCURRENCY", default=8)  # endpoints delivered to at once
OUTBOUND_DISPATCH_SECONDS = env.int("OUTBOUND_DISPATCH_SECONDS", default=50)  # one dispatcher task's budget
# Delivery threads run at this CPU niceness (Linux): a sync on the same cores goes first (figure 9).
OUTBOUND_THREAD_NICENESS = env.int("OUTBOUND_THREAD_NICENESS", default=10)
OUTBOUND_SECRET_OVERLAP_HOURS = env.float("OUTBOUND_SECRET_OVERLAP_HOURS", default=24)
# "Syncs keep failing" once no cycle has succeeded for this many sync intervals while the latest failed.
ALERT_FAILING_SYNC_INTERVALS = env.int("ALERT_FAILING_SYNC_INTERVALS", default=3)

# --- API ------------------------------------------------------------------------------------------
API_RATE_LIMIT = env.str("API_RATE_LIMIT", default="6000/m")
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=64 * 1024)

# --- Operations (loyalty_lists/ops) -----------------------------------------------------------------
# /metrics answers only `Authorization: Bearer <METRICS_TOKEN>` (without a token: only under DEBUG).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# --- Security -------------------------------------------------------------------------------------
# HTTPS=1 is the production switch: the site is served over HTTPS (directly or behind a TLS proxy), so
# plain HTTP is redirected, cookies are Secure and HSTS is sent for a year. Each piece can be overridden.
HTTPS = env.bool("HTTPS", default=False)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=HTTPS)
# Load balancers and Prometheus probe the processes directly over plain HTTP: no redirect for them.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=SECURE_HSTS_SECONDS > 0)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=SECURE_HSTS_SECONDS > 0)
# Behind a TLS proxy, gunicorn already trusts X-Forwarded-Proto from FORWARDED_ALLOW_IPS (gunicorn.conf.py);
# BEHIND_TLS_PROXY makes Django trust it from anyone, for servers other than gunicorn.
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Proxies that append to X-Forwarded-For: allauth's per-IP login limit then counts the real client,
# not the proxy (with 0, every shopper behind the proxy would share one limit).
ALLAUTH_TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True  # scripts send the token from the page (csrf_token), never from the cookie
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

# django-csp. Pages load only /static/ scripts and styles (htmx is vendored); no inline script or style.
# form-action also lists the Smile authorize origin: "Connect" posts here and is redirected there, and
# browsers (Chrome) apply form-action to the redirect too. img-src data: is for allauth's TOTP QR code.
_smile_authorize = urlsplit(SMILE_OAUTH_AUTHORIZE_URL)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF, f"{_smile_authorize.scheme}://{_smile_authorize.netloc}"],
    },
}
_csp_report_uri = env.str("CSP_REPORT_URI", default="")  # not a CSP_* setting: django-csp 4 rejects those
if _csp_report_uri:
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["report-uri"] = [_csp_report_uri]

# --- Logging --------------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"correlation": {"()": "loyalty_lists.logging.CorrelationIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(correlation_id)s] %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["correlation"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "httpx": {"level": "WARNING"},
        # Both log whole tokens at DEBUG: never let that level through.
        "requests_oauthlib": {"level": "INFO"},
        "oauthlib": {"level": "INFO"},
        "httpcore": {"level": "WARNING"},
    },
}
