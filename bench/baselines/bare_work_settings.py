"""Settings of figure 5's "same work" baseline (``baselines/bare_work.py``): the bench settings, no
middleware, the baseline's URLconf."""

from bench.settings import *  # noqa: F403

ROOT_URLCONF = "bench.baselines.bare_work"
MIDDLEWARE = []
# allauth refuses to start without its middleware; the lookup does not use it.
INSTALLED_APPS = [app for app in INSTALLED_APPS if not app.startswith("allauth")]  # noqa: F405
