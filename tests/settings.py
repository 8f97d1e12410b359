"""Test settings: production-like (DEBUG off) with throwaway secrets filled in.

Subprocesses started by end-to-end tests (qcluster, gunicorn) use this module too
(``DJANGO_SETTINGS_MODULE=tests.settings``).
"""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz")
# A valid Fernet key used only by the test suite.
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "dGVzdC1vbmx5LWZpZWxkLWVuY3J5cHRpb24ta2V5LTE=")
os.environ.setdefault("PLAIN_STATIC", "1")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("SMILE_ALLOW_SANDBOX", "1")  # every test talks to the sandbox
os.environ.setdefault("OUTBOUND_ALLOW_PRIVATE_URLS", "1")  # receivers on 127.0.0.1 (SSRF tests turn it off)
# Deliveries in the test's thread: a test's rows (in its transaction) are invisible to other threads. The
# end-to-end tests' task clusters get the threads (their environment sets it).
os.environ.setdefault("OUTBOUND_CONCURRENCY", "1")

from loyalty_lists.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast; tests only
