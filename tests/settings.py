"""Test settings: the real PostgreSQL and Redis of this machine, plus the few overrides tests need.

Override the servers with DATABASE_URL / REDIS_URL (e.g. to run two suites side by side on other databases).
"""

from __future__ import annotations

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-that-is-long-enough-0123456789")
os.environ.setdefault("SITE_URL", "https://semester.test")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
# Tests talk to our fake servers, never to the real services.
os.environ.pop("OPENAI_API_KEY", None)
os.environ.pop("SENDGRID_API_KEY", None)

from school.settings import *  # noqa: F403

# Tests call tasks directly, or start a real worker where the broker is the point of the test.
CELERY_TASK_ALWAYS_EAGER = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast; security is not under test
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
SECURE_SSL_REDIRECT = False  # the test client speaks plain http to an https SITE_URL
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
# Outside lookups (readings, links, pictures) only in the tests that start their fakes.
QUALITY_LOOKUPS = False
