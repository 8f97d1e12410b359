"""/healthz and /readyz: for load balancers, without a session; readyz answers 503 naming what is down.
(Real Redis and PostgreSQL going away: tests/prod/test_ops.py.)"""

import pytest
from django.db import OperationalError

from loyalty_lists.ops import health


@pytest.fixture
def a_cluster_alive(monkeypatch):
    monkeypatch.setattr(health.Stat, "get_all", staticmethod(lambda: ["a cluster's status"]))


def test_healthz_answers_without_touching_the_database(client):
    response = client.get("/healthz")  # no django_db mark: any query would raise here
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "sessionid" not in response.cookies
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.django_db
def test_readyz_is_ok_when_the_database_the_broker_and_a_cluster_answer(client, a_cluster_alive):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "broker": "ok", "clusters": "1 alive"},
    }


@pytest.mark.django_db
def test_readyz_fails_without_a_cluster(client):
    response = client.get("/readyz")  # no cluster has reported (none runs in this test)
    assert response.status_code == 503
    assert response.json()["checks"]["clusters"] == "none seen in the last 3 s"


@pytest.mark.django_db
def test_readyz_fails_when_the_broker_does_not_answer(client, a_cluster_alive, monkeypatch):
    class DeadBroker:
        def ping(self):
            raise ConnectionError("connection refused")

    monkeypatch.setattr(health, "get_broker", DeadBroker)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {
        "database": "ok",
        "broker": "unreachable (ConnectionError)",
        "clusters": "broker unreachable",
    }


@pytest.mark.django_db
def test_readyz_fails_when_the_database_does_not_answer(client, a_cluster_alive, monkeypatch):
    def down(*args, **kwargs):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(health.connection, "cursor", down)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "unreachable (OperationalError)"


def test_probes_are_not_redirected_to_https(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200
    assert client.get("/lists/").status_code == 301  # the rest of the site is
