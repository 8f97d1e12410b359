"""Experiment (figure 5): the bare app's settings with persistent SQLite connections."""

from bench.bare_settings import *  # noqa: F403

DATABASES["default"]["CONN_MAX_AGE"] = 60  # noqa: F405
