"""Experiment (figure 4): the bench settings with SQLite's mmap off and a 2 MB page cache."""

from tests.settings import *  # noqa: F403

DATABASES["default"]["OPTIONS"]["init_command"] = (  # noqa: F405
    "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA busy_timeout=30000;PRAGMA temp_store=MEMORY;"
)
