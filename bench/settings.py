"""Settings of every benchmark process (the sync, gunicorn, the cluster, djtool): the product's settings,
production-like (DEBUG off), with throwaway secrets filled in and quiet logs.

Experiments import this module and change one thing (``settings_locmem.py``, ``baselines/*_settings.py``).
"""

import os

os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "YmVuY2gtb25seS1maWVsZC1lbmNyeXB0aW9uLWtleTE=")  # a Fernet key
os.environ.setdefault("PLAIN_STATIC", "1")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("SMILE_ALLOW_SANDBOX", "1")  # benchmarks run against the sandbox

from loyalty_lists.settings import *  # noqa: E402, F403
