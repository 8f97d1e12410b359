"""The fetch helper process: the same pages, errors and retries as fetching in-process, against the
real sandbox; a helper that dies or misbehaves never costs a page."""

import logging
import os
import subprocess
import sys
import time
from datetime import UTC, datetime

import httpx
import pytest

from integrations.smile import fetch_helper
from integrations.smile.client import SmileClient
from integrations.smile.errors import SmileAuthError, SmileBadResponse, SmileUnavailable
from integrations.smile.oauth import StaticTokenProvider
from integrations.smile.types import PreparedPage
from loyalty_lists.lists.models import CustomerState
from loyalty_lists.lists.sync import rows as rows_module
from loyalty_lists.lists.sync.rows import RowBuilder, as_is, utc_text

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]

BUILDER = RowBuilder(7, {}, utc_text)


def make_client(sandbox, token, **kwargs):
    kwargs.setdefault("max_attempts", 4)
    kwargs.setdefault("timeout", 2.0)
    provider = kwargs.pop("provider", None) or StaticTokenProvider(token)
    return SmileClient(base_url=sandbox.api_base, token_provider=provider, rate_limiter=None, **kwargs)


def without_seen_at(pages):
    """The rows minus the time they were built (``seen_at``), which differs between two walks."""
    return [(p.ids, [(r[0], r[1], r[3][:11] + r[3][12:]) for r in p.rows], p.next_cursor) for p in pages]


def test_pages_through_the_helper_equal_pages_prepared_here(sandbox, token):
    with make_client(sandbox, token) as client:
        here = list(client.iter_customer_pages(limit=250, prepare=BUILDER))
        with client.offloading() as offloaded:
            assert offloaded and client.offloads
            helper = client._helper
            started = datetime.now(UTC)
            there = list(client.iter_customer_pages(limit=250, prepare=BUILDER))
        assert not client.offloads
    assert helper.proc.poll() is not None, "the helper exits with the offloading block"
    assert all(isinstance(p, PreparedPage) for p in there)
    assert without_seen_at(there) == without_seen_at(here)
    assert sum(len(p.ids) for p in there) == 2000
    assert all(r[2] >= started for p in there for r in p.rows), "seen_at is when the helper built the row"


def test_the_plain_pages_api_is_unchanged_inside_offloading(sandbox, token):
    with make_client(sandbox, token) as client, client.offloading():
        page = next(client.iter_customer_pages(limit=50))
    assert len(page.customers) == 50


@pytest.mark.parametrize("kind", ["429", "500", "malformed"])
def test_a_short_fault_through_the_helper_is_retried_to_success(sandbox, token, kind):
    sandbox.fault(kind, count=2, path_prefix="/v1/customers")
    started = time.time()
    with make_client(sandbox, token) as client, client.offloading():
        page = next(client.iter_customer_pages(limit=50, prepare=BUILDER))
    assert len(page.rows) == 50
    statuses = [entry["status"] for entry in sandbox.requests_log(since=started)]
    assert len(statuses) == 3 and statuses[-1] == 200


@pytest.mark.parametrize(
    ("kind", "error"),
    [("500", SmileUnavailable), ("malformed", SmileBadResponse), ("hang", SmileUnavailable)],
)
def test_a_lasting_fault_through_the_helper_ends_in_the_same_typed_error(sandbox, token, kind, error):
    sandbox.fault(kind, count=50, hang_seconds=30, path_prefix="/v1/customers")
    started = time.time()
    with (
        pytest.raises(error),
        make_client(sandbox, token, max_attempts=3, timeout=0.5) as client,
        client.offloading(),
    ):
        next(client.iter_customer_pages(limit=50, prepare=BUILDER))
    assert time.time() - started < 10
    assert len(sandbox.requests_log(since=started)) == 3


def test_a_rejected_token_through_the_helper_is_refreshed_once(sandbox):
    class Rotating:
        def __init__(self):
            self.token, self.refreshes = "revoked-token", 0

        def get_token(self):
            return self.token

        def refresh_after_401(self):
            self.refreshes += 1
            self.token = sandbox.issue_token()["access_token"]
            return self.token

    provider = Rotating()
    with make_client(sandbox, None, provider=provider) as client, client.offloading():
        page = next(client.iter_customer_pages(limit=10, prepare=BUILDER))
    assert (len(page.rows), provider.refreshes) == (10, 1)


