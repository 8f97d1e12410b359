"""Settings of figure 5's "same work" baseline (``bench/bare_work.py``): the bench settings, no
middleware, the baseline's URLconf."""

from tests.settings import *  # noqa: F403

ROOT_URLCONF = "bench.bare_work"
MIDDLEWARE = []
