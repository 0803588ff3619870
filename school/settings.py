"""Semester's settings: one file, driven by environment variables (see `.env.example`).

With no variable set, Semester runs on one machine: SQLite in `var/`, Celery tasks in-process, a local-memory
cache, email on the console and the offline course generator. Each real service is switched on by its variable.
Django's settings reference: https://docs.djangoproject.com/en/5.2/ref/settings/
"""

from __future__ import annotations

import datetime
import os
import secrets
import sys
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

import dj_database_url
from csp import constants as csp_constants
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from school.env import env_bool, env_choice, env_email, env_float, env_int, env_list, env_str, env_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("SEMESTER_VAR_DIR", str(BASE_DIR / "var")))


# ---------------------------------------------------------------------------------------------------------
# Core
# ---------------------------------------------------------------------------------------------------------
DEBUG = env_bool("DEBUG", False)
SITE_URL = env_url("SITE_URL", "http://127.0.0.1:8000")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = [SITE_URL] if SITE_URL.startswith("https://") else []
DATABASE_URL = env_str("DATABASE_URL")
REDIS_URL = env_url("REDIS_URL", schemes=("redis", "rediss"))


def _secret_key() -> str:
    """SECRET_KEY from the environment; on a one-machine install, a key generated once and kept in var/."""
    key = env_str("SECRET_KEY")
    if key:
        if len(key) < 32:
            raise ImproperlyConfigured("SECRET_KEY must be at least 32 characters long")
        return key
    if DATABASE_URL:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DATABASE_URL is (every process must share it)"
        )
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    # django-ninja's own static files, so the API docs page needs no CDN.
    "ninja",
    "csp",
    # Failed admin password logins, counted and locked out (learners sign in by magic link, never a password).
    "axes",
    "accounts",
    "courses",
    "delivery",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "courses.tutor.middleware.LiveAnswerMiddleware",  # the tutor's answer polls skip the rest of the stack
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "school.http.NoIndexMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks: it answers a locked-out login with 429
]

# ---------------------------------------------------------------------------------------------------------
# Password logins (the admin's only; https://django-axes.readthedocs.io/en/latest/4_configuration.html):
# after AXES_FAILURE_LIMIT wrong passwords from one address, that address is locked out of the admin login
# for AXES_COOLOFF_MINUTES. Every attempt is logged (logger "axes") and listed in the admin.
# ---------------------------------------------------------------------------------------------------------
# AccountBackend reads the signed-in user more cheaply; ModelBackend stays for sessions that name it (signed in
# before AccountBackend existed), so nobody is signed out by an upgrade.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "accounts.backends.AccountBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ONLY_ADMIN_SITE = True
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 30, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["ip_address"]
AXES_CLIENT_IP_CALLABLE = "school.http.client_ip"  # the same proxy rules as every other per-IP limit
AXES_RESET_ON_SUCCESS = True
# Axes logs a configuration banner when Django starts, and every lockout in full. Only the web process needs
# either: commands, Celery and tests would print the banner on every start. school/wsgi.py says it is the web.
AXES_VERBOSE = os.environ.get("SEMESTER_WEB_PROCESS") == "1"

ROOT_URLCONF = "school.urls"
# A course's and a lesson's own page is the learner's (delivery's, with their progress); `courses` links to them
# through get_absolute_url without naming another app's URLs.
ABSOLUTE_URL_OVERRIDES = {
    "courses.course": lambda course: reverse("delivery:course", args=[course.id]),
    "courses.lesson": lambda lesson: reverse("delivery:lesson", args=[lesson.course_id, lesson.id]),
}
WSGI_APPLICATION = "school.wsgi.application"
ASGI_APPLICATION = "school.asgi.application"

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
                "school.context_processors.site",
                "csp.context_processors.nonce",
            ],
        },
    },
]


