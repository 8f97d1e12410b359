"""Template helpers for the admin pages: one time format, numbers, durations, and the sync panel shown on
the Smile connection page.

Every moment on a page reads the same way, in the merchant's time zone with a relative hint, inside a
``<time>`` whose ``datetime`` is ISO 8601 in UTC with ``Z`` (the format of the CSV export and the API):

    {% load loyalty_web %}
    {{ run.started_at|when }}
        <time datetime="2026-12-06T19:31:00Z">6 Dec 2026, 19:31 GMT · 3 minutes ago</time>
    {{ item.loyalty_member_since|day }}   (a date: tier expiry, member since)
        <time datetime="2026-12-06T19:31:00Z">6 Dec 2026</time>
    {{ lst.item_count|num }}              1,234,567
    {{ run|run_duration }}                2 min 5 s
"""

import contextlib
from datetime import UTC, datetime, timedelta

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.timesince import timesince, timeuntil

from ..progress import sync_progress

register = template.Library()

MOMENT_FORMAT = "j M Y, H:i T"  # 6 Dec 2026, 19:31 GMT
DAY_FORMAT = "j M Y"  # 6 Dec 2026
HINT_SEPARATOR = " · "
# ``chart.py`` (the chart's tick labels) still slices this older compact form; see ``absolute``.
COMPACT_FORMAT = "Y-m-d H:i T"


def iso_utc(value: datetime) -> str:
    """ISO 8601 in UTC with ``Z``, to the second: "2026-12-06T19:31:00Z" (CSV cells, ``<time datetime>``)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def relative(value: datetime, now: datetime | None = None) -> str:
    now = now or timezone.now()
    delta = (now - value).total_seconds()
    if abs(delta) < 60:
        return "just now" if delta >= 0 else "in less than a minute"
    if delta > 0:
        return f"{timesince(value, now, depth=1)} ago"
    return f"in {timeuntil(value, now, depth=1)}"


def moment_text(value: datetime) -> str:
    """ "6 Dec 2026, 19:31 GMT" in the active (the merchant's) time zone."""
    return date_format(timezone.localtime(value), MOMENT_FORMAT)


def moment_with_hint(value: datetime, now: datetime | None = None) -> str:
    """ "6 Dec 2026, 19:31 GMT · 3 minutes ago": the page format as plain text (explanations)."""
    return f"{moment_text(value)}{HINT_SEPARATOR}{relative(value, now)}"


def absolute(value: datetime) -> str:
    """The compact form the member-count chart (``chart.py``) slices for its tick labels."""
    return date_format(timezone.localtime(value), COMPACT_FORMAT)


def _missing(empty: str):
    return format_html('<span class="muted">{}</span>', empty)


@register.filter
def when(value, empty="—"):
    """A moment: ``<time datetime="…Z">6 Dec 2026, 19:31 GMT · 3 minutes ago</time>`` (a datetime, or
    one stored as ISO text in a JSON field)."""
    if not value:
        return _missing(empty)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):  # well formed but no such moment: shown as it is
            value = parse_datetime(value) or value
    if not isinstance(value, datetime):
        return str(value)
    return format_html(
        '<time datetime="{}">{}<span class="hint">{}{}</span></time>',
        iso_utc(value),
        moment_text(value),
        HINT_SEPARATOR,
        relative(value),
    )


@register.filter
def day(value, empty="—"):
    """The date of a moment (tier expiry, member since): ``<time datetime="…Z">6 Dec 2026</time>``."""
    if not value:
        return _missing(empty)
    if not isinstance(value, datetime):
        return str(value)
    return format_html(
        '<time datetime="{}">{}</time>', iso_utc(value), date_format(timezone.localtime(value), DAY_FORMAT)
    )


@register.filter
def num(value):
    if value is None or value == "":
        return "—"
    return intcomma(value, use_l10n=False)


def format_duration(delta: timedelta | None) -> str:
    if delta is None:
        return "—"
    seconds = delta.total_seconds()
    if seconds < 10:
        return f"{seconds:.1f} s"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


@register.filter
def run_duration(run):
    """How long a run took (or has been running)."""
    if run is None or run.started_at is None:
        return "—"
    end = run.finished_at or timezone.now()
    return format_duration(end - run.started_at)


@register.simple_tag(takes_context=True)
def sync_status(context):
    """The merchant's sync progress (latest cycle run, last good sync), for ``web/_sync_panel.html``."""
    request = context.get("request")
    merchant = getattr(request, "merchant", None)
    if merchant is None:
        return None
    return sync_progress(merchant=merchant)
