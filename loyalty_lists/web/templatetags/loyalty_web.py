"""Template helpers for the admin pages: times in the merchant's zone with relative hints, numbers,
durations, and the sync panel shown on the Smile connection page.

    {% load loyalty_web %}
    {% when run.started_at %}             <time datetime=… title="2025-03-01 14:03 GMT">3 minutes ago</time>
    {% when lst.last_published_at full=True %}   2025-03-01 14:03 GMT (3 minutes ago)
    {{ lst.item_count|num }}              1,234,567
    {{ run|run_duration }}                2 min 5 s
"""

from datetime import datetime, timedelta

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html
from django.utils.timesince import timesince, timeuntil

register = template.Library()

ABSOLUTE_FORMAT = "Y-m-d H:i T"


def relative(value: datetime, now: datetime | None = None) -> str:
    now = now or timezone.now()
    delta = (now - value).total_seconds()
    if abs(delta) < 60:
        return "just now" if delta >= 0 else "in less than a minute"
    if delta > 0:
        return f"{timesince(value, now, depth=1)} ago"
    return f"in {timeuntil(value, now, depth=1)}"


def absolute(value: datetime) -> str:
    return date_format(timezone.localtime(value), ABSOLUTE_FORMAT)


@register.simple_tag
def when(value, full=False, empty="—"):
    """A ``<time>`` element: relative text with the absolute local time in ``title`` (or, ``full``,
    the absolute time with the relative hint after it)."""
    if not value:
        return format_html('<span class="muted">{}</span>', empty)
    if not isinstance(value, datetime):
        return str(value)
    iso = timezone.localtime(value).isoformat(timespec="seconds")
    if full:
        return format_html(
            '<time datetime="{}">{}</time> <span class="muted">({})</span>',
            iso,
            absolute(value),
            relative(value),
        )
    return format_html('<time datetime="{}" title="{}">{}</time>', iso, absolute(value), relative(value))


@register.filter
def local_date(value):
    """A date in the merchant's zone (tier expiry, member since): "2025-03-01"."""
    if not value:
        return ""
    return date_format(timezone.localtime(value), "Y-m-d")


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
    from ..progress import sync_progress

    request = context.get("request")
    merchant = getattr(request, "merchant", None)
    if merchant is None:
        return None
    return sync_progress(merchant=merchant)
