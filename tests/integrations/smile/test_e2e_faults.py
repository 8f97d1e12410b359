"""Each sandbox fault ends in success after retries, or in a typed error — never a hang."""

import time

import pytest

from integrations.smile.client import SmileClient
from integrations.smile.errors import SmileBadResponse, SmileRateLimited, SmileUnavailable
from integrations.smile.oauth import StaticTokenProvider

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]


def make_client(sandbox, token, **kwargs):
    kwargs.setdefault("max_attempts", 4)
    kwargs.setdefault("timeout", 2.0)
    return SmileClient(base_url=sandbox.api_base, token_provider=StaticTokenProvider(token), **kwargs)


@pytest.mark.parametrize("kind", ["429", "500", "503", "malformed"])
def test_a_short_fault_is_retried_to_success(sandbox, token, kind):
    sandbox.fault(kind, count=2, path_prefix="/v1/customers")
    started = time.time()
    with make_client(sandbox, token) as client:
        page = next(client.iter_customer_pages(limit=50))
    assert len(page.customers) == 50
    statuses = [entry["status"] for entry in sandbox.requests_log(since=started)]
    assert len(statuses) == 3 and statuses[-1] == 200
    assert time.time() - started < 10


def test_a_hang_times_out_and_is_retried_to_success(sandbox, token):
    sandbox.fault("hang", count=1, hang_seconds=30)
    started = time.time()
    with make_client(sandbox, token, timeout=0.5) as client:
        assert client.list_vip_tiers()
    assert time.time() - started < 5


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("429", SmileRateLimited),
        ("500", SmileUnavailable),
        ("503", SmileUnavailable),
        ("malformed", SmileBadResponse),
        ("hang", SmileUnavailable),
    ],
)
def test_a_lasting_fault_ends_in_a_typed_error(sandbox, token, kind, error):
    sandbox.fault(kind, count=50, hang_seconds=30)
    started = time.time()
    with pytest.raises(error), make_client(sandbox, token, max_attempts=3, timeout=0.5) as client:
        client.list_vip_tiers()
    assert time.time() - started < 10
    assert len(sandbox.requests_log(since=started)) == 3