# ---------------------------------------------------------------------------------------------------------
# Database: PostgreSQL through psycopg 3 when DATABASE_URL is set, else SQLite in var/.
# https://docs.djangoproject.com/en/5.2/ref/databases/#postgresql-notes
# ---------------------------------------------------------------------------------------------------------
def _database() -> dict[str, object]:
    if not DATABASE_URL:
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        # WAL and IMMEDIATE transactions: the background task thread writes while pages are read and written.
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "semester.sqlite3",
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    if not DATABASE_URL.startswith(("postgres://", "postgresql://")):
        raise ImproperlyConfigured(f"DATABASE_URL must be a postgres:// URL, not {DATABASE_URL!r}")
    try:
        config: dict[str, object] = dict(dj_database_url.parse(DATABASE_URL, conn_health_checks=True))
    except ValueError as error:
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid URL: {error}") from None
    # Persistent connections: each worker thread keeps one open for a minute instead of reconnecting.
    config["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0)
    # Prepared statements: a query a connection has run five times is no longer parsed and planned anew, which
    # was most of PostgreSQL's work for the pages every learner opens (bench/README.md, bench_pages.py). They
    # need server-side parameters, and a connection of its own: DATABASE_PREPARED_STATEMENTS=false behind a
    # pooler in transaction mode (PgBouncer). https://docs.djangoproject.com/en/5.2/ref/databases/#server-side-parameters-binding
    if env_bool("DATABASE_PREPARED_STATEMENTS", True):
        options = cast(dict[str, object], config.get("OPTIONS") or {})  # e.g. ?sslmode=require in the URL
        config["OPTIONS"] = {**options, "server_side_binding": True, "prepare_threshold": 5}
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


# ---------------------------------------------------------------------------------------------------------
# Cache: Redis when REDIS_URL is set (shared by every process), else local memory.
# ---------------------------------------------------------------------------------------------------------
CACHES: dict[str, dict[str, object]]
if REDIS_URL:
    # Django's Redis backend, keeping one client per connection pool instead of building one per call.
    CACHES = {"default": {"BACKEND": "school.cache.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Values that never change under their key (a course's structure and rendered outline, keyed on its content
# version): each process keeps those it read in memory, in front of the default cache.
CACHES["versioned"] = {
    "BACKEND": "school.cache.LocalFirstCache",
    "TIMEOUT": 3600,
    "OPTIONS": {"SHARED": "default", "MAX_ENTRIES": 2000},
}
# Values only worth keeping in the process that made them (a learner's own course page), bounded per process.
CACHES["local"] = {
    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    "LOCATION": "local",
    "TIMEOUT": 600,
    "OPTIONS": {"MAX_ENTRIES": 1000},
}


# ---------------------------------------------------------------------------------------------------------
# Accounts: learners sign in by email link; admins keep Django's password login.
# ---------------------------------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:sign_in"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sessions are read from the cache and written through to the database: one query less on every page a
# signed-in learner opens, and nothing lost if the cache is flushed.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
MAGIC_LINK_MAX_AGE_SECONDS = env_int("MAGIC_LINK_MAX_AGE_SECONDS", 20 * 60, minimum=60)
# Sign-in links one address, and one IP address, may ask for per hour (stops mail-bombing a stranger).
MAGIC_LINK_PER_EMAIL_PER_HOUR = env_int("MAGIC_LINK_PER_EMAIL_PER_HOUR", 5, minimum=1)
MAGIC_LINK_PER_IP_PER_HOUR = env_int("MAGIC_LINK_PER_IP_PER_HOUR", 20, minimum=1)


# ---------------------------------------------------------------------------------------------------------
# Internationalisation: UTC in the database; each subscriber's own timezone for their schedule.
# ---------------------------------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# The languages a course can be written in (code, name shown in the form).
COURSE_LANGUAGES = [
    ("en", "English"),
    ("es", "Español"),
    ("fr", "Français"),
    ("de", "Deutsch"),
    ("it", "Italiano"),
    ("pt", "Português"),
    ("nl", "Nederlands"),
    ("pl", "Polski"),
    ("sv", "Svenska"),
    ("tr", "Türkçe"),
    ("uk", "Українська"),
    ("ja", "日本語"),
    ("zh", "中文"),
    ("ko", "한국어"),
    ("hi", "हिन्दी"),
    ("ar", "العربية"),
]
COURSE_WEEKS_DEFAULT = 13
COURSE_WEEKS_MIN = 4
COURSE_WEEKS_MAX = 13
COURSE_TOPIC_MAX_LENGTH = 200

# Courses a visitor may request per day: anonymous visitors per IP address, signed-in learners per account.
COURSE_QUOTA_PER_IP = env_int("COURSE_QUOTA_PER_IP", 3, minimum=0)
COURSE_QUOTA_PER_USER = env_int("COURSE_QUOTA_PER_USER", 20, minimum=0)


# ---------------------------------------------------------------------------------------------------------
# Static and uploaded files: whitenoise serves static files from every process, no separate server needed.
# ---------------------------------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "media/"
# Without collectstatic (the one-machine install), whitenoise serves straight from the app folders. collectstatic
# itself takes the manifest storage, since only that storage writes the staticfiles.json that switches it off.
_COLLECTING_STATIC = sys.argv[1:2] == ["collectstatic"]
WHITENOISE_USE_FINDERS = env_bool(
    "WHITENOISE_USE_FINDERS", not (_COLLECTING_STATIC or (STATIC_ROOT / "staticfiles.json").exists())
)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if WHITENOISE_USE_FINDERS
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}


# ---------------------------------------------------------------------------------------------------------
# The LLM's pace. "default" suits a hosted API (OpenAI and the like): answers in seconds, many at once. "slow"
# suits a model on your own machine (Ollama, llama.cpp, vLLM on a small GPU): one call at a time, minutes per
# answer, few retries, and longer leases for the tasks, the sweeper and the concurrency slots. Each setting it
# sizes can still be set on its own below. Read here because Celery's time limits depend on it.
# ---------------------------------------------------------------------------------------------------------
LLM_PROFILE = env_choice("LLM_PROFILE", "default", ("default", "slow"))
SLOW_LLM = LLM_PROFILE == "slow"


# ---------------------------------------------------------------------------------------------------------
# Celery: Redis as broker when REDIS_URL is set; otherwise every task runs in-process, at once.
# https://docs.celeryq.dev/en/stable/userguide/configuration.html
# ---------------------------------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
# Without a broker, queued tasks run in one background thread of the process, after the response
# (school/queue.py): the request never waits for a course or a PDF to be written.
TASKS_IN_BACKGROUND = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_IGNORE_RESULT = True  # the database is the source of truth; no result backend
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = "UTC"
# Every task is written to be safe to run twice, so a message is acknowledged only once the task has run,
# and a worker killed mid-task hands its message back to the queue.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A prefork worker process loads WeasyPrint and the fonts as it starts (courses.tasks.pdf_warm_up, 1.5 s here);
# Celery kills a process that is not up within this many seconds (4 by default), which a busy host could pass.
CELERY_WORKER_PROC_ALIVE_TIMEOUT = 30
CELERY_TASK_SOFT_TIME_LIMIT = env_int(
    "CELERY_TASK_SOFT_TIME_LIMIT", 4 * 3600 if SLOW_LLM else 300, minimum=10
)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 30
# An unacknowledged message of a dead worker comes back after this many seconds (longer than any task).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 5 * 3600 if SLOW_LLM else 900, minimum=5)
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery closes every database connection after each task unless this is set, so each task would connect
# anew (a new PostgreSQL backend each time); reuse them, and let CONN_MAX_AGE and the health checks retire
# them as for web requests (see school/celery.py).
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000, minimum=0)
# Queues named for the work they hold, so each gets the right pool (see compose.yaml):
# "llm" waits on many LLM calls at once (threads), "mail" waits on SendGrid (threads), "cpu" renders PDFs
# (processes), "default" holds short bookkeeping (sweeps, dispatching).
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "courses.tasks.llm_*": {"queue": "llm"},
    "courses.tasks.lookup_*": {"queue": "llm"},  # outside lookups wait on the network, like LLM calls
    "courses.tasks.render_*": {"queue": "cpu"},
    "delivery.tasks.send_*": {"queue": "mail"},
}
CELERY_BEAT_SCHEDULE = {
    # Every minute: find courses whose worker died mid-generation and queue their missing parts again.
    "sweep-stale-courses": {"task": "courses.tasks.sweep_stale_courses", "schedule": 60.0},
    # Every minute: send each subscriber the week that has come due in their local time.
    "dispatch-due-lessons": {"task": "delivery.tasks.dispatch_due_lessons", "schedule": 60.0},
    # Every five minutes: settle deliveries left in "sending" by a dead worker, before anything is re-sent.
    "reconcile-stuck-deliveries": {"task": "delivery.tasks.reconcile_stuck_deliveries", "schedule": 300.0},
    # Every hour: forget subscriptions never confirmed before their link expired (their addresses too).
    "purge-unconfirmed-subscriptions": {
        "task": "delivery.tasks.purge_unconfirmed_subscriptions",
        "schedule": 3600.0,
    },
}


