"""Times in the merchant's zone with relative hints, numbers, durations."""

import zoneinfo
from datetime import UTC, datetime, timedelta

from django.test import RequestFactory
from django.utils import timezone

from loyalty_lists.web.middleware import MerchantTimezoneMiddleware
from loyalty_lists.web.templatetags.loyalty_web import day, format_duration, iso_utc, num, relative, when


def test_relative_hints_for_past_and_future():
    now = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    assert relative(now - timedelta(seconds=20), now) == "just now"
    assert relative(now - timedelta(minutes=3, seconds=5), now) == "3\xa0minutes ago"
    assert relative(now + timedelta(hours=5, minutes=1), now) == "in 5\xa0hours"


def test_when_reads_the_one_page_format_with_a_relative_hint_and_a_utc_datetime():
    value = timezone.now().replace(microsecond=0) - timedelta(minutes=3)
    with timezone.override(zoneinfo.ZoneInfo("Europe/Paris")):
        html = when(value)
        local = timezone.localtime(value)
    iso = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    moment = f"{local.day} {local:%b %Y, %H:%M} {local.tzname()}"
    assert html == f'<time datetime="{iso}">{moment}<span class="hint"> · 3\xa0minutes ago</span></time>'
    assert "muted" in when(None) and "—" in when(None)
    assert when(value.isoformat()) == when(value), "a moment kept as ISO text (a JSON report) reads the same"
    assert when("2026-13-45T00:00:00Z") == "2026-13-45T00:00:00Z", "no such moment: shown as it is"


def test_day_shows_the_date_in_the_active_zone_with_a_utc_datetime():
    value = datetime(2025, 6, 1, 23, 30, tzinfo=UTC)
    with timezone.override(zoneinfo.ZoneInfo("Europe/Paris")):
        assert day(value) == '<time datetime="2025-06-01T23:30:00Z">2 Jun 2025</time>'
    assert "muted" in day(None)


def test_iso_utc_writes_z_from_any_zone():
    paris = datetime(2025, 6, 1, 14, 0, 5, 999, tzinfo=zoneinfo.ZoneInfo("Europe/Paris"))
    assert iso_utc(paris) == "2025-06-01T12:00:05Z"


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
