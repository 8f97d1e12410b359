"""Settings of the bare baseline app (figure 5): the bench settings, no middleware, the bare URLconf."""

from tests.settings import *  # noqa: F403

ROOT_URLCONF = "bench.bare"
MIDDLEWARE = []
INSTALLED_APPS = []  # no allauth, admin, ninja... only the database connection is used