# ---------------------------------------------------------------------------------------------------------
# LLM: any OpenAI-compatible endpoint. Without OPENAI_API_KEY, the offline generator writes courses.
# ---------------------------------------------------------------------------------------------------------
OPENAI_API_KEY = env_str("OPENAI_API_KEY")
OPENAI_BASE_URL = env_url("OPENAI_BASE_URL", "https://api.openai.com/v1")
OPENAI_MODEL = env_str("OPENAI_MODEL", "gpt-4o-mini")
OPENAI_MODERATION_MODEL = env_str("OPENAI_MODERATION_MODEL", "omni-moderation-latest")
# What the endpoint supports (`manage.py llm_doctor` finds out and prints these). How replies are kept to the
# schema: "json_schema" (OpenAI's strict structured outputs), "json_object" (JSON mode, the schema in the prompt
# and in response_format.schema, which llama-cpp-python and others enforce), or "tools" (a forced tool call).
LLM_STRUCTURED_OUTPUT = env_choice(
    "LLM_STRUCTURED_OUTPUT", "json_schema", ("json_schema", "json_object", "tools")
)
# The token cap's parameter: OpenAI's "max_completion_tokens", or the older "max_tokens" most servers read.
LLM_TOKEN_LIMIT_PARAMETER = env_choice(
    "LLM_TOKEN_LIMIT_PARAMETER", "max_completion_tokens", ("max_completion_tokens", "max_tokens")
)
# Send string lengths (minLength/maxLength) in the schema: OpenAI's strict mode refuses them, but a server that
# turns the schema into a grammar (llama.cpp) then keeps fields non-empty and short enough.
LLM_SCHEMA_LENGTH_LIMITS = env_bool("LLM_SCHEMA_LENGTH_LIMITS", False)
LLM_TIMEOUT_SECONDS = env_float("LLM_TIMEOUT_SECONDS", 900.0 if SLOW_LLM else 120.0, minimum=1.0)
LLM_MAX_RETRIES = env_int("LLM_MAX_RETRIES", 2 if SLOW_LLM else 4, minimum=0, maximum=10)
# Of those retries, how many may follow a timeout. A local server goes on computing the answer its client gave
# up on, so retrying at once only queues more work behind it.
LLM_TIMEOUT_RETRIES = env_int(
    "LLM_TIMEOUT_RETRIES", 0 if SLOW_LLM else LLM_MAX_RETRIES, minimum=0, maximum=10
)
LLM_MAX_CONCURRENCY = env_int("LLM_MAX_CONCURRENCY", 1 if SLOW_LLM else 32, minimum=1)
# Retry waits grow as base × 2^attempt (with jitter), capped; a server's Retry-After is honoured up to the cap.
LLM_BACKOFF_BASE_SECONDS = env_float("LLM_BACKOFF_BASE_SECONDS", 1.0)
LLM_BACKOFF_MAX_SECONDS = env_float("LLM_BACKOFF_MAX_SECONDS", 60.0)
# A concurrency slot held longer than this belongs to a dead worker and is given back (Redis lease).
LLM_SLOT_LEASE_SECONDS = LLM_TIMEOUT_SECONDS + 30
# A course whose generation has shown no progress for this long is picked up again by the sweeper.
GENERATION_STALE_AFTER_SECONDS = env_int(
    "GENERATION_STALE_AFTER_SECONDS", 3 * 3600 if SLOW_LLM else 600, minimum=5
)
# A lesson or quiz claimed longer ago than this is presumed abandoned (its worker died) and is claimed again.
# Longer than one part's worst case: every retry of the LLM call timing out (and, when slow, waiting for a slot).
GENERATION_PART_LEASE_SECONDS = env_int(
    "GENERATION_PART_LEASE_SECONDS", 4 * 3600 if SLOW_LLM else 900, minimum=5
)
# The sweeper writes a failed part again (once its course has gone quiet) until it has been tried this often.
GENERATION_PART_MAX_ATTEMPTS = env_int("GENERATION_PART_MAX_ATTEMPTS", 3, minimum=1)
# An outline waiting for its requester's review this long is written anyway (or dropped, if they said so).
OUTLINE_REVIEW_TIMEOUT_HOURS = env_float("OUTLINE_REVIEW_TIMEOUT_HOURS", 24.0, minimum=0.01)
# The pace the "time to write the rest" estimate shown with an outline assumes (a mini model's).
LLM_ESTIMATE_TOKENS_PER_SECOND = env_float("LLM_ESTIMATE_TOKENS_PER_SECOND", 80.0, minimum=1.0)
# Who judges the meaning of topics and written parts: "openai" (the moderations endpoint of OPENAI_BASE_URL),
# "url" (another OpenAI-compatible moderations endpoint, MODERATION_BASE_URL with MODERATION_API_KEY), "local"
# (Semester's small rule set, for endpoints without /moderations) or "off" (only the content checks).
MODERATION_PROVIDER = env_choice("MODERATION_PROVIDER", "openai", ("openai", "url", "local", "off"))
MODERATION_BASE_URL = env_url("MODERATION_BASE_URL")
MODERATION_API_KEY = env_str("MODERATION_API_KEY")
if MODERATION_PROVIDER == "url" and not MODERATION_BASE_URL:
    raise ImproperlyConfigured("MODERATION_PROVIDER=url needs MODERATION_BASE_URL")
