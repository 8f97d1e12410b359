import pytest

from loyalty_lists.api.keys import api_key_create
from tests.api.conftest import Api
from tests.lists.conftest import make_list, merchant, run_cycle, smile  # noqa: F401 - fixtures
from tests.support.receiver import Receiver


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def api(client, merchant):  # noqa: F811 - the fixture imported above
    return Api(client, api_key_create(merchant=merchant, name="feed")[1])


def pytest_configure(config):
    """Make the SQLite test database a file the qcluster subprocess of the end-to-end test can open."""
    import os
    import tempfile
    from pathlib import Path

    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3") and not database.get("TEST", {}).get("NAME"):
        path = os.environ.get("SQLITE_TEST_PATH") or str(
            Path(tempfile.gettempdir()) / f"loyalty-lists-test-{os.getpid()}.sqlite3"
        )
        database.setdefault("TEST", {})["NAME"] = path
