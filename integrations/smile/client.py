"""HTTP client for the Smile.io REST API (read-only: VIP tiers and customers).

    client = services.client_for_merchant(merchant, correlation_id="run-42")  # a merchant's connection
    with client:
        tiers = client.list_vip_tiers()
        for page in client.iter_customer_pages(state="member"):
            ...

* One pooled ``httpx.Client`` with connect/read timeouts on every call; thread-safe, so several cursor
  chains may share one client.
* Every request first waits for the token's shared rate-limit budget (``ratelimit.py``).
* 429 waits for ``Retry-After`` (or the 1 s reset) plus jitter; 5xx, timeouts, connection errors and
  malformed bodies back off exponentially with full jitter; both bounded by ``SMILE_MAX_ATTEMPTS``.
  400/422 → ``SmileApiError``, 403 → ``SmileScopeError``, 404 → ``SmileNotFound``: never retried.
  401 → one ``token_provider.refresh_after_401()``, then ``SmileAuthError``.
* Only parsed ``types.py`` objects leave this module. Tokens are never logged; the correlation id is in
  every log line and sent as ``X-Request-Id``.
"""

import base64
import email.utils
import functools
import logging
import random
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
import orjson
from django.conf import settings

from loyalty_lists import metrics
from loyalty_lists.logging import get_correlation_id

from . import parsing
from .errors import (
    SmileApiError,
    SmileAuthError,
    SmileBadResponse,
    SmileError,
    SmileNotFound,
    SmileRateLimited,
    SmileScopeError,
    SmileUnavailable,
)
from .ratelimit import RateLimiter, limiter_for_token
from .types import CustomerData, CustomerPage, VipTierData

logger = logging.getLogger(__name__)

BACKOFF_BASE = 0.5  # seconds; attempt n waits uniform(0, min(cap, base * 2**(n-1)))
BACKOFF_CAP = 30.0
RATE_LIMIT_RESET = 1.0  # Smile's window resets after one second
RATE_LIMIT_JITTER = 0.25
RETRY_AFTER_CAP = 60.0
USER_AGENT = "smile-loyalty-lists/1.0"
RATE_LIMIT_HEADERS = ("x-ratelimit", "ratelimit", "retry-after")


class TokenProvider(Protocol):
    def get_token(self) -> str: ...

    def refresh_after_401(self) -> str: ...


class _PerTokenLimiter:
    """Default limiting: the shared budget of whichever token a request carries."""


