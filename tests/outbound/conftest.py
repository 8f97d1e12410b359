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
