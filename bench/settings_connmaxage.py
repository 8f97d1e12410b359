"""Experiment (figure 5): the bench settings with persistent SQLite connections (CONN_MAX_AGE=60)."""

from tests.settings import *  # noqa: F403

DATABASES["default"]["CONN_MAX_AGE"] = 60  # noqa: F405