PER_TOKEN = _PerTokenLimiter()


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One TLS context per process: loading the CA bundle costs ~15 ms of CPU, as much as a whole
    no-change delta cycle should (bench figure 10), and a client is made per cycle."""
    return httpx.create_ssl_context()


class SmileClient:
    def __init__(
        self,
        *,
        base_url: str,
        token_provider: TokenProvider,
        correlation_id: str | None = None,
        rate_limiter: RateLimiter | _PerTokenLimiter | None = PER_TOKEN,
        timeout: float | None = None,
        max_attempts: int | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        cid = correlation_id or get_correlation_id()
        self.correlation_id = cid if cid and cid != "-" else f"smile-{uuid.uuid4().hex[:12]}"
        self.timeout = settings.SMILE_HTTP_TIMEOUT if timeout is None else timeout
        self.max_attempts = max(1, settings.SMILE_MAX_ATTEMPTS if max_attempts is None else max_attempts)
        self._tokens = token_provider
        self._rate_limiter = rate_limiter
        self._sleep = sleep
        self._random = random.Random()
        self.rate_limit_headers: set[str] = set()  # rate-limit headers Smile sent (none documented)
        self.capabilities: dict | None = None  # the connection's, when made by client_for_merchant
        self._random_lock = threading.Lock()
        self._http = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            timeout=httpx.Timeout(self.timeout),
            transport=transport,
            verify=_ssl_context(),
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
            follow_redirects=False,
        )

    # --- lifecycle ------------------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "SmileClient":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<SmileClient {self._http.base_url} correlation_id={self.correlation_id}>"

    # --- public API -----------------------------------------------------------------------------
    def list_vip_tiers(self) -> list[VipTierData]:
        """GET /v1/vip_tiers: every tier, ordered by milestone (no pagination)."""
        return self._get("vip_tiers", {}, parsing.parse_vip_tiers)

    @staticmethod
    def cursor_before(customer_id: int) -> str:
        """A cursor for the customers page that starts below ``customer_id`` (ids descending).

        Smile calls cursors opaque, but its documented example decodes to ``id:2,direction:next``: a
        keyset on id. The sync engine uses this only to split a full walk into id ranges, checks that
        Smile honoured it, and falls back to per-state chains when not (``lists/sync/fetch.py``)."""
        return base64.b64encode(f"id:{int(customer_id)},direction:next".encode()).decode()

    def iter_customer_pages(
        self,
        state: str | None = None,
        updated_at_min: datetime | str | None = None,
        start_cursor: str | None = None,
        limit: int = 250,
        *,
        first_attempts: int | None = None,
    ) -> Iterator[CustomerPage]:
        """GET /v1/customers?include=vip_status, one page (one HTTP call) per iteration.
        ``first_attempts``: fewer attempts for the first page (a cursor we made: its failure is an answer,
        not something to retry for half a minute)."""
        if not 1 <= limit <= 250:
            raise ValueError("limit must be between 1 and 250")
        params: dict[str, Any] = {"include": "vip_status", "limit": limit}
        if state:
            params["state"] = state
        if updated_at_min is not None:
            params["updated_at_min"] = _format_time(updated_at_min)
        cursor = start_cursor or None
        attempts = first_attempts
        while True:
            page_params = dict(params, cursor=cursor) if cursor else params
            page = self._get(
                "customers",
                page_params,
                lambda body, c=cursor: parsing.parse_customer_page(body, cursor=c),
                attempts=attempts,
            )
            attempts = None
            yield page
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def get_customer(self, customer_id: int) -> CustomerData | None:
        """GET /v1/customers/{id}?include=vip_status; None when Smile answers 404."""
        try:
            return self._get(
                f"customers/{int(customer_id)}", {"include": "vip_status"}, parsing.parse_single_customer
            )
        except SmileNotFound:
            return None

    def health_check(self) -> None:
        """A cheap authenticated call every connection may make (GET /v1/customers?limit=1: the
        ``customer:read`` scope; VIP tiers are a paid-plan feature); raises the typed error when it fails."""
        next(self.iter_customer_pages(limit=1))

    # --- transport ------------------------------------------------------------------------------
    def _throttle(self, token: str) -> None:
        limiter = self._rate_limiter
        if limiter is None:
            return
        if isinstance(limiter, _PerTokenLimiter):
            limiter = limiter_for_token(token)
        limiter.acquire()

    def _log(self, level: int, msg: str, *args) -> None:
        logger.log(level, msg, *args, extra={"correlation_id": self.correlation_id})

    def _get(self, path: str, params: dict, parse: Callable[[Any], Any], attempts: int | None = None) -> Any:
        max_attempts = min(attempts or self.max_attempts, self.max_attempts)
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            token = self._tokens.get_token()
            self._throttle(token)
            delay: float | None = None
            started = time.monotonic()
            try:
                response = self._http.get(
                    path,
                    params=params,
                    headers={"Authorization": f"Bearer {token}", "X-Request-Id": self.correlation_id},
                )
            except httpx.TimeoutException:
                metrics.smile_request("timeout")
                failure: SmileError = SmileUnavailable(
                    f"Smile did not answer GET /{path} within {self.timeout:g} s"
                )
            except httpx.TransportError as exc:
                metrics.smile_request("unreachable")
                failure = SmileUnavailable(f"Could not reach Smile for GET /{path} ({type(exc).__name__})")
            else:
                status = response.status_code
                metrics.smile_request(status)
                target = _target(response)
                self.rate_limit_headers.update(
                    name for name in response.headers if name.lower().startswith(RATE_LIMIT_HEADERS)
                )
                self._log(
                    logging.DEBUG,
                    "GET %s -> %s in %.0f ms (attempt %s)",
                    target,
                    status,
                    (time.monotonic() - started) * 1000,
                    attempt,
                )
                if 200 <= status < 300:
                    try:
                        return parse(parsing.parse_json(response.content, path))
                    except SmileBadResponse as exc:
                        failure = exc
                        failure.status = status
                elif status == 401:
                    if refreshed:
                        self._auth_failed()
                        raise SmileAuthError(
                            "Smile rejected the credentials again after a token refresh", status=401
                        )
                    refreshed = True
                    attempt -= 1  # the refresh is not a failed attempt
                    self._log(logging.INFO, "GET %s -> 401; refreshing the token once", target)
                    self._tokens.refresh_after_401()
                    continue
                elif status == 429:
                    failure = _error(SmileRateLimited, "Smile kept answering 429 Too Many Requests", response)
                    delay = _retry_after(response.headers.get("Retry-After"))
                    delay = (RATE_LIMIT_RESET if delay is None else delay) + self._uniform(
                        0, RATE_LIMIT_JITTER
                    )
                elif status >= 500:
                    failure = _error(SmileUnavailable, "Smile is unavailable", response)
                elif status == 403:
                    raise _error(
                        SmileScopeError, "Smile refused access (a required scope is missing)", response
                    )
                elif status == 404:
                    raise _error(SmileNotFound, "Not found on Smile", response)
                else:
                    raise _error(SmileApiError, f"Smile rejected GET /{path}", response)
            if attempt >= max_attempts:
                self._log(logging.WARNING, "GET /%s failed after %s attempts: %s", path, attempt, failure)
                raise failure
            if delay is None:
                delay = self._uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)))
            self._log(
                logging.WARNING,
                "GET /%s attempt %s failed (%s); retrying in %.2f s",
                path,
                attempt,
                failure,
                delay,
            )
            self._sleep(delay)

    def _auth_failed(self) -> None:
        hook = getattr(self._tokens, "auth_failed", None)
        if hook is not None:
            hook("Smile rejected the credentials (HTTP 401) even after a refresh.")

    def _uniform(self, low: float, high: float) -> float:
        with self._random_lock:
            return self._random.uniform(low, high)


def _target(response: httpx.Response) -> str:
    url = response.request.url
    return url.raw_path.decode("ascii", "replace")  # path + query string; never headers


def _error(cls: type[SmileError], default: str, response: httpx.Response) -> SmileError:
    try:
        message, request_id = parsing.parse_error_body(orjson.loads(response.content))
    except ValueError:
        message, request_id = "", None
    text = f"{default}: {message}" if message else default
    return cls(text, status=response.status_code, request_id=request_id)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)


def _format_time(value: datetime | str) -> str:
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        raise ValueError("updated_at_min must be timezone-aware")
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
