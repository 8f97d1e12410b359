from django.conf import settings
from django.core.checks import Error, register

from .ratelimit import parse_rate


@register()
def api_settings_check(app_configs, **kwargs):
    errors = []
    try:
        parse_rate(settings.API_RATE_LIMIT)
    except (ValueError, TypeError, AttributeError):
        errors.append(
            Error(f"API_RATE_LIMIT={settings.API_RATE_LIMIT!r} is not a rate like '6000/m'.", id="api.E001")
        )
    if not isinstance(settings.API_MAX_BODY_BYTES, int) or settings.API_MAX_BODY_BYTES < 1:
        errors.append(Error("API_MAX_BODY_BYTES must be a positive number of bytes.", id="api.E002"))
    return errors
