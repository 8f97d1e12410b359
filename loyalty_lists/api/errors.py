"""Every error of the JSON API is ``{"error": {"code", "message"}}`` (plus ``details`` on 422) with the right
status — from the API's own code, from ninja (validation, auth, throttling, 405), and from Django (404 for
unknown paths under /api/, oversized bodies, suspicious requests). Nothing under /api/ answers HTML.

| status | code                                                  |
|--------|-------------------------------------------------------|
| 400    | ``malformed_json``, ``invalid_cursor``, ``bad_request`` |
| 401    | ``unauthorized`` (with ``WWW-Authenticate: Bearer``)   |
| 404    | ``not_found``                                          |
| 405    | ``method_not_allowed`` (with ``Allow``)                |
| 413    | ``payload_too_large``                                  |
| 415    | ``unsupported_media_type`` (a body that is not JSON)   |
| 422    | ``validation_error`` (``details``: field and why)      |
| 429    | ``rate_limited`` (with ``Retry-After``)                |
| 500    | ``internal_error`` (a bug: logged, never expected)     |
"""

import json
import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from ninja.errors import AuthenticationError, HttpError, Throttled
from ninja.errors import ValidationError as NinjaValidationError

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/json; charset=utf-8"
_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
}


class ApiError(Exception):
    """Raised by endpoints: becomes an error response with this status, code and message."""

    def __init__(self, status: int, message: str, *, code: str | None = None, details=None):
        super().__init__(message)
        self.status = status
        self.code = code or _CODES.get(status, "error")
        self.message = message
        self.details = details


class PayloadTooLarge(ApiError):
    def __init__(self):
        limit = settings.API_MAX_BODY_BYTES
        super().__init__(413, f"The request body is larger than the limit of {limit} bytes.")


class UnsupportedMediaType(ApiError):
    def __init__(self, content_type: str):
        sent = f"'{content_type}'" if content_type else "none"
        message = f"Send the request body as JSON, with 'Content-Type: application/json' (got {sent})."
        super().__init__(415, message)


def error_response(status: int, code: str, message: str, *, details=None, headers=None) -> HttpResponse:
    error = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    response = HttpResponse(json.dumps({"error": error}), status=status, content_type=CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


# --- ninja exception handlers -----------------------------------------------------------------------


def _field(loc) -> tuple[str, str]:
    """ninja's ``("body", "payload", "vip_tier_id")`` -> ``("body", "vip_tier_id")``; the whole body
    ``("body", "payload")`` -> ``("body", "body")``; ``("query", "limit")`` -> ``("query", "limit")``."""
    loc = [str(part) for part in loc]
    source = loc[0] if loc else ""
    rest = loc[1:]
    if source == "body":
        rest = rest[1:]  # drop the view's parameter name
    return source, ".".join(rest) or source


def _validation_details(errors) -> list[dict]:
    details = []
    for error in errors:
        source, field = _field(error.get("loc", ()))
        message = str(error.get("msg", "Invalid value."))
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        details.append(
            {"field": field, "location": source, "message": message, "type": error.get("type", "")}
        )
    return details


def handle_validation_error(request, exc: NinjaValidationError) -> HttpResponse:
    details = _validation_details(exc.errors)
    if any(d["type"] == "json_invalid" for d in details):
        return error_response(400, "malformed_json", "The request body is not valid JSON.")
    if any(d["field"] == "body" and d["type"] == "missing" for d in details):  # no body at all
        if request.content_type != "application/json":
            return handle_api_error(request, UnsupportedMediaType(request.content_type))
        details = [
            {"field": "body", "location": "body", "message": "A JSON object is required.", "type": "missing"}
        ]
    first = details[0] if details else {"field": "", "message": "Invalid request."}
    message = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    return error_response(422, "validation_error", message, details=details)


def handle_django_validation_error(request, exc: DjangoValidationError) -> HttpResponse:
    if hasattr(exc, "error_dict"):
        details = [
            {"field": field, "location": "body", "message": " ".join(messages), "type": "invalid"}
            for field, messages in exc.message_dict.items()
        ]
    else:
        details = [{"field": "", "location": "body", "message": " ".join(exc.messages), "type": "invalid"}]
    first = details[0]
    message = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    return error_response(422, "validation_error", message, details=details)


def handle_api_error(request, exc: ApiError) -> HttpResponse:
    return error_response(exc.status, exc.code, exc.message, details=exc.details)


def handle_authentication_error(request, exc: AuthenticationError) -> HttpResponse:
    if request.headers.get("Authorization"):
        message = "The API key is invalid or revoked."
        challenge = 'Bearer error="invalid_token"'
    else:
        message = "An API key is required: send 'Authorization: Bearer <key>'."
        challenge = "Bearer"
    return error_response(401, "unauthorized", message, headers={"WWW-Authenticate": challenge})


def handle_throttled(request, exc: Throttled) -> HttpResponse:
    headers = {"Retry-After": str(int(exc.wait))} if exc.wait else {}
    message = "Too many requests for this API key; retry after the time in Retry-After (seconds)."
    return error_response(429, "rate_limited", message, headers=headers)


def handle_http_error(request, exc: HttpError) -> HttpResponse:
    if isinstance(exc.__cause__, ApiError):  # the body parser's (``api.JsonParser``), wrapped by ninja
        return handle_api_error(request, exc.__cause__)
    status = exc.status_code
    if status == 400 and str(exc).startswith("Cannot parse request body"):
        return error_response(400, "malformed_json", "The request body is not valid JSON.")
    return error_response(status, _CODES.get(status, "error"), str(exc))


def handle_404(request, exc: Http404) -> HttpResponse:
    return error_response(404, "not_found", "Not found.")


def handle_too_big(request, exc: RequestDataTooBig) -> HttpResponse:
    return handle_api_error(request, PayloadTooLarge())


def handle_suspicious(request, exc: SuspiciousOperation) -> HttpResponse:
    return error_response(400, "bad_request", "The request could not be processed.")


def handle_unexpected(request, exc: Exception) -> HttpResponse:
    logger.exception("Unhandled error in the JSON API: %s %s", request.method, request.path)
    return error_response(500, "internal_error", "Something went wrong on our side; it has been logged.")


def register_handlers(api) -> None:
    # ninja looks handlers up along the exception's MRO, so the order here does not matter.
    api.add_exception_handler(Exception, handle_unexpected)
    api.add_exception_handler(ApiError, handle_api_error)
    api.add_exception_handler(NinjaValidationError, handle_validation_error)
    api.add_exception_handler(DjangoValidationError, handle_django_validation_error)
    api.add_exception_handler(HttpError, handle_http_error)
    api.add_exception_handler(AuthenticationError, handle_authentication_error)
    api.add_exception_handler(Throttled, handle_throttled)
    api.add_exception_handler(Http404, handle_404)
    api.add_exception_handler(RequestDataTooBig, handle_too_big)
    api.add_exception_handler(SuspiciousOperation, handle_suspicious)


# --- outside ninja: unknown paths ------------------------------------------------------------------


@csrf_exempt
def not_found(request, *args, **kwargs) -> HttpResponse:
    """The last route under /api/: anything no API route matched."""
    return error_response(404, "not_found", f"No API route matches {request.path!r}.")