def test_a_token_rejected_after_the_refresh_is_an_auth_error(sandbox):
    with pytest.raises(SmileAuthError), make_client(sandbox, "not-a-token") as client, client.offloading():
        next(client.iter_customer_pages(limit=10, prepare=BUILDER))


def test_a_helper_killed_mid_walk_costs_no_page(sandbox, token, caplog):
    with make_client(sandbox, token) as client, client.offloading():
        pages = client.iter_customer_pages(limit=100, prepare=BUILDER)
        ids = list(next(pages).ids)
        client._helper.proc.kill()
        client._helper.proc.wait()
        with caplog.at_level(logging.WARNING, logger="integrations.smile.client"):
            ids += [i for page in pages for i in page.ids]
        assert not client.offloads
    assert len(ids) == len(set(ids)) == 2000
    assert "The fetch helper stopped" in caplog.text


def test_a_prepare_that_does_not_pickle_runs_here_and_the_helper_stays(sandbox, token):
    with make_client(sandbox, token) as client, client.offloading():
        page = next(
            client.iter_customer_pages(limit=10, prepare=lambda customers, seen_at: [c.id for c in customers])
        )
        assert client.offloads
    assert page.rows == page.ids and len(page.ids) == 10


def test_a_prepare_that_raises_in_the_helper_raises_its_own_error_here(sandbox, token, caplog):
    with make_client(sandbox, token) as client, client.offloading():
        with caplog.at_level(logging.WARNING), pytest.raises(TypeError):
            next(client.iter_customer_pages(limit=10, prepare=RowBuilder(7, {}, int)))  # int(datetime)
        assert client.offloads, "one bad request does not stop the helper"
    assert "The fetch helper failed a request (TypeError" in caplog.text


def test_the_token_is_never_logged_by_either_side(sandbox, token, caplog, capfd):
    sandbox.fault("500", count=1, path_prefix="/v1/customers")
    with caplog.at_level(logging.DEBUG), make_client(sandbox, token) as client, client.offloading():
        list(client.iter_customer_pages(limit=250, prepare=BUILDER))
    out, err = capfd.readouterr()
    assert token not in caplog.text + out + err
    assert "GET /customers" in caplog.text or "customers?" in caplog.text


def test_an_injected_transport_keeps_fetching_in_this_process():
    transport = httpx.MockTransport(lambda request: httpx.Response(500))
    client = SmileClient(
        base_url="http://smile.test", token_provider=StaticTokenProvider("t"), transport=transport
    )
    with client, client.offloading() as offloaded:
        assert (offloaded, client.offloads) == (False, False)


def test_a_helper_that_cannot_start_leaves_fetching_here(sandbox, token, monkeypatch, caplog):
    def fail(*args, **kwargs):
        raise OSError("no processes left")

    monkeypatch.setattr(fetch_helper.subprocess, "Popen", fail)
    with (
        make_client(sandbox, token) as client,
        caplog.at_level(logging.WARNING),
        client.offloading() as offloaded,
    ):
        page = next(client.iter_customer_pages(limit=10, prepare=BUILDER))
    assert (offloaded, len(page.rows)) == (False, 10)
    assert "did not start" in caplog.text


def test_the_helper_exits_when_its_client_goes_away():
    helper = fetch_helper.FetchHelper("http://127.0.0.1:9/", 1.0, {})
    helper.proc.stdin.close()  # what the operating system does when the sync's process dies
    assert helper.proc.wait(timeout=10) == 0


def test_the_helper_and_the_row_builder_need_no_django():
    code = (
        "import sys, pickle; import integrations.smile.fetch_helper, loyalty_lists.lists.sync.rows as r;"
        "b = pickle.loads(pickle.dumps(r.RowBuilder(1, {2: 'Gold'})));"
        "assert not [m for m in sys.modules if m == 'django' or m.startswith('django.')], 'django imported'"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], cwd=fetch_helper.ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_the_row_builders_member_state_is_the_models():
    assert rows_module.MEMBER == CustomerState.MEMBER
    assert as_is(datetime(2024, 1, 1, tzinfo=UTC)) == datetime(2024, 1, 1, tzinfo=UTC)
