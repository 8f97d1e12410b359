"""Settings of the bare baseline app (figure 5): the bench settings, no middleware, the bare URLconf."""

from bench.settings import *  # noqa: F403

ROOT_URLCONF = "bench.baselines.bare"
MIDDLEWARE = []
INSTALLED_APPS = []  # no allauth, admin, ninja... only the database connection is used
