"""Experiment (figure 4): the bench settings with SQLite's defaults for mmap, page cache and temp store."""

from tests.settings import *  # noqa: F403

DATABASES["default"]["OPTIONS"]["init_command"] = (  # noqa: F405
    "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA busy_timeout=30000;"
)