# US dollars per million tokens, (input, cached input, output), for the cost dashboard.
LLM_PRICES_PER_MILLION = {
    "gpt-4o-mini": (0.15, 0.075, 0.60),
    "gpt-4o": (2.50, 1.25, 10.00),
    "gpt-4.1-mini": (0.40, 0.10, 1.60),
    "gpt-4.1": (2.00, 0.50, 8.00),
}
LLM_DAILY_SPEND_CAP_USD = env_float("LLM_DAILY_SPEND_CAP_USD", 50.0)

# Moderation: a written lesson shorter than this many words is flagged as truncated for a moderator to see.
SCREENING_LESSON_MIN_WORDS = env_int("SCREENING_LESSON_MIN_WORDS", 150, minimum=0)
# Parts a requester may regenerate in their own private course per day (moderators are not limited).
REGENERATIONS_PER_USER_PER_DAY = env_int("REGENERATIONS_PER_USER_PER_DAY", 10, minimum=0)
# The tutor: questions one learner may ask per day (site and email together), the longest question taken, and
# the longest answer written.
TUTOR_QUESTIONS_PER_DAY = env_int("TUTOR_QUESTIONS_PER_DAY", 30, minimum=0)
TUTOR_QUESTION_MAX_CHARS = env_int("TUTOR_QUESTION_MAX_CHARS", 2000, minimum=100)
TUTOR_ANSWER_MAX_TOKENS = env_int("TUTOR_ANSWER_MAX_TOKENS", 800, minimum=50)
# Where the browser reaches the ASGI server (`uvicorn school.asgi:application`, compose.yaml's "live") that
# pushes answers as they are written: the site's own origin when the HTTPS proxy sends /tutor/stream/ to it,
# or the server's own (scheme://host:port; a path is ignored). Unset or unreachable, the page polls gunicorn
# for answers instead. Needs REDIS_URL.
_stream_url = urlsplit(env_url("TUTOR_STREAM_URL")) if REDIS_URL else None
TUTOR_STREAM_ORIGIN = (
    f"{_stream_url.scheme}://{_stream_url.netloc}" if _stream_url and _stream_url.netloc else ""
)


