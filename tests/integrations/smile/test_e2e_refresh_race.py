"""Two workers whose token expired at the same time refresh it once (the refresh token is single use)."""

import threading

import pytest
from django.db import connections

from integrations.smile.models import SmileConnection
from integrations.smile.services import client_for_merchant

from .conftest import connect_with_sandbox_tokens, point_settings_at

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_concurrent_workers_refresh_once_and_stay_connected(smile_sandbox, settings, merchant_a, monkeypatch):
    from integrations.smile import services

    refreshes = []
    real_refresh = services.token_refresh
    monkeypatch.setattr(services, "token_refresh", lambda **kw: refreshes.append(1) or real_refresh(**kw))
    point_settings_at(settings, smile_sandbox)
    connection = connect_with_sandbox_tokens(merchant_a[0], smile_sandbox)
    old_refresh = connection.refresh_token()
    smile_sandbox.expire_tokens()
    clients = [client_for_merchant(merchant_a[0]) for _ in range(4)]  # four "processes", one token each
    barrier, results, errors = threading.Barrier(len(clients)), [], []

    def work(client):
        try:
            barrier.wait()
            with client:
                results.append(len(client.list_vip_tiers()))
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert len(results) == 4
    connection = SmileConnection.objects.get()
    assert connection.status == "connected"
    assert connection.refresh_token() != old_refresh
    assert len(refreshes) == 1
