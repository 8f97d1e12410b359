"""Experiment (figure 1): the bench settings with the rate limiter's cache in process memory instead of the
SQLite database cache the sync writes to (equivalent for one sync process; not for several workers)."""

from bench.settings import *  # noqa: F403

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
