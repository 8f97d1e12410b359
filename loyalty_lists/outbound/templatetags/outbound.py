from django import template

from ..selectors import notices_for_merchant

register = template.Library()


@register.inclusion_tag("outbound/_notices.html", takes_context=True)
def alert_notices(context):
    """The overview's notices: open alerts, and the ones resolved within a day."""
    merchant = context.get("current_merchant") or getattr(context.get("request"), "merchant", None)
    return {"notices": notices_for_merchant(merchant=merchant) if merchant else []}