# ---------------------------------------------------------------------------------------------------------
# Quality: grounded quizzes, repetition, verified readings, link checks, pictures and the quality report.
# ---------------------------------------------------------------------------------------------------------
# A quiz question's supporting passage must match its lesson at least this well (rapidfuzz partial ratio,
# 0-100); a reply with one below is invalid and asked again.
QUALITY_PASSAGE_MIN_SCORE = env_int("QUALITY_PASSAGE_MIN_SCORE", 90, minimum=50, maximum=100)
# Two paragraphs of a course whose estimated Jaccard similarity (5-word shingles, MinHash) reaches this repeat
# each other.
QUALITY_REPETITION_THRESHOLD = env_float("QUALITY_REPETITION_THRESHOLD", 0.5, minimum=0.1)
# A course whose quality score (0-100) falls below this is held for a moderator; 0 never holds.
QUALITY_HOLD_SCORE_BELOW = env_int("QUALITY_HOLD_SCORE_BELOW", 0, minimum=0, maximum=100)
# A course with at least this many repeated paragraph pairs is held for a moderator; 0 never holds.
QUALITY_HOLD_REPEATED_PARAGRAPHS = env_int("QUALITY_HOLD_REPEATED_PARAGRAPHS", 0, minimum=0)
# A suggested reading no catalogue knows: "show" it as suggested, not verified, or "drop" it.
QUALITY_UNVERIFIED_READINGS = env_str("QUALITY_UNVERIFIED_READINGS", "show")
if QUALITY_UNVERIFIED_READINGS not in {"show", "drop"}:
    raise ImproperlyConfigured('QUALITY_UNVERIFIED_READINGS must be "show" or "drop"')
