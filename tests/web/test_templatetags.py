"""Times in the merchant's zone with relative hints, numbers, durations."""

import zoneinfo
from datetime import UTC, datetime, timedelta

from django.test import RequestFactory
from django.utils import timezone

from loyalty_lists.web.middleware import MerchantTimezoneMiddleware
from loyalty_lists.web.templatetags.loyalty_web import format_duration, num, relative, when


def test_relative_hints_for_past_and_future():
    now = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    assert relative(now - timedelta(seconds=20), now) == "just now"
    assert relative(now - timedelta(minutes=3, seconds=5), now) == "3\xa0minutes ago"
    assert relative(now + timedelta(hours=5, minutes=1), now) == "in 5\xa0hours"


def test_when_renders_a_time_element_in_the_active_zone():
    value = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    with timezone.override(zoneinfo.ZoneInfo("Europe/Paris")):
        html = when(value)
        full = when(value, full=True)
    assert 'datetime="2025-06-01T14:00:00+02:00"' in html and 'title="2025-06-01 14:00 CEST"' in html
    assert full.startswith('<time datetime="2025-06-01T14:00:00+02:00">2025-06-01 14:00 CEST</time>')
    assert "muted" in when(None)


def test_numbers_are_grouped():
    assert num(1234567) == "1,234,567" and num(0) == "0" and num(None) == "—"


def test_durations_read_naturally():
    assert format_duration(timedelta(seconds=1.25)) == "1.2 s"
    assert format_duration(timedelta(seconds=42)) == "42 s"
    assert format_duration(timedelta(minutes=2, seconds=5)) == "2 min 5 s"
    assert format_duration(timedelta(hours=1, minutes=3)) == "1 h 3 min"


def test_the_middleware_activates_the_merchants_zone(merchant):
    merchant.timezone = "America/Chicago"
    seen = []
    middleware = MerchantTimezoneMiddleware(lambda request: seen.append(timezone.get_current_timezone_name()))
    request = RequestFactory().get("/")
    request.merchant = merchant
    middleware(request)
    request.merchant = None
    middleware(request)
    assert seen == ["America/Chicago", "UTC"]
