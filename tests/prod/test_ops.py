"""/readyz on the production path: a real gunicorn, a real cluster on Redis, PostgreSQL; then the same
server pointed at a Redis and a PostgreSQL that do not answer (a free port nobody listens on)."""

from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from tests.prod.processes import free_port, wait_until

pytestmark = pytest.mark.usefixtures("transactional_db")


def dead(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit(":", 1)[0] + f":{free_port()}"))


def test_readyz_is_ok_with_the_database_the_broker_and_a_live_cluster(start_gunicorn, start_qcluster):
    _server, base = start_gunicorn(workers=1)
    assert httpx.get(f"{base}/readyz").status_code == 503  # no cluster yet
    start_qcluster()
    ready = wait_until(lambda: (r := httpx.get(f"{base}/readyz")).status_code == 200 and r, timeout=60)
    assert ready.json() == {
        "status": "ok",
        "checks": {"database": "ok", "broker": "ok", "clusters": "1 alive"},
    }


def test_readyz_fails_when_the_broker_is_down(start_gunicorn, prod_env):
    _server, base = start_gunicorn(workers=1, REDIS_URL=dead(prod_env["REDIS_URL"]))
    response = httpx.get(f"{base}/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {
        "database": "ok",
        "broker": "unreachable (ConnectionError)",
        "clusters": "broker unreachable",
    }
    assert httpx.get(f"{base}/healthz").status_code == 200


def test_readyz_fails_when_the_database_is_down(start_gunicorn, prod_env):
    _server, base = start_gunicorn(workers=1, DATABASE_URL=dead(prod_env["DATABASE_URL"]))
    response = httpx.get(f"{base}/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "unreachable (OperationalError)"
    assert httpx.get(f"{base}/healthz").status_code == 200, "the process itself is up"