# Outside lookups (Open Library, Crossref, Wikimedia Commons, link checks); also off without OPENAI_API_KEY.
QUALITY_LOOKUPS = env_bool("QUALITY_LOOKUPS", True)
OPENLIBRARY_URL = env_url("OPENLIBRARY_URL", "https://openlibrary.org")
CROSSREF_URL = env_url("CROSSREF_URL", "https://api.crossref.org")
COMMONS_API_URL = env_url("COMMONS_API_URL", "https://commons.wikimedia.org/w/api.php")
LOOKUPS_TIMEOUT_SECONDS = env_float("LOOKUPS_TIMEOUT_SECONDS", 10.0, minimum=0.1)
LOOKUPS_MAX_RETRIES = env_int("LOOKUPS_MAX_RETRIES", 2, minimum=0, maximum=10)
LOOKUPS_CACHE_SECONDS = env_int("LOOKUPS_CACHE_SECONDS", 7 * 24 * 3600, minimum=0)
# A checked link reads at most this many bytes of its page.
LINK_CHECK_MAX_BYTES = env_int("LINK_CHECK_MAX_BYTES", 512 * 1024, minimum=1024)
# Never from the environment: only tests, whose fakes listen on 127.0.0.1, may let link checks reach loopback.
LINK_CHECK_ALLOW_LOOPBACK = False


# ---------------------------------------------------------------------------------------------------------
# Email: SendGrid when SENDGRID_API_KEY is set, else printed on the console.
# ---------------------------------------------------------------------------------------------------------
SENDGRID_API_KEY = env_str("SENDGRID_API_KEY")
SENDGRID_API_HOST = env_url("SENDGRID_API_HOST", "https://api.sendgrid.com")
SENDGRID_WEBHOOK_PUBLIC_KEY = env_str("SENDGRID_WEBHOOK_PUBLIC_KEY")
SENDGRID_TIMEOUT_SECONDS = env_float("SENDGRID_TIMEOUT_SECONDS", 30.0, minimum=1.0)
# Retries of one SendGrid request after a 429 or 5xx, and the first backoff delay (doubled each time).
SENDGRID_MAX_RETRIES = env_int("SENDGRID_MAX_RETRIES", 4, minimum=0, maximum=10)
SENDGRID_RETRY_BACKOFF_SECONDS = env_float("SENDGRID_RETRY_BACKOFF_SECONDS", 1.0)
# Signed event-webhook posts older than this are refused (a replayed capture).
SENDGRID_WEBHOOK_MAX_AGE_SECONDS = env_int("SENDGRID_WEBHOOK_MAX_AGE_SECONDS", 600, minimum=30)
# Replies to the weekly email reach the tutor through SendGrid's Inbound Parse: its MX points the domain below at
# SendGrid, which posts each email to https://<site>/webhooks/inbound/<SENDGRID_INBOUND_SECRET>. Both empty: the
# weekly email does not offer replies, and the webhook refuses every post.
SENDGRID_INBOUND_SECRET = env_str("SENDGRID_INBOUND_SECRET")
SENDGRID_INBOUND_DOMAIN = env_str("SENDGRID_INBOUND_DOMAIN")
# Inbound posts taken per minute from one IP address (more get 429).
SENDGRID_INBOUND_PER_MINUTE = env_int("SENDGRID_INBOUND_PER_MINUTE", 120, minimum=1)
DEFAULT_FROM_EMAIL = env_email("DEFAULT_FROM_EMAIL", "Semester <semester@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "delivery.email.sendgrid.EmailBackend"
    if SENDGRID_API_KEY
    else "django.core.mail.backends.console.EmailBackend",
)


