"""``smile_doctor``: against the default sandbox every probe passes; against each mode that plays an
unknown of Smile differently, it names the assumption that does not hold and what the product does."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from integrations.smile import capabilities
from integrations.smile.models import SmileConnection
from integrations.smile.selectors import connection_capability
from loyalty_lists.merchants.models import Merchant
from tests.integrations.smile.conftest import connect_with_sandbox_tokens, point_settings_at

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def doctor(smile_sandbox_factory, settings, live_server):
    def run(**modes):
        sandbox = smile_sandbox_factory(
            customers=600,
            rate_limit=10,
            webhook_url=f"{live_server.url}/integrations/smile/webhooks",
            **modes,
        )
        point_settings_at(settings, sandbox)
        settings.SMILE_WEBHOOK_SECRET = sandbox.client_secret
        merchant = Merchant.objects.create(slug=f"doc{Merchant.objects.count()}", name="Doc")
        connect_with_sandbox_tokens(merchant, sandbox)
        sandbox.ping_webhook()
        sandbox.webhook_deliveries(wait=10)
        out = StringIO()
        try:
            call_command("smile_doctor", "--merchant", merchant.slug, stdout=out)
            failed = False
        except CommandError:
            failed = True
        lines = {line.split("]", 1)[1].split(":", 1)[0].strip(): line for line in out.getvalue().splitlines()}
        return lines, failed, merchant, sandbox

    return run


def test_every_probe_passes_against_the_default_sandbox(doctor):
    from django.core.cache import cache

    cache.clear()
    lines, failed, merchant, sandbox = doctor()
    sandbox.ping_webhook()
    print("\n".join(lines.values()))
    assert not failed
    assert all(line.startswith("[PASS]") for line in lines.values()), lines
    assert set(lines) >= {
        "scopes",
        "customers readable",
        "VIP tiers readable",
        "cursor format",
        "made-up cursors",
        "updated_at_min",
        "rate-limit headers",
        "account id",
        "webhooks",
    }
    assert "inclusive" in lines["updated_at_min"] and "verified ping" in lines["webhooks"]
    assert connection_capability(merchant=merchant, name=capabilities.ID_RANGE)["verdict"] == "verified"


@pytest.mark.parametrize(
    ("modes", "name", "says"),
    [
        (
            {"cursor_mode": "opaque-400"},
            "made-up cursors",
            "full walks run per state with Smile's own cursors",
        ),
        ({"cursor_mode": "opaque-wrong"}, "made-up cursors", "read a made-up cursor differently"),
        ({"vip_tiers_status": 403}, "VIP tiers readable", "tier lists are unavailable"),
        ({"no_account_id": True}, "account id", "counted as unrouted"),
        ({"updated_at_min": "exclusive"}, "updated_at_min", "exclusive"),
    ],
)
def test_each_degraded_mode_names_the_assumption_and_the_fallback(doctor, modes, name, says):
    lines, failed, merchant, _sandbox = doctor(**modes)
    print(lines[name])
    assert not failed, "a degraded Smile is worked around, not a failure"
    assert lines[name].startswith("[WARN]") and says in lines[name]
    others = [line for key, line in lines.items() if key not in (name, "webhooks")]
    assert all(line.startswith("[PASS]") for line in others), others


def test_rate_limit_headers_are_reported_when_smile_sends_them(doctor):
    lines, _failed, _merchant, _sandbox = doctor(rate_limit_headers=True)
    assert (
        "X-RateLimit" in lines["rate-limit headers"] or "x-ratelimit" in lines["rate-limit headers"].lower()
    )


def test_a_revoked_token_is_a_failure_that_says_reconnect(doctor, smile_sandbox_factory):
    lines, failed, merchant, sandbox = doctor()
    sandbox.revoke_tokens()
    SmileConnection.objects.filter(merchant=merchant).update(expires_at=None)
    with pytest.raises(CommandError):
        call_command("smile_doctor", "--merchant", merchant.slug, stdout=StringIO())