# ---------------------------------------------------------------------------------------------------------
# Weekly delivery: double opt-in, sending limits and the bulk-sender complaint thresholds.
# ---------------------------------------------------------------------------------------------------------
# How long a confirmation link stays valid.
DELIVERY_CONFIRM_MAX_AGE_SECONDS = env_int("DELIVERY_CONFIRM_MAX_AGE_SECONDS", 3 * 24 * 3600, minimum=300)
# Confirmation emails per address and per IP address in one hour (more requests are refused).
DELIVERY_CONFIRM_LIMIT_PER_ADDRESS = env_int("DELIVERY_CONFIRM_LIMIT_PER_ADDRESS", 3, minimum=1)
DELIVERY_CONFIRM_LIMIT_PER_IP = env_int("DELIVERY_CONFIRM_LIMIT_PER_IP", 20, minimum=1)
# A delivery left in "sending" (or "pending") this long lost its worker (or its task); longer than a task may
# run, and long enough for SendGrid's events to say whether its message went out.
DELIVERY_STUCK_AFTER_SECONDS = env_int("DELIVERY_STUCK_AFTER_SECONDS", 900, minimum=1)
# Attempts at one delivery before it is marked failed for a person to look at.
DELIVERY_MAX_ATTEMPTS = env_int("DELIVERY_MAX_ATTEMPTS", 5, minimum=1)
# The weekly email carries each lesson's opening and a link to the site; true sends every lesson in full, for
# those who read in their mail client (a longer email).
DELIVERY_EMAIL_FULL_LESSONS = env_bool("DELIVERY_EMAIL_FULL_LESSONS", False)
# Spam complaints over the last 7 days: a warning in the admin, then sending pauses by itself (the
# thresholds Gmail and Yahoo set for bulk senders); below the minimum volume the rate is shown, not enforced.
DELIVERY_COMPLAINT_WARN_RATE = env_float("DELIVERY_COMPLAINT_WARN_RATE", 0.001)
DELIVERY_COMPLAINT_PAUSE_RATE = env_float("DELIVERY_COMPLAINT_PAUSE_RATE", 0.003)
DELIVERY_COMPLAINT_MIN_VOLUME = env_int("DELIVERY_COMPLAINT_MIN_VOLUME", 1000, minimum=1)

# ---------------------------------------------------------------------------------------------------------
# Security for deployments behind HTTPS.
# ---------------------------------------------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_HTTPS_PROXY") else None
# How many proxies of ours stand in front of the app, each appending the address it saw to X-Forwarded-For:
# the visitor's address is the one that many entries from the right. 0 trusts no header (REMOTE_ADDR).
TRUSTED_PROXY_HOPS = env_int("TRUSTED_PROXY_HOPS", 1 if SECURE_PROXY_SSL_HEADER else 0, minimum=0, maximum=10)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SITE_URL.startswith("https://")
# A site served over https says so for a year (HSTS) and redirects plain http there; the healthcheck, which asks
# gunicorn directly over http, is exempt. https://docs.djangoproject.com/en/5.2/ref/middleware/#http-strict-transport-security
SECURE_SSL_REDIRECT = SITE_URL.startswith("https://")
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600, minimum=0) if SECURE_SSL_REDIRECT else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
# Preloading puts the domain in browsers' built-in lists for good: the owner's choice, off unless asked for.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp, https://django-csp.readthedocs.io/en/latest/configuration.html): scripts
# only from our own files, or inline with this response's nonce ({{ request.csp_nonce }}); nothing framed, no
# plugins, forms post only here. Inline styles stay allowed (the admin's change list writes one). Images come
# from here and from Wikimedia Commons' upload host (lessons' pictures, courses.quality.pictures).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp_constants.SELF],
        "script-src": [csp_constants.SELF, csp_constants.NONCE],
        "style-src": [csp_constants.SELF, csp_constants.UNSAFE_INLINE],
        "img-src": [csp_constants.SELF, "data:", "https://upload.wikimedia.org"],
        "object-src": [csp_constants.NONE],
        "base-uri": [csp_constants.NONE],
        "frame-ancestors": [csp_constants.NONE],
        "form-action": [csp_constants.SELF],
        # The tutor's answer streams may come from the ASGI server's own address.
        "connect-src": [csp_constants.SELF, *([TUTOR_STREAM_ORIGIN] if TUTOR_STREAM_ORIGIN else [])],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO").upper()},
    # WeasyPrint logs every step of every PDF at INFO; only its warnings are worth reading.
    "loggers": {"weasyprint": {"level": "WARNING"}},
}
